using System.ComponentModel;
using System.Globalization;
using Deft.Adaptation;
using Deft.Data;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Deft.Cli.Commands;

internal sealed class PredictCommand : Command<PredictCommand.Settings>
{
    internal sealed class Settings : DataSettings
    {
        [CommandOption("--model-dir <DIR>")]
        [Description("The --out directory of a finished 'deft adapt' run (model.safetensors + adapt_config.json).")]
        public string? ModelDir { get; init; }

        [CommandOption("--split <SPLIT>")] [Description(DataOptionTexts.Split)] [DefaultValue("test")]
        public string Split { get; init; } = "test";

        [CommandOption("--out <FILE>")]
        [Description("predictions.csv: index, source, predicted_label, predicted_name, probability, given_label, given_name (given columns empty when the data set's classes are not the model's).")]
        [DefaultValue("predictions.csv")]
        public string Out { get; init; } = "predictions.csv";

        [CommandOption("--batch <N>")] [Description(TrainingOptionTexts.InferenceBatch)] [DefaultValue(64)] public int Batch { get; init; } = 64;
        [CommandOption("--workers <N>")] [Description("Image-loading threads (default: one per core).")] public int? Workers { get; init; }

        [CommandOption("--json")]
        [Description("Print a JSON summary instead of text.")]
        public bool Json { get; init; }

        public override ValidationResult Validate()
        {
            if (string.IsNullOrWhiteSpace(ModelDir)) return ValidationResult.Error("--model-dir DIR is required.");
            if (string.IsNullOrWhiteSpace(Data)) return ValidationResult.Error("--data PATH is required.");
            if (string.IsNullOrWhiteSpace(Format)) return ValidationResult.Error($"--format is required: one of {string.Join(", ", DatasetFactory.Formats)}.");
            if (Batch < 1) return ValidationResult.Error("--batch must be ≥ 1.");
            return ValidationResult.Success();
        }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        using var model = AdaptedModel.Load(settings.ModelDir!);
        var data = DatasetFactory.Open(new DatasetOptions(settings.Data!, settings.Format!, settings.Split, settings.OnBadImage, settings.Classes));
        DataIssueConsole.Report(data, settings.Json);
        var labelled = data.Classes.SequenceEqual(model.Classes, StringComparer.Ordinal);
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var predictions = ProgressRunner.Run<(int Step, int Steps), IReadOnlyList<Prediction>>(settings.Json, "predict",
            (progress, ct) => model.Predict(data, batchSize: settings.Batch, workers: settings.Workers, progress: progress, cancellationToken: ct),
            p => (1, 1, p.Step, p.Steps, $"step {p.Step}/{p.Steps}"), cancellationToken, imagesPerStep: settings.Batch);
        model.WriteCsv(settings.Out, predictions);
        double? accuracy = labelled && predictions.Count > 0 ? (double)predictions.Count(p => p.PredictedLabel == p.GivenLabel) / predictions.Count : null;
        if (settings.Json)
        {
            Console.WriteLine(System.Text.Json.JsonSerializer.Serialize(new
            {
                @out = Path.GetFullPath(settings.Out), samples = predictions.Count, accuracy, labelled,
                seconds = watch.Elapsed.TotalSeconds, images_per_second = predictions.Count / Math.Max(1e-9, watch.Elapsed.TotalSeconds),
            }, JsonOptions.Indented));
            return 0;
        }
        if (!labelled)
            AnsiConsole.MarkupLineInterpolated($"[yellow]note:[/] the data set's classes ({data.Classes.Count}) are not the model's ({model.Classes.Count}); given_label is left empty.");
        AnsiConsole.MarkupLineInterpolated($"Predicted {predictions.Count:N0} images in {watch.Elapsed.TotalSeconds:0.0} s. Written: {Path.GetFullPath(settings.Out)}");
        if (accuracy is { } a)
            AnsiConsole.MarkupLineInterpolated($"Accuracy against the given labels: [bold]{a.ToString("P2", CultureInfo.InvariantCulture)}[/]");
        return 0;
    }
}
