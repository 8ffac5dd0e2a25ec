using System.ComponentModel;
using System.Globalization;
using Deft.Clip;
using Deft.Detection;
using Deft.Peft;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Deft.Cli.Commands;

internal sealed class BenchDetectStepCommand : Command<BenchDetectStepCommand.Settings>
{
    internal sealed class Settings : CommandSettings
    {
        [CommandOption("--model <SPEC>")] [Description(PeftOptionTexts.Model)] [DefaultValue("random:ViT-B-16")] public string Model { get; init; } = "random:ViT-B-16";
        [CommandOption("--vocab <FILE>")] [Description(PeftOptionTexts.Vocabulary)] public string? Vocab { get; init; }
        [CommandOption("--peft <METHOD>")] [Description(PeftOptionTexts.Peft)] [DefaultValue("vpt-deep")] public string Peft { get; init; } = "vpt-deep";
        [CommandOption("--partial <K>")] [Description(PeftOptionTexts.Partial)] public int? Partial { get; init; }
        [CommandOption("--vpt-len <N>")] [Description(PeftOptionTexts.VptLength)] [DefaultValue(20)] public int VptLength { get; init; } = 20;
        [CommandOption("--lora-rank <R>")] [Description(PeftOptionTexts.LoraRank)] [DefaultValue(8)] public int LoraRank { get; init; } = 8;
        [CommandOption("--batch <N>")] [Description(TrainingOptionTexts.Batch)] [DefaultValue(8)] public int Batch { get; init; } = 8;
        [CommandOption("--steps <N>")] [Description("Timed steps (after one untimed warm-up step).")] [DefaultValue(3)] public int Steps { get; init; } = 3;
        [CommandOption("--classes <N>")] [Description("Classes to prompt for (random prompts; the step's cost grows with them).")] [DefaultValue(10)] public int Classes { get; init; } = 10;
        [CommandOption("--n-ctx <N>")] [Description(PeftOptionTexts.ContextLength)] [DefaultValue(16)] public int NCtx { get; init; } = 16;
        [CommandOption("--dtype <DTYPE>")] [Description("Image tower precision: fp32, bf16 or auto (what a short calibration finds faster here; detect's default).")] [DefaultValue("fp32")] public string DType { get; init; } = "fp32";
        [CommandOption("--features <N>")] [Description("With --peft none: cached features per epoch, for epochs/minute.")] [DefaultValue(40000)] public int Features { get; init; } = 40000;
        [CommandOption("--threads <N>")] [Description("Intra-op threads (default: what detect uses for training).")] public int? Threads { get; init; }
        [CommandOption("--full-text")] [Description("Encode every prompt in full (no shared-prefix reuse), for comparison.")] public bool FullText { get; init; }
        [CommandOption("--json")] [Description("Print the timings as JSON.")] public bool Json { get; init; }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var result = DetectStepBenchmark.Run(new DetectStepBenchmarkOptions
        {
            Model = settings.Model,
            Vocab = settings.Vocab,
            Peft = new PeftOptions(PeftOptions.ParseKinds(settings.Peft), settings.Partial, settings.VptLength, settings.LoraRank),
            Batch = settings.Batch,
            Steps = settings.Steps,
            Classes = settings.Classes,
            ContextLength = settings.NCtx,
            Precision = TowerPrecisions.Parse(settings.DType),
            EpochSamples = settings.Features,
            FullText = settings.FullText,
            Threads = settings.Threads,
        }, settings.Json ? null : line => AnsiConsole.MarkupLineInterpolated($"[grey]{line}[/]"));
        if (settings.Json)
        {
            Console.WriteLine(System.Text.Json.JsonSerializer.Serialize(result, DetectionOutputs.JsonLineOptions));
            return 0;
        }
        AnsiConsole.MarkupLineInterpolated(
            $"{result.Model} --peft {result.Peft}, batch {result.Batch}, {result.Classes} classes, n_ctx {result.ContextLength}, {result.Precision}, {result.Threads} threads:");
        AnsiConsole.MarkupLineInterpolated(
            $"  [bold]{result.SecondsPerStep.ToString("F3", CultureInfo.InvariantCulture)} s/step[/] (fastest {result.FastestStepSeconds.ToString("F3", CultureInfo.InvariantCulture)} s), [bold]{result.ImagesPerSecond.ToString("F2", CultureInfo.InvariantCulture)} images/s[/]");
        if (result.EpochsPerMinute is { } epm)
            AnsiConsole.MarkupLineInterpolated($"  cached features: [bold]{epm.ToString("F1", CultureInfo.InvariantCulture)} epochs/minute[/] over {result.EpochSamples} samples");
        if (result.PeakResidentBytes is { } peak)
            AnsiConsole.MarkupLineInterpolated($"  peak resident memory of the process: [bold]{(peak / 1e9).ToString("F2", CultureInfo.InvariantCulture)} GB[/]");
        return 0;
    }
}
