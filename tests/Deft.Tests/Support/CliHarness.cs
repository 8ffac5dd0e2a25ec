using Deft.Cli;
using Spectre.Console.Cli;

namespace Deft.Tests;

/// <summary>
/// Runs `deft` commands in-process, configured as the CLI configures them (<see cref="CliEntry.CreateApp"/>);
/// exceptions propagate so a test sees the real error.
/// </summary>
internal static class CliHarness
{
    /// <summary>A configured app. <paramref name="configure"/> adds test-only settings (an interceptor, say).</summary>
    public static CommandApp App(Action<IConfigurator>? configure = null) => CliEntry.CreateApp(configure);

    /// <summary>Runs one command line and returns its exit code; console output is discarded unless <paramref name="quiet"/> is false.</summary>
    public static int Run(IEnumerable<string> args, bool quiet = true)
    {
        var stdout = Console.Out;
        try
        {
            if (quiet) Console.SetOut(TextWriter.Null);
            return App().Run(args.ToArray());
        }
        finally
        {
            Console.SetOut(stdout);
        }
    }
}
