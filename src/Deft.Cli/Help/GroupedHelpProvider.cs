using System.Globalization;
using System.Reflection;
using Spectre.Console;
using Spectre.Console.Cli;
using Spectre.Console.Cli.Help;
using Spectre.Console.Rendering;

namespace Deft.Cli.Help;

/// <summary>
/// Spectre's help with the OPTIONS section in groups (<see cref="OptionGroups"/>: Data, Model, Method, ...) and every
/// option's valid values after its description when it has a fixed set. The layout is Spectre's own (the same
/// columns and indentation, one DEFAULT header), so scripts and tests that read help pages read these too.
/// </summary>
internal sealed class GroupedHelpProvider(ICommandAppSettings settings) : HelpProvider(settings)
{
    private readonly HelpProviderStyle? _styles = settings.HelpProviderStyles;

    public override IEnumerable<IRenderable> GetOptions(ICommandModel model, ICommandInfo? command)
    {
        if (command is null) return base.GetOptions(model, command);
        var path = PathOf(command);
        var properties = OptionProperties(path);
        var options = command.Parameters.OfType<ICommandOption>().Where(o => !o.IsHidden)
            .Select(o =>
            {
                var flag = o.LongNames.FirstOrDefault() ?? o.ShortNames.First();
                properties.TryGetValue(flag, out var property);
                return new Row(o, flag, OptionGroups.GroupOf(path, flag, property), OptionGroups.ValuesOf(flag, property));
            })
            .ToList();

        var header = new Markup(Environment.NewLine + Markup.Escape("OPTIONS:") + Environment.NewLine, _styles?.Options?.Header ?? Style.Plain);
        var hasDefaults = options.Any(o => DefaultOf(o.Option) is not null);
        var grid = new Grid();
        grid.AddColumn(new GridColumn { Padding = new Padding(4, 0, 4, 0), NoWrap = true });
        if (hasDefaults) grid.AddColumn(new GridColumn { Padding = new Padding(0, 0, 4, 0) });
        grid.AddColumn(new GridColumn { Padding = new Padding(0, 0) });
        if (hasDefaults) grid.AddRow(new Text(" "), new Text("DEFAULT", _styles?.Options?.DefaultValueHeader ?? Style.Plain), new Text(" "));
        AddRow(grid, hasDefaults, new Text("-h, --help"), null, "Prints help information.");

        var groups = options.GroupBy(o => o.Group).OrderBy(g => Rank(g.Key)).ToList();
        foreach (var group in groups)
        {
            if (groups.Count > 1)
            {
                grid.AddEmptyRow();
                AddRow(grid, hasDefaults, new Markup(Markup.Escape(group.Key) + ":", new Style(decoration: Decoration.Bold)), null, null);
            }
            foreach (var o in group.OrderBy(o => OptionGroups.RankOf(o.Flag))) // stable: unlisted flags keep their order
            {
                var description = o.Option.Description ?? " ";
                if (o.Option.IsRequired) description = description.TrimEnd('.') + ". [i]Required[/]";
                if (o.Values is { Count: > 0 } values && !NamesAll(description, values))
                    description += $" [grey]Values: {Markup.Escape(string.Join(", ", values))}.[/]";
                AddRow(grid, hasDefaults, OptionParts(o.Option), DefaultOf(o.Option), description);
            }
        }
        return [header, grid];
    }

    private sealed record Row(ICommandOption Option, string Flag, string Group, IReadOnlyList<string>? Values);

    private static int Rank(string group) => OptionGroups.Order.ToList().IndexOf(group) is >= 0 and var i ? i : OptionGroups.Order.Count;

    private void AddRow(Grid grid, bool hasDefaults, IRenderable option, string? defaultValue, string? descriptionMarkup)
    {
        var cells = new List<IRenderable> { option };
        if (hasDefaults) cells.Add(defaultValue is null ? new Text(" ") : new Text(defaultValue, _styles?.Options?.DefaultValue ?? Style.Plain));
        cells.Add(descriptionMarkup is null ? new Text(" ") : new Markup(descriptionMarkup));
        grid.AddRow([.. cells]);
    }

    /// <summary>"    --data &lt;PATH&gt;" or "-h, --help", as Spectre writes an option.</summary>
    private IRenderable OptionParts(ICommandOption option)
    {
        var text = option.ShortNames.FirstOrDefault() is { } s ? $"-{s}, " : "    ";
        if (option.LongNames.FirstOrDefault() is { } l) text += "--" + l;
        var parts = new List<(string, Style)> { (text, Style.Plain) };
        if (option.ValueName is { } value)
            parts.Add(option.ValueIsOptional
                ? ($" [{value}]", _styles?.Options?.OptionalOptionValue ?? Style.Plain)
                : ($" <{value}>", _styles?.Options?.RequiredOptionValue ?? Style.Plain));
        var paragraph = new Paragraph();
        foreach (var (t, style) in parts) paragraph.Append(t, style);
        return paragraph;
    }

    /// <summary>The default as Spectre shows it: none for a flag that defaults to false or an empty value.</summary>
    private static string? DefaultOf(ICommandOption option)
    {
        if (option is { IsFlag: true, DefaultValue.Value: false }) return null;
        return option.DefaultValue?.Value switch
        {
            null or "" => null,
            Array { Length: 0 } => null,
            Array array => string.Join(", ", array.Cast<object>().Select(o => Convert.ToString(o, CultureInfo.InvariantCulture))),
            var v => Convert.ToString(v, CultureInfo.InvariantCulture),
        };
    }

    /// <summary>Whether the description already names every value as a word of its own (then the list would repeat it).</summary>
    internal static bool NamesAll(string description, IReadOnlyList<string> values) =>
        values.All(v => System.Text.RegularExpressions.Regex.IsMatch(description,
            $@"(?<![\w-]){System.Text.RegularExpressions.Regex.Escape(v)}(?![\w-])", System.Text.RegularExpressions.RegexOptions.IgnoreCase));

    private static string PathOf(ICommandInfo command) => command.Parent is null ? command.Name : PathOf(command.Parent) + " " + command.Name;

    /// <summary>The settings properties of command <paramref name="path"/>, by long flag name.</summary>
    private static Dictionary<string, PropertyInfo> OptionProperties(string path)
    {
        var result = new Dictionary<string, PropertyInfo>(StringComparer.Ordinal);
        if (CommandRegistry.Commands.Entries.FirstOrDefault(e => e.Path == path) is not { } entry
            || CliEntry.SettingsType(entry.CommandType) is not { } settings) return result;
        foreach (var property in settings.GetProperties(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance))
            if (property.GetCustomAttribute<CommandOptionAttribute>() is { } option)
                foreach (var name in option.LongNames) result.TryAdd(name, property);
        return result;
    }
}
