using System.Text.Json;
using Deft.Clip.Tokenization;

namespace Deft.Tests.Tokenization;

/// <summary>The reference cases of shared/fixtures/tokenizer_cases.json (computed with OpenAI's tokenizer).</summary>
internal sealed record TokenizerCase(string Text, int[] Ids, long[]? Tokenized77, long[]? Tokenized77Truncated)
{
    public override string ToString() => Text.Length <= 40 ? Text : Text[..40] + "…";
}

internal static class TokenizerFixtures
{
    private static readonly Lazy<ClipTokenizer> OpenAi = new(() => ClipTokenizer.FromBpeFile(Fixtures.OpenAiVocabularyFile));
    private static readonly Lazy<ClipTokenizer> HuggingFace = new(() => ClipTokenizer.FromHuggingFace(HuggingFaceDirectory));
    private static readonly Lazy<(int VocabSize, int Sot, int Eot, TokenizerCase[] Cases)> Reference = new(ReadCases);

    public static string HuggingFaceDirectory => Fixtures.Path("clip-tiny-hf");

    /// <summary>Loaded from bpe_simple_vocab_16e6.txt.gz.</summary>
    public static ClipTokenizer FromGz => OpenAi.Value;

    /// <summary>Loaded from the tiny CLIP's Hugging Face vocab.json + merges.txt.</summary>
    public static ClipTokenizer FromHf => HuggingFace.Value;

    public static ClipTokenizer Get(string source) => source switch
    {
        "gz" => FromGz,
        "hf" => FromHf,
        _ => throw new ArgumentOutOfRangeException(nameof(source), source, "valid: gz, hf"),
    };

    public static (int VocabSize, int Sot, int Eot, TokenizerCase[] Cases) Expected => Reference.Value;

    public static IEnumerable<TokenizerCase> Cases => Expected.Cases;

    private static (int, int, int, TokenizerCase[]) ReadCases()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Fixtures.Path("tokenizer_cases.json")));
        var root = doc.RootElement;
        static long[]? Longs(JsonElement e, string name) =>
            e.TryGetProperty(name, out var v) ? v.EnumerateArray().Select(x => x.GetInt64()).ToArray() : null;
        var cases = root.GetProperty("cases").EnumerateArray().Select(c => new TokenizerCase(
            c.GetProperty("text").GetString()!,
            c.GetProperty("ids").EnumerateArray().Select(x => x.GetInt32()).ToArray(),
            Longs(c, "tokenized77"),
            Longs(c, "tokenized77_truncate"))).ToArray();
        return (root.GetProperty("vocab_size").GetInt32(), root.GetProperty("sot").GetInt32(), root.GetProperty("eot").GetInt32(), cases);
    }

    public static long[] Row(long[,] array, int row) =>
        Enumerable.Range(0, array.GetLength(1)).Select(k => array[row, k]).ToArray();
}
