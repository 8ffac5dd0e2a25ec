using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Deft.Adaptation;
using Deft.Benchmarks;
using Deft.Detection;
using Deft.Methods;
using Deft.Pretraining;
using Deft.Reporting;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Deft.Cli.Commands;

internal sealed class DemoCommand : Command<DemoCommand.Settings>
{
    internal sealed class Settings : CommandSettings
    {
        [CommandOption("--out <DIR>")] [Description("Where the demo's runs and report go.")] [DefaultValue("runs/demo")] public string Out { get; init; } = "runs/demo";
        [CommandOption("--data <DIR>")] [Description("Fashion-MNIST (default: Debian's dataset-fashion-mnist).")] public string? Data { get; init; }
        [CommandOption("--cache-dir <DIR>")] [Description("Where the pre-trained model is kept (default: $DEFT_CACHE_DIR or ~/.cache/deft).")] public string? Cache { get; init; }
        [CommandOption("--samples <N>")] [Description("Downstream images that get noisy labels.")] [DefaultValue(10000)] public int Samples { get; init; } = 10000;
        [CommandOption("--noise <SETTING>")] [Description("Synthetic noise as MODE-RATIO (sym-0.4, asym-0.2, …).")] [DefaultValue("sym-0.4")] public string Noise { get; init; } = "sym-0.4";
        [CommandOption("--epochs <N>")] [Description("Epochs of detection and of each phase-2 run.")] [DefaultValue(5)] public int Epochs { get; init; } = 5;
        [CommandOption("--seed <N>")] [Description(TrainingOptionTexts.Seed)] [DefaultValue(0)] public int Seed { get; init; }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var watch = Stopwatch.StartNew();
        var ws = MiniWorkspace.Open(settings.Data, settings.Cache);
        var setting = MiniSetting.Parse(settings.Noise);
        Directory.CreateDirectory(settings.Out);

        AnsiConsole.MarkupLine("[bold]1/5[/] pre-trained tiny CLIP (captioned auxiliary images, cached after the first run)");
        var (model, trained) = ProgressRunner.Run<PretrainProgress, (string, bool)>(false, "pretrain",
            (p, ct) => ws.EnsurePretrainedModel(MiniProtocol.PretrainDefaults, p, ct),
            p => (p.Epoch, p.Epochs, p.Step, p.StepsPerEpoch, $"loss {p.Loss:0.000}"), cancellationToken);
        AnsiConsole.MarkupLineInterpolated($"    {(trained ? "trained" : "reused")}: {model}");
        // Pre-training (tensors in memory) uses every core: 28 s/epoch with 2 threads against 38 s with 1. From here on
        // the tiny model's ops are too small to gain from a second OpenMP thread while the image loader needs a core:
        // a DeFT step measured 1.9 s with 2 threads against 0.14 s with 1 on a loaded machine (bench detect-step).
        TorchSharp.torch.set_num_threads(1);

        AnsiConsole.MarkupLineInterpolated($"[bold]2/5[/] {setting.Name} noise on {settings.Samples:N0} downstream images");
        var labels = Path.Combine(settings.Out, $"labels-{setting.Name}.csv");
        var noisy = ws.WriteNoisyLabels(setting, ws.Downstream(settings.Samples), (ulong)settings.Seed, labels);
        AnsiConsole.MarkupLineInterpolated($"    realized noise rate {noisy.RealizedRate:P1}: {labels}");
        var classes = MiniRuns.WriteClassNames(settings.Out);
        var named = ws.WithPromptNames(classes);

        AnsiConsole.MarkupLine("[bold]3/5[/] detect: Deft's default (clip-posterior), the paper's DeFT (dual prompts, frozen tower) and CLIP label-match");
        var defaultDir = Path.Combine(settings.Out, "clip-posterior");
        var deftDir = Path.Combine(settings.Out, "deft");
        var chosen = Detect(MiniRuns.Detect(ws, model, labels, classes, defaultDir, DetectionMethod.ClipPosterior, Peft.PeftKind.None) with { Seed = settings.Seed }, ws, cancellationToken);
        // The paper's method on the frozen tower (cached features, the official last-epoch selection): the CPU path,
        // as good as VPT-deep on this benchmark (docs/results/mini.md) at a sixth of the time.
        var deft = Detect(MiniRuns.Detect(ws, model, labels, classes, deftDir, DetectionMethod.Deft, Peft.PeftKind.None, epochs: settings.Epochs) with { Seed = settings.Seed }, ws, cancellationToken);
        var labelMatch = Detect(MiniRuns.Detect(ws, model, labels, classes, Path.Combine(settings.Out, "label-match"), DetectionMethod.LabelMatch, Peft.PeftKind.None), ws, cancellationToken);

