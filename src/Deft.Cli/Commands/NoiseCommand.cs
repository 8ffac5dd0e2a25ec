using System.ComponentModel;
using System.Globalization;
using Deft.Cli.Binding;
using Deft.Data;
using Deft.Noise;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Deft.Cli.Commands;

internal sealed class NoiseCommand : Command<NoiseCommand.Settings>
{
    /// <summary>Largest class count whose full transition matrix is printed; above it the largest flips are listed.</summary>
    private const int MaxPrintedMatrix = 20;

    internal sealed class Settings : CommandSettings
    {
        [CommandOption("--data <PATH>")]
        [Description("Data set location (file or folder).")]
        public string? Data { get; init; }

        [CommandOption("--format <FORMAT>")]
        [Description("Data format (see `deft data info`).")]
        public string? Format { get; init; }

        [CommandOption("--split <SPLIT>")]
        [Description("Split to label.")]
        [DefaultValue("train")]
        public string Split { get; init; } = "train";

        [CommandOption("--on-bad-image <POLICY>")] [Description(DataOptionTexts.OnBadImage)]
        [DefaultValue("skip")] [TypeConverter(typeof(KebabCaseEnumConverter<BadImagePolicy>))]
        public BadImagePolicy OnBadImage { get; init; } = BadImagePolicy.Skip;

        [CommandOption("--mode <MODE>")]
        [Description("sym | asym | asym-cifar10 | pairflip | str | idn | file.")]
        [TypeConverter(typeof(KebabCaseEnumConverter<NoiseMode>))]
        public NoiseMode? Mode { get; init; }

        [CommandOption("--ratio <R>")]
        [Description("Noise ratio R in [[0, 1]] (all modes but file).")]
        public double? Ratio { get; init; }

        [CommandOption("--seed <SEED>")]
        [Description("Random seed; the same seed gives the same file on every machine.")]
        [DefaultValue(1UL)]
        public ulong Seed { get; init; } = 1;

        [CommandOption("--out <FILE>")]
        [Description("Label file to write (CSV index,label,true_label).")]
        public string? Out { get; init; }

        [CommandOption("--labels-file <FILE>")]
        [Description("For --mode file: CSV index,label[[,true_label]] or one label per line; labels as ids or class names.")]
        public string? LabelsFile { get; init; }

        [CommandOption("--json")]
        [Description("Print one JSON object instead of tables.")]
        public bool Json { get; init; }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken) =>
        Run(settings, AnsiConsole.Console, Console.Out, DatasetFactory.Open);

    /// <summary>The command without Spectre's plumbing; tests pass their own data set opener and consoles.</summary>
    internal static int Run(Settings settings, IAnsiConsole console, TextWriter jsonOut, Func<DatasetOptions, IImageDataset> openDataset)
    {
        if (settings.Mode is not { } mode)
            throw new DeftException($"--mode is required. Valid modes: {string.Join(", ", NoiseModes.Names)}.");
        if (string.IsNullOrWhiteSpace(settings.Data)) throw new DeftException("--data is required: the data set to add noise to.");
        if (string.IsNullOrWhiteSpace(settings.Format)) throw new DeftException("--format is required: the data set's format.");
        if (string.IsNullOrWhiteSpace(settings.Out)) throw new DeftException("--out is required: where to write the label file.");
        if (mode == NoiseMode.File)
        {
            if (string.IsNullOrWhiteSpace(settings.LabelsFile))
                throw new DeftException("--mode file needs --labels-file: CSV index,label[,true_label] or one label per line.");
        }
        else
        {
            if (settings.LabelsFile is not null)
                throw new DeftException($"--labels-file is only used with --mode file, not with --mode {mode.Name()}.");
            if (settings.Ratio is null)
                throw new DeftException($"--mode {mode.Name()} needs --ratio R, a noise ratio in [0, 1].");
        }

        var dataset = openDataset(new DatasetOptions(settings.Data, settings.Format, settings.Split, settings.OnBadImage));
        if (!settings.Json) DataIssueConsole.Report(dataset, console: console);
        var noisy = LabelNoise.Apply(dataset, new NoiseOptions(mode, settings.Ratio ?? double.NaN, settings.Seed, settings.LabelsFile));
        noisy.Save(settings.Out);

        if (settings.Json)
        {
            var report = new NoiseReport(
                settings.Data, settings.Format, settings.Split, mode.Name(), noisy.RequestedRatio,
                mode == NoiseMode.File ? null : noisy.Seed, noisy.Count, noisy.ClassCount, noisy.ChosenCount,
                noisy.NoisyCount, noisy.RealizedRate, Path.GetFullPath(settings.Out), dataset.Classes, noisy.Transition);
            jsonOut.WriteLine(System.Text.Json.JsonSerializer.Serialize(report, JsonOptions.Indented));
            return 0;
        }

        var summary = new Table().AddColumn("").AddColumn("");
        summary.HideHeaders();
        summary.AddRow("data", Markup.Escape($"{settings.Data} ({settings.Format}, {settings.Split})"));
        summary.AddRow("samples / classes", $"{noisy.Count} / {noisy.ClassCount}");
        summary.AddRow("mode", mode.Name());
        if (noisy.RequestedRatio is { } r)
        {
            summary.AddRow("requested ratio R", Fmt(r));
            summary.AddRow("seed", noisy.Seed.ToString(CultureInfo.InvariantCulture));
        }
        if (mode is NoiseMode.Sym or NoiseMode.Asym or NoiseMode.AsymCifar10 or NoiseMode.Str)
            summary.AddRow("samples chosen", $"{noisy.ChosenCount} (round(R·N))");
        summary.AddRow("realized noise rate", $"[bold]{Fmt(noisy.RealizedRate)}[/] ({noisy.NoisyCount} of {noisy.Count} labels changed)");
        if (mode == NoiseMode.Sym && noisy.RequestedRatio is { } rs)
            summary.AddRow("expected for sym", $"{Fmt(rs * (noisy.ClassCount - 1) / noisy.ClassCount)} = R·(C−1)/C (a redrawn label may be the true one)");
        if (mode == NoiseMode.Idn && noisy.FlipRates is { Count: > 0 } q)
            summary.AddRow("mean flip rate q", Fmt(q.Average()));
        summary.AddRow("written", Markup.Escape(Path.GetFullPath(settings.Out)));
        console.Write(summary);

        console.MarkupLine(noisy.ClassCount <= MaxPrintedMatrix
            ? "Realized transition matrix T[[true, given]] (row-normalised):"
            : $"Realized transition matrix T[[true, given]] (row-normalised), {noisy.ClassCount} classes: the {MaxPrintedMatrix} largest off-diagonal entries:");
        console.Write(TransitionTable(noisy, dataset.Classes));
        return 0;
    }

