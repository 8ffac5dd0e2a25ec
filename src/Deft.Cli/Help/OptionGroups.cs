using System.ComponentModel;
using System.Reflection;
using Deft.Data;
using Deft.Peft;

namespace Deft.Cli.Help;

/// <summary>
/// Puts an option (on a property) or every option a settings class declares (on the class) into a help group;
/// overrides <see cref="OptionGroups.ByFlag"/>.
/// </summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Class, Inherited = false)]
internal sealed class OptionGroupAttribute(string name) : Attribute
{
    public string Name { get; } = name;
}

/// <summary>
/// Which help group an option belongs to and which values it takes. The group comes from, in order: the property's
/// <see cref="OptionGroupAttribute"/>, its declaring settings class's one (<c>DataSettings</c>: Data,
/// <c>ClipModelSettings</c>: Model), <see cref="ByFlag"/> (the command-specific options, so that command files need
/// no edit), else <see cref="Other"/>. Valid values come from the option's kebab-case enum converter, else
/// <see cref="ValuesByFlag"/>.
/// </summary>
internal static class OptionGroups
{
    public const string Data = "Data";
    public const string Model = "Model";
    public const string Method = "Method";
    public const string Issues = "Label issues";
    public const string Peft = "PEFT (deft)";
    public const string Prompts = "Prompts (deft)";
    public const string Training = "Training";
    public const string Output = "Output and run";
    public const string Other = "Other";

    /// <summary>The order groups appear in on a help page.</summary>
    public static IReadOnlyList<string> Order { get; } = [Data, Model, Method, Issues, Peft, Prompts, Training, Output, Other];

    /// <summary>
    /// Group by long flag (without "--"); "command flag" keys override for one command. Within a group, help lists
    /// these flags in this order (the main one first: --method before its parameters), then the rest as declared.
    /// </summary>
    public static IReadOnlyDictionary<string, string> ByFlag { get; } = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["data"] = Data, ["format"] = Data, ["classes"] = Data, ["split"] = Data, ["labels"] = Data, ["limit"] = Data,
        ["test"] = Data, ["test-split"] = Data, ["images"] = Data, ["synthetic"] = Data, ["texts"] = Data,
        ["labels-file"] = Data, ["on-bad-image"] = Data, ["root"] = Data, ["size"] = Data, ["run"] = Data,
        ["adapt selection"] = Data, ["mode"] = Data, ["ratio"] = Data, ["noise"] = Data, ["samples"] = Data,
        ["model"] = Model, ["vocab"] = Model, ["dtype"] = Model, ["mean"] = Model, ["std"] = Model, ["device"] = Model,
        ["model-dir"] = Model, ["backbone"] = Model, ["resolution"] = Model, ["head-init"] = Model, ["preset"] = Model,
        ["method"] = Method, ["noise-rate"] = Method, ["folds"] = Method, ["templates"] = Method, ["variant"] = Method, ["classifier"] = Method,
        ["selection"] = Method, ["methods"] = Method, ["settings"] = Method,
        ["filter-by"] = Issues, ["num-to-remove"] = Issues, ["frac-noise"] = Issues, ["flag-agreeing"] = Issues,
        ["peft"] = Peft, ["partial"] = Peft, ["vpt-len"] = Peft, ["lora-rank"] = Peft, ["adapter-dim"] = Peft,
        ["n-ctx"] = Prompts, ["class-token-position"] = Prompts, ["csc"] = Prompts, ["ctx-init"] = Prompts,
        ["epochs"] = Training, ["warmup"] = Training, ["batch"] = Training, ["lr"] = Training, ["seed"] = Training,
        ["seeds"] = Training, ["augment"] = Training, ["optimizer"] = Training, ["momentum"] = Training,
        ["weight-decay"] = Training, ["schedule"] = Training, ["loss"] = Training, ["recipe"] = Training,
        ["tower-lr-scale"] = Training, ["head-epochs"] = Training, ["adapt-epochs"] = Training,
        ["adapt-batch"] = Training, ["adapt-lr"] = Training, ["adapt"] = Training, ["no-adapt"] = Training,
        ["out"] = Output, ["json"] = Output, ["force"] = Output, ["resume"] = Output, ["cache-dir"] = Output,
        ["threads"] = Output, ["workers"] = Output, ["work"] = Output, ["dry-run"] = Output, ["list"] = Output,
    };

    /// <summary>Where <paramref name="flag"/> comes in its group (<see cref="ByFlag"/>'s order); unlisted flags last.</summary>
    public static int RankOf(string flag) => FlagRanks.TryGetValue(flag, out var rank) ? rank : int.MaxValue;

    private static readonly Dictionary<string, int> FlagRanks =
        ByFlag.Keys.Select((k, i) => (k, i)).ToDictionary(x => x.k, x => x.i, StringComparer.Ordinal);

    /// <summary>Valid values of string options whose set is fixed (and not an enum the converter knows).</summary>
    public static IReadOnlyDictionary<string, Func<IReadOnlyList<string>>> ValuesByFlag { get; } = new Dictionary<string, Func<IReadOnlyList<string>>>(StringComparer.Ordinal)
    {
        ["format"] = () => DatasetFactory.Formats,
        ["dtype"] = () => ["auto", "fp32", "bf16"],
        ["split"] = () => ["train", "test"],
        ["test-split"] = () => ["train", "test"],
        ["peft"] = () => PeftKinds.ValidNames,
        ["device"] = () => ["cpu", "cuda", "cuda:N"],
    };

    /// <summary>The group of <paramref name="property"/>'s option <paramref name="flag"/> in command <paramref name="command"/>.</summary>
    public static string GroupOf(string command, string flag, PropertyInfo? property)
    {
        if (property?.GetCustomAttribute<OptionGroupAttribute>() is { } own) return own.Name;
        if (property?.DeclaringType?.GetCustomAttribute<OptionGroupAttribute>() is { } declaring) return declaring.Name;
        if (ByFlag.TryGetValue($"{command} {flag}", out var specific)) return specific;
        return ByFlag.TryGetValue(flag, out var group) ? group : Other;
    }

    /// <summary>The values option <paramref name="flag"/> takes, if it has a fixed set: its enum's kebab-case names, or <see cref="ValuesByFlag"/>.</summary>
    public static IReadOnlyList<string>? ValuesOf(string flag, PropertyInfo? property)
    {
        if (property?.GetCustomAttribute<TypeConverterAttribute>() is { } converter
            && Type.GetType(converter.ConverterTypeName) is { } type
            && type.GetProperty("Names", BindingFlags.Public | BindingFlags.Static)?.GetValue(null) is IReadOnlyList<string> names)
            return names;
        return ValuesByFlag.TryGetValue(flag, out var values) ? values() : null;
    }
}
