using System.Globalization;
using System.Text;

namespace Deft.Clip.Tokenization;

/// <summary>
/// The text clean-up of OpenAI's <c>simple_tokenizer.py</c>: <c>basic_clean</c> (without ftfy, which the reference
/// tokenizer does not need: html.unescape twice, strip), <c>whitespace_clean</c> and Python's <c>str.lower()</c>.
/// Python's notions of whitespace and lower case differ from .NET's in a few places, which are reproduced here.
/// </summary>
internal static class ClipTextNormalizer
{
    public static string Normalize(string text) => PythonLower(CollapseWhitespace(HtmlUnescape.Unescape(HtmlUnescape.Unescape(text))));

    /// <summary>
    /// Python's <c>str.isspace()</c> (also what <c>re</c>'s <c>\s</c> and <c>str.strip()</c> use). Unlike
    /// <c>char.IsWhiteSpace</c> it includes the information separators U+001C..U+001F.
    /// </summary>
    public static bool IsPythonSpace(char c) =>
        c is >= '\t' and <= '\r' or >= '\x1c' and <= ' ' or '\x85' or '\xa0' or '\u1680' or >= '\u2000' and <= '\u200a'
            or '\u2028' or '\u2029' or '\u202f' or '\u205f' or '\u3000';

    /// <summary><c>re.sub(r'\s+', ' ', text).strip()</c> after <c>basic_clean</c>'s strip; the two strips coincide.</summary>
    public static string CollapseWhitespace(string text)
    {
        var sb = new StringBuilder(text.Length);
        var pendingSpace = false;
        foreach (var c in text)
        {
            if (IsPythonSpace(c)) { pendingSpace = sb.Length > 0; continue; }
            if (pendingSpace) { sb.Append(' '); pendingSpace = false; }
            sb.Append(c);
        }
        return sb.ToString();
    }

    /// <summary>
    /// Python's <c>str.lower()</c>: .NET's simple case mapping plus the two full-mapping rules Python applies,
    /// U+0130 (İ) → "i̇" and the final-sigma rule (Σ → ς at the end of a word).
    /// </summary>
    public static string PythonLower(string text)
    {
        var sb = new StringBuilder(text.Length);
        var index = 0;
        foreach (var rune in text.EnumerateRunes())
        {
            if (rune.Value == 0x130) sb.Append("i\u0307");
            else if (rune.Value == 0x3A3) sb.Append(IsFinalSigma(text, index) ? 'ς' : 'σ');
            else
            {
                var lower = Rune.ToLowerInvariant(rune);
                if (lower.IsBmp) sb.Append((char)lower.Value);
                else sb.Append(char.ConvertFromUtf32(lower.Value));
            }
            index += rune.Utf16SequenceLength;
        }
        return sb.ToString();
    }

    /// <summary>Python's rule: a cased letter (skipping case-ignorables) before, and none after.</summary>
    private static bool IsFinalSigma(string text, int sigmaIndex)
    {
        Rune? before = null;
        for (var j = sigmaIndex; j > 0;)
        {
            Rune.DecodeLastFromUtf16(text.AsSpan(0, j), out var r, out var len);
            j -= len;
            if (!IsCaseIgnorable(r)) { before = r; break; }
        }
        if (before is not { } b || !IsCased(b)) return false;
        for (var j = sigmaIndex + 1; j < text.Length;)
        {
            Rune.DecodeFromUtf16(text.AsSpan(j), out var r, out var len);
            j += len;
            if (!IsCaseIgnorable(r)) return !IsCased(r);
        }
        return true;
    }

    // Unicode's Cased property, approximated by the letter categories plus anything that has a case mapping.
    private static bool IsCased(Rune r) =>
        Rune.GetUnicodeCategory(r) is UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
        || Rune.ToLowerInvariant(r) != r || Rune.ToUpperInvariant(r) != r;

    // Unicode's Case_Ignorable property: marks, format characters, modifiers and the word-internal punctuation.
    private static bool IsCaseIgnorable(Rune r) =>
        Rune.GetUnicodeCategory(r) is UnicodeCategory.NonSpacingMark or UnicodeCategory.EnclosingMark or UnicodeCategory.Format
            or UnicodeCategory.ModifierLetter or UnicodeCategory.ModifierSymbol
        || r.Value is '\'' or '.' or ':' or 0xB7 or 0x387 or 0x55F or 0x5F4 or 0x2018 or 0x2019 or 0x2024 or 0x2027
            or 0xFE13 or 0xFE52 or 0xFE55 or 0xFF07 or 0xFF0E or 0xFF1A;
}
