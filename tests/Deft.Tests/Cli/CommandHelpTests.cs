using System.ComponentModel;
using System.Reflection;
using Deft.Cli;
using Spectre.Console.Cli;

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

    [Fact]
    public void Every_option_of_every_command_says_what_it_does()
    {
        var options = 0;
        var bare = new List<string>();
        foreach (var entry in CommandRegistry.Commands.Entries)
            foreach (var property in SettingsType(entry.CommandType).GetProperties())
            {
                if (property.GetCustomAttribute<CommandOptionAttribute>() is not { } option) continue;
                options++;
                if (string.IsNullOrWhiteSpace(property.GetCustomAttribute<DescriptionAttribute>()?.Description))
                    bare.Add($"{entry.Path} --{option.LongNames.FirstOrDefault()}");
            }
        Assert.True(options > 100, $"only {options} options found");
        Assert.True(bare.Count == 0, "Options without a description: " + string.Join(", ", bare));
    }

    private static Type SettingsType(Type command)
    {
        for (var t = command; t is not null; t = t.BaseType)
            if (t.IsGenericType && t.GetGenericArguments() is [var s] && typeof(CommandSettings).IsAssignableFrom(s)) return s;
        throw new InvalidOperationException($"{command} has no settings type");
    }
}
