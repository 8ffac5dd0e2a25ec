using System.Text.RegularExpressions;
using Deft.Cli;
using Spectre.Console.Cli;

namespace Deft.Tests.Cli;

/// <summary>The explicit command list (<see cref="CommandRegistry"/>) against the assembly and against `deft --help`.</summary>
public class CommandRegistrationTests
{
    private static readonly CommandList Registered = CommandRegistry.Commands;

    /// <summary>The command names in the COMMANDS section of a help page.</summary>
    private static List<string> ListedCommands(string help)
    {
        var section = help[(help.IndexOf("COMMANDS:", StringComparison.Ordinal) + "COMMANDS:".Length)..];
        return [.. section.Split('\n').Select(l => Regex.Match(l, @"^\s{4}([a-z][a-z0-9-]*)\b")).Where(m => m.Success).Select(m => m.Groups[1].Value)];
    }

    [Fact]
    public void Every_command_class_is_registered_exactly_once()
    {
        var commandTypes = typeof(CliEntry).Assembly.GetTypes()
            .Where(t => !t.IsAbstract && typeof(ICommand).IsAssignableFrom(t))
            .OrderBy(t => t.Name).ToList();
        Assert.NotEmpty(commandTypes);
        Assert.Equal(commandTypes, Registered.Entries.Select(e => e.CommandType).OrderBy(t => t.Name));
        Assert.Equal(Registered.Entries.Count, Registered.Entries.Select(e => e.Path).Distinct().Count());
    }

    [Fact]
    public void Deft_help_lists_every_top_level_command_and_branch_exactly_once_in_order()
    {
        var (code, help) = CliConsole.Run("--help");
        Assert.Equal(0, code);
        var expected = Registered.Entries.Select(e => e.Path.Split(' ')[0]).Distinct().ToList();
        Assert.Equal(expected, ListedCommands(help));
        Assert.Equal(expected.Order(StringComparer.Ordinal), expected);
        foreach (var (_, description) in Registered.Branches) Assert.Contains(description.TrimEnd('.'), help); // Spectre drops the full stop in the list
    }

    [Theory]
    [InlineData("bench")]
    [InlineData("data")]
    public void A_branch_help_lists_each_of_its_commands_once(string branch)
    {
        var (code, help) = CliConsole.Run(branch, "--help");
        Assert.Equal(0, code);
        Assert.Equal(Registered.Entries.Where(e => e.Path.StartsWith(branch + " ", StringComparison.Ordinal)).Select(e => e.Path.Split(' ')[1]),
            ListedCommands(help));
    }

    [Fact]
    public void A_command_shows_its_registered_description_and_examples()
    {
        var (_, help) = CliConsole.Run("detect", "--help");
        Assert.Contains("Phase 1: find mislabeled images with CLIP.", help);
        Assert.Contains("deft detect --method small-loss --noise-rate 0.4", help);
    }

    [Fact]
    public void The_list_refuses_a_duplicate_or_a_command_under_an_undeclared_branch()
    {
        var list = new CommandList();
        list.Add<Deft.Cli.Commands.DoctorCommand>("doctor", "d");
        Assert.Throws<InvalidOperationException>(() => list.Add<Deft.Cli.Commands.DoctorCommand>("doctor", "d"));
        Assert.Throws<InvalidOperationException>(() => list.Add<Deft.Cli.Commands.DoctorCommand>("tools doctor", "d"));
        Assert.Equal("doctor", list.Find(["doctor", "--fix"])?.Path);
        Assert.Null(list.Find(["nothing"]));
    }
}
