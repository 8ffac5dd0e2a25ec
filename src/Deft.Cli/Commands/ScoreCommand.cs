using System.ComponentModel;
using Deft.Data;
using Deft.Detection;
using Deft.Methods;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Deft.Cli.Commands;

internal sealed class ScoreCommand : Command<ScoreCommand.Settings>
{
    internal sealed class Settings : DataSettings
    {
        [CommandOption("--split <SPLIT>")] [Description(DataOptionTexts.Split)] [DefaultValue("train")]
        public string Split { get; init; } = "train";

        [CommandOption("--run <DIR>")] [Description("Output directory of `deft detect` (holds detector.safetensors).")]
        public string? Run { get; init; }

        [CommandOption("--labels <FILE>")] [Description("Label file (index,label[[,true_label]] or path,label[[,true_label]], paths absolute or relative to --data); default: the data set's labels.")]
        public string? Labels { get; init; }

        [CommandOption("--model <SPEC>")] [Description("The CLIP weights, when they moved since detection (default: the path the detector recorded).")]
        public string? Model { get; init; }

        [CommandOption("--vocab <FILE>")] [Description(PeftOptionTexts.Vocabulary)] public string? Vocab { get; init; }
        [CommandOption("--batch <N>")] [Description(TrainingOptionTexts.InferenceBatch)] [DefaultValue(64)] public int Batch { get; init; } = 64;

        [CommandOption("--out <DIR>")] [Description("Where samples.csv, label_issues.csv and summary.json go (default: RUN/score).")]
        public string? Out { get; init; }

        [CommandOption("--json")] [Description("Print the summary as JSON.")] public bool Json { get; init; }

        [CommandOption("--filter-by <RULE>")] [Description(IssueOptionTexts.FilterBy)]
        [DefaultValue("method")] [TypeConverter(typeof(Binding.KebabCaseEnumConverter<IssueFilterRule>))]
        public IssueFilterRule FilterBy { get; init; } = IssueFilterRule.Method;

        [CommandOption("--num-to-remove <N>")] [Description(IssueOptionTexts.NumToRemove)]
        public int? NumToRemove { get; init; }

        [CommandOption("--frac-noise <F>")] [Description(IssueOptionTexts.FracNoise)] [DefaultValue(1.0)]
        public double FracNoise { get; init; } = 1.0;

        [CommandOption("--flag-agreeing")] [Description(IssueOptionTexts.FlagAgreeing)]
        public bool FlagAgreeing { get; init; }

        public override ValidationResult Validate()
        {
            if (Run is null) return ValidationResult.Error("--run DIR is required (the output directory of `deft detect`).");
            if (Data is null || Format is null) return ValidationResult.Error($"--data and --format are required (formats: {string.Join(", ", DatasetFactory.Formats)}).");
            if (Batch < 1) return ValidationResult.Error($"--batch must be ≥ 1, got {Batch}.");
            return ValidationResult.Success();
        }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var options = new ScoreOptions
        {
            RunDirectory = settings.Run!, Data = settings.Data!, Format = settings.Format!, Split = settings.Split, Labels = settings.Labels,
            ClassesFile = settings.Classes, OnBadImage = settings.OnBadImage, Model = settings.Model, Vocab = settings.Vocab, BatchSize = settings.Batch, OutputDirectory = settings.Out,
            Issues = new IssueSettings { FilterBy = settings.FilterBy, NumToRemove = settings.NumToRemove, FracNoise = settings.FracNoise, FlagAgreeing = settings.FlagAgreeing },
        };
        var output = settings.Out ?? Path.Combine(settings.Run!, "score");
        DetectionReport report;
        if (settings.Json)
        {
            report = DeftDetector.Score(options, null, cancellationToken);
            DetectCommand.JsonLine(new { @event = "done", output = Path.GetFullPath(output), report = Path.Combine(output, Reporting.DetectionHtmlReport.FileName), summary = report.Summary });
            return 0;
        }
        report = ProgressRunner.Live<DetectProgress, DetectionReport>(progress => DeftDetector.Score(options, progress, cancellationToken),
            p => new ProgressBar("scoring", p.Step, p.Steps, $"scoring step {p.Step}/{p.Steps}", ImagesPerUnit: settings.Batch), autoClear: true);
        DetectCommand.PrintSummary(report, output);
        DataIssueConsole.Print(report.DataIssues, report.Classes);
        return 0;
    }
}
