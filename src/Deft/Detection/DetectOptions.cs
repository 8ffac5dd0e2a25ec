using Deft.Data.Transforms;
using Deft.Peft;
using Deft.Prompts;

namespace Deft.Detection;

/// <summary>Which selections the final report uses (<c>--selection</c>).</summary>
public enum SelectionSource
{
    /// <summary>The selections made while training in the last epoch, on augmented views (the official behaviour).</summary>
    LastEpoch,
    /// <summary>A deterministic pass without augmentation after training.</summary>
    Eval,
}

public static class SelectionSources
{
    public static IReadOnlyList<string> ValidNames { get; } = ["last-epoch", "eval"];

    public static SelectionSource Parse(string name) => name.Trim().ToLowerInvariant() switch
    {
        "last-epoch" or "lastepoch" or "last" => SelectionSource.LastEpoch,
        "eval" => SelectionSource.Eval,
        _ => throw new DeftException($"Unknown {Setting.Selection} '{name}'. Valid values: {string.Join(", ", ValidNames)}."),
    };

    public static string ToName(this SelectionSource s) => ValidNames[(int)s];
}

/// <summary>Precision of the image tower (<c>--dtype</c>); the text tower and all trainables stay float32.</summary>
public enum TowerPrecision
{
    /// <summary>float32 weights and activations.</summary>
    Fp32,
    /// <summary>bfloat16 frozen weights and activations; trainables, optimizer state, logits and losses stay float32.</summary>
    Bf16,
    /// <summary>
    /// Fp32 or Bf16, whichever <see cref="Deft.Clip.PrecisionCalibration"/> finds faster on this CPU without changing
    /// the features; resolved once the model is loaded, and only the resolved value is written anywhere.
    /// </summary>
    Auto,
}

public static class TowerPrecisions
{
    public static IReadOnlyList<string> ValidNames { get; } = ["auto", "fp32", "bf16"];

    /// <summary>"auto", "fp32" or "bf16" (and their long spellings); the error lists the valid values.</summary>
    public static TowerPrecision Parse(string name) => name.Trim().ToLowerInvariant() switch
    {
        "auto" => TowerPrecision.Auto,
        "fp32" or "float32" or "float" => TowerPrecision.Fp32,
        "bf16" or "bfloat16" => TowerPrecision.Bf16,
        _ => throw new DeftException($"Unknown {Setting.Precision} '{name}'. Valid values: {string.Join(", ", ValidNames)}."),
    };

    public static string ToName(this TowerPrecision p) => p switch
    {
        TowerPrecision.Fp32 => "fp32",
        TowerPrecision.Bf16 => "bf16",
        _ => "auto",
    };

    /// <summary>The tower dtype of an explicit precision (Auto must be resolved first).</summary>
    public static TorchSharp.torch.ScalarType ToScalarType(this TowerPrecision p) => p switch
    {
        TowerPrecision.Fp32 => TorchSharp.torch.ScalarType.Float32,
        TowerPrecision.Bf16 => TorchSharp.torch.ScalarType.BFloat16,
        _ => throw new InvalidOperationException("Resolve TowerPrecision.Auto before asking for its dtype."),
    };

    /// <summary>
    /// <paramref name="requested"/> itself when explicit; for Auto: Fp32 when <paramref name="peft"/> trains the tower's
    /// own weights (bias, full: they must stay float32), else the calibration's choice for <paramref name="clip"/> (float32,
    /// as loaded) at the run's batch and image-pass threads. The note says what auto chose and why (null when explicit).
    /// </summary>
    public static (TowerPrecision Precision, string? Note) Resolve(TowerPrecision requested, Deft.Clip.ClipModel clip, PeftOptions peft,
        int batchSize, int threads, string? cacheDirectory)
    {
        if (requested != TowerPrecision.Auto) return (requested, null);
        if (peft.Has(PeftKind.Bias) || peft.Has(PeftKind.Full))
            return (TowerPrecision.Fp32, $"dtype auto → fp32 (PEFT {peft.Name} trains the image tower's own weights)");
        var choice = Deft.Clip.PrecisionCalibration.Choose(clip, batchSize, threads, cacheDirectory);
        return (choice.DType == TorchSharp.torch.ScalarType.BFloat16 ? TowerPrecision.Bf16 : TowerPrecision.Fp32, choice.ToString());
    }
}

