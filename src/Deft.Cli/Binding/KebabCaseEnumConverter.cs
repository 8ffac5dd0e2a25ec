using System.ComponentModel;
using System.Globalization;
using System.Text.Json;

namespace Deft.Cli.Binding;

/// <summary>
/// Binds an option to an enum by the member's kebab-case name (<c>LastEpoch</c> ↔ <c>last-epoch</c>), the names the
/// output files use too. Matching ignores case, '-' and '_', so <c>resnet</c>, <c>ResNet</c> and <c>res-net</c> all
/// bind. An unknown value is an <see cref="InvalidChoiceException"/> that lists the valid ones; <see cref="CliEntry"/>
/// puts the flag's name in front of it. <see cref="OrAuto"/> also takes "auto", bound to null (the library decides).
/// </summary>
public class KebabCaseEnumConverter<T> : TypeConverter where T : struct, Enum
{
    public const string Auto = "auto";

    /// <summary>Members whose kebab-case split would part one word (ResNet, AdamW, ConvNext): the CLI has always spelt them whole.</summary>
    private static readonly Dictionary<string, string> Spellings = new(StringComparer.Ordinal)
    {
        ["ResNet"] = "resnet",
        ["AdamW"] = "adamw",
        ["ConvNext"] = "convnext",
    };

    /// <summary>The valid values, in declaration order.</summary>
    public static IReadOnlyList<string> Names { get; } = [.. Enum.GetValues<T>().Select(NameOf)];

    public static string NameOf(T value)
    {
        var member = value.ToString();
        return Spellings.TryGetValue(member, out var spelt) ? spelt : JsonNamingPolicy.KebabCaseLower.ConvertName(member);
    }

    /// <summary>The member named <paramref name="text"/>; otherwise an <see cref="InvalidChoiceException"/>.</summary>
    public static T Parse(string text) => TryParse(text) ?? throw new InvalidChoiceException(text, Names);

    private static T? TryParse(string text)
    {
        var key = Normalise(text);
        foreach (var value in Enum.GetValues<T>())
            if (Normalise(value.ToString()) == key || Normalise(NameOf(value)) == key) return value;
        return null;
    }

    private static string Normalise(string text) =>
        text.Trim().Replace("-", "", StringComparison.Ordinal).Replace("_", "", StringComparison.Ordinal).ToLowerInvariant();

    public override bool CanConvertFrom(ITypeDescriptorContext? context, Type sourceType) => sourceType == typeof(string);

    public override object? ConvertFrom(ITypeDescriptorContext? context, CultureInfo? culture, object value) =>
        value is string text ? Parse(text) : base.ConvertFrom(context, culture, value);

    public override bool CanConvertTo(ITypeDescriptorContext? context, Type? destinationType) => destinationType == typeof(string);

    public override object? ConvertTo(ITypeDescriptorContext? context, CultureInfo? culture, object? value, Type destinationType) =>
        destinationType == typeof(string) && value is T v ? NameOf(v) : base.ConvertTo(context, culture, value, destinationType);

    /// <summary>For a nullable option whose default the library chooses: "auto" binds to null, beside the members.</summary>
    public sealed class OrAuto : TypeConverter
    {
        public static IReadOnlyList<string> Names { get; } = [Auto, .. KebabCaseEnumConverter<T>.Names];

        public static T? Parse(string text) =>
            string.Equals(text.Trim(), Auto, StringComparison.OrdinalIgnoreCase) ? null
                : TryParse(text) ?? throw new InvalidChoiceException(text, Names);

        public override bool CanConvertFrom(ITypeDescriptorContext? context, Type sourceType) => sourceType == typeof(string);

        public override object? ConvertFrom(ITypeDescriptorContext? context, CultureInfo? culture, object value) =>
            value is string text ? Parse(text) : base.ConvertFrom(context, culture, value);
    }
}

/// <summary>A value outside an option's fixed set; the message lists the set, the CLI adds the flag.</summary>
public sealed class InvalidChoiceException(string value, IReadOnlyList<string> validNames)
    : DeftException($"'{TextClip.Clip(value.Trim(), 40)}' is not a valid value. Valid values: {string.Join(", ", validNames)}.")
{
    public string Value { get; } = value;
    public IReadOnlyList<string> ValidNames { get; } = validNames;
}
