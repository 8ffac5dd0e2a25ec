using System.Globalization;

namespace Deft.Recipes;

/// <summary>Where a recipe's label noise comes from.</summary>
public enum NoiseKind
{
    /// <summary>Symmetric noise injected by <c>deft noise --mode sym</c>.</summary>
    Symmetric,
    /// <summary>Instance-dependent noise (Xia et al. 2020) injected by <c>deft noise --mode idn</c>.</summary>
    InstanceDependent,
    /// <summary>The data set's own labels are noisy; the rate is the estimate the official config records.</summary>
    RealWorld,
}

/// <summary>The label noise of a recipe: the injected rate for synthetic noise, the estimated one for real-world noise.</summary>
public sealed record NoiseSpec(NoiseKind Kind, double Rate)
{
    /// <summary>The <c>deft noise --mode</c> value; null for real-world noise (nothing to inject).</summary>
    public string? CliMode => Kind switch { NoiseKind.Symmetric => "sym", NoiseKind.InstanceDependent => "idn", _ => null };

    public string Description => Kind switch
    {
        NoiseKind.Symmetric => $"symmetric, {Percent(Rate)} injected",
        NoiseKind.InstanceDependent => $"instance-dependent, {Percent(Rate)} injected",
        _ => $"real-world (about {Percent(Rate)} noisy, the official config's estimate)",
    };

    /// <summary>"sym 20%", "idn 30%", "real ~38.5%".</summary>
    public string ShortDescription => $"{CliMode ?? "real ~"}{(CliMode is null ? "" : " ")}{Percent(Rate)}";

    internal static string Percent(double rate) => (rate * 100).ToString("0.#", CultureInfo.InvariantCulture) + "%";
}

/// <summary>
/// Phase 1 (noisy-label detection) hyper-parameters, from the official PEFT configs: CLIP with deep visual prompt
/// tuning, positive/negative learnable text contexts per class, SGD.
/// </summary>
/// <param name="TrainSubsample">
/// Images drawn per run, class-balanced, instead of the whole training split (the official Clothing1M loader draws
/// 1000 batches' worth); null for the whole split.
/// </param>
/// <param name="Variant">
/// The official phase-1 script the row was run with: <c>main_phase1.py</c> (synthetic) or <c>main_real_phase1.py</c>
/// (real-noise: another selection rule, SCE warm-up, pseudo-labels from epoch 2, constant lr; see <see cref="Deft.Detection.DeftVariant"/>).
/// </param>
public sealed record PhaseOneSettings(
    string Backbone = "ViT-B/16",
    int VptDeepLength = 20,
    int ContextTokens = 16,
    string ClassTokenPosition = "end",
    double LearningRate = 0.03,
    double Momentum = 0.9,
    double WeightDecay = 5e-4,
    int BatchSize = 64,
    int Epochs = 10,
    int WarmupEpochs = 1,
    int Resolution = 224,
    int? TrainSubsample = null,
    Deft.Detection.DeftVariant Variant = Deft.Detection.DeftVariant.Synthetic);

/// <summary>
/// Phase 2 (model adaptation) hyper-parameters, from the official FFT configs: full fine-tuning on the clean samples.
/// <paramref name="WarmupEpochs"/> is the config files' value, which neither official phase-2 script reads.
/// <paramref name="ConstantLearningRate"/>: the official script never steps its scheduler (<c>main_real_phase2.py</c>);
/// the plan runs <c>deft adapt --schedule constant</c>.
/// </summary>
public sealed record PhaseTwoSettings(
    double LearningRate = 5e-4,
    double Momentum = 0.9,
    double WeightDecay = 5e-4,
    int BatchSize = 64,
    int Epochs = 10,
    int WarmupEpochs = 1,
    int Resolution = 224,
    int? TrainSubsample = null,
    bool ConstantLearningRate = false);

/// <summary>What a paper figure measures.</summary>
public enum PaperMetric
{
    /// <summary>Precision of the samples phase 1 calls clean (percent).</summary>
    DetectionPrecision,
    /// <summary>Top-1 test accuracy after phase 2 (percent).</summary>
    TestAccuracy,
}

/// <summary>A figure the paper reports for a recipe, to print beside ours.</summary>
public sealed record PaperFigure(PaperMetric Metric, double Percent, string TestSet)
{
    public string Description => Metric switch
    {
        PaperMetric.DetectionPrecision => $"detection precision {Percent.ToString("0.00", CultureInfo.InvariantCulture)}%",
        _ => $"test accuracy {Percent.ToString("0.00", CultureInfo.InvariantCulture)}% ({TestSet})",
    };
}

/// <summary>One split of a data set a recipe reads: a <c>--format</c>, a <c>--split</c>, an optional <c>--classes</c>.</summary>
public sealed record DataSplit(string Format, string Split, string? Classes, int NominalImages, string Label);

/// <summary>
/// A path (relative to the data root) that must exist, or one of several alternatives (the layouts data sets circulate
/// in); <see cref="Description"/> says what it is.
/// </summary>
public sealed record RootRequirement(string Description, IReadOnlyList<string> Alternatives);

/// <summary>
/// One experiment of the paper: the data, the noise, both phases' hyper-parameters and the figure the paper reports.
/// <c>deft reproduce NAME --root PATH</c> turns it into commands.
/// </summary>
public sealed record Recipe(
    string Name,
    string Title,
    string DataSetName,
    int ClassCount,
    string RootLayoutHint,
    IReadOnlyList<RootRequirement> RootRequirements,
    DataSplit Train,
    IReadOnlyList<DataSplit> TestSets,
    NoiseSpec Noise,
    PhaseOneSettings PhaseOne,
    PhaseTwoSettings PhaseTwo,
    IReadOnlyList<PaperFigure> PaperFigures)
{
    /// <summary>
    /// For instance-dependent noise: the side images are resized to before their pixels feed the noise model; null uses
    /// the stored pixels (CIFAR's 32×32, Tiny-ImageNet's 64×64). Deft's own choice: the released loaders cannot make idn
    /// noise for CUB or Stanford Cars (nor Tiny-ImageNet), so 64×64 (Tiny-ImageNet's size) is used for both.
    /// </summary>
    public int? IdnResize { get; init; }

    /// <summary>
    /// The official loader's training augmentation (which also fixes its test transform) and normalisation, used by
    /// both phases of the plan; null: the CIFAR loaders, which <c>deft detect</c> and <c>deft adapt</c> follow by
    /// format and image size.
    /// </summary>
    public OfficialPreprocessing? Preprocessing { get; init; }
}

/// <summary>An official loader's image pipeline: a <see cref="Deft.Data.Transforms.AugmentPreset"/> and the statistics it normalises with.</summary>
/// <param name="Loader">The official loader file it follows (shown in the plan).</param>
public sealed record OfficialPreprocessing(Deft.Data.Transforms.AugmentPreset Augment, Deft.Data.Transforms.Normalization Normalization, string Loader);
