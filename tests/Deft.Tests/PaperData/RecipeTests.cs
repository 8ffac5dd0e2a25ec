using Deft.Cli;
using Deft.Detection;
using Deft.Recipes;
using Deft.Tests.Data;
using Deft.Tests.Recipes;

namespace Deft.Tests.PaperData;

/// <summary>The recipe registry against the official configs, plan commands, cost arithmetic and root checks.</summary>
public sealed class RecipeTests : IDisposable
{
    private readonly TempDir _dir = new("deft-recipes");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Registry_holds_every_experiment_of_the_issue_once()
    {
        var names = RecipeRegistry.All.Select(r => r.Name).ToList();
        Assert.Equal(names.Count, names.Distinct().Count());
        foreach (var expected in new[]
                 {
                     "cifar100-sym-0.2", "cifar100-sym-0.4", "cifar100-sym-0.6", "cifar100-idn-0.2", "cifar100-idn-0.3", "cifar100-idn-0.4",
                     "cifar100n", "clothing1m", "webvision",
                 })
            Assert.Contains(expected, names);
        foreach (var prefix in new[] { "tiny-imagenet-", "cub200-", "stanford-cars-" })
            Assert.Equal(6, names.Count(n => n.StartsWith(prefix, StringComparison.Ordinal)));
        Assert.Same(RecipeRegistry.Get("clothing1m"), RecipeRegistry.Get(" CLOTHING1M "));
        var ex = Assert.Throws<DeftException>(() => RecipeRegistry.Get("cifar10"));
        Assert.Contains("cifar100-sym-0.2", ex.Message);
    }

    [Fact]
    public void Hyper_parameters_follow_the_official_configs()
    {
        foreach (var r in RecipeRegistry.All)
        {
            Assert.Equal(("ViT-B/16", 20, 16, 0.03, 10), (r.PhaseOne.Backbone, r.PhaseOne.VptDeepLength, r.PhaseOne.ContextTokens, r.PhaseOne.LearningRate, r.PhaseOne.Epochs));
            Assert.Equal((5e-4, 0.9, 5e-4), (r.PhaseTwo.LearningRate, r.PhaseTwo.Momentum, r.PhaseTwo.WeightDecay));
            // main_real_phase1.py and main_real_phase2.py (5 epochs, lr never stepped) for Clothing1M and WebVision; the
            // synthetic scripts elsewhere, CIFAR-100N included (its paper figure is main_phase1.py's detection precision).
            var real = r.Name is "clothing1m" or "webvision";
            Assert.Equal(real ? DeftVariant.RealNoise : DeftVariant.Synthetic, r.PhaseOne.Variant);
            Assert.Equal((real ? 5 : 10, real), (r.PhaseTwo.Epochs, r.PhaseTwo.ConstantLearningRate));
        }
        var clothing = RecipeRegistry.Get("clothing1m");
        Assert.Equal((32, 5, 32_000), (clothing.PhaseOne.BatchSize, clothing.PhaseOne.WarmupEpochs, clothing.PhaseOne.TrainSubsample));
        Assert.Equal((32, 1), (clothing.PhaseTwo.BatchSize, clothing.PhaseTwo.WarmupEpochs));
        Assert.Equal((64, 5, 5), (RecipeRegistry.Get("webvision").PhaseOne.BatchSize, RecipeRegistry.Get("webvision").PhaseOne.WarmupEpochs, RecipeRegistry.Get("webvision").PhaseTwo.WarmupEpochs));
        Assert.Equal((1, 1), (RecipeRegistry.Get("cifar100-sym-0.4").PhaseOne.WarmupEpochs, RecipeRegistry.Get("cifar100-sym-0.4").PhaseTwo.WarmupEpochs));
        Assert.Equal(5, RecipeRegistry.Get("tiny-imagenet-sym-0.2").PhaseTwo.WarmupEpochs);

        Assert.Equal(new PaperFigure(PaperMetric.DetectionPrecision, 88.43, "CIFAR-100N train"), Assert.Single(RecipeRegistry.Get("cifar100n").PaperFigures));
        Assert.Equal(72.44, Assert.Single(clothing.PaperFigures).Percent);
        Assert.Equal(85.12, Assert.Single(RecipeRegistry.Get("webvision").PaperFigures).Percent);
        Assert.Equal(new NoiseSpec(NoiseKind.InstanceDependent, 0.3), RecipeRegistry.Get("cifar100-idn-0.3").Noise);
    }

