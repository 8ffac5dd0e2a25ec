using Deft.Detection;
using Deft.Peft;
using Deft.Prompts;

namespace Deft.Api;

/// <summary>
/// Settings of an in-memory detection (<see cref="LabelIssueDetector"/>). The defaults are the command line's:
/// <see cref="Method"/> is CLIP's zero-shot posterior (no training); for <see cref="DetectionMethod.Deft"/> the
/// schedule is the paper's (10 epochs, warm-up 1, batch 64, SGD lr 0.03, momentum 0.9, weight decay 5e-4).
/// </summary>
public sealed record DetectionConfig
{
    /// <summary>Which detector runs.</summary>
    public DetectionMethod Method { get; init; } = DetectionMethod.ClipPosterior;
    /// <summary>The PEFT modules DeFT (and the training baselines) adapt the image tower with; none keeps it frozen.</summary>
    public PeftOptions Peft { get; init; } = new(PeftKind.None);
    /// <summary>The learnable prompt contexts.</summary>
    public PromptOptions Prompts { get; init; } = new();
    /// <summary>Training epochs (training methods).</summary>
    public int Epochs { get; init; } = 10;
    /// <summary>Warm-up epochs (training methods).</summary>
    public int Warmup { get; init; } = 1;
    /// <summary>Images per batch.</summary>
    public int BatchSize { get; init; } = 64;
    /// <summary>SGD learning rate (training methods).</summary>
    public double LearningRate { get; init; } = 0.03;
    /// <summary>Fixes prompt initialization, shuffling and augmentation: the same seed gives the same result.</summary>
    public long Seed { get; init; }
    /// <summary>Which selections DeFT reports: the last epoch's or a deterministic pass after training.</summary>
    public SelectionSource Selection { get; init; } = SelectionSource.LastEpoch;
    /// <summary>Zero-shot prompt templates (label-match, clip-posterior; see PromptTemplates.Resolve); null: "a photo of a {}.".</summary>
    public string? Templates { get; init; }
    /// <summary>Cross-validation folds (confident learning).</summary>
    public int Folds { get; init; } = 5;
    /// <summary>The assumed noise rate (small-loss), in [0, 1).</summary>
    public double? NoiseRate { get; init; }

    /// <summary>The runner's options for an in-memory run: no files are read or written under these names.</summary>
    internal DetectOptions ToOptions() => new()
    {
        Model = "(in memory)", Data = "(in memory)", Format = "memory", OutputDirectory = "(in memory)",
        Method = Method, Peft = Peft, Prompts = Prompts, Epochs = Epochs, Warmup = Warmup, BatchSize = BatchSize,
        LearningRate = LearningRate, Seed = Seed, Selection = Selection, Templates = Templates, Folds = Folds, NoiseRate = NoiseRate,
    };
}
