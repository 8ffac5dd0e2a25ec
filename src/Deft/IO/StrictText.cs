using System.Text;

namespace Deft.IO;

/// <summary>
/// Text files read strictly: invalid UTF-8 is an error naming the line (not silently replaced with U+FFFD), and
/// fields may be checked for control characters (NUL, escape sequences, ...) that would corrupt outputs and reports.
/// </summary>
public static class StrictText
{
    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>The file's lines (split at \n, \r\n or \r; a UTF-8 BOM is dropped).</summary>
    public static string[] ReadAllLines(string path)
    {
        var bytes = File.ReadAllBytes(path);
        var start = bytes.Length >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF ? 3 : 0;
        string text;
        try
        {
            text = Utf8.GetString(bytes, start, bytes.Length - start);
        }
        catch (DecoderFallbackException ex)
        {
            var at = start + Math.Max(0, ex.Index);
            // The decoder reports the offset within its current buffer; find the first invalid byte ourselves.
            at = FirstInvalid(bytes, start) ?? at;
            var line = 1 + bytes.AsSpan(0, Math.Min(at, bytes.Length)).Count((byte)'\n');
            throw new DeftException($"{path} line {line}: not valid UTF-8 text (byte {at}). Save the file as UTF-8.", ex);
        }
        var lines = text.Split('\n');
        for (var i = 0; i < lines.Length; i++) if (lines[i].EndsWith('\r')) lines[i] = lines[i][..^1];
        if (lines.Length > 0 && lines[^1].Length == 0) Array.Resize(ref lines, lines.Length - 1);
        return lines;
    }

    /// <summary>Throws when <paramref name="value"/> holds a control character (tab excepted) or a lone surrogate.</summary>
    public static void CheckField(string value, string path, int line, string what)
    {
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            if (char.IsControl(c) && c != '\t')
                throw new DeftException($"{path} line {line}: the {what} '{TextClip.Clip(Visible(value), 60)}' holds the control character U+{(int)c:X4} " +
                    "(NUL, escape, ...). Remove it: names and labels must be plain text.");
        }
    }

    private static string Visible(string s) => new(s.Select(c => char.IsControl(c) ? '?' : c).ToArray());

    private static int? FirstInvalid(byte[] bytes, int start)
    {
        var decoder = Utf8.GetDecoder();
        var chars = new char[8];
        for (var i = start; i < bytes.Length; i++)
        {
            try { decoder.GetChars(bytes, i, 1, chars, 0, flush: false); }
            catch (DecoderFallbackException) { return i; }
        }
        return null;
    }
}
