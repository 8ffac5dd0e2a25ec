using System.Globalization;
using Deft.Adaptation;
using Deft.Data;
using Deft.Detection;
using Deft.Noise;
using Deft.Peft;
using Deft.Prompts;

namespace Deft.Recipes;

/// <summary>How to turn a recipe into a plan.</summary>
/// <param name="Root">The data set's root folder; null plans with the placeholder ROOT, nominal sizes and no checks.</param>
/// <param name="Model">The CLIP weights (<c>--model</c>): a Hugging Face or open_clip folder, a .safetensors/.pt file, or random:ViT-B-16.</param>
/// <param name="OutputDirectory">Where the run folder (OUTPUT/NAME) goes.</param>
/// <param name="Seed">The seed passed to every step.</param>
/// <param name="ImagesPerSecond">Training throughput used for the cost estimate.</param>
/// <param name="Epochs">
/// Smoke runs only: this many epochs in both phases (warm-up capped at it) instead of the official 10. A run with it
/// does not reproduce the paper, and its result says so.
/// </param>
/// <param name="Measured">
/// Per-sample costs measured on this machine (<see cref="ThroughputProbe"/>); when given, each recipe's throughput is
/// derived from them, its class count and its batch size, and <paramref name="ImagesPerSecond"/> is not used.
/// </param>
public sealed record PlanOptions(
    string? Root,
    string Model = ReproducePlanner.ModelPlaceholder,
    string OutputDirectory = "runs",
    int Seed = 0,
    double ImagesPerSecond = ReproducePlanner.DefaultImagesPerSecond,
    Throughput? Measured = null,
    int? Epochs = null);

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
    string RunDirectory)
{
    /// <summary>The options the plan was made with (model, seed, epochs override).</summary>
    public required PlanOptions Options { get; init; }

    /// <summary>Whether the run follows the official schedule (no smoke-run epochs override).</summary>
    public bool FullSchedule => Options.Epochs is null;
}

/// <summary>Builds <see cref="ReproducePlan"/>s and checks data roots against recipes.</summary>
public static class ReproducePlanner
{
    /// <summary>
    /// The default throughput for the cost estimate: ViT-B/16 phase-1 training steps (forward and backward, batch
    /// 64) on the project's 2-core development CPU, about 1.1 images per second. Pass your own figure with
    /// --images-per-second (docs/reproduce.md explains how to measure it).
    /// </summary>
    public const double DefaultImagesPerSecond = 1.1;

    private const string RootPlaceholder = "ROOT";

    /// <summary>The <c>--model</c> a plan shows when none is given; a run refuses it.</summary>
    public const string ModelPlaceholder = "MODEL";

    public static ReproducePlan Plan(Recipe recipe, PlanOptions options)
    {
        ArgumentNullException.ThrowIfNull(recipe);
        ArgumentNullException.ThrowIfNull(options);
        var imagesPerSecond = options.Measured?.PhaseOneImagesPerSecond(recipe.ClassCount, recipe.PhaseOne.BatchSize) ?? options.ImagesPerSecond;
        if (options.Epochs is < 1) throw new DeftException($"{Setting.Epochs} must be ≥ 1, got {options.Epochs}.");
        if (options.Seed < 0) throw new DeftException($"{Setting.Seed} must be ≥ 0 (deft noise takes an unsigned seed), got {options.Seed}.");
        if (!(imagesPerSecond > 0) || double.IsInfinity(imagesPerSecond))
            throw new DeftException($"{Setting.ImagesPerSecond} must be a positive number, got {imagesPerSecond.ToString(CultureInfo.InvariantCulture)}.");

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
        return new ReproducePlan(recipe, root, options.Root is not null, sizes, steps, Cost(recipe, sizes, imagesPerSecond, options.Epochs), run) { Options = options };
    }

