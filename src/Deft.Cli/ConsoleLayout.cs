using Spectre.Console;

namespace Deft.Cli;

/// <summary>
/// How wide the CLI lays out its output. On a terminal, the terminal's width. Redirected (<c>deft detect ... | cat</c>,
/// <c>&gt; log.txt</c>), Spectre would assume 80 columns and break table rows and file paths across lines; there is no
/// screen to fit then, so the width is <see cref="RedirectedWidth"/>: every row and path stays on one line, greppable.
/// </summary>
internal static class ConsoleLayout
{
    /// <summary>Wide enough for any row the CLI writes (tables size to their content, none expands to the width).</summary>
    public const int RedirectedWidth = 4096;

    /// <summary>Widens <paramref name="console"/> when its output is not a terminal.</summary>
    public static void Configure(IAnsiConsole console, bool outputRedirected)
    {
        if (outputRedirected) console.Profile.Width = RedirectedWidth;
    }
}
