using System.Text;

namespace Deft.Clip.Tokenization;

/// <summary>
/// GPT-2/CLIP's <c>bytes_to_unicode</c>: every byte gets a printable character, so BPE works on strings that
/// contain no whitespace or control characters. Printable Latin-1 bytes map to themselves, the other 68 bytes to
/// U+0100 onwards in byte order.
/// </summary>
internal static class ByteLevel
{
    /// <summary>Character for each byte value.</summary>
    public static readonly char[] ByteToChar = BuildByteToChar();

    /// <summary>The bytes in the order CLIP lists them in its vocabulary (printable ranges first).</summary>
    public static readonly byte[] VocabularyOrder = BuildVocabularyOrder();

    private static readonly Dictionary<char, byte> CharToByte =
        Enumerable.Range(0, 256).ToDictionary(b => ByteToChar[b], b => (byte)b);

    private static bool IsPrintable(int b) => b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;

    private static byte[] BuildVocabularyOrder() =>
        Enumerable.Range(0, 256).Where(IsPrintable).Concat(Enumerable.Range(0, 256).Where(b => !IsPrintable(b)))
            .Select(b => (byte)b).ToArray();

    private static char[] BuildByteToChar()
    {
        var map = new char[256];
        var next = 0;
        for (var b = 0; b < 256; b++) map[b] = IsPrintable(b) ? (char)b : (char)(256 + next++);
        return map;
    }

    /// <summary>The UTF-8 bytes of <paramref name="text"/>, each replaced by its character.</summary>
    public static string Encode(string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        return string.Create(bytes.Length, bytes, static (span, b) =>
        {
            for (var i = 0; i < b.Length; i++) span[i] = ByteToChar[b[i]];
        });
    }

    public static bool TryGetByte(char c, out byte value) => CharToByte.TryGetValue(c, out value);
}
