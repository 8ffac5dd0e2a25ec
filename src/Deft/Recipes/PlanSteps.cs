using System.Globalization;
using Deft.Adaptation;
using Deft.Data;
using Deft.Detection;
using Deft.Noise;
using Deft.Prompts;

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
/// One step of a plan: what it does (<see cref="Action"/>, run in-process by <see cref="ReproduceRunner"/>), the
/// folder it writes, and the <c>deft</c> command line that does the same by hand.
/// </summary>
public sealed record PlanStep(string Title, StepAction Action)
{
    public StepKind Kind => Action.Kind;

    /// <summary>The step's own folder under the run directory.</summary>
    public string Directory => Action.Directory;

    /// <summary>The command's arguments, starting with its name (<c>detect --data ...</c>).</summary>
    public IReadOnlyList<string> Arguments => Action.Arguments();

    /// <summary>The shell command line: <c>./deft</c> and <see cref="Arguments"/>, quoted for a POSIX shell.</summary>
    public string Command => "./deft " + string.Join(' ', Arguments.Select(ReproducePlanner.ShellQuote));
}

/// <summary>The typed work of a step and the command line that expresses it with the real command's flags.</summary>
public abstract record StepAction
{
    public abstract StepKind Kind { get; }

    /// <summary>The folder the step writes into (its outputs and step.json).</summary>
    public abstract string Directory { get; }

    /// <summary>The <c>deft</c> arguments that do this step, command name first.</summary>
    public abstract IReadOnlyList<string> Arguments();

    private protected static string Int(long value) => value.ToString(CultureInfo.InvariantCulture);
    private protected static string Number(double value) => ReproducePlanner.Number(value);

    private protected static List<string> DataArguments(DatasetOptions data, string classesFlag = "--classes")
    {
        List<string> args = ["--data", data.Path, "--format", data.Format, "--split", data.Split];
        if (data.ClassesFile is not null) args.AddRange([classesFlag, data.ClassesFile]);
        return args;
    }
}

/// <summary><c>deft noise</c>: synthetic noise over the training split, written as a label file.</summary>
public sealed record NoiseAction(DatasetOptions Data, NoiseOptions Noise, string OutputFile) : StepAction
{
    public override StepKind Kind => StepKind.Noise;
    public override string Directory => Path.GetDirectoryName(OutputFile) ?? ".";

    public override IReadOnlyList<string> Arguments()
    {
        if (Data.ClassesFile is not null) throw new InvalidOperationException("deft noise takes no --classes.");
        return ["noise", .. DataArguments(Data), "--mode", Noise.Mode.Name(), "--ratio", Number(Noise.Ratio), "--seed", Noise.Seed.ToString(CultureInfo.InvariantCulture),
            "--out", OutputFile];
    }
}

/// <summary><c>deft subsample</c>: a class-balanced draw of <see cref="Size"/> training samples, written as a label file.</summary>
public sealed record SubsampleAction(DatasetOptions Data, int Size, ulong Seed, string OutputFile) : StepAction
{
    public override StepKind Kind => StepKind.Subsample;
    public override string Directory => Path.GetDirectoryName(OutputFile) ?? ".";

    public override IReadOnlyList<string> Arguments() =>
        ["subsample", .. DataArguments(Data), "--size", Int(Size), "--seed", Seed.ToString(CultureInfo.InvariantCulture), "--out", OutputFile];
}

/// <summary>
/// <c>deft detect</c>. Momentum and weight decay have no flag: the command uses <see cref="DetectOptions"/>' defaults
/// (0.9, 5e-4, the official values), so the planner only builds options whose values the command line can carry.
/// </summary>
public sealed record DetectAction(DetectOptions Options) : StepAction
{
    public override StepKind Kind => StepKind.Detect;
    public override string Directory => Options.OutputDirectory;

