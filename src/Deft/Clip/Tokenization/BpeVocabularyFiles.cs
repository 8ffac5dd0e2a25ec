using System.IO.Compression;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Deft.Clip.Tokenization;

/// <summary>A merge rule and where it came from, so that errors found later can still name the line.</summary>
internal readonly record struct BpeMerge(string First, string Second, int Line);

/// <summary>Tokens by id, the ranked merges, and the file they were read from.</summary>
internal sealed record BpeVocabulary(IReadOnlyList<string?> Tokens, IReadOnlyList<BpeMerge> Merges, string Source);

/// <summary>Reads and writes the two vocabulary formats: OpenAI's merges file and Hugging Face's vocab.json + merges.txt.</summary>
internal static class BpeVocabularyFiles
{
    /// <summary>Merges OpenAI's tokenizer uses: <c>49152 - 256 - 2</c>, i.e. lines 1 .. 48894 after the header.</summary>
    public const int ClipMergeCount = 49152 - 256 - 2;

    public const string EndOfWord = "</w>";
    public const string VocabFileName = "vocab.json";
    public const string MergesFileName = "merges.txt";
    private const string MergesHeader = "#version: 0.2";

    /// <summary>
    /// OpenAI's <c>bpe_simple_vocab_16e6.txt.gz</c> (or the same text uncompressed). The vocabulary is built as
    /// <c>simple_tokenizer.py</c> builds it: the 256 byte characters, the same with <c>&lt;/w&gt;</c>, one token per
    /// merge, then the two special tokens.
    /// </summary>
    public static BpeVocabulary ReadOpenAiMerges(string path) => ParseOpenAiMerges(ReadText(path), path);

    /// <summary>Resource name of the vocabulary embedded in the library.</summary>
    public const string EmbeddedOpenAiMerges = "bpe_simple_vocab_16e6.txt.gz";

    /// <summary>CLIP's own <c>bpe_simple_vocab_16e6.txt.gz</c>, embedded in the library.</summary>
    public static BpeVocabulary ReadEmbeddedOpenAiMerges()
    {
        var name = $"built-in {EmbeddedOpenAiMerges}";
        using var stream = typeof(BpeVocabularyFiles).Assembly.GetManifestResourceStream("Deft." + EmbeddedOpenAiMerges)
            ?? throw new DeftException($"The {name} is missing from the Deft assembly (a broken build).");
        return ParseOpenAiMerges(ReadText(stream, name), name);
    }

