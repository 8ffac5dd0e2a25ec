using System.Globalization;
using System.Text.RegularExpressions;
using Deft.Data;

namespace Deft.Recipes;

/// <summary>How to turn a recipe into a plan.</summary>
/// <param name="Root">The data set's root folder; null plans with the placeholder ROOT, nominal sizes and no checks.</param>
/// <param name="Model">The CLIP weights (<c>--model</c>): a Hugging Face or open_clip folder, a .safetensors/.pt file, or random:ViT-B-16.</param>
/// <param name="OutputDirectory">Where the run folder (OUTPUT/NAME) goes.</param>
/// <param name="Seed">The seed passed to every step.</param>
/// <param name="ImagesPerSecond">Training throughput used for the cost estimate.</param>
/// <param name="Measured">
/// Per-sample costs measured on this machine (<see cref="ThroughputProbe"/>); when given, each recipe's throughput is
/// derived from them, its class count and its batch size, and <paramref name="ImagesPerSecond"/> is not used.
/// </param>
public sealed record PlanOptions(
    string? Root,
    string Model = "MODEL",
    string OutputDirectory = "runs",
    int Seed = 0,
    double ImagesPerSecond = ReproducePlanner.DefaultImagesPerSecond,
    Throughput? Measured = null);

/// <summary>One command of a plan.</summary>
public sealed record PlanStep(string Title, string Command);

/// <summary>The size of one split: counted by opening it under the root, or the published figure.</summary>
public sealed record SplitSize(DataSplit Split, int Images, bool Counted);

/// <summary>
/// What one run costs, in images pushed through ViT-B/16: phase-1 training steps, the detection pass over the
/// training images, phase-2 training on the estimated clean share, and one evaluation pass over the test sets.
/// Inference images are counted like training ones (they cost about a third), so the hours lean high.
/// </summary>
public sealed record CostEstimate(long PhaseOneTrainImages, long DetectionImages, long PhaseTwoTrainImages, long EvaluationImages, double ImagesPerSecond)
{
    public long TotalImages => PhaseOneTrainImages + DetectionImages + PhaseTwoTrainImages + EvaluationImages;
    public double Hours => TotalImages / ImagesPerSecond / 3600.0;
}

/// <summary>A recipe turned into commands for one data root.</summary>
public sealed record ReproducePlan(
    Recipe Recipe,
    string Root,
    bool RootChecked,
    IReadOnlyList<SplitSize> Sizes,
    IReadOnlyList<PlanStep> Steps,
    CostEstimate Cost,
    string RunDirectory);

/// <summary>Builds <see cref="ReproducePlan"/>s and checks data roots against recipes.</summary>
public static partial class ReproducePlanner
{
    /// <summary>
    /// The default throughput for the cost estimate: ViT-B/16 phase-1 training steps (forward and backward, batch
    /// 64) on the project's 2-core development CPU, about 1.1 images per second. Pass your own figure with
    /// --images-per-second (docs/reproduce.md explains how to measure it).
    /// </summary>
    public const double DefaultImagesPerSecond = 1.1;

    private const string RootPlaceholder = "ROOT";

    public static ReproducePlan Plan(Recipe recipe, PlanOptions options)
    {
        ArgumentNullException.ThrowIfNull(recipe);
        ArgumentNullException.ThrowIfNull(options);
        var imagesPerSecond = options.Measured?.PhaseOneImagesPerSecond(recipe.ClassCount, recipe.PhaseOne.BatchSize) ?? options.ImagesPerSecond;
        if (!(imagesPerSecond > 0) || double.IsInfinity(imagesPerSecond))
            throw new DeftException($"--images-per-second must be a positive number, got {imagesPerSecond.ToString(CultureInfo.InvariantCulture)}.");

        List<SplitSize> sizes;
        string root;
        if (options.Root is null)
        {
            root = RootPlaceholder;
            sizes = [.. new[] { recipe.Train }.Concat(recipe.TestSets).Select(s => new SplitSize(s, s.NominalImages, false))];
        }
        else
        {
            root = Path.GetFullPath(options.Root);
            CheckRoot(recipe, root);
            sizes = [.. new[] { recipe.Train }.Concat(recipe.TestSets).Select(s => new SplitSize(s, Count(s, root), true))];
        }

        var run = Path.Combine(options.OutputDirectory, recipe.Name);
        var steps = Steps(recipe, root, options, run);
        return new ReproducePlan(recipe, root, options.Root is not null, sizes, steps, Cost(recipe, sizes, imagesPerSecond), run);
    }

