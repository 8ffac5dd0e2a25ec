using System.ComponentModel;
using Deft.Clip;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Deft.Cli.Commands;

internal sealed class BenchEncoderCommand : Command<BenchEncoderCommand.Settings>
{
    internal sealed class Settings : CommandSettings
    {
        [CommandOption("--model")]
        [Description("Model spec: random:<preset>[[@seed]] (ViT-B-32, ViT-B-16, ViT-L-14, tiny), a weights file or a model directory.")]
        [DefaultValue("random:ViT-B-16")]
        public string Model { get; init; } = "random:ViT-B-16";

        [CommandOption("--dtype")]
        [Description("Image-tower weight dtype: fp32, bf16 or auto (what a short calibration finds faster here; fp16 also accepted).")]
        [DefaultValue("fp32")]
        public string DType { get; init; } = "fp32";

        [CommandOption("--batch")]
        [Description("Images per forward pass.")]
        [DefaultValue(8)]
        public int Batch { get; init; } = 8;

        [CommandOption("--seconds")]
        [Description("How long to time forward passes (after the warm-up).")]
        [DefaultValue(20.0)]
        public double Seconds { get; init; } = 20;

        [CommandOption("--warmup")]
        [Description("Untimed batches before timing.")]
        [DefaultValue(2)]
        public int Warmup { get; init; } = 2;

        [CommandOption("--threads")]
        [Description("Intra-op threads (default: TorchSharp's choice, one per core).")]
        public int? Threads { get; init; }

        [CommandOption("--no-cosine")]
        [Description("Skip the float32 reference pass that reports the bf16/fp16 cosine similarity.")]
        public bool NoCosine { get; init; }

        [CommandOption("--json")]
        [Description("Print one JSON object instead of text.")]
        public bool Json { get; init; }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var options = new EncoderBenchmarkOptions
        {
            Model = settings.Model,
            DType = EncoderBenchmark.ParseDType(settings.DType),
            Batch = settings.Batch,
            Seconds = settings.Seconds,
            WarmupBatches = Math.Max(0, settings.Warmup),
            Threads = settings.Threads,
            CompareWithFloat32 = !settings.NoCosine,
        };
        var result = EncoderBenchmark.Run(options, settings.Json ? null : m => AnsiConsole.MarkupLineInterpolated($"[grey]{m}[/]"));
        if (settings.Json)
        {
            Console.WriteLine(System.Text.Json.JsonSerializer.Serialize(result, JsonOptions.Indented));
            return 0;
        }
        AnsiConsole.MarkupLineInterpolated(
            $"[bold]{result.ImagesPerSecond:0.00} images/s[/]  ({result.Model}, {result.DType}, batch {result.Batch}, {result.Threads} thread(s); {result.Batches} batches in {result.Seconds:0.0} s, {result.MillisecondsPerBatch:0} ms/batch)");
        AnsiConsole.MarkupLineInterpolated($"processor time: {result.CpuSeconds:0.0} s ({result.ImagesPerCpuSecond:0.00} images per CPU-second)");
        if (result.MinCosineVsFloat32 is { } cos)
            AnsiConsole.MarkupLineInterpolated($"min cosine vs fp32 features: {cos:0.000000}");
        if (result.DType == "bf16" && !Deft.Native.CpuInfo.Flags().Contains("amx_bf16"))
            AnsiConsole.MarkupLine("[grey]This CPU has no AMX-BF16: bf16 matrix products run through AVX512-BF16 or emulation, which is no faster than fp32 here.[/]");
        AnsiConsole.MarkupLineInterpolated($"[grey]load average: {result.LoadAverageBefore:0.00} before, {result.LoadAverageAfter:0.00} after (other processes on the cores slow the figure)[/]");
        return 0;
    }
}
