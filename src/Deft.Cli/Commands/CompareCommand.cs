using System.ComponentModel;
using Deft.Detection;
using Deft.IO;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Deft.Cli.Commands;

internal sealed class CompareCommand : Command<CompareCommand.Settings>
{
    internal sealed class Settings : CommandSettings
    {
        [CommandArgument(0, "<RUN_DIR>")]
        [Description("Output directories of `deft detect` runs (each holds summary.json).")]
        public string[] Runs { get; init; } = [];

        [CommandOption("--out <FILE>")] [Description("Also write the table (markdown; JSON with --json) to this file.")]
        public string? Out { get; init; }

        [CommandOption("--json")] [Description("Print JSON instead of the markdown table.")]
        public bool Json { get; init; }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var comparison = RunComparison.Load(settings.Runs);
        var text = settings.Json ? RunComparison.Json(comparison) : RunComparison.Markdown(comparison);
        Console.Write(text);
        if (!settings.Json)
            foreach (var note in comparison.Notes) AnsiConsole.MarkupLineInterpolated($"[yellow]note:[/] {note}");
        if (settings.Out is not null)
        {
            var dir = Path.GetDirectoryName(Path.GetFullPath(settings.Out));
            if (dir is not null) Directory.CreateDirectory(dir);
            AtomicFile.WriteAllText(settings.Out, text);
        }
        return 0;
    }
}
