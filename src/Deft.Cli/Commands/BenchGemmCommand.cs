using System.ComponentModel;
using System.Globalization;
using Deft.Clip;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Deft.Cli.Commands;

internal sealed class BenchGemmCommand : Command<BenchGemmCommand.Settings>
{
    internal sealed class Settings : CommandSettings
    {
        [CommandOption("--preset")] [Description("Model preset whose MLP shape and FLOPs are used: ViT-B-32, ViT-B-16, ViT-L-14, tiny.")] [DefaultValue("ViT-B-16")]
        public string Preset { get; init; } = "ViT-B-16";
        [CommandOption("--batch")] [Description("Images per product (rows = batch · tokens).")] [DefaultValue(8)]
        public int Batch { get; init; } = 8;
        [CommandOption("--seconds")] [Description("Timing per dtype.")] [DefaultValue(3.0)]
        public double Seconds { get; init; } = 3;
        [CommandOption("--threads")] [Description("Intra-op threads (default: one per core).")]
        public int? Threads { get; init; }
        [CommandOption("--json")] [Description("Print one JSON object instead of a table.")]
        public bool Json { get; init; }
    }

    public override int Execute(CommandContext context, Settings s, CancellationToken cancellationToken)
    {
        var result = GemmBenchmark.Run(s.Preset, s.Batch, s.Seconds, threads: s.Threads);
        if (s.Json)
        {
            Console.WriteLine(System.Text.Json.JsonSerializer.Serialize(result, JsonOptions.Indented));
            return 0;
        }
        var table = new Table().AddColumns("dtype", "ms / product", "GFLOP/s", $"{result.Preset} images/s ceiling");
        foreach (var row in result.Rows)
            table.AddRow(row.DType, row.MillisecondsPerProduct.ToString("0.0", CultureInfo.InvariantCulture),
                row.GigaflopsPerSecond.ToString("0", CultureInfo.InvariantCulture), row.ImagesPerSecondCeiling.ToString("0.0", CultureInfo.InvariantCulture));
        AnsiConsole.MarkupLineInterpolated($"[[{result.M}, {result.K}]] × [[{result.K}, {result.N}]] (+ bias), {result.Threads} thread(s); one {result.Preset} image is {result.GigaflopsPerImage:0.0} GFLOP.");
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine("[grey]The ceiling assumes every multiply-add runs at this product's speed; a real forward pass stays below it (attention, norms, activations).[/]");
        return 0;
    }
}