    /// <summary>
    /// Checks that <paramref name="root"/> holds what the recipe reads, listing every missing item at once (each
    /// with the paths that would satisfy it).
    /// </summary>
    public static void CheckRoot(Recipe recipe, string root)
    {
        if (!Directory.Exists(root))
            throw new DeftException($"Data root not found: {root}. Pass {Setting.DataRoot} with the folder holding {recipe.DataSetName} ({recipe.RootLayoutHint}).");
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
            throw new DeftException($"Recipe data check, {split.Label} ({Setting.Format} {split.Format} {Setting.Split} {split.Split}): {ex}", ex);
        }
    }

    private static CostEstimate Cost(Recipe recipe, IReadOnlyList<SplitSize> sizes, double imagesPerSecond, int? epochs)
    {
        long train = sizes[0].Images;
        long perEpochOne = Math.Min(train, recipe.PhaseOne.TrainSubsample ?? train);
        long perEpochTwo = Math.Min(train, recipe.PhaseTwo.TrainSubsample ?? train);
        var cleanShare = 1.0 - recipe.Noise.Rate;
        return new CostEstimate(
            (epochs ?? recipe.PhaseOne.Epochs) * perEpochOne,
            perEpochOne,
            (epochs ?? recipe.PhaseTwo.Epochs) * (long)Math.Round(perEpochTwo * cleanShare),
            sizes.Skip(1).Sum(s => (long)s.Images),
            imagesPerSecond);
    }

    /// <summary>Where a step of a recipe's run writes: its own folder under the run directory.</summary>
    public static class Folders
    {
        public const string Noise = "noise";
        public const string Subsample = "subsample";
        public const string Detect = "detect";
        public const string Adapt = "adapt";
        /// <summary>The folder of the evaluation on a further test set: "eval-" and its format.</summary>
        public static string Evaluate(DataSplit test) => "eval-" + test.Format;
    }

    private static List<PlanStep> Steps(Recipe recipe, string root, PlanOptions options, string run)
    {
        var steps = new List<PlanStep>();
        var train = new DatasetOptions(root, recipe.Train.Format, recipe.Train.Split, ClassesFile: recipe.Train.Classes);
        var seed = options.Seed;

        string? labels = null;
        if (recipe.Noise.CliMode is { } mode)
        {
            labels = Path.Combine(run, Folders.Noise, "noisy-labels.csv");
            var title = $"Inject {recipe.Noise.Description} noise into the training labels (clean labels kept beside them)";
            if (recipe.IdnResize is { } side)
                title += $". The released loaders cannot make idn noise for {recipe.DataSetName}; Deft's own choice is the noise model on " +
                    $"{side}x{side} pixels, and deft noise needs images of one size and has no resize option yet, so resize a copy of the data set to " +
                    $"{side}x{side} first";
            steps.Add(new PlanStep(title, new NoiseAction(train, new NoiseOptions(NoiseModes.Parse(mode), recipe.Noise.Rate, (ulong)seed), labels)));
        }

        var p1 = recipe.PhaseOne;
        var p2 = recipe.PhaseTwo;
        if (p1.TrainSubsample != p2.TrainSubsample)
            throw new InvalidOperationException($"{recipe.Name}: phase 2 trains on phase 1's draw, so both phases must subsample alike.");
        if (p1.TrainSubsample is { } draw)
        {
            labels = Path.Combine(run, Folders.Subsample, "labels.csv");
            steps.Add(new PlanStep($"Draw {draw.ToString("N0", CultureInfo.InvariantCulture)} class-balanced training images, as the official loader does per run " +
                "(both phases use this draw)", new SubsampleAction(train, draw, (ulong)seed, labels)));
        }

        var detectDir = Path.Combine(run, Folders.Detect);
        var (p1Epochs, p1Warmup) = Schedule(p1.Epochs, p1.WarmupEpochs, options.Epochs);
        var cifarLike = recipe.Train.Format == "cifar100n";
        var cifarRow = recipe.Train.Format is "cifar100n" or "cifar100" or "cifar10";
        // CIFAR-100N holds CIFAR-100's images: phase 1 sees them exactly as the cifar100 recipes do (deft detect picks
        // the CIFAR augmentation and statistics by format name, so they are passed for cifar100n).
        var cifarNorm = DetectOptions.DefaultNormalization("cifar100", Deft.Data.Transforms.Normalization.Clip);
        var detect = new DetectOptions
        {
            Model = options.Model,
            Data = train.Path,
            Format = train.Format,
            Split = train.Split,
            ClassesFile = train.ClassesFile,
            Labels = labels,
            OutputDirectory = detectDir,
            // The CLI's default: the fastest tower precision that keeps the features (fp32 where bf16 is slower).
            Precision = TowerPrecision.Auto,
            Peft = new PeftOptions(PeftKind.VptDeep, VptLength: p1.VptDeepLength),
            Prompts = new PromptOptions(p1.ContextTokens, ClassTokenPositions.Parse(p1.ClassTokenPosition)),
            Epochs = p1Epochs,
            Warmup = p1Warmup,
            BatchSize = p1.BatchSize,
            LearningRate = p1.LearningRate,
            Momentum = p1.Momentum,
            WeightDecay = p1.WeightDecay,
            Seed = seed,
            Variant = p1.Variant,
            // The official loader's pipeline and statistics outside CIFAR (recipe.Preprocessing), both phases alike.
            Augment = cifarLike ? Deft.Data.Transforms.AugmentPreset.Cifar : recipe.Preprocessing?.Augment,
            Mean = cifarLike ? cifarNorm.Mean : recipe.Preprocessing?.Normalization.Mean,
            Std = cifarLike ? cifarNorm.Std : recipe.Preprocessing?.Normalization.Std,
        };
        steps.Add(new PlanStep("Phase 1: learn positive/negative prompts with VPT-deep and mark each training sample clean or noisy " +
            $"(the {p1.Variant.ToName()} variant, as the official {p1.Variant.OfficialScript()}" +
            (recipe.Preprocessing is { } pre ? $"; images as {pre.Loader} prepares them, augmentation {Deft.Data.Transforms.AugmentPresets.ToName(pre.Augment)})" : ")"),
            new DetectAction(detect)));

        var sameFormatTest = recipe.TestSets.FirstOrDefault(t => t.Format == recipe.Train.Format && t.Classes == recipe.Train.Classes)
            ?? throw new InvalidOperationException($"{recipe.Name}: the first test set must share the training set's format; phase 2 tests on it.");
        var (p2Epochs, _) = Schedule(p2.Epochs, p2.WarmupEpochs, options.Epochs);
        var adaptDir = Path.Combine(run, Folders.Adapt);
        var adapt = new AdaptOptions
        {
            Model = options.Model,
            Backbone = BackboneKind.Clip,
            OutputDirectory = adaptDir,
            SelectionPath = Path.Combine(detectDir, DetectionOutputs.SamplesFile),
            Epochs = p2Epochs,
            BatchSize = p2.BatchSize,
            Optimizer = OptimizerKind.Sgd,
            LearningRate = p2.LearningRate,
            WeightDecay = p2.WeightDecay,
            Momentum = p2.Momentum,
            // The paper's phase 2: one learning rate for all, from a random head.
            Recipe = AdaptRecipe.Official,
            HeadInit = HeadInit.Random,
            // main_real_phase2.py never steps its scheduler; main_phase2.py anneals.
            ConstantLearningRate = p2.ConstantLearningRate,
            // The official loaders in phase 2 too: CIFAR's (bilinear resize, CIFAR statistics) or the recipe's.
            Augment = cifarRow ? Deft.Data.Transforms.AugmentPreset.OfficialCifar : recipe.Preprocessing?.Augment,
            Normalization = cifarRow ? DetectOptions.DefaultNormalization(recipe.Train.Format == "cifar100n" ? "cifar100" : recipe.Train.Format, Deft.Data.Transforms.Normalization.Clip)
                : recipe.Preprocessing?.Normalization,
            Seed = seed,
        };
        var test = new DatasetOptions(root, sameFormatTest.Format, sameFormatTest.Split, ClassesFile: sameFormatTest.Classes);
        var testName = sameFormatTest.Label == "test" ? $"{recipe.DataSetName} test" : sameFormatTest.Label;
        steps.Add(new PlanStep($"Phase 2: fully fine-tune on the samples phase 1 kept, testing on {testName} after every epoch",
            new AdaptAction(adapt, train, test, sameFormatTest.Label)));

        foreach (var other in recipe.TestSets.Where(t => t != sameFormatTest))
        {
            var data = new DatasetOptions(root, other.Format, other.Split, ClassesFile: other.Classes);
            steps.Add(new PlanStep($"Test the adapted model on {other.Label}",
                new EvaluateAction(adaptDir, data, other.Label, Path.Combine(run, Folders.Evaluate(other), "predictions.csv"))));
        }
        return steps;
    }

    /// <summary>The official epochs and warm-up, or the smoke-run override (warm-up capped at it).</summary>
    private static (int Epochs, int Warmup) Schedule(int epochs, int warmup, int? overrideEpochs) =>
        overrideEpochs is { } n ? (n, Math.Min(warmup, n)) : (epochs, warmup);

    /// <summary>A number as the plan prints it: invariant culture, no exponent, no trailing zeros (5e-4 → 0.0005).</summary>
    public static string Number(double value) => value.ToString("0.##########", CultureInfo.InvariantCulture);
}