    private static Table TransitionTable(NoisyLabels noisy, IReadOnlyList<string> classes)
    {
        var c = noisy.ClassCount;
        var t = noisy.Transition;
        // Row labels are cut short and columns carry ids only, so ten classes fit an 80-column terminal.
        string Name(int k, int max = int.MaxValue)
        {
            var text = k < classes.Count ? $"{k} {classes[k]}" : k.ToString(CultureInfo.InvariantCulture);
            return Markup.Escape(text.Length > max ? text[..(max - 1)] + "…" : text);
        }
        if (c <= MaxPrintedMatrix)
        {
            var table = new Table().Border(TableBorder.Simple)
                .AddColumn(new TableColumn("true \\ given").NoWrap().Padding(new Padding(1, 0, 1, 0)));
            for (var k = 0; k < c; k++)
                table.AddColumn(new TableColumn(k.ToString(CultureInfo.InvariantCulture)).RightAligned().NoWrap().Padding(new Padding(1, 0, 0, 0)));
            for (var row = 0; row < c; row++)
            {
                var cells = new List<string> { Name(row, 14) };
                for (var col = 0; col < c; col++)
                {
                    var v = t[row][col];
                    var text = v.ToString("0.00", CultureInfo.InvariantCulture);
                    cells.Add(v == 0 ? "[grey]·[/]" : row == col ? $"[bold]{text}[/]" : $"[yellow]{text}[/]");
                }
                table.AddRow(cells.ToArray());
            }
            return table;
        }
        var largest = new Table().AddColumn("true").AddColumn("given").AddColumn(new TableColumn("T[[true, given]]").RightAligned());
        var entries = Enumerable.Range(0, c).SelectMany(row => Enumerable.Range(0, c).Where(col => col != row).Select(col => (row, col, v: t[row][col])))
            .Where(e => e.v > 0).OrderByDescending(e => e.v).ThenBy(e => e.row).ThenBy(e => e.col).Take(MaxPrintedMatrix);
        foreach (var (row, col, v) in entries) largest.AddRow(Name(row), Name(col), v.ToString("0.000", CultureInfo.InvariantCulture));
        return largest;
    }

    private static string Fmt(double v) => v.ToString("0.0000", CultureInfo.InvariantCulture);
}

/// <summary>What <c>deft noise --json</c> prints.</summary>
internal sealed record NoiseReport(
    string Data,
    string Format,
    string Split,
    string Mode,
    double? RequestedRatio,
    ulong? Seed,
    int Samples,
    int Classes,
    int Chosen,
    int Noisy,
    double RealizedRate,
    string Out,
    IReadOnlyList<string> ClassNames,
    double[][] Transition);