    [Fact]
    public void Synthetic_plan_injects_noise_then_detects_and_adapts_with_every_flag()
    {
        var plan = ReproducePlanner.Plan(RecipeRegistry.Get("cub200-idn-0.2"), new PlanOptions(null, "/models/my clip", "out", 3));

        Assert.Equal("ROOT", plan.Root);
        Assert.False(plan.RootChecked);
        Assert.Equal(3, plan.Steps.Count);
        Assert.Equal(
            "./deft noise --data ROOT --format cub200 --split train --mode idn --ratio 0.2 --seed 3 --out out/cub200-idn-0.2/noise/noisy-labels.csv",
            plan.Steps[0].Command);
        Assert.Contains("resize a copy of the data set to 64x64", plan.Steps[0].Title);
        Assert.Contains("released loaders cannot make idn noise", plan.Steps[0].Title);
        Assert.DoesNotContain("resize", ReproducePlanner.Plan(RecipeRegistry.Get("tiny-imagenet-idn-0.2"), new PlanOptions(null)).Steps[0].Title);
        Assert.Equal(
            "./deft detect --method deft --model '/models/my clip' --data ROOT --format cub200 --split train --labels out/cub200-idn-0.2/noise/noisy-labels.csv " +
            "--peft vpt-deep --vpt-len 20 --n-ctx 16 --class-token-position end --variant synthetic " +
            // dataloader_cub.py: Resize((256, 256)) → RandomCrop → flip, ImageNet statistics, in both phases.
            "--augment official-square --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225 --epochs 10 --warmup 1 --batch 64 --lr 0.03 --seed 3 --out out/cub200-idn-0.2/detect",
            plan.Steps[1].Command);
        Assert.Equal(
            "./deft adapt --model '/models/my clip' --backbone clip --data ROOT --format cub200 --split train --selection out/cub200-idn-0.2/detect/samples.csv " +
            "--test ROOT --test-split test --epochs 10 --batch 64 --optimizer sgd --lr 0.0005 --weight-decay 0.0005 --momentum 0.9 --recipe official --head-init random " +
            "--augment official-square --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225 --seed 3 --out out/cub200-idn-0.2/adapt",
            plan.Steps[2].Command);
        Assert.Equal([StepKind.Noise, StepKind.Detect, StepKind.Adapt], plan.Steps.Select(s => s.Kind));
        Assert.Equal([Path.Combine("out", "cub200-idn-0.2", "noise"), Path.Combine("out", "cub200-idn-0.2", "detect"), Path.Combine("out", "cub200-idn-0.2", "adapt")],
            plan.Steps.Select(s => s.Directory));
    }

