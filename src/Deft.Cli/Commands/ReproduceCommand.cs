using System.ComponentModel;
using System.Globalization;
using System.Reflection;
using Deft.Recipes;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Deft.Cli.Commands;

[CliCommand("reproduce", "Reproduce a table row of the DeFT paper: check the data root, print the commands and what a run costs.",
    Examples = [
        "reproduce --list",
        "reproduce --dry-run",
        "reproduce cifar100-sym-0.2 --root ~/data/cifar-100 --dry-run",
        "reproduce webvision --root ~/data/webvision --model ~/models/clip-vit-base-patch16 --dry-run --images-per-second 40",
    ])]
internal sealed class ReproduceCommand : Command<ReproduceCommand.Settings>
{
    /// <summary>The commands a plan runs; execution needs all of them in this build.</summary>
    private static readonly string[] StepCommands = ["noise", "detect", "adapt", "evaluate"];

    internal sealed class Settings : CommandSettings
    {
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
        [DefaultValue("MODEL")]
        public string Model { get; init; } = "MODEL";

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

        [CommandOption("--json")]
        [Description("Print the plan(s) as JSON.")]
        public bool Json { get; init; }

        public override ValidationResult Validate()
        {
            if (List && (Name is not null || Root is not null)) return ValidationResult.Error("--list takes no recipe name and no --root.");
            if (!List && Name is null && !DryRun)
                return ValidationResult.Error("Name a recipe (deft reproduce --list), or pass --dry-run to plan them all.");
            if (Name is null && Root is not null) return ValidationResult.Error("--root belongs to one recipe: name it (deft reproduce NAME --root PATH).");
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
        var options = new PlanOptions(settings.Root, settings.Model, settings.Out, settings.Seed, settings.ImagesPerSecond, measured);
        var plans = recipes.Select(r => ReproducePlanner.Plan(r, options)).ToList();
        var missing = StepCommands.Where(c => !CommandExists(c)).ToList();

        if (settings.Json)
        {
            Console.WriteLine(System.Text.Json.JsonSerializer.Serialize(plans.Select(p => new
            {
                p.Recipe.Name, p.Recipe.Title, p.Root, p.RootChecked, p.RunDirectory,
                Splits = p.Sizes.Select(s => new { s.Split.Label, s.Split.Format, s.Split.Split, s.Split.Classes, s.Images, s.Counted }),
                Noise = new { Kind = p.Recipe.Noise.Kind.ToString(), p.Recipe.Noise.Rate },
                p.Recipe.PhaseOne, p.Recipe.PhaseTwo,
                PaperFigures = p.Recipe.PaperFigures.Select(f => new { Metric = f.Metric.ToString(), f.Percent, f.TestSet }),
                p.Steps,
                Cost = new { p.Cost.PhaseOneTrainImages, p.Cost.DetectionImages, p.Cost.PhaseTwoTrainImages, p.Cost.EvaluationImages, p.Cost.TotalImages, p.Cost.ImagesPerSecond, p.Cost.Hours },
            }), JsonOptions.Indented));
        }
        else
        {
            foreach (var plan in plans) PrintPlan(plan);
        }

        if (settings.DryRun) return 0;
        var why = missing.Count > 0
            ? $"this build has no `deft {string.Join("`, `deft ", missing)}` command yet"
            : "running the steps from here is not wired yet";
        AnsiConsole.MarkupLineInterpolated(
            $"[yellow]Nothing was run:[/] {why}. Run the commands above by hand once they exist, or pass --dry-run to only plan.");
        return 1;
    }

    private static bool CommandExists(string path) =>
        typeof(ReproduceCommand).Assembly.GetTypes().Any(t => t.GetCustomAttribute<CliCommandAttribute>()?.Path == path);

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
        Console.WriteLine($"phase 1: {p1.Backbone} at {p1.Resolution} px, VPT-deep {p1.VptDeepLength}, n_ctx {p1.ContextTokens} (class token {p1.ClassTokenPosition}), " +
            $"SGD lr {ReproducePlanner.Number(p1.LearningRate)} momentum {ReproducePlanner.Number(p1.Momentum)} weight decay {ReproducePlanner.Number(p1.WeightDecay)}, " +
            $"batch {p1.BatchSize}, {p1.Epochs} epochs, warm-up {p1.WarmupEpochs}" +
            (p1.TrainSubsample is { } n1 ? $", {n1.ToString("N0", inv)} class-balanced images per run" : ""));
        var p2 = r.PhaseTwo;
        Console.WriteLine($"phase 2: full fine-tuning, SGD lr {ReproducePlanner.Number(p2.LearningRate)} momentum {ReproducePlanner.Number(p2.Momentum)} " +
            $"weight decay {ReproducePlanner.Number(p2.WeightDecay)}, batch {p2.BatchSize}, {p2.Epochs} epochs, warm-up {p2.WarmupEpochs}" +
            (p2.TrainSubsample is { } n2 ? $", {n2.ToString("N0", inv)} class-balanced images per run" : ""));
        Console.WriteLine(r.PaperFigures.Count == 0
            ? "paper: no figure recorded here for this row (compare with the paper's table yourself)"
            : $"paper: {string.Join("; ", r.PaperFigures.Select(f => f.Description))} (ours is printed beside it when the run ends)");
        Console.WriteLine("commands:");
        for (var i = 0; i < plan.Steps.Count; i++)
        {
            Console.WriteLine($"  {i + 1}. # {plan.Steps[i].Title}");
            Console.WriteLine($"     {plan.Steps[i].Command}");
        }
        var c = plan.Cost;
        Console.WriteLine($"cost: {c.PhaseOneTrainImages.ToString("N0", inv)} phase-1 + {c.DetectionImages.ToString("N0", inv)} detection + " +
            $"{c.PhaseTwoTrainImages.ToString("N0", inv)} phase-2 + {c.EvaluationImages.ToString("N0", inv)} test = {c.TotalImages.ToString("N0", inv)} images " +
            $"at {c.ImagesPerSecond.ToString("0.###", inv)} img/s = {c.Hours.ToString("N1", inv)} h");
        Console.WriteLine();
    }
}