/// <summary>
/// Everything one phase-1 detection run needs: the settings tree (<see cref="DataSettings"/>, <see cref="Schedule"/>,
/// <see cref="Preprocess"/>, <see cref="Peft"/>, <see cref="Prompts"/>, <see cref="MethodSettings"/>, <see cref="Issues"/>; each setting is
/// defined, with its default, in one of those records and serialized by <see cref="DetectionSettingsJson"/>) and how
/// this run is carried out (output directory, resume, threads, …). The flat properties forward to the records, so
/// callers can set one setting without rebuilding its group.
/// </summary>
public sealed record DetectOptions
{
    public DataSettings DataSettings { get; init; } = new();
    public TrainingSchedule Schedule { get; init; } = new();
    public PreprocessSettings Preprocess { get; init; } = new();
    public PeftOptions Peft { get; init; } = PeftOptions.Default;
    public PromptOptions Prompts { get; init; } = new();
    public MethodSettings MethodSettings { get; init; } = new();
    public IssueSettings Issues { get; init; } = new();

    public required string OutputDirectory { get; init; }
    public bool Resume { get; init; }
    public bool Force { get; init; }
    /// <summary>Where cached image features live (--peft none); null: $DEFT_CACHE_DIR, else ~/.cache/deft.</summary>
    public string? CacheDirectory { get; init; }
    /// <summary>Intra-op threads for every phase; null: <see cref="ThreadPlan.Choose"/> decides per phase.</summary>
    public int? Threads { get; init; }
    /// <summary>Loader threads; null: one per core.</summary>
    public int? Workers { get; init; }
    /// <summary>What to do with an image that cannot be read: skip it (the default; it is listed as a data issue) or fail.</summary>
    public Deft.Data.BadImagePolicy OnBadImage { get; init; } = Deft.Data.BadImagePolicy.Skip;
    /// <summary>
    /// Near-duplicates and outliers from the frozen-tower image features, where the method computes them
    /// (<see cref="Deft.Data.FeatureIssues"/>); null: not looked for. Unreadable files and empty classes are always reported.
    /// </summary>
    public Deft.Data.FeatureIssueOptions? FeatureIssues { get; init; } = new();
    /// <summary>
    /// Encode only this shard of the frozen image features into the cache's shard folder and stop
    /// (<see cref="Deft.Methods.DeftDetector.EncodeShard"/>); null: a whole run.
    /// </summary>
    public FeatureShardSpec? Shard { get; init; }
    /// <summary>The title of report.html; null: "Deft label-issue report".</summary>
    public string? ReportTitle { get; init; }

