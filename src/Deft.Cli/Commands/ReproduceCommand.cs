using System.ComponentModel;
using System.Globalization;
using Deft.Detection;
using Deft.Recipes;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Deft.Cli.Commands;

internal sealed class ReproduceCommand : Command<ReproduceCommand.Settings>
{

    internal sealed class Settings : CommandSettings, IInterruptHint
    {
        public string? InterruptHint() => DryRun || List ? null
            : "Run the same command again to resume: finished steps are skipped, detect and adapt continue from their checkpoints.";

        [CommandArgument(0, "[NAME]")]
        [Description("The recipe (deft reproduce --list names them). Without it, --dry-run plans every recipe.")]
        public string? Name { get; init; }

        [CommandOption("--root <PATH>")]
        [Description("The data set's root folder as distributed; its layout is checked and its splits counted.")]
        public string? Root { get; init; }

        [CommandOption("--list")]
        [Description("List the recipes.")]
        public bool List { get; init; }

        [CommandOption("--dry-run")]
        [Description("Print the plan (commands with every flag, sizes, cost) and run nothing.")]
        public bool DryRun { get; init; }

        [CommandOption("--model <MODEL>")]
        [Description("CLIP ViT-B/16 weights: a Hugging Face folder (openai/clip-vit-base-patch16), an open_clip folder, a .safetensors/.pt file, or random:ViT-B-16.")]
        [DefaultValue(ReproducePlanner.ModelPlaceholder)]
        public string Model { get; init; } = ReproducePlanner.ModelPlaceholder;

        [CommandOption("--out <DIR>")]
        [Description("Where each recipe's run folder goes (DIR/NAME).")]
        [DefaultValue("runs")]
        public string Out { get; init; } = "runs";

        [CommandOption("--seed <N>")]
        [Description("Seed for every step.")]
        [DefaultValue(0)]
        public int Seed { get; init; }

        [CommandOption("--images-per-second <X>")]
        [Description("Training throughput for the cost estimate (default: ViT-B/16 phase-1 steps on the 2-core development CPU).")]
        [DefaultValue(ReproducePlanner.DefaultImagesPerSecond)]
        public double ImagesPerSecond { get; init; } = ReproducePlanner.DefaultImagesPerSecond;

        [CommandOption("--measure")]
        [Description("Time ViT-B/16 phase-1 work on this machine (about a minute) and price each recipe from it, by its class count and batch size; overrides --images-per-second.")]
        public bool Measure { get; init; }

        [CommandOption("--epochs <N>")]
        [Description("Smoke runs only: N epochs in both phases (warm-up capped at N) instead of the paper's 10. Does not reproduce the paper; result.json says full_schedule false.")]
        public int? Epochs { get; init; }

        [CommandOption("--json")]
        [Description("Print the plan(s) as JSON; after a run, also the result.")]
        public bool Json { get; init; }

        public override ValidationResult Validate()
        {
            if (List && (Name is not null || Root is not null)) return ValidationResult.Error("--list takes no recipe name and no --root.");
            if (!List && Name is null && !DryRun)
                return ValidationResult.Error("Name a recipe (deft reproduce --list), or pass --dry-run to plan them all.");
            if (Name is null && Root is not null) return ValidationResult.Error("--root belongs to one recipe: name it (deft reproduce NAME --root PATH).");
            if (!List && !DryRun && Root is null)
                return ValidationResult.Error("Running a recipe needs its data: pass --root PATH (or --dry-run to only plan).");
            if (!List && !DryRun && Model == ReproducePlanner.ModelPlaceholder)
                return ValidationResult.Error("Running a recipe needs CLIP ViT-B/16 weights: pass --model (docs/reproduce.md says where to get them), or --dry-run to only plan.");
            if (Epochs is < 1) return ValidationResult.Error($"--epochs must be ≥ 1, got {Epochs}.");
            if (Seed < 0) return ValidationResult.Error($"--seed must be ≥ 0, got {Seed}.");
            if (!(ImagesPerSecond > 0) || double.IsInfinity(ImagesPerSecond))
                return ValidationResult.Error($"--images-per-second must be a positive number, got {ImagesPerSecond.ToString(CultureInfo.InvariantCulture)}.");
            return ValidationResult.Success();
        }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        if (settings.List)
        {
            PrintList(settings.Json);
            return 0;
        }

