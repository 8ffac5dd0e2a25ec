using System.Globalization;

namespace Deft.Data.Paper;

/// <summary>One non-blank line of a list file, with its 1-based line number and its whitespace-separated fields.</summary>
internal readonly record struct ListLine(int Number, string[] Fields, string Text);

/// <summary>
/// Reading the plain-text lists the published data sets ship (<c>path label</c>, <c>id value</c>, one name per line):
/// every problem names the file and line and says what to do.
/// </summary>
internal static class ListFiles
{
    /// <summary>The first of <paramref name="candidates"/> (relative to <paramref name="root"/>) that exists, else null.</summary>
    public static string? FindFile(string root, params string[] candidates) =>
        candidates.Select(c => Path.Combine(root, c)).FirstOrDefault(File.Exists);

    /// <summary>The first existing file among the candidates, or a <see cref="DeftException"/> naming what was looked for.</summary>
    public static string RequireFile(string root, string formatName, string what, params string[] candidates) =>
        FindFile(root, candidates) ?? throw new DeftException(
            $"{root} lacks {what} for {Setting.Format} {formatName}: looked for {string.Join(", ", candidates.Select(c => Path.Combine(root, c)))}. " +
            $"Point {Setting.Data} at the data set's root folder as distributed (see docs/reproduce.md).");

    /// <summary>The non-blank lines, split on whitespace (blank lines are skipped; '#' lines are not comments here).</summary>
    public static IEnumerable<ListLine> ReadLines(string file)
    {
        IEnumerable<string> lines;
        try
        {
            lines = File.ReadLines(file);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new DeftException($"Cannot read {file}: {ex.Message}", ex);
        }
        var number = 0;
        foreach (var raw in lines)
        {
            number++;
            var text = raw.Trim();
            if (text.Length == 0) continue;
            yield return new ListLine(number, text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries), text);
        }
    }

    /// <summary>Checks the field count of a line: exactly <paramref name="count"/>, or at least it when <paramref name="orMore"/>.</summary>
    public static void ExpectFields(string file, ListLine line, int count, string layout, bool orMore = false)
    {
        if (line.Fields.Length == count || (orMore && line.Fields.Length > count)) return;
        throw new DeftException(
            $"{file} line {line.Number}: expected {(orMore ? "at least " : "")}{count} whitespace-separated field(s) ({layout}), " +
            $"found {line.Fields.Length}: '{Shorten(line.Text)}'. The file is damaged or not the published one; restore it.");
    }

    /// <summary>Parses an integer field, in [<paramref name="min"/>, <paramref name="max"/>].</summary>
    public static int ParseInt(string file, ListLine line, string text, string what, int min, int max)
    {
        if (!int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value))
            throw new DeftException($"{file} line {line.Number}: {what} '{Shorten(text)}' is not an integer. The file is damaged; restore it.");
        if (value < min || value > max)
            throw new DeftException($"{file} line {line.Number}: {what} {value} is outside {min}..{max}. The file is damaged or belongs to another data set.");
        return value;
    }

    public static string Shorten(string text) => text.Length <= 80 ? text : text[..77] + "...";

    /// <summary>Makes names unique by appending the key in parentheses to repeated ones (prompt names must differ).</summary>
    public static string[] Disambiguate(IReadOnlyList<string> names, IReadOnlyList<string> keys)
    {
        var counts = names.GroupBy(n => n, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        return [.. names.Select((n, i) => counts[n] > 1 ? $"{n} ({keys[i]})" : n)];
    }
}
