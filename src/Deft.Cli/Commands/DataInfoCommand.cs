using System.ComponentModel;
using Deft.Cli.Binding;
using Deft.Data;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Deft.Cli.Commands;

internal sealed class DataInfoCommand : Command<DataInfoCommand.Settings>
{
    internal sealed class Settings : DataSettings
    {
        [CommandOption("--split <SPLIT>")] [Description(DataOptionTexts.Split)] [DefaultValue("train")]
        public string Split { get; init; } = "train";

        [CommandOption("--json")]
        [Description("Print one JSON object instead of tables.")]
        public bool Json { get; init; }

        public override ValidationResult Validate()
        {
            if (string.IsNullOrWhiteSpace(Data)) return ValidationResult.Error("--data PATH is required.");
            if (string.IsNullOrWhiteSpace(Format))
                return ValidationResult.Error($"--format is required: one of {string.Join(", ", DatasetFactory.Formats)}.");
            return ValidationResult.Success();
        }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var options = new DatasetOptions(settings.Data!, settings.Format!, settings.Split, settings.OnBadImage, settings.Classes,
            Warn: w => Console.Error.WriteLine($"warning: {w}"));
        var info = DatasetInfo.Collect(options, cancellationToken);
        if (settings.Json)
        {
            Console.WriteLine(System.Text.Json.JsonSerializer.Serialize(info, JsonOptions.Indented));
            return 0;
        }

        var summary = new Table().AddColumn("data set").AddColumn("");
        summary.AddRow("path", Markup.Escape(info.Path));
        summary.AddRow("format", Markup.Escape(info.Format));
        summary.AddRow("split", Markup.Escape(info.Split));
        summary.AddRow("samples", info.Count.ToString("N0", System.Globalization.CultureInfo.InvariantCulture));
        summary.AddRow("classes", info.NumClasses.ToString(System.Globalization.CultureInfo.InvariantCulture));
        summary.AddRow("image size", Markup.Escape(info.ImageSize.Description));
        summary.AddRow("skipped", info.Skipped.Count == 0 ? "0" : $"[yellow]{info.Skipped.Count}[/]");
        AnsiConsole.Write(summary);

        var classes = new Table().AddColumn("id").AddColumn("class").AddColumn(new TableColumn("samples").RightAligned());
        foreach (var c in info.Classes)
            classes.AddRow(c.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), Markup.Escape(c.Name),
                c.Count == 0 ? "[yellow]0[/]" : c.Count.ToString("N0", System.Globalization.CultureInfo.InvariantCulture));
        AnsiConsole.Write(classes);

        DataIssueConsole.Print(info.Issues, info.Classes.Select(c => c.Name).ToList());
        if (info.Issues.Count > DataIssueConsole.Shown) AnsiConsole.MarkupLine("[grey]--json lists them all.[/]");
        return 0;
    }
}