    // Forwarders into the records above (documented there).
    public required string Model { get => DataSettings.Model; init => DataSettings = DataSettings with { Model = value }; }
    public required string Data { get => DataSettings.Data; init => DataSettings = DataSettings with { Data = value }; }
    public required string Format { get => DataSettings.Format; init => DataSettings = DataSettings with { Format = value }; }
    public string Split { get => DataSettings.Split; init => DataSettings = DataSettings with { Split = value }; }
    public string? Labels { get => DataSettings.Labels; init => DataSettings = DataSettings with { Labels = value }; }
    public string? ClassesFile { get => DataSettings.ClassesFile; init => DataSettings = DataSettings with { ClassesFile = value }; }
    public string? Vocab { get => DataSettings.Vocab; init => DataSettings = DataSettings with { Vocab = value }; }
    public string? TestData { get => DataSettings.TestData; init => DataSettings = DataSettings with { TestData = value }; }
    public string? TestSplit { get => DataSettings.TestSplit; init => DataSettings = DataSettings with { TestSplit = value }; }
    public int Epochs { get => Schedule.Epochs; init => Schedule = Schedule with { Epochs = value }; }
    public int Warmup { get => Schedule.Warmup; init => Schedule = Schedule with { Warmup = value }; }
    public int BatchSize { get => Schedule.BatchSize; init => Schedule = Schedule with { BatchSize = value }; }
    public double LearningRate { get => Schedule.LearningRate; init => Schedule = Schedule with { LearningRate = value }; }
    public double Momentum { get => Schedule.Momentum; init => Schedule = Schedule with { Momentum = value }; }
    public double WeightDecay { get => Schedule.WeightDecay; init => Schedule = Schedule with { WeightDecay = value }; }
    public long Seed { get => Schedule.Seed; init => Schedule = Schedule with { Seed = value }; }
    public bool Fp16Trainables { get => Schedule.Fp16Trainables; init => Schedule = Schedule with { Fp16Trainables = value }; }
    public TowerPrecision Precision { get => Preprocess.Precision; init => Preprocess = Preprocess with { Precision = value }; }
    public RgbTriple? Mean { get => Preprocess.Mean; init => Preprocess = Preprocess with { Mean = value }; }
    public RgbTriple? Std { get => Preprocess.Std; init => Preprocess = Preprocess with { Std = value }; }
    public AugmentPreset? Augment { get => Preprocess.Augment; init => Preprocess = Preprocess with { Augment = value }; }
    public DetectionMethod Method { get => MethodSettings.Method; init => MethodSettings = MethodSettings with { Method = value }; }
    public SelectionSource Selection { get => MethodSettings.Selection; init => MethodSettings = MethodSettings with { Selection = value }; }
    public DeftVariant Variant { get => MethodSettings.Variant; init => MethodSettings = MethodSettings with { Variant = value }; }
    public double? NoiseRate { get => MethodSettings.NoiseRate; init => MethodSettings = MethodSettings with { NoiseRate = value }; }
    public int Folds { get => MethodSettings.Folds; init => MethodSettings = MethodSettings with { Folds = value }; }
    public string? Templates { get => MethodSettings.Templates; init => MethodSettings = MethodSettings with { Templates = value }; }
    public bool GmmRefit { get => MethodSettings.GmmRefit; init => MethodSettings = MethodSettings with { GmmRefit = value }; }
    public BaselineClassifier Classifier { get => MethodSettings.Classifier; init => MethodSettings = MethodSettings with { Classifier = value }; }

