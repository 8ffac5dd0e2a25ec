using System.Globalization;
using System.Text;

namespace Deft.Clip.Tokenization;

/// <summary>
/// CLIP's word splitter, the pattern
/// <c>&lt;\|startoftext\|&gt;|&lt;\|endoftext\|&gt;|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+</c>
/// (case-insensitive) as Python's <c>regex.findall</c> applies it. Written as a scanner over code points rather
/// than a .NET <c>Regex</c> because .NET classifies UTF-16 code units: a letter outside the BMP (𝐀, 𠀀) is two
/// surrogates there, not <c>\p{L}</c>, and would split differently from CLIP.
/// </summary>
internal static class ClipPreTokenizer
{
    public const string StartOfText = "<|startoftext|>";
    public const string EndOfText = "<|endoftext|>";
    private static readonly string[] Contractions = ["s", "t", "re", "ve", "m", "ll", "d"];

    /// <summary>Splits normalized (lower-cased, whitespace-collapsed) text into CLIP's pre-tokens.</summary>
    public static List<string> Split(string text)
    {
        var pieces = new List<string>();
        var i = 0;
        while (i < text.Length)
        {
            var length = MatchAt(text, i);
            if (length == 0) { i += RuneLength(text, i); continue; }
            pieces.Add(text.Substring(i, length));
            i += length;
        }
        return pieces;
    }

    /// <summary>Length of the first alternative that matches at <paramref name="i"/>, or 0 (whitespace).</summary>
    private static int MatchAt(string text, int i)
    {
        if (text[i] == '<')
        {
            if (MatchesIgnoringCase(text, i, StartOfText)) return StartOfText.Length;
            if (MatchesIgnoringCase(text, i, EndOfText)) return EndOfText.Length;
        }
        if (text[i] == '\'')
        {
            foreach (var contraction in Contractions)
                if (MatchesIgnoringCase(text, i + 1, contraction)) return 1 + contraction.Length;
        }
        var kind = Classify(text, i, out var runeLength);
        switch (kind)
        {
            case CharKind.Space:
                return 0;
            case CharKind.Number:
                return runeLength;
            default:
                var end = i + runeLength;
                while (end < text.Length && Classify(text, end, out var next) == kind) end += next;
                return end - i;
        }
    }

    private enum CharKind { Letter, Number, Space, Other }

    private static CharKind Classify(string text, int i, out int runeLength)
    {
        if (Rune.DecodeFromUtf16(text.AsSpan(i), out var rune, out runeLength) != System.Buffers.OperationStatus.Done)
            return CharKind.Other;
        if (rune.IsBmp && ClipTextNormalizer.IsPythonSpace((char)rune.Value)) return CharKind.Space;
        return Rune.GetUnicodeCategory(rune) switch
        {
            UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
                or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter => CharKind.Letter,
            UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber => CharKind.Number,
            _ => CharKind.Other,
        };
    }

    private static int RuneLength(string text, int i) =>
        char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]) ? 2 : 1;

    /// <summary>
    /// Case-insensitive literal match as the regex module does it (simple case folding). The text is already
    /// lower-case, so the only folding left that reaches these ASCII patterns is ſ (U+017F), which folds to 's'.
    /// </summary>
    private static bool MatchesIgnoringCase(string text, int start, string pattern)
    {
        if (start + pattern.Length > text.Length) return false;
        for (var k = 0; k < pattern.Length; k++)
        {
            var c = text[start + k];
            if (c != pattern[k] && !(pattern[k] == 's' && c == '\u017F') && char.ToLowerInvariant(c) != pattern[k]) return false;
        }
        return true;
    }
}
