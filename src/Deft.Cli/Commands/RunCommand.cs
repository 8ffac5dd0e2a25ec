using System.ComponentModel;
using Deft.Adaptation;
using Deft.Cli.Binding;
using Deft.Detection;
using Deft.Pipeline;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Deft.Cli.Commands;

internal sealed class RunCommand : Command<RunCommand.Settings>
{
    internal sealed class Settings : DetectCommand.Settings
    {
        [CommandOption("--adapt-epochs <N>")] [Description("Phase-2 training epochs.")] [DefaultValue(10)] public int AdaptEpochs { get; init; } = 10;
        [CommandOption("--adapt-batch <N>")] [Description("Phase-2 training samples per optimizer step.")] [DefaultValue(64)] public int AdaptBatch { get; init; } = 64;

        [CommandOption("--adapt-lr <LR>")]
        [Description("Phase-2 learning rate (default: the backbone's, 5e-4 for CLIP).")]
        public double? AdaptLearningRate { get; init; }

        [CommandOption("--head-init <INIT>")]
        [Description("Phase-2 CLIP head, as `deft adapt`: auto (the zero-shot text head), text, or random (the official code).")]
        [DefaultValue("auto")] [TypeConverter(typeof(KebabCaseEnumConverter<HeadInit>.OrAuto))]
        public HeadInit? HeadInit { get; init; }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var detect = settings.ToOptions();
        // A shard only encodes features; phase 1 and 2 run once they are merged.
        if (detect.Shard is not null) return DetectCommand.EncodeShard(settings, detect, cancellationToken);
        // --test is phase 2's test set whatever the method; phase 1 scores its prompts on it only for deft.
        var testData = detect.TestData;
        if (detect.Method != DetectionMethod.Deft) detect = detect with { TestData = null, TestSplit = null };
        var adapt = new AdaptOptions
        {
            Model = settings.Model!,
            OutputDirectory = detect.OutputDirectory,
            Epochs = settings.AdaptEpochs,
            BatchSize = settings.AdaptBatch,
            LearningRate = settings.AdaptLearningRate,
            HeadInit = settings.HeadInit,
            Vocabulary = settings.Vocab,
            Seed = detect.Seed,
            Resume = detect.Resume,
            Force = detect.Force,
        };
        EndToEndResult result = null!;
        var warnings = new List<string>();
        AnsiConsole.MarkupLine("[bold]phase 1[/]: detect");
        if (settings.Json)
            ProgressRunner.Run<DetectProgress, int>(true, "detect", (progress, ct) =>
            {
                result = EndToEndRun.Run(detect.OutputDirectory, detect, adapt, settings.TestSplit, testData, progress,
                    ProgressRunner.Report<AdaptProgress>(ReportAdaptEpoch), warnings.Add, ct);
                return 0;
            }, p => (p.Epoch, Math.Max(1, p.Epochs), p.Step, Math.Max(1, p.Steps), DetectCommand.Describe(p)), cancellationToken);
        else
            // One bar per phase, as detect's (a single bar over all of them would run backwards between phases).
            ProgressRunner.Phases<DetectProgress, int>(ProgressRunner.Plain(false), progress =>
            {
                result = EndToEndRun.Run(detect.OutputDirectory, detect, adapt, settings.TestSplit, testData, progress,
                    ProgressRunner.Report<AdaptProgress>(ReportAdaptEpoch), warnings.Add, cancellationToken);
                return 0;
            }, p => DetectCommand.Bar(p, detect.BatchSize));
        foreach (var w in warnings) AnsiConsole.MarkupLineInterpolated($"[yellow]warning:[/] {w}");
        var q = result.Detection.Summary.Quality;
        var table = new Table().AddColumns("", "value");
        table.AddRow("samples", result.Detection.Summary.Samples.ToString("N0"));
        table.AddRow("kept as clean", $"{result.Detection.Summary.Clean:N0} ({1 - result.Detection.Summary.EstimatedNoiseRate:P1})");
        if (q is not null)
        {
            table.AddRow("label issues: precision / recall / F1", $"{q.IssuePrecision:0.000} / {q.IssueRecall:0.000} / {q.IssueF1:0.000}");
            table.AddRow("precision@k", Markup.Escape(DetectCommand.PrecisionAtK(q)));
            table.AddRow("clean selection: precision / recall / F1", $"{q.Precision:0.000} / {q.Recall:0.000} / {q.F1:0.000}");
            table.AddRow("AUROC of label quality", $"{q.Auroc:0.000}");
        }
        if (result.Adaptation.LastTestAccuracy is { } acc)
            table.AddRow("phase-2 test accuracy (last / best epoch)", $"{acc:P2} / {result.Adaptation.BestTestAccuracy:P2}");
        table.AddRow("report", Markup.Escape(result.ReportPath));
        AnsiConsole.Write(table);
        return 0;
    }

    // Phase 2 runs inside phase 1's progress display; one line per finished epoch keeps them apart.
    private static void ReportAdaptEpoch(AdaptProgress p)
    {
        if (p.Step == p.Steps && p.Phase != "test")
            Console.Error.WriteLine($"adapt: epoch {p.Epoch}/{p.Epochs} loss {p.Loss:0.000}");
    }
}
