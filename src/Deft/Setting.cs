using System.Runtime.CompilerServices;
using System.Text;

namespace Deft;

/// <summary>
/// A setting of a Deft run by its domain name: the property of the options record that carries it
/// (<c>OutputDirectory</c>, <c>Resume</c>). Messages name settings this way; a front end shows its own names for them
/// (the CLI its flags) through <see cref="DeftException.Render"/>.
/// </summary>
public readonly record struct Setting(string Name)
{
    public static readonly Setting Model = new(nameof(Model));
    public static readonly Setting Vocabulary = new(nameof(Vocabulary));
    public static readonly Setting Data = new(nameof(Data));
    public static readonly Setting Format = new(nameof(Format));
    public static readonly Setting Split = new(nameof(Split));
    public static readonly Setting ClassesFile = new(nameof(ClassesFile));
    public static readonly Setting Labels = new(nameof(Labels));
    public static readonly Setting OutputDirectory = new(nameof(OutputDirectory));
    public static readonly Setting Resume = new(nameof(Resume));
    public static readonly Setting Force = new(nameof(Force));
    public static readonly Setting Method = new(nameof(Method));
    public static readonly Setting NoiseRate = new(nameof(NoiseRate));
    public static readonly Setting Folds = new(nameof(Folds));
    public static readonly Setting Variant = new(nameof(Variant));
    public static readonly Setting Epochs = new(nameof(Epochs));
    public static readonly Setting BatchSize = new(nameof(BatchSize));
    public static readonly Setting LearningRate = new(nameof(LearningRate));
    public static readonly Setting WeightDecay = new(nameof(WeightDecay));
    public static readonly Setting Momentum = new(nameof(Momentum));
    public static readonly Setting Limit = new(nameof(Limit));
    public static readonly Setting Resolution = new(nameof(Resolution));
    public static readonly Setting Selection = new(nameof(Selection));
    public static readonly Setting Peft = new(nameof(Peft));
    public static readonly Setting HeadInit = new(nameof(HeadInit));
    public static readonly Setting HeadOnlyEpochs = new(nameof(HeadOnlyEpochs));
    public static readonly Setting TowerLearningRateScale = new(nameof(TowerLearningRateScale));
    /// <summary>Phase 2's validation part of the selected training samples.</summary>
    public static readonly Setting HoldoutFraction = new(nameof(HoldoutFraction));
    /// <summary>Phase 2's weight-space ensembling with the zero-shot model.</summary>
    public static readonly Setting WiseFt = new(nameof(WiseFt));
    public static readonly Setting Recipe = new(nameof(Recipe));
    /// <summary>Phase 2's use of the samples the detector flagged.</summary>
    public static readonly Setting UnselectedSamples = new(nameof(UnselectedSamples));
    public static readonly Setting PseudoLabelThreshold = new(nameof(PseudoLabelThreshold));
    public static readonly Setting PseudoLabelWeight = new(nameof(PseudoLabelWeight));
    public static readonly Setting LabelSmoothing = new(nameof(LabelSmoothing));
    public static readonly Setting Loss = new(nameof(Loss));
    public static readonly Setting LearningRateRule = new(nameof(LearningRateRule));
    public static readonly Setting Backbone = new(nameof(Backbone));
    public static readonly Setting Augment = new(nameof(Augment));
    public static readonly Setting Steps = new(nameof(Steps));
    public static readonly Setting ClassCount = new(nameof(ClassCount));
    public static readonly Setting FilterBy = new(nameof(FilterBy));
    public static readonly Setting NumToRemove = new(nameof(NumToRemove));
    public static readonly Setting FracNoise = new(nameof(FracNoise));
    public static readonly Setting FlagAgreeing = new(nameof(FlagAgreeing));
    public static readonly Setting Warmup = new(nameof(Warmup));
    public static readonly Setting Seed = new(nameof(Seed));
    public static readonly Setting Threads = new(nameof(Threads));
    public static readonly Setting Precision = new(nameof(Precision));
    /// <summary>Which shard of the frozen image features this run encodes (i of n), instead of running the whole job.</summary>
    public static readonly Setting Shard = new(nameof(Shard));
    /// <summary>The device a model loads on (cpu; cuda or cuda:N only with a CUDA build of TorchSharp).</summary>
    public static readonly Setting Device = new(nameof(Device));
    public static readonly Setting Partial = new(nameof(Partial));
    public static readonly Setting VptLength = new(nameof(VptLength));
    public static readonly Setting LoraRank = new(nameof(LoraRank));
    public static readonly Setting AdapterDim = new(nameof(AdapterDim));
    public static readonly Setting ContextLength = new(nameof(ContextLength));
    public static readonly Setting OnBadImage = new(nameof(OnBadImage));
    public static readonly Setting FeatureIssues = new(nameof(FeatureIssues));
    public static readonly Setting DuplicateThreshold = new(nameof(DuplicateThreshold));
    public static readonly Setting MaxImagePixels = new(nameof(MaxImagePixels));
    public static readonly Setting LabelsFile = new(nameof(LabelsFile));
    /// <summary>The throughput a reproduce plan prices its cost with.</summary>
    public static readonly Setting ImagesPerSecond = new(nameof(ImagesPerSecond));
    /// <summary>A reproduce recipe's data-set root folder.</summary>
    public static readonly Setting DataRoot = new(nameof(DataRoot));
    /// <summary>How many samples a class-balanced subsample draws.</summary>
    public static readonly Setting SubsampleSize = new(nameof(SubsampleSize));
    /// <summary>Listing the reproduce recipes.</summary>
    public static readonly Setting ListRecipes = new(nameof(ListRecipes));
    /// <summary>How long a benchmark measures.</summary>
    public static readonly Setting BenchmarkSeconds = new(nameof(BenchmarkSeconds));
    /// <summary>DeFT: float16 storage of the trainable parameters.</summary>
    public static readonly Setting Fp16Trainables = new(nameof(Fp16Trainables));
    /// <summary>gmm: refitting the mixture before every epoch after warm-up.</summary>
    public static readonly Setting GmmRefit = new(nameof(GmmRefit));
    /// <summary>small-loss, gmm: the classifier trained on the given labels (CoOp prompts or the official linear head).</summary>
    public static readonly Setting Classifier = new(nameof(Classifier));
    /// <summary>A labelled test set scored after every training epoch.</summary>
    public static readonly Setting TestData = new(nameof(TestData));

    public override string ToString() => Name;
}