    [Fact]
    public void Real_noise_plans_skip_injection_and_test_every_test_set()
    {
        var webvision = ReproducePlanner.Plan(RecipeRegistry.Get("webvision"), new PlanOptions(null));
        Assert.DoesNotContain(webvision.Steps, s => s.Kind == StepKind.Noise);
        Assert.All(webvision.Steps.Take(2), s => Assert.Contains("--format webvision --split train --classes 50", s.Command));
        Assert.Equal("./deft predict --model-dir runs/webvision/adapt --data ROOT --format webvision-imagenet --split test --classes 50 " +
            "--out runs/webvision/eval-webvision-imagenet/predictions.csv", webvision.Steps[2].Command);
        Assert.Contains("--test ROOT --test-split test", webvision.Steps[1].Command);

        // Clothing1M: one class-balanced draw of 32,000 that phase 1 examines and phase 2 trains on (through samples.csv).
        var clothing = ReproducePlanner.Plan(RecipeRegistry.Get("clothing1m"), new PlanOptions(null));
        Assert.Equal("./deft subsample --data ROOT --format clothing1m --split train --size 32000 --seed 0 --out runs/clothing1m/subsample/labels.csv",
            clothing.Steps[0].Command);
        Assert.Contains("--labels runs/clothing1m/subsample/labels.csv", clothing.Steps[1].Command);
        Assert.Contains("--epochs 10 --warmup 5 --batch 32 --lr 0.03", clothing.Steps[1].Command);
        Assert.Contains("--selection runs/clothing1m/detect/samples.csv", clothing.Steps[2].Command);
        // The real-noise rows follow main_real_phase1.py / main_real_phase2.py (forced to 5 epochs).
        Assert.Contains("--variant real-noise --augment official-short-side --mean 0.6959,0.6537,0.6371 --std 0.3113,0.3192,0.3214 --epochs 10", clothing.Steps[1].Command);
        Assert.Contains("main_real_phase1.py", clothing.Steps[1].Title);
        Assert.Contains("--epochs 5 --batch 32", clothing.Steps[2].Command);
        Assert.Contains("--variant real-noise", webvision.Steps[0].Command);
        Assert.Contains("--epochs 5 --batch 64", webvision.Steps[1].Command);

        // CIFAR-100N: phase 1 sees the images as the cifar100 recipes do (deft detect keys these on --format cifar100).
        var cifarN = ReproducePlanner.Plan(RecipeRegistry.Get("cifar100n"), new PlanOptions(null));
        Assert.Contains("--augment cifar --mean 0.507,0.487,0.441 --std 0.267,0.256,0.276", cifarN.Steps[0].Command);
        Assert.Contains("--variant synthetic", cifarN.Steps[0].Command);
        // cifar100: deft detect picks the official CIFAR pipeline by format; phase 2 names it (bilinear resize, CIFAR statistics).
        var cifar = ReproducePlanner.Plan(RecipeRegistry.Get("cifar100-sym-0.2"), new PlanOptions(null));
        Assert.DoesNotContain("--augment", cifar.Steps[1].Command);
        Assert.Contains("--augment official-cifar --mean 0.507,0.487,0.441 --std 0.267,0.256,0.276", cifar.Steps[2].Command);
    }

    [Fact]
    public void Cost_counts_both_phases_detection_and_testing()
    {
        // CIFAR-100, 40% symmetric: 10×50,000 phase-1 + 50,000 detection + 10×30,000 phase-2 + 10,000 test.
        var cifar = ReproducePlanner.Plan(RecipeRegistry.Get("cifar100-sym-0.4"), new PlanOptions(null, ImagesPerSecond: 2.0)).Cost;
        Assert.Equal((500_000L, 50_000L, 300_000L, 10_000L), (cifar.PhaseOneTrainImages, cifar.DetectionImages, cifar.PhaseTwoTrainImages, cifar.EvaluationImages));
        Assert.Equal(860_000L, cifar.TotalImages);
        Assert.Equal(860_000 / 2.0 / 3600, cifar.Hours, 9);

        // Clothing1M draws 32,000 images per run; 38.5% noise leaves 19,680 per phase-2 epoch, 5 epochs.
        var clothing = ReproducePlanner.Plan(RecipeRegistry.Get("clothing1m"), new PlanOptions(null)).Cost;
        Assert.Equal((320_000L, 32_000L, 98_400L, 10_526L), (clothing.PhaseOneTrainImages, clothing.DetectionImages, clothing.PhaseTwoTrainImages, clothing.EvaluationImages));
        Assert.Equal(ReproducePlanner.DefaultImagesPerSecond, clothing.ImagesPerSecond);

        Assert.Throws<DeftException>(() => ReproducePlanner.Plan(RecipeRegistry.Get("cifar100n"), new PlanOptions(null, ImagesPerSecond: 0)));
    }