    /// <summary>
    /// Checks that <paramref name="root"/> holds what the recipe reads, listing every missing item at once (each
    /// with the paths that would satisfy it).
    /// </summary>
    public static void CheckRoot(Recipe recipe, string root)
    {
        if (!Directory.Exists(root))
            throw new DeftException($"Data root not found: {root}. Pass --root with the folder holding {recipe.DataSetName} ({recipe.RootLayoutHint}).");
        var missing = recipe.RootRequirements
            .Where(r => !r.Alternatives.Any(a => File.Exists(Path.Combine(root, a)) || Directory.Exists(Path.Combine(root, a))))
            .ToList();
        if (missing.Count == 0) return;
        var lines = missing.Select(r => $"  - {r.Description}: {string.Join(" or ", r.Alternatives.Select(a => Path.Combine(root, a)))}");
        throw new DeftException(
            $"{root} is not a complete {recipe.DataSetName} root for recipe {recipe.Name}; missing:\n{string.Join("\n", lines)}\n" +
            $"Expected layout: {recipe.RootLayoutHint}. docs/reproduce.md says where to get it.");
    }

    private static int Count(DataSplit split, string root)
    {
        try
        {
            return DatasetFactory.Open(new DatasetOptions(root, split.Format, split.Split, BadImagePolicy.Fail, split.Classes)).Count;
        }
        catch (DeftException ex)
        {
            throw new DeftException($"Recipe data check, {split.Label} (--format {split.Format} --split {split.Split}): {ex.Message}", ex);
        }
    }

    private static CostEstimate Cost(Recipe recipe, IReadOnlyList<SplitSize> sizes, double imagesPerSecond)
    {
        long train = sizes[0].Images;
        long perEpochOne = Math.Min(train, recipe.PhaseOne.TrainSubsample ?? train);
        long perEpochTwo = Math.Min(train, recipe.PhaseTwo.TrainSubsample ?? train);
        var cleanShare = 1.0 - recipe.Noise.Rate;
        return new CostEstimate(
            recipe.PhaseOne.Epochs * perEpochOne,
            perEpochOne,
            recipe.PhaseTwo.Epochs * (long)Math.Round(perEpochTwo * cleanShare),
            sizes.Skip(1).Sum(s => (long)s.Images),
            imagesPerSecond);
    }

