using System.Text;
using System.Text.RegularExpressions;
using Deft.Tests.Hostile;

namespace Deft.Tests.Architecture;

/// <summary>
/// The library names settings in domain terms (<see cref="Setting"/>); only the CLI knows its flags. So no string
/// literal in src/Deft may hold a <c>--flag</c>: a message names the setting (<c>$"{Setting.Epochs} must be ≥ 1"</c>)
/// and the CLI renders it through FlagNames. Comments may mention flags (they document the CLI's view).
/// </summary>
public sealed partial class LibraryFlagTests
{
    /// <summary>
    /// Literals that hold a flag but are no message, each with why: (file under src/Deft, the literal's text).
    /// Empty today; an entry needs its reason beside it.
    /// </summary>
    private static readonly (string File, string Literal, string Reason)[] Allowed = [];

    [GeneratedRegex(@"(?<![\w-])--[a-z][a-z0-9-]*")]
    private static partial Regex Flag();

    [Fact]
    public void No_string_literal_of_the_library_holds_a_cli_flag()
    {
        var root = Path.Combine(HostilePickleTests.RepositoryRoot(), "src", "Deft");
        var sep = Path.DirectorySeparatorChar;
        var files = Directory.EnumerateFiles(root, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{sep}obj{sep}") && !f.Contains($"{sep}bin{sep}")).ToList();
        Assert.True(files.Count > 100, $"only {files.Count} sources found under {root}");

        var offenders = new List<string>();
        var literals = 0;
        foreach (var file in files)
        {
            var relative = Path.GetRelativePath(root, file).Replace(sep, '/');
            foreach (var (line, text) in StringLiterals(File.ReadAllText(file)))
            {
                literals++;
                if (!Flag().IsMatch(text)) continue;
                if (Allowed.Any(a => a.File == relative && a.Literal == text)) continue;
                offenders.Add($"{relative}:{line}: \"{text}\"");
            }
        }
        Assert.True(literals > 1000, $"only {literals} string literals found: the scanner is broken");
        Assert.True(offenders.Count == 0,
            "String literals in src/Deft name CLI flags; name the setting instead ($\"{Setting.X} ...\", with a FlagNames row for its flag):\n" +
            string.Join("\n", offenders));
    }

    [Fact]
    public void The_scanner_sees_flags_in_every_kind_of_literal_and_none_in_comments()
    {
        const string source = """
            // a comment with --comment
            /* and --block */
            /// <summary>doc --doc</summary>
            var a = "plain --plain";
            var b = $"interpolated {x} --interpolated {(y ? "nested --nested" : "")}";
            var c = @"verbatim ""quoted"" --verbatim";
            var d = $@"both {{braces}} --both";
            var e = '"'; var f = "after a char literal --after";
            var g = "a - b -- c and x--y";
            """;
        var found = StringLiterals(source).Where(l => Flag().IsMatch(l.Text)).Select(l => Flag().Match(l.Text).Value).ToList();
        Assert.Equal(["--after", "--both", "--interpolated", "--nested", "--plain", "--verbatim"], found.Order(StringComparer.Ordinal));
        Assert.Equal(5, StringLiterals(source).First(l => l.Text.Contains("--nested")).Line);
    }

    /// <summary>
    /// The text of each string literal of C# source with its line (an interpolated string's text parts joined, its
    /// holes' own literals listed separately); comments and character literals are skipped.
    /// </summary>
    private static List<(int Line, string Text)> StringLiterals(string s)
    {
        var result = new List<(int, string)>();
        var i = 0;
        Code(s, ref i, result, stopAtBrace: false);
        return result;
    }

    private static int LineOf(string s, int at) => 1 + s.AsSpan(0, at).Count('\n');

    /// <summary>Scans code until the end (or an unmatched '}' when <paramref name="stopAtBrace"/>, for a hole).</summary>
    private static void Code(string s, ref int i, List<(int, string)> found, bool stopAtBrace)
    {
        var depth = 0;
        while (i < s.Length)
        {
            var c = s[i];
            if (c == '/' && i + 1 < s.Length && s[i + 1] == '/') { while (i < s.Length && s[i] != '\n') i++; continue; }
            if (c == '/' && i + 1 < s.Length && s[i + 1] == '*')
            {
                var end = s.IndexOf("*/", i + 2, StringComparison.Ordinal);
                i = end < 0 ? s.Length : end + 2;
                continue;
            }
            if (c == '\'')
            {
                i++;
                while (i < s.Length && s[i] != '\'') i += s[i] == '\\' ? 2 : 1;
                i++;
                continue;
            }
            if (c == '{') depth++;
            if (c == '}' && depth-- == 0 && stopAtBrace) return;
            if (c is '"' or '$' or '@' && StringStart(s, i) is { } start)
            {
                var line = LineOf(s, i);
                i = start.Content;
                found.Add((line, Literal(s, ref i, start, found)));
                continue;
            }
            i++;
        }
    }

    private readonly record struct Start(int Content, bool Interpolated, bool Verbatim, int RawQuotes);

    private static Start? StringStart(string s, int i)
    {
        var j = i;
        bool interpolated = false, verbatim = false;
        while (j < s.Length && s[j] is '$' or '@')
        {
            if (s[j] == '$') interpolated = true; else verbatim = true;
            j++;
        }
        if (j >= s.Length || s[j] != '"') return null;
        var quotes = 0;
        while (j + quotes < s.Length && s[j + quotes] == '"') quotes++;
        if (!verbatim && quotes >= 3) return new Start(j + quotes, interpolated, false, quotes);
        return new Start(j + 1, interpolated, verbatim, 0);
    }

    private static string Literal(string s, ref int i, Start start, List<(int, string)> found)
    {
        var text = new StringBuilder();
        if (start.RawQuotes > 0)
        {
            var close = new string('"', start.RawQuotes);
            var end = s.IndexOf(close, i, StringComparison.Ordinal);
            if (end < 0) end = s.Length;
            text.Append(s, i, end - i);
            i = Math.Min(s.Length, end + start.RawQuotes);
            return text.ToString();
        }
        while (i < s.Length)
        {
            var c = s[i];
            if (start.Verbatim && c == '"' && i + 1 < s.Length && s[i + 1] == '"') { text.Append('"'); i += 2; continue; }
            if (!start.Verbatim && c == '\\') { text.Append(s, i, Math.Min(2, s.Length - i)); i += 2; continue; }
            if (c == '"') { i++; break; }
            if (start.Interpolated && c == '{')
            {
                if (i + 1 < s.Length && s[i + 1] == '{') { text.Append('{'); i += 2; continue; }
                i++;
                Code(s, ref i, found, stopAtBrace: true); // the hole, to its closing brace
                i++;
                text.Append('\u0000');
                continue;
            }
            if (start.Interpolated && c == '}' && i + 1 < s.Length && s[i + 1] == '}') { text.Append('}'); i += 2; continue; }
            text.Append(c);
            i++;
        }
        return text.ToString();
    }
}