    [Fact]
    public void Measured_costs_price_each_recipe_by_its_classes_and_batch()
    {
        var measured = new Throughput(VisionSecondsPerImage: 0.5, TextSecondsPerPrompt: 0.1, Threads: 2);
        // A CIFAR-100 step of 64 images also encodes 2 × 100 prompts: 64 / (64 × 0.5 + 200 × 0.1) images per second.
        Assert.Equal(64 / 52.0, measured.PhaseOneImagesPerSecond(100, 64), 12);

        var clothing = ReproducePlanner.Plan(RecipeRegistry.Get("clothing1m"), new PlanOptions(null, ImagesPerSecond: 99, Measured: measured));
        Assert.Equal(32 / (32 * 0.5 + 28 * 0.1), clothing.Cost.ImagesPerSecond, 12);
        Assert.Equal(clothing.Cost.TotalImages / clothing.Cost.ImagesPerSecond / 3600, clothing.Cost.Hours, 9);
    }

    [Fact]
    public void Root_check_lists_everything_missing_at_once()
    {
        _dir.WriteText("cub/images.txt", "1 a/b.jpg\n");
        var recipe = RecipeRegistry.Get("cub200-sym-0.2");

        var ex = Assert.Throws<DeftException>(() => ReproducePlanner.Plan(recipe, new PlanOptions(Path.Combine(_dir.Path, "cub"))));
        Assert.Contains("missing:", ex.Message);
        foreach (var what in new[] { "image labels", "train/test split", "class names", "images:" })
            Assert.Contains(what, ex.Message);
        Assert.DoesNotContain("image list", ex.Message);
        Assert.Contains(Path.Combine(_dir.Path, "cub", "train_test_split.txt"), ex.Message);

        ex = Assert.Throws<DeftException>(() => ReproducePlanner.Plan(recipe, new PlanOptions(Path.Combine(_dir.Path, "absent"))));
        Assert.Contains("Data root not found", ex.Message);
    }

    [Fact]
    public void Complete_root_is_counted_and_priced_by_its_real_sizes()
    {
        _dir.WriteText("cub/classes.txt", "1 001.Black_footed_Albatross\n2 002.Laysan_Albatross\n");
        _dir.WriteText("cub/images.txt", "1 001/a.jpg\n2 001/b.jpg\n3 002/c.jpg\n");
        _dir.WriteText("cub/image_class_labels.txt", "1 1\n2 1\n3 2\n");
        _dir.WriteText("cub/train_test_split.txt", "1 1\n2 1\n3 0\n");
        foreach (var (f, i) in new[] { ("001/a.jpg", 1), ("001/b.jpg", 2), ("002/c.jpg", 3) }) PaperFiles.Image(_dir, "cub/images/" + f, i);
        var root = Path.Combine(_dir.Path, "cub");

        var plan = ReproducePlanner.Plan(RecipeRegistry.Get("cub200-sym-0.6"), new PlanOptions(root));

        Assert.True(plan.RootChecked);
        Assert.Equal([(2, true), (1, true)], plan.Sizes.Select(s => (s.Images, s.Counted)));
        Assert.Equal((20L, 2L, 10L, 1L), (plan.Cost.PhaseOneTrainImages, plan.Cost.DetectionImages, plan.Cost.PhaseTwoTrainImages, plan.Cost.EvaluationImages));
        Assert.Contains($"--data {root} --format cub200", plan.Steps[0].Command);

        File.WriteAllText(Path.Combine(root, "image_class_labels.txt"), "1 1\n2 x\n3 2\n");
        var ex = Assert.Throws<DeftException>(() => ReproducePlanner.Plan(RecipeRegistry.Get("cub200-sym-0.6"), new PlanOptions(root)));
        Assert.Contains("Recipe data check, train (--format cub200 --split train)", FlagNames.Render(ex));
        Assert.Contains("line 2", ex.Message);
    }
}