        AnsiConsole.MarkupLine("[bold]4/5[/] phase 2: fine-tune on the default detector's clean samples, and on all noisy labels (CE)");
        var adaptChosen = Adapt(MiniRuns.Adapt(model, Path.Combine(defaultDir, "adapt"), Path.Combine(defaultDir, DetectionOutputs.SamplesFile), null, settings.Epochs) with { Seed = settings.Seed }, named, cancellationToken);
        var adaptAll = Adapt(MiniRuns.Adapt(model, Path.Combine(settings.Out, "ce-all-noisy"), null, labels, settings.Epochs) with { Seed = settings.Seed }, named, cancellationToken);

        AnsiConsole.MarkupLine("[bold]5/5[/] summary");
        // One list of rows feeds the console table and summary.md.
        List<(string Name, DetectionQuality? Quality, double? Accuracy)> rows =
        [
            (DefaultName, chosen.Summary.Quality, adaptChosen.ModelTestAccuracy),
            (DeftName, deft.Summary.Quality, null),
            ("CLIP label-match", labelMatch.Summary.Quality, null),
            ("CE on all noisy labels", null, adaptAll.ModelTestAccuracy),
        ];
        if (adaptChosen.StartTestAccuracy is { } zeroShot) rows.Add(("CLIP zero-shot (phase 2's starting model)", null, zeroShot));
        var table = new Table().AddColumns("method", "precision", "recall", "F1", "AUROC", "test accuracy");
        foreach (var (name, q, accuracy) in rows) table.AddRow(Cells(name, q, accuracy));
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine("[grey]precision / recall / F1 are those of the kept (clean) samples against the true labels.[/]");
        var markdown = Markdown(setting, settings.Samples, noisy.RealizedRate, rows, watch.Elapsed);
        IO.AtomicFile.WriteAllText(Path.Combine(settings.Out, "summary.md"), markdown);
        AnsiConsole.MarkupLineInterpolated($"Report: [link]{Path.GetFullPath(Path.Combine(defaultDir, DetectionHtmlReport.FileName))}[/]");
        AnsiConsole.MarkupLineInterpolated($"Summary: {Path.GetFullPath(Path.Combine(settings.Out, "summary.md"))} · total {watch.Elapsed.TotalMinutes:0.0} min");
        return 0;
    }

    private static DetectionReport Detect(DetectOptions options, MiniWorkspace ws, CancellationToken ct)
    {
        var report = ProgressRunner.Phases<DetectProgress, DetectionReport>(ProgressRunner.Plain(false),
            p => DeftDetector.Detect(options with { ReportTitle = $"Deft demo: {options.Method.ToName()}" }, p, null, ct),
            p => DetectCommand.Bar(p, options.BatchSize) with { Description = $"{options.Method.ToName()}: {DetectCommand.Describe(p)}" });
        return report;
    }

    private static AdaptResult Adapt(AdaptOptions options, (Data.IImageDataset Train, Data.IImageDataset Test) named, CancellationToken ct) =>
        ProgressRunner.Run<AdaptProgress, AdaptResult>(false, "adapt",
            (p, c) => Adapter.Train(options, named.Train, named.Test, p, c),
            p => (p.Epoch, p.Epochs, p.Step, Math.Max(1, p.Steps), p.Phase == "test" ? "testing" : $"loss {p.Loss:0.000}"), ct);

    private const string DefaultName = "clip-posterior (Deft's default)";
    private const string DeftName = "DeFT (paper; frozen tower, last-epoch selection)";

    private static string[] Cells(string name, DetectionQuality? q, double? accuracy) =>
        [name, F(q?.Precision), F(q?.Recall), F(q?.F1), F(q?.Auroc), accuracy is { } a ? a.ToString("P2", CultureInfo.InvariantCulture) : "—"];

    private static string F(double? v) => v is { } x && !double.IsNaN(x) ? x.ToString("0.000", CultureInfo.InvariantCulture) : "—";

    private static string Markdown(MiniSetting setting, int samples, double realized,
        IEnumerable<(string Name, DetectionQuality? Quality, double? Accuracy)> rows, TimeSpan elapsed)
    {
        var md = new StringBuilder();
        md.AppendLine(CultureInfo.InvariantCulture, $"# Deft demo: Fashion-MNIST, {setting.Name} noise on {samples:N0} downstream images (realized {realized:P1})");
        md.AppendLine();
        md.AppendLine("| method | precision | recall | F1 | AUROC | test accuracy |");
        md.AppendLine("|---|---|---|---|---|---|");
        foreach (var (name, q, accuracy) in rows) md.AppendLine($"| {string.Join(" | ", Cells(name, q, accuracy))} |");
        md.AppendLine();
        md.AppendLine("Precision, recall and F1 are those of the kept (clean) samples. clip-posterior is `deft detect`'s default: CLIP's zero-shot probabilities with a label-noise transition fitted to the given labels (EM); the posterior that a label is right is its label quality. DeFT is the paper's method (`--method deft`), here on the frozen image tower.");
        md.AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture, $"Total wall time {elapsed.TotalMinutes:0.0} min.");
        return md.ToString();
    }
}