        var recipes = settings.Name is null ? RecipeRegistry.All : [RecipeRegistry.Get(settings.Name)];
        Throughput? measured = null;
        if (settings.Measure)
        {
            Console.Error.WriteLine("Measuring ViT-B/16 forward+backward on this machine (random weights)...");
            measured = ThroughputProbe.Measure();
            Console.Error.WriteLine(
                $"measured with {measured.Threads} threads: {measured.VisionSecondsPerImage.ToString("0.000", CultureInfo.InvariantCulture)} s per image (vision tower), " +
                $"{measured.TextSecondsPerPrompt.ToString("0.0000", CultureInfo.InvariantCulture)} s per {ThroughputProbe.PromptTokens}-token prompt (text tower)");
        }
        var options = new PlanOptions(settings.Root, settings.Model, settings.Out, settings.Seed, settings.ImagesPerSecond, measured, settings.Epochs);
        var plans = recipes.Select(r => ReproducePlanner.Plan(r, options)).ToList();

        if (settings.Json)
        {
            Console.WriteLine(System.Text.Json.JsonSerializer.Serialize(plans.Select(p => new
            {
                p.Recipe.Name, p.Recipe.Title, p.Root, p.RootChecked, p.RunDirectory, p.FullSchedule,
                Splits = p.Sizes.Select(s => new { s.Split.Label, s.Split.Format, s.Split.Split, s.Split.Classes, s.Images, s.Counted }),
                Noise = new { Kind = p.Recipe.Noise.Kind.ToString(), p.Recipe.Noise.Rate },
                p.Recipe.PhaseOne, p.Recipe.PhaseTwo,
                PaperFigures = p.Recipe.PaperFigures.Select(f => new { Metric = f.Metric.ToString(), f.Percent, f.TestSet }),
                Steps = p.Steps.Select(s => new { s.Title, Kind = s.Kind.ToString().ToLowerInvariant(), s.Directory, Command = PlanCommandLine.Of(s) }),
                Cost = new { p.Cost.PhaseOneTrainImages, p.Cost.DetectionImages, p.Cost.PhaseTwoTrainImages, p.Cost.EvaluationImages, p.Cost.TotalImages, p.Cost.ImagesPerSecond, p.Cost.Hours },
            }), JsonOptions.Indented));
        }
        else
        {
            foreach (var plan in plans) PrintPlan(plan);
        }

        if (settings.DryRun) return 0;
        var result = Run(plans.Single(), settings.Json, cancellationToken);
        if (settings.Json)
            Console.WriteLine(System.Text.Json.JsonSerializer.Serialize(result, ReproduceRunner.JsonOptions));
        else
            PrintResult(result);
        return 0;
    }

    /// <summary>Runs the plan with a progress bar per step (interactive), or a line per step and every few seconds (redirected, --json: on stderr).</summary>
    private static ReproduceResult Run(ReproducePlan plan, bool json, CancellationToken cancellationToken)
    {
        var warnings = new List<string>();
        if (ProgressRunner.Plain(json))
        {
            var lastStep = 0;
            var last = DateTime.MinValue;
            var lines = ProgressRunner.Report<ReproduceProgress>(p =>
            {
                var newStep = p.Step != lastStep;
                if (!newStep && p.Fraction < 1 && (DateTime.UtcNow - last).TotalSeconds < 5) return;
                lastStep = p.Step;
                last = DateTime.UtcNow;
                Console.Error.WriteLine($"reproduce: step {p.Step}/{p.Steps} {p.Kind.ToString().ToLowerInvariant()} {p.Fraction.ToString("P0", CultureInfo.InvariantCulture)} {p.Status}");
            });
            return ReproduceRunner.Run(plan, PlanCommandLine.Of, lines, w => Console.Error.WriteLine($"warning: {w}"), cancellationToken);
        }

        var result = ProgressRunner.Live<ReproduceProgress, ReproduceResult>(progress => ReproduceRunner.Run(plan, PlanCommandLine.Of, progress, warnings.Add, cancellationToken),
            p => new ProgressBar(p.Step, p.Fraction, 1, $"{p.Step}. {p.Kind.ToString().ToLowerInvariant()} · {p.Status}"));
        foreach (var w in warnings) AnsiConsole.MarkupLineInterpolated($"[yellow]warning:[/] {w}");
        return result;
    }

