using Deft.Detection;
using Deft.Peft;
using Deft.Prompts;

namespace Deft.Api;

/// <summary>
/// Settings of an in-memory detection (<see cref="LabelIssueDetector"/>): the groups of the detection settings tree
/// that apply without files (<see cref="MethodSettings"/>, <see cref="Schedule"/>, <see cref="Peft"/>,
/// <see cref="Prompts"/>, <see cref="Issues"/>; the same records <c>deft detect</c> runs on). The defaults are the command line's, except
/// that <see cref="Method"/> is CLIP's zero-shot posterior (no training) and the image tower stays frozen; for
/// <see cref="DetectionMethod.Deft"/> the schedule is the paper's (10 epochs, warm-up 1, batch 64, SGD lr 0.03,
/// momentum 0.9, weight decay 5e-4).
/// </summary>
public sealed record DetectionConfig
{
    /// <summary>Which detector runs and the settings only some methods read (selection, variant, folds, noise rate, templates).</summary>
    public MethodSettings MethodSettings { get; init; } = new() { Method = DetectionMethod.ClipPosterior };
    /// <summary>The optimisation schedule of the training methods (batch size and seed apply to all).</summary>
    public TrainingSchedule Schedule { get; init; } = new();
    /// <summary>The PEFT modules DeFT (and the training baselines) adapt the image tower with; none keeps it frozen.</summary>
    public PeftOptions Peft { get; init; } = new(PeftKind.None);
    /// <summary>The learnable prompt contexts.</summary>
    public PromptOptions Prompts { get; init; } = new();
    /// <summary>How verdicts are reached: the method's rule or a cleanlab filter, the fraction or number to flag, agreeing labels.</summary>
    public IssueSettings Issues { get; init; } = new();

    /// <summary>
    /// Thresholds of the near-duplicate and outlier data issues, looked for on the frozen image features
    /// (<see cref="LabelIssueReport.DataIssues"/>); null: not looked for.
    /// </summary>
    public Deft.Data.FeatureIssueOptions? FeatureIssues { get; init; } = new();
    /// <summary>Which detector runs (<see cref="MethodSettings.Method"/>).</summary>
    public DetectionMethod Method { get => MethodSettings.Method; init => MethodSettings = MethodSettings with { Method = value }; }
    /// <summary>Training epochs (<see cref="TrainingSchedule.Epochs"/>).</summary>
    public int Epochs { get => Schedule.Epochs; init => Schedule = Schedule with { Epochs = value }; }
    /// <summary>Warm-up epochs (<see cref="TrainingSchedule.Warmup"/>).</summary>
    public int Warmup { get => Schedule.Warmup; init => Schedule = Schedule with { Warmup = value }; }
    /// <summary>Images per batch (<see cref="TrainingSchedule.BatchSize"/>).</summary>
    public int BatchSize { get => Schedule.BatchSize; init => Schedule = Schedule with { BatchSize = value }; }
    /// <summary>SGD learning rate (<see cref="TrainingSchedule.LearningRate"/>).</summary>
    public double LearningRate { get => Schedule.LearningRate; init => Schedule = Schedule with { LearningRate = value }; }
    /// <summary>Fixes prompt initialization, shuffling and augmentation: the same seed gives the same result.</summary>
    public long Seed { get => Schedule.Seed; init => Schedule = Schedule with { Seed = value }; }
    /// <summary>Which selections DeFT reports (<see cref="MethodSettings.Selection"/>).</summary>
    public SelectionSource Selection { get => MethodSettings.Selection; init => MethodSettings = MethodSettings with { Selection = value }; }
    /// <summary>Zero-shot prompt templates (<see cref="MethodSettings.Templates"/>).</summary>
    public string? Templates { get => MethodSettings.Templates; init => MethodSettings = MethodSettings with { Templates = value }; }
    /// <summary>Cross-validation folds (<see cref="MethodSettings.Folds"/>).</summary>
    public int Folds { get => MethodSettings.Folds; init => MethodSettings = MethodSettings with { Folds = value }; }
    /// <summary>The assumed noise rate (<see cref="MethodSettings.NoiseRate"/>).</summary>
    public double? NoiseRate { get => MethodSettings.NoiseRate; init => MethodSettings = MethodSettings with { NoiseRate = value }; }

    /// <summary>The runner's options for an in-memory run: no files are read or written under these names.</summary>
    internal DetectOptions ToOptions() => new()
    {
        Model = "(in memory)", Data = "(in memory)", Format = "memory", OutputDirectory = "(in memory)",
        MethodSettings = MethodSettings, Schedule = Schedule, Peft = Peft, Prompts = Prompts, Issues = Issues,
        FeatureIssues = FeatureIssues,
    };
}
