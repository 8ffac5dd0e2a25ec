using System.ComponentModel;
using System.Globalization;
using Deft.Data;
using Deft.Recipes;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Deft.Cli.Commands;

internal sealed class SubsampleCommand : Command<SubsampleCommand.Settings>
{
    internal sealed class Settings : DataSettings
    {
        [CommandOption("--split <SPLIT>")] [Description(DataOptionTexts.Split)] [DefaultValue("train")]
        public string Split { get; init; } = "train";

        [CommandOption("--size <N>")] [Description("Samples to draw: at most N / classes from each class, fewer where a class runs short.")]
        public int? Size { get; init; }

        [CommandOption("--seed <SEED>")] [Description("Random seed; the same seed gives the same draw on every machine.")] [DefaultValue(0UL)]
        public ulong Seed { get; init; }

        [CommandOption("--out <FILE>")] [Description("Label file to write (index,label; the data set supplies true labels where it has them).")]
        public string? Out { get; init; }

        public override ValidationResult Validate()
        {
            if (string.IsNullOrWhiteSpace(Data)) return ValidationResult.Error("--data PATH is required.");
            if (string.IsNullOrWhiteSpace(Format)) return ValidationResult.Error($"--format is required: one of {string.Join(", ", DatasetFactory.Formats)}.");
            if (Size is not > 0) return ValidationResult.Error("--size N is required, N ≥ 1.");
            if (string.IsNullOrWhiteSpace(Out)) return ValidationResult.Error("--out FILE is required.");
            return ValidationResult.Success();
        }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var data = DatasetFactory.Open(new DatasetOptions(settings.Data!, settings.Format!, settings.Split, settings.OnBadImage, settings.Classes));
        DataIssueConsole.Report(data);
        var draw = BalancedSubsample.Write(data, settings.Size!.Value, settings.Seed, settings.Out!);
        var inv = CultureInfo.InvariantCulture;
        AnsiConsole.MarkupLineInterpolated(
            $"Drew {draw.Indices.Count.ToString("N0", inv)} of {data.Count.ToString("N0", inv)} samples ({draw.PerClass.Min().ToString("N0", inv)}–{draw.PerClass.Max().ToString("N0", inv)} per class). Written: {Path.GetFullPath(settings.Out!)}");
        if (draw.Indices.Count < draw.Requested)
            AnsiConsole.MarkupLineInterpolated($"[yellow]note:[/] {draw.Requested - draw.Indices.Count} short of --size {draw.Requested}: some classes hold fewer than {draw.Requested / (double)data.Classes.Count:0.#} samples.");
        return 0;
    }
}