    private static void PrintResult(ReproduceResult result)
    {
        var inv = CultureInfo.InvariantCulture;
        var steps = new Table().AddColumns("step", "status", "folder").AddColumn(new TableColumn("s").RightAligned());
        foreach (var s in result.Steps)
            steps.AddRow(Markup.Escape($"{s.Number}. {s.Kind}"), s.Status.ToString().ToLowerInvariant(), Markup.Escape(s.Directory), s.Seconds.ToString("0.0", inv));
        AnsiConsole.Write(steps);

        var figures = new Table().AddColumns("figure", "paper", "ours");
        string Percent(double? v) => v is { } x ? x.ToString("0.00", inv) + "%" : "—";
        foreach (var f in result.Paper)
            figures.AddRow(Markup.Escape($"{f.Metric.Replace('_', ' ')} ({f.TestSet})"), Percent(f.PaperPercent), $"[bold]{Percent(f.OursPercent)}[/]");
        if (result.Detection is { } d)
        {
            if (!result.Paper.Any(f => f.Metric == "detection_precision"))
                figures.AddRow("detection precision (train)", "—", Percent(d.Precision * 100));
            figures.AddRow("detection recall (train)", "—", Percent(d.Recall * 100));
            figures.AddRow("kept as clean", "—", $"{d.SelectedClean.ToString("N0", inv)} of {d.Samples.ToString("N0", inv)}");
        }
        for (var i = 0; i < result.Tests.Count; i++)
        {
            var t = result.Tests[i];
            if (i == 0 && result.Paper.Any(f => f.Metric == "test_accuracy")) continue;
            figures.AddRow(Markup.Escape($"test accuracy ({t.TestSet})"), "—", Percent(t.Accuracy * 100));
        }
        if (result.Tests.FirstOrDefault() is { BestAccuracy: { } best, BestEpoch: { } epoch })
            figures.AddRow(Markup.Escape($"best epoch's test accuracy ({result.Tests[0].TestSet})"), "—", $"{Percent(best * 100)} (epoch {epoch})");
        AnsiConsole.Write(figures);
        if (!result.FullSchedule)
            AnsiConsole.MarkupLineInterpolated(
                $"[yellow]Smoke run:[/] {result.PhaseOneEpochs} + {result.PhaseTwoEpochs} epochs instead of the paper's schedule (--epochs); these figures do not reproduce the paper.");
        AnsiConsole.MarkupLineInterpolated($"Result: {Path.Combine(result.RunDirectory, ReproduceRunner.ResultFile)}");
    }

    private static void PrintList(bool json)
    {
        if (json)
        {
            Console.WriteLine(System.Text.Json.JsonSerializer.Serialize(RecipeRegistry.All.Select(r => new
            {
                r.Name, r.Title, Format = r.Train.Format, Noise = r.Noise.Description, PaperFigures = r.PaperFigures.Select(f => f.Description),
            }), JsonOptions.Indented));
            return;
        }
        var table = new Table().AddColumn("recipe").AddColumn("--format").AddColumn("noise").AddColumn("paper reports");
        foreach (var r in RecipeRegistry.All)
            table.AddRow(Markup.Escape(r.Name), Markup.Escape(r.Train.Format), Markup.Escape(r.Noise.ShortDescription),
                Markup.Escape(r.PaperFigures.Count == 0 ? "-" : string.Join("; ", r.PaperFigures.Select(f => f.Description))));
        AnsiConsole.Write(table);
    }

    private static string Triple(Data.Transforms.RgbTriple t) =>
        string.Join(',', new[] { t.R, t.G, t.B }.Select(v => v.ToString(System.Globalization.CultureInfo.InvariantCulture)));