    public override IReadOnlyList<string> Arguments()
    {
        var o = Options;
        // The method and variant are always spelled out: a paper row runs DeFT whatever `deft detect` defaults to,
        // and the plan shows which official script each row follows.
        List<string> args = ["detect", "--method", o.Method.ToName(), "--model", o.Model, .. DataArguments(new DatasetOptions(o.Data, o.Format, o.Split, ClassesFile: o.ClassesFile))];
        if (o.Labels is not null) args.AddRange(["--labels", o.Labels]);
        args.AddRange(["--peft", o.Peft.Name, "--vpt-len", Int(o.Peft.VptLength),
            "--n-ctx", Int(o.Prompts.ContextLength), "--class-token-position", o.Prompts.Position.ToName()]);
        if (o.Method == DetectionMethod.Deft) args.AddRange(["--variant", o.Variant.ToName()]);
        if (o.Augment is { } augment) args.AddRange(["--augment", augment.ToString().ToLowerInvariant()]);
        if (o.Mean is { } mean) args.AddRange(["--mean", Triple(mean)]);
        if (o.Std is { } std) args.AddRange(["--std", Triple(std)]);
        args.AddRange(["--epochs", Int(o.Epochs), "--warmup", Int(o.Warmup), "--batch", Int(o.BatchSize), "--lr", Number(o.LearningRate),
            "--seed", Int(o.Seed), "--out", o.OutputDirectory]);
        return args;
    }

    private static string Triple(Data.Transforms.RgbTriple t) =>
        string.Join(',', new[] { t.R, t.G, t.B }.Select(v => v.ToString(CultureInfo.InvariantCulture)));
}

/// <summary><c>deft adapt</c>: full fine-tuning on the detector's clean samples, tested on <see cref="Test"/> (<see cref="TestLabel"/>) after every epoch.</summary>
public sealed record AdaptAction(AdaptOptions Options, DatasetOptions Train, DatasetOptions Test, string TestLabel) : StepAction
{
    public override StepKind Kind => StepKind.Adapt;
    public override string Directory => Options.OutputDirectory;

    public override IReadOnlyList<string> Arguments()
    {
        var o = Options;
        if (Test.Format != Train.Format || Test.ClassesFile != Train.ClassesFile)
            throw new InvalidOperationException("deft adapt tests on the training set's --format and --classes.");
        List<string> args = ["adapt", "--model", o.Model, "--backbone", o.Backbone.ToName(), .. DataArguments(Train)];
        args.AddRange(["--selection", o.SelectionPath ?? "all", "--test", Test.Path, "--test-split", Test.Split,
            "--epochs", Int(o.Epochs), "--batch", Int(o.BatchSize)]);
        if (o.Optimizer is { } optimizer) args.AddRange(["--optimizer", optimizer.ToString().ToLowerInvariant()]);
        if (o.LearningRate is { } lr) args.AddRange(["--lr", Number(lr)]);
        if (o.WeightDecay is { } wd) args.AddRange(["--weight-decay", Number(wd)]);
        if (o.Momentum is { } m) args.AddRange(["--momentum", Number(m)]);
        if (o.Recipe is { } recipe) args.AddRange(["--recipe", recipe.ToName()]);
        if (o.HeadInit is { } head) args.AddRange(["--head-init", head.ToString().ToLowerInvariant()]);
        if (o.ConstantLearningRate) args.AddRange(["--schedule", "constant"]);
        args.AddRange(["--seed", Int(o.Seed), "--out", o.OutputDirectory]);
        return args;
    }
}

/// <summary><c>deft predict</c>: the adapted model on a further test set; the accuracy against its labels is the figure.</summary>
public sealed record EvaluateAction(string ModelDirectory, DatasetOptions Data, string Label, string OutputFile) : StepAction
{
    /// <summary>The figures the step records beside its predictions (samples, top-1 accuracy).</summary>
    public const string SummaryFile = "summary.json";

    public override StepKind Kind => StepKind.Evaluate;
    public override string Directory => Path.GetDirectoryName(OutputFile) ?? ".";

    public override IReadOnlyList<string> Arguments() =>
        ["predict", "--model-dir", ModelDirectory, .. DataArguments(Data), "--out", OutputFile];
}
