using System.ComponentModel;
using Deft.Clip;
using Deft.Data;
using Deft.Data.Transforms;
using Spectre.Console;
using Spectre.Console.Cli;
using TorchSharp;

namespace Deft.Cli.Commands;

internal sealed class ZeroShotCommand : Command<ZeroShotCommand.Settings>
{
    internal sealed class Settings : ClipDataSettings
    {
        [CommandOption("--split <SPLIT>")] [Description(DataOptionTexts.Split)] [DefaultValue("test")]
        public string Split { get; init; } = "test";

        [CommandOption("--templates <T>")]
        [Description("default (\"a photo of a {}.\"), ensemble7, a file with one template per line, or one template with {}.")]
        public string? Templates { get; init; }

        [CommandOption("--limit <N>")] [Description("Classify only the first N images.")] public int? Limit { get; init; }
        [CommandOption("--batch <N>")] [Description(TrainingOptionTexts.InferenceBatch)] [DefaultValue(64)] public int Batch { get; init; } = 64;
        protected override int CalibrationBatch => Batch;
        [CommandOption("--json")] [Description("Print the results as JSON.")] public bool Json { get; init; }

        [CommandOption("--device <DEVICE>")] [Description(DeviceOption.Description)] [DefaultValue(DeviceOption.Cpu)]
        public string Device { get; init; } = DeviceOption.Cpu;

        protected override string ComputeDevice => Device;

        public override ValidationResult Validate()
        {
            var b = base.Validate();
            if (!b.Successful) return b;
            if (DeviceOption.Validate(Device) is { Successful: false } device) return device;
            if (Data is null || Format is null) return ValidationResult.Error($"--data and --format are required (formats: {string.Join(", ", DatasetFactory.Formats)}).");
            return ValidationResult.Success();
        }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        using var bundle = settings.LoadBundle();
        var data = DatasetFactory.Open(new DatasetOptions(settings.Data!, settings.Format!, settings.Split, settings.OnBadImage));
        DataIssueConsole.Report(data, settings.Json);
        var names = settings.Classes is null ? data.Classes : ReadClassNames(settings.Classes, data.Classes.Count);
        var templates = PromptTemplates.Resolve(settings.Templates);
        var indices = Enumerable.Range(0, settings.Limit is { } l ? Math.Min(l, data.Count) : data.Count).ToArray();
        var pipeline = ImagePipeline.Eval(bundle.Resolution, ClipBundle.Resolve(bundle.Normalization, settings.Mean, settings.Std));
        bundle.Model.eval();
        using var classifier = ZeroShotClassifier.Create(bundle.Model, bundle.Tokenizer, names, templates);
        using var features = ImageFeatures.Compute(bundle.Model, data, indices, pipeline, settings.Batch, cancellationToken);
        using var sims = classifier.Similarities(features);
        var k = Math.Min(5, names.Count);
        using var top = sims.topk(k, dim: 1).indexes;
        var topIds = top.data<long>().ToArray();
        var labels = indices.Select(data.GetLabel).ToArray();
        var result = ZeroShotEvaluation.Score(labels, topIds, k, names);
        if (settings.Json)
        {
            Console.WriteLine(System.Text.Json.JsonSerializer.Serialize(result, JsonOptions.Indented));
            return 0;
        }
        AnsiConsole.MarkupLineInterpolated($"{indices.Length} images, {names.Count} classes, {templates.Count} template(s): top-1 [bold]{result.Top1:P2}[/], top-{k} {result.TopK:P2}");
        var table = new Table().AddColumns("class", "samples", "top-1");
        foreach (var c in result.PerClass)
            table.AddRow(Markup.Escape(c.Name), c.Samples.ToString(), c.Samples == 0 ? "—" : $"{c.Accuracy:P1}");
        AnsiConsole.Write(table);
        return 0;
    }

    internal static IReadOnlyList<string> ReadClassNames(string path, int expected)
    {
        if (!File.Exists(path)) throw new DeftException($"Class-name file not found: {path}");
        var names = File.ReadAllLines(path).Select(l => l.Trim()).Where(l => l.Length > 0).ToList();
        if (names.Count != expected)
            throw new DeftException($"{path} lists {names.Count} class names but the data set has {expected} classes.");
        return names;
    }
}
