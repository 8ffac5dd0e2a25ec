using Deft.Adaptation;
using Deft.Data;
using Deft.Detection;
using Deft.Noise;

namespace Deft.Recipes;

/// <summary>What a plan step does; each kind is one <c>deft</c> command.</summary>
public enum StepKind
{
    /// <summary><c>deft noise</c>: inject synthetic label noise.</summary>
    Noise,
    /// <summary><c>deft subsample</c>: draw the class-balanced training subset (Clothing1M).</summary>
    Subsample,
    /// <summary><c>deft detect</c>: phase 1.</summary>
    Detect,
    /// <summary><c>deft adapt</c>: phase 2, tested on the recipe's first test set.</summary>
    Adapt,
    /// <summary><c>deft predict</c>: the adapted model on a further test set (WebVision's ImageNet classes).</summary>
    Evaluate,
}

/// <summary>
/// One step of a plan: what it does (<see cref="Action"/>, typed settings records run in-process by
/// <see cref="ReproduceRunner"/>) and the folder it writes. A front end renders the command line that does the same by
/// hand (the CLI with its flags).
/// </summary>
public sealed record PlanStep(string Title, StepAction Action)
{
    public StepKind Kind => Action.Kind;

    /// <summary>The step's own folder under the run directory.</summary>
    public string Directory => Action.Directory;
}

/// <summary>The typed work of a step: the settings records of the command that does it.</summary>
public abstract record StepAction
{
    public abstract StepKind Kind { get; }

    /// <summary>The folder the step writes into (its outputs and step.json).</summary>
    public abstract string Directory { get; }
}

/// <summary><c>deft noise</c>: synthetic noise over the training split, written as a label file.</summary>
public sealed record NoiseAction(DatasetOptions Data, NoiseOptions Noise, string OutputFile) : StepAction
{
    public override StepKind Kind => StepKind.Noise;
    public override string Directory => Path.GetDirectoryName(OutputFile) ?? ".";
}

/// <summary><c>deft subsample</c>: a class-balanced draw of <see cref="Size"/> training samples, written as a label file.</summary>
public sealed record SubsampleAction(DatasetOptions Data, int Size, ulong Seed, string OutputFile) : StepAction
{
    public override StepKind Kind => StepKind.Subsample;
    public override string Directory => Path.GetDirectoryName(OutputFile) ?? ".";
}

/// <summary><c>deft detect</c> with <see cref="Options"/>.</summary>
public sealed record DetectAction(DetectOptions Options) : StepAction
{
    public override StepKind Kind => StepKind.Detect;
    public override string Directory => Options.OutputDirectory;
}

/// <summary><c>deft adapt</c>: full fine-tuning on the detector's clean samples, tested on <see cref="Test"/> (<see cref="TestLabel"/>) after every epoch.</summary>
public sealed record AdaptAction(AdaptOptions Options, DatasetOptions Train, DatasetOptions Test, string TestLabel) : StepAction
{
    public override StepKind Kind => StepKind.Adapt;
    public override string Directory => Options.OutputDirectory;
}

/// <summary><c>deft predict</c>: the adapted model on a further test set; the accuracy against its labels is the figure.</summary>
public sealed record EvaluateAction(string ModelDirectory, DatasetOptions Data, string Label, string OutputFile) : StepAction
{
    /// <summary>The figures the step records beside its predictions (samples, top-1 accuracy).</summary>
    public const string SummaryFile = "summary.json";

    public override StepKind Kind => StepKind.Evaluate;
    public override string Directory => Path.GetDirectoryName(OutputFile) ?? ".";
}