    private static BpeVocabulary ParseOpenAiMerges(string text, string path)
    {
        var lines = text.Split('\n');
        if (!lines[0].Contains("#version", StringComparison.Ordinal))
            throw new DeftException($"{path}: line 1 is not a BPE merges header (expected '...#version: 0.2', found '{Clip(lines[0])}'). " +
                                    "Pass CLIP's bpe_simple_vocab_16e6.txt.gz.");
        if (lines.Length - 1 < ClipMergeCount)
            throw new DeftException($"{path}: has {lines.Length - 1} merge lines after the header, CLIP's vocabulary needs " +
                                    $"{ClipMergeCount}. The file is truncated or not bpe_simple_vocab_16e6.txt.gz.");

        var tokens = new List<string?>(ClipMergeCount + 514);
        foreach (var b in ByteLevel.VocabularyOrder) tokens.Add(ByteLevel.ByteToChar[b].ToString());
        foreach (var b in ByteLevel.VocabularyOrder) tokens.Add(ByteLevel.ByteToChar[b] + EndOfWord);
        var merges = new List<BpeMerge>(ClipMergeCount);
        for (var i = 1; i <= ClipMergeCount; i++)
        {
            // Python's str.split(): any run of whitespace separates, leading and trailing whitespace is ignored.
            var parts = lines[i].Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length != 2)
                throw new DeftException($"{path}: line {i + 1} should hold two tokens separated by a space, found '{Clip(lines[i])}'. " +
                                        "The file is damaged or not a BPE merges file.");
            merges.Add(new BpeMerge(parts[0], parts[1], i + 1));
            tokens.Add(parts[0] + parts[1]);
        }
        tokens.Add(ClipPreTokenizer.StartOfText);
        tokens.Add(ClipPreTokenizer.EndOfText);
        return new BpeVocabulary(tokens, merges, path);
    }

    /// <summary>A Hugging Face tokenizer directory: <c>vocab.json</c> (token → id) and <c>merges.txt</c>.</summary>
    public static BpeVocabulary ReadHuggingFace(string directory)
    {
        if (!Directory.Exists(directory))
            throw new DeftException($"{directory}: no such directory. Pass a Hugging Face tokenizer folder holding {VocabFileName} and {MergesFileName}.");
        var vocabPath = Path.Combine(directory, VocabFileName);
        var mergesPath = Path.Combine(directory, MergesFileName);
        foreach (var required in new[] { vocabPath, mergesPath })
            if (!File.Exists(required))
                throw new DeftException($"{required}: not found. A Hugging Face CLIP tokenizer folder holds {VocabFileName} and {MergesFileName}.");

        var tokens = ReadVocabJson(vocabPath);
        var lines = ReadText(mergesPath).Split('\n');
        var merges = new List<BpeMerge>(lines.Length);
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i].TrimEnd('\r');
            if (line.Length == 0 || (i == 0 && line.StartsWith("#version", StringComparison.Ordinal))) continue;
            var space = line.IndexOf(' ');
            if (space <= 0 || space == line.Length - 1 || line.IndexOf(' ', space + 1) >= 0)
                throw new DeftException($"{mergesPath}: line {i + 1} should hold two tokens separated by one space, found '{Clip(line)}'. " +
                                        "The file is damaged or not a BPE merges.txt.");
            merges.Add(new BpeMerge(line[..space], line[(space + 1)..], i + 1));
        }
        return new BpeVocabulary(tokens, merges, mergesPath);
    }

    /// <summary>Writes <c>vocab.json</c> and <c>merges.txt</c> as Hugging Face's CLIPTokenizer saves them.</summary>
    public static void WriteHuggingFace(string directory, IReadOnlyList<string> tokens, IEnumerable<(string First, string Second)> merges)
    {
        Directory.CreateDirectory(directory);
        IO.AtomicFile.Write(Path.Combine(directory, VocabFileName), tmp =>
        {
            using var stream = File.Create(tmp);
            using var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
            json.WriteStartObject();
            for (var id = 0; id < tokens.Count; id++) json.WriteNumber(tokens[id], id);
            json.WriteEndObject();
        });
        var text = new StringBuilder(MergesHeader).Append('\n');
        foreach (var (first, second) in merges) text.Append(first).Append(' ').Append(second).Append('\n');
        IO.AtomicFile.WriteAllText(Path.Combine(directory, MergesFileName), text.ToString());
    }

    /// <summary>Reads a JSON object of token → id, reporting the line (and token) of anything that is not.</summary>
    private static string?[] ReadVocabJson(string path)
    {
        var bytes = File.ReadAllBytes(path);
        var lineStarts = new List<int> { 0 };
        for (var i = 0; i < bytes.Length; i++) if (bytes[i] == '\n') lineStarts.Add(i + 1);
        int LineOf(long offset)
        {
            var k = lineStarts.BinarySearch((int)offset);
            return (k >= 0 ? k : ~k - 1) + 1;
        }

        var byId = new Dictionary<int, string>();
        var byToken = new HashSet<string>(StringComparer.Ordinal);
        var reader = new Utf8JsonReader(bytes, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Disallow });
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
                throw new DeftException($"{path}: line {LineOf(reader.TokenStartIndex)}: expected a JSON object mapping tokens to ids. " +
                                        "Pass a Hugging Face vocab.json.");
            while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
            {
                var token = reader.GetString()!;
                var line = LineOf(reader.TokenStartIndex);
                reader.Read();
                if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt32(out var id) || id < 0)
                    throw new DeftException($"{path}: line {line}: the id of token \"{Clip(token)}\" is not a non-negative integer. " +
                                            "A vocab.json maps each token to its integer id.");
                if (!byToken.Add(token))
                    throw new DeftException($"{path}: line {line}: token \"{Clip(token)}\" appears twice.");
                if (!byId.TryAdd(id, token))
                    throw new DeftException($"{path}: line {line}: id {id} is given to both \"{Clip(byId[id])}\" and \"{Clip(token)}\".");
            }
            if (reader.TokenType != JsonTokenType.EndObject || reader.Read())
                throw new DeftException($"{path}: line {LineOf(reader.TokenStartIndex)}: unexpected content after the vocabulary object.");
        }
        catch (JsonException e)
        {
            throw new DeftException($"{path}: line {(e.LineNumber ?? 0) + 1}: not valid JSON ({e.Message}). Pass a Hugging Face vocab.json.", e);
        }
        if (byId.Count == 0)
            throw new DeftException($"{path}: the vocabulary is empty. Pass a Hugging Face vocab.json.");
        var tokens = new string?[byId.Keys.Max() + 1];
        foreach (var (id, token) in byId) tokens[id] = token;
        return tokens;
    }

    /// <summary>The file as strict UTF-8 text; gzip-compressed files are recognised by their magic number.</summary>
    private static string ReadText(string path)
    {
        if (!File.Exists(path)) throw new DeftException($"{path}: not found.");
        using var file = File.OpenRead(path);
        return ReadText(file, path);
    }

    /// <summary>A seekable stream as strict UTF-8 text, gunzipped when it starts with gzip's magic number.</summary>
    private static string ReadText(Stream file, string path)
    {
        try
        {
            Span<byte> magic = stackalloc byte[2];
            var isGzip = file.Read(magic) == 2 && magic[0] == 0x1F && magic[1] == 0x8B;
            file.Position = 0;
            using var source = isGzip ? new GZipStream(file, CompressionMode.Decompress) : (Stream)file;
            using var buffer = new MemoryStream();
            source.CopyTo(buffer);
            var bytes = buffer.GetBuffer().AsSpan(0, (int)buffer.Length);
            try
            {
                return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes);
            }
            catch (DecoderFallbackException e)
            {
                var at = Math.Clamp(e.Index, 0, bytes.Length);
                var line = bytes[..at].Count((byte)'\n') + 1;
                throw new DeftException($"{path}: line {line} is not UTF-8 text; this is not a vocabulary file.", e);
            }
        }
        catch (InvalidDataException e)
        {
            throw new DeftException($"{path}: the gzip data is damaged ({e.Message}).", e);
        }
    }

    /// <summary>A string shortened for an error message.</summary>
    internal static string Clip(string s, int max = 60) => s.Length <= max ? s : s[..max] + "…";
}