    private static List<PlanStep> Steps(Recipe recipe, string root, PlanOptions options, string run)
    {
        var steps = new List<PlanStep>();
        var data = new List<string> { "--data", root, "--format", recipe.Train.Format, "--split", recipe.Train.Split };
        if (recipe.Train.Classes is not null) data.AddRange(["--classes", recipe.Train.Classes]);
        var seed = new[] { "--seed", options.Seed.ToString(CultureInfo.InvariantCulture) };

        string? labels = null;
        if (recipe.Noise.CliMode is { } mode)
        {
            labels = Path.Combine(run, "noisy-labels.csv");
            List<string> noise = ["noise", .. data, "--mode", mode, "--ratio", Number(recipe.Noise.Rate), .. seed, "--out", labels];
            var title = $"Inject {recipe.Noise.Description} noise into the training labels (clean labels kept beside them)";
            if (recipe.IdnResize is { } side)
                title += $". The official code resizes the images to {side}x{side} for this; deft noise needs images of one size " +
                    "and has no resize option yet, so resize a copy of the data set first";
            steps.Add(new PlanStep(title, Command(noise)));
        }

        var p1 = recipe.PhaseOne;
        var detectDir = Path.Combine(run, "detect");
        List<string> detect = ["detect", .. data];
        if (labels is not null) detect.AddRange(["--labels", labels]);
        detect.AddRange([
            "--model", options.Model, "--backbone", p1.Backbone, "--resolution", Int(p1.Resolution),
            "--vpt-deep", Int(p1.VptDeepLength), "--n-ctx", Int(p1.ContextTokens), "--class-token-position", p1.ClassTokenPosition,
            "--optimizer", "sgd", "--lr", Number(p1.LearningRate), "--momentum", Number(p1.Momentum), "--weight-decay", Number(p1.WeightDecay),
            "--batch-size", Int(p1.BatchSize), "--epochs", Int(p1.Epochs), "--warmup-epochs", Int(p1.WarmupEpochs)]);
        if (p1.TrainSubsample is { } n1) detect.AddRange(["--subsample", Int(n1), "--balanced"]);
        detect.AddRange([.. seed, "--out", detectDir]);
        steps.Add(new PlanStep("Phase 1: learn positive/negative prompts with VPT-deep and mark each training sample clean or noisy", Command(detect)));

        var p2 = recipe.PhaseTwo;
        var adaptDir = Path.Combine(run, "adapt");
        List<string> adapt = ["adapt", .. data];
        if (labels is not null) adapt.AddRange(["--labels", labels]);
        adapt.AddRange([
            "--clean", Path.Combine(detectDir, "clean.csv"), "--model", options.Model, "--finetune", "full", "--resolution", Int(p2.Resolution),
            "--optimizer", "sgd", "--lr", Number(p2.LearningRate), "--momentum", Number(p2.Momentum), "--weight-decay", Number(p2.WeightDecay),
            "--batch-size", Int(p2.BatchSize), "--epochs", Int(p2.Epochs), "--warmup-epochs", Int(p2.WarmupEpochs)]);
        if (p2.TrainSubsample is { } n2) adapt.AddRange(["--subsample", Int(n2), "--balanced"]);
        var sameFormatTest = recipe.TestSets.FirstOrDefault(t => t.Format == recipe.Train.Format);
        if (sameFormatTest is not null) adapt.AddRange(["--test-split", sameFormatTest.Split]);
        adapt.AddRange([.. seed, "--out", adaptDir]);
        steps.Add(new PlanStep("Phase 2: fully fine-tune on the samples phase 1 kept, then test", Command(adapt)));

        foreach (var test in recipe.TestSets.Where(t => t.Format != recipe.Train.Format))
        {
            var evaluate = new List<string> { "evaluate", "--data", root, "--format", test.Format, "--split", test.Split };
            if (test.Classes is not null) evaluate.AddRange(["--classes", test.Classes]);
            evaluate.AddRange(["--model", adaptDir, "--out", Path.Combine(run, $"eval-{test.Format}.json")]);
            steps.Add(new PlanStep($"Test the adapted model on {test.Label}", Command(evaluate)));
        }
        return steps;
    }

    private static string Int(int value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>A number as the plan prints it: invariant culture, no exponent, no trailing zeros (5e-4 → 0.0005).</summary>
    public static string Number(double value) => value.ToString("0.##########", CultureInfo.InvariantCulture);

    [GeneratedRegex(@"^[A-Za-z0-9_./:=@%+,-]+$")]
    private static partial Regex PlainWord();

    /// <summary>A POSIX shell word: as is when it needs no quoting, else single-quoted.</summary>
    internal static string ShellQuote(string word) =>
        word.Length > 0 && PlainWord().IsMatch(word) ? word : "'" + word.Replace("'", "'\\''") + "'";

    private static string Command(IEnumerable<string> args) => "./deft " + string.Join(' ', args.Select(ShellQuote));
}