    private static void PrintPlan(ReproducePlan plan)
    {
        var r = plan.Recipe;
        var inv = CultureInfo.InvariantCulture;
        Console.WriteLine($"== {r.Name}: {r.Title}");
        Console.WriteLine(plan.RootChecked
            ? $"data root: {plan.Root} (layout complete; splits counted)"
            : $"data root: ROOT (not checked; pass --root PATH). Layout: {r.RootLayoutHint}");
        foreach (var s in plan.Sizes)
            Console.WriteLine($"  {s.Split.Label}: --format {s.Split.Format} --split {s.Split.Split}{(s.Split.Classes is null ? "" : $" --classes {s.Split.Classes}")}: " +
                $"{s.Images.ToString("N0", inv)} images{(s.Counted ? "" : " (published size)")}");
        Console.WriteLine($"noise: {r.Noise.Description}");
        var p1 = r.PhaseOne;
        Console.WriteLine($"phase 1: {p1.Backbone} at {p1.Resolution} px (the model's own resolution), VPT-deep {p1.VptDeepLength}, n_ctx {p1.ContextTokens} (class token {p1.ClassTokenPosition}), " +
            $"SGD lr {ReproducePlanner.Number(p1.LearningRate)} momentum {ReproducePlanner.Number(p1.Momentum)} weight decay {ReproducePlanner.Number(p1.WeightDecay)}, " +
            $"batch {p1.BatchSize}, {p1.Epochs} epochs, warm-up {p1.WarmupEpochs}" +
            (p1.TrainSubsample is { } n1 ? $", {n1.ToString("N0", inv)} class-balanced images per run" : ""));
        Console.WriteLine($"phase-1 variant: {p1.Variant.ToName()} (official {p1.Variant.OfficialScript()}): " + (p1.Variant == DeftVariant.RealNoise
            ? "clean when p_clean > 0.5 and the label has the highest p_yes; SCE warm-up (alpha = beta = 1); pseudo-labels from epoch 2; constant lr"
            : "clean when p_clean > 0.5; cross-entropy warm-up; pseudo-labels after warm-up; cosine lr"));
        Console.WriteLine(r.Preprocessing is { } pre
            ? $"images: as the official {pre.Loader} (--augment {Data.Transforms.AugmentPresets.ToName(pre.Augment)}, mean {Triple(pre.Normalization.Mean)}, std {Triple(pre.Normalization.Std)}), both phases"
            : "images: as the official dataloader_cifar.py (crop 32 with padding 4, bilinear resize, flip; CIFAR statistics; phase 2: --augment official-cifar)");
        var p2 = r.PhaseTwo;
        Console.WriteLine($"phase 2: full fine-tuning, SGD lr {ReproducePlanner.Number(p2.LearningRate)} momentum {ReproducePlanner.Number(p2.Momentum)} " +
            $"weight decay {ReproducePlanner.Number(p2.WeightDecay)}, batch {p2.BatchSize}, {p2.Epochs} epochs (" +
            (p2.ConstantLearningRate
                ? $"official main_real_phase2.py: forced to {p2.Epochs}, constant lr, as deft adapt --schedule constant"
                : "official main_phase2.py: cosine; deft adapt: the same") +
            $"; the config's warm-up {p2.WarmupEpochs} is read by neither official phase-2 script)" +
            (p2.TrainSubsample is { } n2 ? $", {n2.ToString("N0", inv)} class-balanced images per run (phase 1's draw)" : ""));
        if (!plan.FullSchedule)
            Console.WriteLine($"smoke run: {plan.Options.Epochs} epoch(s) per phase (--epochs); this does not reproduce the paper");
        Console.WriteLine(r.PaperFigures.Count == 0
            ? "paper: no figure recorded here for this row (compare with the paper's table yourself)"
            : $"paper: {string.Join("; ", r.PaperFigures.Select(f => f.Description))} (ours is printed beside it when the run ends)");
        Console.WriteLine("commands:");
        for (var i = 0; i < plan.Steps.Count; i++)
        {
            Console.WriteLine($"  {i + 1}. # {plan.Steps[i].Title}");
            Console.WriteLine($"     {PlanCommandLine.Of(plan.Steps[i])}");
        }
        var c = plan.Cost;
        Console.WriteLine($"cost: {c.PhaseOneTrainImages.ToString("N0", inv)} phase-1 + {c.DetectionImages.ToString("N0", inv)} detection + " +
            $"{c.PhaseTwoTrainImages.ToString("N0", inv)} phase-2 + {c.EvaluationImages.ToString("N0", inv)} test = {c.TotalImages.ToString("N0", inv)} images " +
            $"at {c.ImagesPerSecond.ToString("0.###", inv)} img/s = {c.Hours.ToString("N1", inv)} h");
        Console.WriteLine();
    }
}