    public void Validate()
    {
        Issues.Validate();
        FeatureIssues?.Validate();
        if (Epochs < 1) throw new DeftException($"{Setting.Epochs} must be ≥ 1, got {Epochs}.");
        if (Warmup < 0) throw new DeftException($"{Setting.Warmup} must be ≥ 0, got {Warmup}.");
        if (BatchSize < 1) throw new DeftException($"{Setting.BatchSize} must be ≥ 1, got {BatchSize}.");
        if (!(LearningRate > 0) || double.IsInfinity(LearningRate)) throw new DeftException($"{Setting.LearningRate} must be a positive number, got {LearningRate}.");
        if (Momentum < 0 || Momentum >= 1) throw new DeftException($"{Setting.Momentum} must be in [0, 1), got {Momentum}.");
        if (WeightDecay < 0) throw new DeftException($"{Setting.WeightDecay} must be ≥ 0, got {WeightDecay}.");
        if (Resume && Force) throw new DeftException($"{Setting.Resume} and {Setting.Force} exclude each other: {Setting.Resume} continues the run in the output directory, {Setting.Force} replaces it.");
        if (Shard is not null && !UsesFrozenFeatures)
            throw new DeftException($"{Setting.Shard} encodes frozen image features, but {Setting.Method} {Method.ToName()} with {Setting.Peft} {Peft.Name} adapts the image tower: there is nothing to encode once. Use {Setting.Peft} none (or a method that needs no training, such as clip-posterior).");
        if (Shard is not null && Classifier == BaselineClassifier.LinearHead)
            throw new DeftException($"{Setting.Shard} encodes the projected features the cache keeps for the prompt classifiers; {Setting.Classifier} {Classifier.ToName()} reads pre-projection features, which are not sharded. Run it unsharded, or use {Setting.Classifier} prompts.");
        if (Shard is not null && Resume) throw new DeftException($"{Setting.Shard} encodes features only; {Setting.Resume} applies to a whole run.");
        if (string.IsNullOrWhiteSpace(OutputDirectory) && Shard is null) throw new DeftException($"{Setting.OutputDirectory} is required.");
        if (Precision == TowerPrecision.Bf16 && (Peft.Has(PeftKind.Bias) || Peft.Has(PeftKind.Full)))
            throw new DeftException($"{Setting.Precision} bf16 keeps the image tower's weights in bfloat16, so {Setting.Peft} {Peft.Name} would train bfloat16 weights; use {Setting.Precision} fp32 with bias/full.");
        if (Threads is < 1) throw new DeftException($"{Setting.Threads} must be ≥ 1, got {Threads}.");
        if (Method != DetectionMethod.Deft && Resume)
            throw new DeftException($"{Setting.Resume} applies to {Setting.Method} deft only; {Setting.Method} {Method.ToName()} starts afresh (use {Setting.Force} to replace the run).");
        if (Method == DetectionMethod.SmallLoss && NoiseRate is null)
            throw new DeftException($"{Setting.Method} small-loss needs {Setting.NoiseRate} R (the fraction of labels assumed wrong, in [0, 1)): the forget rate ramps up to it.");
        if (NoiseRate is { } r && !(r >= 0 && r < 1)) throw new DeftException($"{Setting.NoiseRate} must lie in [0, 1), got {r}.");
        if (Method == DetectionMethod.Gmm && Warmup < 1)
            throw new DeftException($"{Setting.Method} gmm trains for the {Setting.Warmup} epochs before fitting the loss mixture; {Setting.Warmup} must be ≥ 1, got {Warmup}.");
        if (Method == DetectionMethod.Gmm && Warmup > Epochs)
            throw new DeftException($"{Setting.Warmup} ({Warmup}) exceeds {Setting.Epochs} ({Epochs}); gmm follows the learning-rate schedule of {Setting.Epochs} for its warm-up.");
        if (Method != DetectionMethod.Deft && Variant != DeftVariant.Synthetic)
            throw new DeftException($"{Setting.Variant} {Variant.ToName()} chooses between the official DeFT scripts; it applies to {Setting.Method} deft only, not {Method.ToName()}.");
        if (Method.UsesCrossValidation() && Folds < 2) throw new DeftException($"{Setting.Folds} must be ≥ 2, got {Folds}.");
        if (Fp16Trainables && Method != DetectionMethod.Deft)
            throw new DeftException($"{Setting.Fp16Trainables} applies to {Setting.Method} deft only, not {Method.ToName()}.");
        if (GmmRefit && Method != DetectionMethod.Gmm)
            throw new DeftException($"{Setting.GmmRefit} applies to {Setting.Method} gmm only, not {Method.ToName()}.");
        if (Classifier != BaselineClassifier.Prompts && Method is not (DetectionMethod.SmallLoss or DetectionMethod.Gmm))
            throw new DeftException($"{Setting.Classifier} {Classifier.ToName()} chooses what the small-loss and gmm baselines train; it applies to {Setting.Method} small-loss and gmm only, not {Method.ToName()}.");
        if (TestData is not null && Method != DetectionMethod.Deft)
            throw new DeftException($"{Setting.TestData} scores DeFT's prompt classifier after every training epoch; it applies to {Setting.Method} deft only, not {Method.ToName()}.");
    }

    /// <summary>Whether the method reads frozen-tower image features (through the feature cache) rather than adapting the image tower.</summary>
    public bool UsesFrozenFeatures => !Method.Trains() || !Peft.AdaptsImageTower;

    /// <summary>Explicit statistics, else the official DeFT code's CIFAR values for CIFAR, else the model's own.</summary>
    public Normalization ResolveNormalization(Normalization modelDefault)
    {
        var d = DefaultNormalization(Format, modelDefault);
        var mean = Mean ?? d.Mean;
        var std = Std ?? d.Std;
        return Normalization.From([mean.R, mean.G, mean.B], [std.R, std.G, std.B]);
    }

    public static Normalization DefaultNormalization(string format, Normalization modelDefault) => format.ToLowerInvariant() switch
    {
        "cifar10" => new Normalization(new(0.4914f, 0.4822f, 0.4465f), new(0.2023f, 0.1994f, 0.2010f)),
        "cifar100" => new Normalization(new(0.507f, 0.487f, 0.441f), new(0.267f, 0.256f, 0.276f)),
        _ => modelDefault,
    };

    public AugmentPreset ResolveAugment() => Augment ?? (Format.ToLowerInvariant() is "cifar10" or "cifar100" or "idx" ? AugmentPreset.Cifar : AugmentPreset.Clip);
}
