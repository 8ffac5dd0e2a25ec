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
        _ => throw new DeftException($"Unknown --selection '{name}'. Valid values: {string.Join(", ", ValidNames)}."),
    };

    public static string ToName(this SelectionSource s) => ValidNames[(int)s];
}

/// <summary>Precision of the image tower (<c>--dtype</c>); the text tower and all trainables stay float32.</summary>
public enum TowerPrecision { Fp32, Bf16 }

/// <summary>
/// Everything one phase-1 detection run needs. Defaults are the paper's (ViT-B/16 settings: 10 epochs, warm-up 1,
/// batch 64, SGD lr 0.03, momentum 0.9, weight decay 5e-4, cosine, 16 context tokens, VPT-deep length 20).
/// </summary>
public sealed record DetectOptions
{
    /// <summary>Model spec: file, directory, or random:&lt;preset&gt;[@seed] (see ClipLoader).</summary>
    public required string Model { get; init; }
    public required string Data { get; init; }
    public required string Format { get; init; }
    public string Split { get; init; } = "train";
    /// <summary>Label file (index,label[,true_label]) choosing the participating samples and their given labels.</summary>
    public string? Labels { get; init; }
    /// <summary>Class names file, one per line (formats without names).</summary>
    public string? ClassesFile { get; init; }
    /// <summary>BPE vocabulary for OpenAI-layout weights (default: the model directory's, else KnownLocations).</summary>
    public string? Vocab { get; init; }
    public required string OutputDirectory { get; init; }

    public PeftOptions Peft { get; init; } = PeftOptions.Default;
    public PromptOptions Prompts { get; init; } = new();
    public int Epochs { get; init; } = 10;
    public int Warmup { get; init; } = 1;
    public int BatchSize { get; init; } = 64;
    public double LearningRate { get; init; } = 0.03;
    public double Momentum { get; init; } = 0.9;
    public double WeightDecay { get; init; } = 5e-4;
    public long Seed { get; init; }
    public TowerPrecision Precision { get; init; } = TowerPrecision.Fp32;
    /// <summary>Per-channel mean; null: the official code's CIFAR statistics for cifar10/100, else the model's own.</summary>
    public RgbTriple? Mean { get; init; }
    /// <summary>Per-channel standard deviation; null: as for <see cref="Mean"/>.</summary>
    public RgbTriple? Std { get; init; }
    /// <summary>Training augmentation; null: cifar for 32-pixel-class data (cifar10/100, idx), clip otherwise.</summary>
    public AugmentPreset? Augment { get; init; }
    public SelectionSource Selection { get; init; } = SelectionSource.LastEpoch;
    /// <summary>Which official phase-1 script the DeFT objective follows (<c>--variant</c>; see <see cref="DeftVariant"/>).</summary>
    public DeftVariant Variant { get; init; } = DeftVariant.Synthetic;
    public bool Resume { get; init; }
    public bool Force { get; init; }
    /// <summary>Where cached image features live (--peft none); null: $DEFT_CACHE_DIR, else ~/.cache/deft.</summary>
    public string? CacheDirectory { get; init; }
    /// <summary>Intra-op threads for every phase; null: <see cref="ThreadPlan.Choose"/> decides per phase.</summary>
    public int? Threads { get; init; }
    /// <summary>Loader threads; null: one per core.</summary>
    public int? Workers { get; init; }

    /// <summary>The title of report.html; null: "Deft label-issue report".</summary>
    public string? ReportTitle { get; init; }

    /// <summary>Which detector runs (<c>--method</c>); the options below apply to the baselines only.</summary>
    public DetectionMethod Method { get; init; } = DetectionMethod.Deft;
    /// <summary>small-loss: the forget rate the schedule ramps up to (the assumed noise rate).</summary>
    public double? NoiseRate { get; init; }
    /// <summary>confident-learning and its variants: cross-validation folds.</summary>
    public int Folds { get; init; } = 5;
    /// <summary>label-match: prompt templates (see PromptTemplates.Resolve); null: "a photo of a {}.".</summary>
    public string? Templates { get; init; }

    public void Validate()
    {
        if (Epochs < 1) throw new DeftException($"--epochs must be ≥ 1, got {Epochs}.");
        if (Warmup < 0) throw new DeftException($"--warmup must be ≥ 0, got {Warmup}.");
        if (BatchSize < 1) throw new DeftException($"--batch must be ≥ 1, got {BatchSize}.");
        if (!(LearningRate > 0) || double.IsInfinity(LearningRate)) throw new DeftException($"--lr must be a positive number, got {LearningRate}.");
        if (Momentum < 0 || Momentum >= 1) throw new DeftException($"Momentum must be in [0, 1), got {Momentum}.");
        if (WeightDecay < 0) throw new DeftException($"Weight decay must be ≥ 0, got {WeightDecay}.");
        if (Resume && Force) throw new DeftException("--resume and --force exclude each other: --resume continues the run in the output directory, --force replaces it.");
        if (string.IsNullOrWhiteSpace(OutputDirectory)) throw new DeftException("--out is required.");
        if (Precision == TowerPrecision.Bf16 && (Peft.Has(PeftKind.Bias) || Peft.Has(PeftKind.Full)))
            throw new DeftException($"--dtype bf16 keeps the image tower's weights in bfloat16, so --peft {Peft.Name} would train bfloat16 weights; use --dtype fp32 with bias/full.");
        if (Threads is < 1) throw new DeftException($"--threads must be ≥ 1, got {Threads}.");
        if (Method != DetectionMethod.Deft && Resume)
            throw new DeftException($"--resume applies to --method deft only; --method {Method.ToName()} starts afresh (use --force to replace the run).");
        if (Method == DetectionMethod.SmallLoss && NoiseRate is null)
            throw new DeftException("--method small-loss needs --noise-rate R (the fraction of labels assumed wrong, in [0, 1)): the forget rate ramps up to it.");
        if (NoiseRate is { } r && !(r >= 0 && r < 1)) throw new DeftException($"--noise-rate must lie in [0, 1), got {r}.");
        if (Method == DetectionMethod.Gmm && Warmup < 1)
            throw new DeftException($"--method gmm trains for the --warmup epochs before fitting the loss mixture; --warmup must be ≥ 1, got {Warmup}.");
        if (Method == DetectionMethod.Gmm && Warmup > Epochs)
            throw new DeftException($"--warmup ({Warmup}) exceeds --epochs ({Epochs}); gmm follows the learning-rate schedule of --epochs for its warm-up.");
        if (Method != DetectionMethod.Deft && Variant != DeftVariant.Synthetic)
            throw new DeftException($"--variant {Variant.ToName()} chooses between the official DeFT scripts; it applies to --method deft only, not {Method.ToName()}.");
        if (Method.UsesCrossValidation() && Folds < 2) throw new DeftException($"--folds must be ≥ 2, got {Folds}.");
    }

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
