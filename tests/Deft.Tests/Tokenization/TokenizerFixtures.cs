using System.Text.Json;
using Deft.Clip.Tokenization;

namespace Deft.Tests.Tokenization;

/// <summary>A reference case of tokenizer_cases*.json (computed by tools/fixtures' Python re-statement of OpenAI's tokenizer).</summary>
internal sealed record TokenizerCase(string Text, int[] Ids, long[]? Tokenized77, long[]? Tokenized77Truncated)
{
    public override string ToString() => Text.Length <= 40 ? Text : Text[..40] + "…";
}

internal sealed record TokenizerReference(int VocabSize, int Sot, int Eot, int MergeCount, TokenizerCase[] Cases);

/// <summary>
/// The tokenizers under test, by source: CLIP's full vocabulary read from the gz file (<c>gz</c>), the copy built into
/// the library (<c>builtin</c>), the same saved in Hugging Face form and read back (<c>hf-saved</c>), and the tiny
/// CLIP's reduced Hugging Face vocabulary (<c>hf-tiny</c>), each with its reference cases.
/// </summary>
internal static class TokenizerFixtures
{
    public static readonly string[] Sources = ["gz", "builtin", "hf-saved", "hf-tiny"];

    private static readonly Lazy<ClipTokenizer> OpenAi = new(() => ClipTokenizer.FromBpeFile(Fixtures.OpenAiVocabularyFile));
    private static readonly Lazy<ClipTokenizer> SavedAsHuggingFace = new(() =>
    {
        var dir = Directory.CreateTempSubdirectory("deft-tok-hf-").FullName;
        try
        {
            OpenAi.Value.SaveHuggingFace(dir);
            return ClipTokenizer.FromHuggingFace(dir);
        }
        finally { Directory.Delete(dir, recursive: true); }
    });
    private static readonly Lazy<ClipTokenizer> Tiny = new(Fixtures.TinyTokenizer);
    private static readonly Lazy<TokenizerReference> Full = new(() => ReadCases("tokenizer_cases.json", BpeVocabularyFiles.ClipMergeCount));
    private static readonly Lazy<TokenizerReference> Reduced = new(() => ReadCases("tokenizer_cases-tiny.json", 1000));

    public static string TinyHuggingFaceDirectory => Fixtures.TinyVocabulary;

    /// <summary>CLIP's full vocabulary, loaded from bpe_simple_vocab_16e6.txt.gz.</summary>
    public static ClipTokenizer FromGz => OpenAi.Value;

    /// <summary>CLIP's full vocabulary in Hugging Face form (vocab.json + merges.txt written by SaveHuggingFace, read back).</summary>
    public static ClipTokenizer FromHf => SavedAsHuggingFace.Value;

    public static ClipTokenizer Get(string source) => source switch
    {
        "gz" => FromGz,
        "builtin" => ClipTokenizer.OpenAi(),
        "hf-saved" => FromHf,
        "hf-tiny" => Tiny.Value,
        _ => throw new ArgumentOutOfRangeException(nameof(source), source, "valid: " + string.Join(", ", Sources)),
    };

    /// <summary>The reference for <paramref name="source"/>: the tiny vocabulary's cases for hf-tiny, CLIP's for the others.</summary>
    public static TokenizerReference ExpectedFor(string source) => source == "hf-tiny" ? Reduced.Value : Full.Value;

    /// <summary>CLIP's full-vocabulary cases.</summary>
    public static IEnumerable<TokenizerCase> Cases => Full.Value.Cases;

    private static TokenizerReference ReadCases(string file, int mergeCount)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Fixtures.Path(file)));
        var root = doc.RootElement;
        static long[]? Longs(JsonElement e, string name) =>
            e.TryGetProperty(name, out var v) ? v.EnumerateArray().Select(x => x.GetInt64()).ToArray() : null;
        var cases = root.GetProperty("cases").EnumerateArray().Select(c => new TokenizerCase(
            c.GetProperty("text").GetString()!,
            c.GetProperty("ids").EnumerateArray().Select(x => x.GetInt32()).ToArray(),
            Longs(c, "tokenized77"),
            Longs(c, "tokenized77_truncate"))).ToArray();
        return new TokenizerReference(root.GetProperty("vocab_size").GetInt32(), root.GetProperty("sot").GetInt32(),
            root.GetProperty("eot").GetInt32(), mergeCount, cases);
    }

    public static long[] Row(long[,] array, int row) =>
        Enumerable.Range(0, array.GetLength(1)).Select(k => array[row, k]).ToArray();
}
