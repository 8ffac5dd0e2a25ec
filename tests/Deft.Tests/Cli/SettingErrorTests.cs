using System.Globalization;
using System.Reflection;
using Deft.Cli;
using Spectre.Console.Cli;

namespace Deft.Tests.Cli;

/// <summary>
/// The library names settings by their domain names (<see cref="Setting"/>); the CLI renders them as flags
/// (<see cref="FlagNames"/>). Checked by hand-written messages, against every command's options, and end to end.
/// </summary>
public class SettingErrorTests
{
    [Fact]
    public void A_setting_error_names_domain_settings_and_renders_each_as_its_flag()
    {
        var dir = "runs/x{1}"; // braces in a value are text, not holes
        var ex = new DeftException($"{dir} holds a run. Pass {Setting.Resume} to continue it, {Setting.Force} to replace it, or choose another {Setting.OutputDirectory}.");
        Assert.Equal("runs/x{1} holds a run. Pass Resume to continue it, Force to replace it, or choose another OutputDirectory.", ex.Message);
        Assert.Equal([Setting.Resume, Setting.Force, Setting.OutputDirectory], ex.References.Select(r => r.Setting));
        Assert.Equal("runs/x{1} holds a run. Pass --resume to continue it, --force to replace it, or choose another --out.", FlagNames.Render(ex));
    }

    [Fact]
    public void Values_are_formatted_as_a_plain_interpolated_string_formats_them()
    {
        var previous = CultureInfo.CurrentCulture;
        try
        {
            CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
            var ex = new DeftException($"{Setting.LearningRate} must be ≥ 0, got {-0.5}; {Setting.Momentum} {0.5:F2}, {"text"}.");
            Assert.Equal("--lr must be ≥ 0, got -0.5; --momentum 0.50, text.", FlagNames.Render(ex));
            Assert.Equal("LearningRate must be ≥ 0, got -0.5; Momentum 0.50, text.", ex.Message);
        }
        finally { CultureInfo.CurrentCulture = previous; }
    }

    [Fact]
    public void A_wrapping_error_keeps_the_settings_its_inner_error_names()
    {
        var inner = new DeftException($"{Setting.ClassesFile} does not apply to {Setting.Format} cub200.");
        var outer = new DeftException($"Recipe data check, train ({Setting.Format} cub200 {Setting.Split} train): {(DeftException)inner}", inner);
        Assert.Equal("Recipe data check, train (--format cub200 --split train): --classes does not apply to --format cub200.", FlagNames.Render(outer));
    }

    [Fact]
    public void A_plain_library_error_renders_as_its_message() =>
        Assert.Equal("no such file", FlagNames.Render(new DeftException("no such file")));

    [Fact]
    public void Every_library_setting_has_a_flag_and_every_flag_is_an_option_of_a_command()
    {
        var settings = typeof(Setting).GetFields(BindingFlags.Public | BindingFlags.Static).Where(f => f.FieldType == typeof(Setting))
            .Select(f => (Setting)f.GetValue(null)!).ToList();
        Assert.NotEmpty(settings);
        Assert.DoesNotContain(settings, s => !FlagNames.BySetting.ContainsKey(s));
        Assert.All(settings, s => Assert.Equal(s.Name, typeof(Setting).GetField(s.Name)?.Name)); // the domain name is the member's name

        var options = CommandRegistry.Commands.Entries.SelectMany(e => SettingsType(e.CommandType).GetProperties())
            .Select(p => p.GetCustomAttribute<CommandOptionAttribute>()).OfType<CommandOptionAttribute>()
            .SelectMany(o => o.LongNames).Select(n => "--" + n).ToHashSet(StringComparer.Ordinal);
        options.Add(CliEntry.MaxImagePixelsFlag); // a global option, taken before any command parses
        Assert.DoesNotContain(FlagNames.BySetting.Values, flag => !options.Contains(flag));
    }

    private static Type SettingsType(Type command)
    {
        for (var t = command; t is not null; t = t.BaseType)
            if (t.IsGenericType && t.GetGenericArguments() is [var s] && typeof(CommandSettings).IsAssignableFrom(s)) return s;
        throw new InvalidOperationException($"{command} has no settings type");
    }

    [Fact]
    public void The_cli_shows_a_library_setting_error_with_its_flags()
    {
        // The data-set factory refuses a class-name file for a folder data set, naming the setting in domain terms.
        using var dir = new TempDir("setting-error");
        var (code, output) = CliConsole.Run("data", "info", "--data", dir.Path, "--format", "folder", "--classes", "x.txt");
        Assert.Equal(1, code);
        Assert.Contains("error: --classes applies to the csv and idx formats only; folder takes its class names from the data set.", output);
        Assert.DoesNotContain("ClassesFile", output);
    }
}
