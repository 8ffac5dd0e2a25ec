using System.Globalization;
using Deft.Data;
using Spectre.Console;

namespace Deft.Cli.Commands;

/// <summary>The data-issues table every data command prints: what was skipped or looks wrong, before the results.</summary>
internal static class DataIssueConsole
{
    /// <summary>Rows shown; data_issues.csv (detect) or --json (data info) has them all.</summary>
    internal const int Shown = 20;

    /// <summary>The file-level issues of an opened data set (skipped files, empty classes); nothing when there are none.</summary>
    /// <param name="dataset">The opened data set.</param>
    /// <param name="json">The command prints JSON on stdout: the issues go to stderr as plain lines instead.</param>
    /// <param name="where">What the data set is, when a command opens several ("the test set").</param>
    internal static void Report(IImageDataset dataset, bool json = false, string? where = null, IAnsiConsole? console = null)
    {
        var issues = DataIssues.OfFiles(dataset);
        if (!json)
        {
            Print(issues, dataset.Classes, where, console);
            return;
        }
        foreach (var d in issues.Take(Shown))
            Console.Error.WriteLine($"data issue{(where is null ? "" : " in " + where)}: {DataIssues.Name(d.Kind)} {d.Source}: {d.Detail}");
        if (issues.Count > Shown) Console.Error.WriteLine($"... and {issues.Count - Shown} more data issues");
    }

    /// <summary>A one-line count by kind, then a table of the first <see cref="Shown"/> issues; nothing when there are none.</summary>
    internal static void Print(IReadOnlyList<DataIssue> issues, IReadOnlyList<string> classes, string? where = null, IAnsiConsole? console = null)
    {
        if (issues.Count == 0) return;
        console ??= AnsiConsole.Console;
        var counts = string.Join(", ", DataIssues.Counts(issues).Select(c => $"{c.Value} {c.Key.Replace('_', ' ')}"));
        var skipped = issues.Count(d => d.Skipped);
        console.MarkupLineInterpolated(
            $"[yellow]data issues[/]{(where is null ? "" : " in " + where)}: {counts}{(skipped > 0 ? $" ({skipped} file(s) skipped)" : "")}");
        var table = new Table().AddColumns("kind", "index", "path", "label").AddColumn(new TableColumn("score").RightAligned()).AddColumn("detail");
        foreach (var d in issues.Take(Shown))
            table.AddRow(Markup.Escape(DataIssues.Name(d.Kind)), d.Index?.ToString(CultureInfo.InvariantCulture) ?? "",
                Markup.Escape(d.Source), d.Label is { } l && (uint)l < (uint)classes.Count ? Markup.Escape(classes[l]) : "",
                d.Score.ToString("G3", CultureInfo.InvariantCulture), Markup.Escape(d.Detail));
        console.Write(table);
        if (issues.Count > Shown)
            console.MarkupLineInterpolated($"[yellow]... and {issues.Count - Shown} more[/]");
    }
}
