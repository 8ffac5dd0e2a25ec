using System.Globalization;
using System.Text;

namespace Deft.Clip.Tokenization;

/// <summary>
/// Python's <c>html.unescape</c>, which OpenAI's CLIP tokenizer applies twice before tokenizing. .NET's
/// <c>WebUtility.HtmlDecode</c> is not a substitute: it knows only HTML 4's names, needs the ';' and maps numeric
/// references like <c>&amp;#128;</c> differently, so "&amp;amp" or "&amp;hellip;" would tokenize differently from CLIP.
/// </summary>
internal static class HtmlUnescape
{
    private static readonly Dictionary<string, string> NamedReferences = ParseEntityTable();

    /// <summary>Longest entity name in the table; Python's pattern looks at most 32 characters ahead.</summary>
    private const int MaxNameLength = 32;

    // The WHATWG numeric-reference fix-ups (C1 controls decoded as windows-1252) that Python applies.
    private static readonly Dictionary<int, string> InvalidNumericReferences = new()
    {
        [0x00] = "\uFFFD", [0x0D] = "\r", [0x80] = "\u20AC", [0x81] = "\x81", [0x82] = "\u201A", [0x83] = "\u0192",
        [0x84] = "\u201E", [0x85] = "\u2026", [0x86] = "\u2020", [0x87] = "\u2021", [0x88] = "\u02C6", [0x89] = "\u2030",
        [0x8A] = "\u0160", [0x8B] = "\u2039", [0x8C] = "\u0152", [0x8D] = "\x8D", [0x8E] = "\u017D", [0x8F] = "\x8F",
        [0x90] = "\x90", [0x91] = "\u2018", [0x92] = "\u2019", [0x93] = "\u201C", [0x94] = "\u201D", [0x95] = "\u2022",
        [0x96] = "\u2013", [0x97] = "\u2014", [0x98] = "\u02DC", [0x99] = "\u2122", [0x9A] = "\u0161", [0x9B] = "\u203A",
        [0x9C] = "\u0153", [0x9D] = "\x9D", [0x9E] = "\u017E", [0x9F] = "\u0178",
    };

    /// <summary>Code points that Python drops from numeric references (controls, non-characters).</summary>
    private static bool IsDroppedCodePoint(long cp) =>
        cp is >= 0x1 and <= 0x8 or 0xB or >= 0xE and <= 0x1F or >= 0x7F and <= 0x9F or >= 0xFDD0 and <= 0xFDEF
        || (cp & 0xFFFE) == 0xFFFE && cp <= 0x10FFFF;

    public static string Unescape(string s)
    {
        if (!s.Contains('&')) return s;
        var sb = new StringBuilder(s.Length);
        var i = 0;
        while (i < s.Length)
        {
            var amp = s.IndexOf('&', i);
            if (amp < 0) { sb.Append(s, i, s.Length - i); break; }
            sb.Append(s, i, amp - i);
            var consumed = TryReplaceReference(s, amp + 1, sb);
            if (consumed == 0) { sb.Append('&'); i = amp + 1; }
            else i = amp + 1 + consumed;
        }
        return sb.ToString();
    }

    /// <summary>
    /// Matches Python's <c>&amp;(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f &lt;&amp;#;]{1,32};?)</c> at <paramref name="start"/>
    /// (just after the '&amp;'), appends the replacement and returns the characters consumed; 0 when nothing matches.
    /// </summary>
    private static int TryReplaceReference(string s, int start, StringBuilder sb)
    {
        if (start >= s.Length) return 0;
        if (s[start] == '#')
        {
            var hex = start + 1 < s.Length && s[start + 1] is 'x' or 'X';
            var digitsStart = start + (hex ? 2 : 1);
            var end = digitsStart;
            while (end < s.Length && (hex ? char.IsAsciiHexDigit(s[end]) : char.IsAsciiDigit(s[end]))) end++;
            if (end > digitsStart)
            {
                AppendNumericReference(s.AsSpan(digitsStart, end - digitsStart), hex, sb);
                if (end < s.Length && s[end] == ';') end++;
                return end - start;
            }
            // "&#" with no digits: the third alternative cannot start with '#', so there is no match.
            return 0;
        }

        var nameEnd = start;
        while (nameEnd < s.Length && nameEnd - start < MaxNameLength && s[nameEnd] is not ('\t' or '\n' or '\f' or ' ' or '<' or '&' or '#' or ';'))
            nameEnd++;
        if (nameEnd == start) return 0;
        if (nameEnd < s.Length && s[nameEnd] == ';') nameEnd++;
        var name = s.Substring(start, nameEnd - start);
        if (NamedReferences.TryGetValue(name, out var value))
        {
            sb.Append(value);
            return name.Length;
        }
        // The longest prefix (at least two characters) that is a known name wins; the rest is kept as text.
        for (var x = name.Length - 1; x > 1; x--)
        {
            if (NamedReferences.TryGetValue(name[..x], out value))
            {
                sb.Append(value).Append(name, x, name.Length - x);
                return name.Length;
            }
        }
        sb.Append('&').Append(name);
        return name.Length;
    }

    private static void AppendNumericReference(ReadOnlySpan<char> digits, bool hex, StringBuilder sb)
    {
        // Anything beyond the Unicode range becomes U+FFFD, so saturating instead of overflowing loses nothing.
        long cp = 0;
        foreach (var c in digits)
        {
            var digit = char.IsAsciiDigit(c) ? c - '0' : (c | 0x20) - 'a' + 10;
            cp = Math.Min(cp * (hex ? 16 : 10) + digit, 0x110000);
        }
        if (InvalidNumericReferences.TryGetValue((int)cp, out var fixedUp)) sb.Append(fixedUp);
        else if (cp is >= 0xD800 and <= 0xDFFF || cp > 0x10FFFF) sb.Append('\uFFFD');
        else if (IsDroppedCodePoint(cp)) { }
        else sb.Append(char.ConvertFromUtf32((int)cp));
    }

    private static Dictionary<string, string> ParseEntityTable()
    {
        var table = new Dictionary<string, string>(2300, StringComparer.Ordinal);
        foreach (var entry in HtmlEntityTable.Entries.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = entry.IndexOf('=');
            var sb = new StringBuilder(2);
            foreach (var hex in entry[(eq + 1)..].Split('+'))
                sb.Append(char.ConvertFromUtf32(int.Parse(hex, NumberStyles.HexNumber, CultureInfo.InvariantCulture)));
            table[entry[..eq]] = sb.ToString();
        }
        return table;
    }
}