/// <summary>Where a message names a setting: <see cref="Length"/> characters from <see cref="Start"/>.</summary>
public readonly record struct SettingReference(Setting Setting, int Start, int Length);

/// <summary>Builds a <see cref="DeftException"/>'s message from an interpolated string, recording where each <see cref="Setting"/> goes.</summary>
[InterpolatedStringHandler]
public ref struct SettingMessage
{
    private readonly StringBuilder _text;
    private readonly List<SettingReference> _references;

    public SettingMessage(int literalLength, int formattedCount)
    {
        _text = new StringBuilder(literalLength + 16 * formattedCount);
        _references = [];
    }

    public readonly void AppendLiteral(string value) => _text.Append(value);

    public readonly void AppendFormatted(Setting setting)
    {
        _references.Add(new SettingReference(setting, _text.Length, setting.Name.Length));
        _text.Append(setting.Name);
    }

    /// <summary>Another error's message inside this one (a wrapping error): the settings it names stay recorded.</summary>
    public readonly void AppendFormatted(DeftException error)
    {
        foreach (var r in error.References) _references.Add(r with { Start = r.Start + _text.Length });
        _text.Append(error.Message);
    }

    // As a plain interpolated string formats (the current culture).
    public readonly void AppendFormatted<T>(T value) => AppendFormatted(value, null);

    public readonly void AppendFormatted<T>(T value, string? format) =>
        _text.Append(value is IFormattable f ? f.ToString(format, null) : value?.ToString());

    public readonly void AppendFormatted<T>(T value, int alignment, string? format = null)
    {
        var text = value is IFormattable f ? f.ToString(format, null) : value?.ToString() ?? "";
        _text.Append(alignment < 0 ? text.PadRight(-alignment) : text.PadLeft(alignment));
    }

    public readonly void AppendFormatted(ReadOnlySpan<char> value) => _text.Append(value);

    internal readonly (string Text, SettingReference[] References) Build() => (_text.ToString(), [.. _references]);
}
