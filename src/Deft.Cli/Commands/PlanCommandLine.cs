using System.Globalization;
using System.Text.RegularExpressions;
using Deft.Adaptation;
using Deft.Data;
using Deft.Detection;
using Deft.Noise;
using Deft.Prompts;
using Deft.Recipes;

namespace Deft.Cli.Commands;

/// <summary>
/// The <c>deft</c> command line that does a reproduce step by hand. The plan holds typed settings records
/// (<see cref="StepAction"/>); which flag carries which setting is the CLI's knowledge, so the rendering lives here.
/// <c>reproduce</c> prints these lines and records them in each step's step.json (as earlier versions did, so their
/// run folders still resume).
/// </summary>
internal static partial class PlanCommandLine
{
    /// <summary>The shell command line: <c>./deft</c> and <see cref="Arguments"/>, quoted for a POSIX shell.</summary>
    public static string Of(PlanStep step) => "./deft " + string.Join(' ', Arguments(step.Action).Select(ShellQuote));

    /// <summary>The <c>deft</c> arguments that do <paramref name="action"/>, command name first.</summary>
    public static IReadOnlyList<string> Arguments(StepAction action) => action switch
    {
        NoiseAction a => Noise(a),
        SubsampleAction a => ["subsample", .. DataArguments(a.Data), "--size", Int(a.Size), "--seed", a.Seed.ToString(CultureInfo.InvariantCulture), "--out", a.OutputFile],
        DetectAction a => Detect(a.Options),
        AdaptAction a => Adapt(a),
        EvaluateAction a => ["predict", "--model-dir", a.ModelDirectory, .. DataArguments(a.Data), "--out", a.OutputFile],
        _ => throw new ArgumentOutOfRangeException(nameof(action), action.Kind, "Unknown step."),
    };

    private static List<string> Noise(NoiseAction a)
    {
        if (a.Data.ClassesFile is not null) throw new InvalidOperationException("deft noise takes no --classes.");
        return ["noise", .. DataArguments(a.Data), "--mode", a.Noise.Mode.Name(), "--ratio", Number(a.Noise.Ratio),
            "--seed", a.Noise.Seed.ToString(CultureInfo.InvariantCulture), "--out", a.OutputFile];
    }

    /// <summary>
    /// Momentum and weight decay have no flag: the command uses <see cref="DetectOptions"/>' defaults (0.9, 5e-4, the
    /// official values), so the planner only builds options whose values the command line can carry.
    /// </summary>
    private static List<string> Detect(DetectOptions o)
    {
        // The method and variant are always spelled out: a paper row runs DeFT whatever `deft detect` defaults to,
        // and the plan shows which official script each row follows.
        List<string> args = ["detect", "--method", o.Method.ToName(), "--model", o.Model, .. DataArguments(new DatasetOptions(o.Data, o.Format, o.Split, ClassesFile: o.ClassesFile))];
        if (o.Labels is not null) args.AddRange(["--labels", o.Labels]);
        args.AddRange(["--peft", o.Peft.Name, "--vpt-len", Int(o.Peft.VptLength),
            "--n-ctx", Int(o.Prompts.ContextLength), "--class-token-position", o.Prompts.Position.ToName()]);
        if (o.Method == DetectionMethod.Deft) args.AddRange(["--variant", o.Variant.ToName()]);
        if (o.Augment is { } augment) args.AddRange(["--augment", Data.Transforms.AugmentPresets.ToName(augment)]);
        if (o.Mean is { } mean) args.AddRange(["--mean", Triple(mean)]);
        if (o.Std is { } std) args.AddRange(["--std", Triple(std)]);
        args.AddRange(["--epochs", Int(o.Epochs), "--warmup", Int(o.Warmup), "--batch", Int(o.BatchSize), "--lr", Number(o.LearningRate),
            "--seed", Int(o.Seed), "--out", o.OutputDirectory]);
        return args;
    }

    private static List<string> Adapt(AdaptAction a)
    {
        var o = a.Options;
        if (a.Test.Format != a.Train.Format || a.Test.ClassesFile != a.Train.ClassesFile)
            throw new InvalidOperationException("deft adapt tests on the training set's --format and --classes.");
        List<string> args = ["adapt", "--model", o.Model, "--backbone", o.Backbone.ToName(), .. DataArguments(a.Train)];
        args.AddRange(["--selection", o.SelectionPath ?? "all", "--test", a.Test.Path, "--test-split", a.Test.Split,
            "--epochs", Int(o.Epochs), "--batch", Int(o.BatchSize)]);
        if (o.Optimizer is { } optimizer) args.AddRange(["--optimizer", optimizer.ToString().ToLowerInvariant()]);
        if (o.LearningRate is { } lr) args.AddRange(["--lr", Number(lr)]);
        if (o.WeightDecay is { } wd) args.AddRange(["--weight-decay", Number(wd)]);
        if (o.Momentum is { } m) args.AddRange(["--momentum", Number(m)]);
        if (o.Recipe is { } recipe) args.AddRange(["--recipe", recipe.ToName()]);
        if (o.HeadInit is { } head) args.AddRange(["--head-init", head.ToString().ToLowerInvariant()]);
        if (o.ConstantLearningRate) args.AddRange(["--schedule", "constant"]);
        if (o.Augment is { } augment) args.AddRange(["--augment", augment.Text]);
        if (o.Normalization is { } n) args.AddRange(["--mean", Triple(n.Mean), "--std", Triple(n.Std)]);
        args.AddRange(["--seed", Int(o.Seed), "--out", o.OutputDirectory]);
        return args;
    }

    private static List<string> DataArguments(DatasetOptions data)
    {
        List<string> args = ["--data", data.Path, "--format", data.Format, "--split", data.Split];
        if (data.ClassesFile is not null) args.AddRange(["--classes", data.ClassesFile]);
        return args;
    }

    private static string Int(long value) => value.ToString(CultureInfo.InvariantCulture);
    private static string Number(double value) => ReproducePlanner.Number(value);

    private static string Triple(Data.Transforms.RgbTriple t) =>
        string.Join(',', new[] { t.R, t.G, t.B }.Select(v => v.ToString(CultureInfo.InvariantCulture)));

    [GeneratedRegex(@"^[A-Za-z0-9_./:=@%+,-]+$")]
    private static partial Regex PlainWord();

    /// <summary>A POSIX shell word: as is when it needs no quoting, else single-quoted.</summary>
    internal static string ShellQuote(string word) =>
        word.Length > 0 && PlainWord().IsMatch(word) ? word : "'" + word.Replace("'", "'\\''") + "'";
}
