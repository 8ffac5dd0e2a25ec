using Deft.Cli;

namespace Deft.Tests.Cli;

public class CommandHelpTests
{
    public static IEnumerable<object[]> Commands() =>
        CommandRegistry.Commands.Entries.Select(e => new object[] { e.Path });

    [Theory]
    [MemberData(nameof(Commands))]
    public void Every_command_renders_its_help(string path)
    {
        // Help text is Spectre markup: an unescaped "[" in a description crashes it at run time, not at build time.
        Assert.Equal(0, CliHarness.App().Run([.. path.Split(' '), "--help"]));
    }
}
