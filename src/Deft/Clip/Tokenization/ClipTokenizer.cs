using System.Collections.Concurrent;
using System.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace Deft.Clip.Tokenization;

/// <summary>
/// CLIP's byte-level BPE tokenizer, reproducing OpenAI's <c>simple_tokenizer.py</c> id for id (without ftfy, which
/// the reference tokenizer does not need): HTML unescaping, whitespace collapsing, Python lower-casing, CLIP's
/// word splitter, byte-to-unicode mapping, <c>&lt;/w&gt;</c> end-of-word marker and ranked merges.
/// </summary>
/// <remarks>
/// Written here rather than on Microsoft.ML.Tokenizers' <c>BpeTokenizer</c>: that class reproduces CLIP's ids only
/// once its pre-tokenizer is replaced by one that passes each word whole (its default splits "'s" and the byte
/// characters of "café", so 5 of the 21 reference cases came out wrong), and the text clean-up, word splitting,
/// byte mapping, special tokens, decoding and file validation with line numbers all had to be written here anyway.
/// What was left for the library was the merge loop below, which is a few lines; OpenAI's own loop (merge every
/// occurrence of the best-ranked pair, left to right) is kept literally instead of HF's priority-queue variant.
/// </remarks>
public sealed class ClipTokenizer
{
    /// <summary>CLIP's text context: 77 tokens including the start and end tokens.</summary>
    public const int DefaultContextLength = 77;

    /// <summary>Words whose ids are remembered; the cache is emptied when it grows past this.</summary>
    private const int CacheLimit = 200_000;

    private readonly string?[] _tokens;
    private readonly Dictionary<string, int> _ids;
    private readonly Dictionary<long, (int Rank, int Result)> _mergeRules;
    private readonly List<(string First, string Second)> _merges;
    private readonly int[] _byteIds = new int[256];
    private readonly int[] _byteEndOfWordIds = new int[256];
    private readonly ConcurrentDictionary<string, int[]> _cache = new(StringComparer.Ordinal);

    private ClipTokenizer(BpeVocabulary vocabulary, string vocabSource)
    {
        _tokens = [.. vocabulary.Tokens];
        // Python's dict(zip(vocab, range(...))): a token listed twice keeps its last id.
        _ids = new Dictionary<string, int>(_tokens.Length, StringComparer.Ordinal);
        for (var id = 0; id < _tokens.Length; id++)
            if (_tokens[id] is { } token) _ids[token] = id;

        for (var b = 0; b < 256; b++)
        {
            var c = ByteLevel.ByteToChar[b].ToString();
            _byteIds[b] = RequireToken(c, vocabSource);
            _byteEndOfWordIds[b] = RequireToken(c + BpeVocabularyFiles.EndOfWord, vocabSource);
        }
        SotToken = RequireToken(ClipPreTokenizer.StartOfText, vocabSource);
        EotToken = RequireToken(ClipPreTokenizer.EndOfText, vocabSource);
        VocabSize = _tokens.Length;
        if (EotToken != VocabSize - 1)
            throw new DeftException($"{vocabSource}: {ClipPreTokenizer.EndOfText} has id {EotToken} but the largest id is {VocabSize - 1}. " +
                                    "CLIP's text encoder finds the end token as the largest id in each row, so it must be the last token.");

        _mergeRules = new Dictionary<long, (int, int)>(vocabulary.Merges.Count);
        _merges = new List<(string, string)>(vocabulary.Merges.Count);
        for (var rank = 0; rank < vocabulary.Merges.Count; rank++)
        {
            var (first, second, line) = vocabulary.Merges[rank];
            int Known(string token) => _ids.TryGetValue(token, out var id) ? id
                : throw new DeftException($"{vocabulary.Source}: line {line}: the merge '{BpeVocabularyFiles.Clip(first)} " +
                                          $"{BpeVocabularyFiles.Clip(second)}' uses or makes '{BpeVocabularyFiles.Clip(token)}', which is not in the vocabulary. " +
                                          "The merges and the vocabulary do not belong together.");
            // Python's dict(zip(merges, range(...))): a pair listed twice keeps its last rank.
            _mergeRules[PairKey(Known(first), Known(second))] = (rank, Known(first + second));
            _merges.Add((first, second));
        }
        _cache[ClipPreTokenizer.StartOfText] = [SotToken];
        _cache[ClipPreTokenizer.EndOfText] = [EotToken];
    }

    /// <summary>Id of <c>&lt;|startoftext|&gt;</c> (49406 for CLIP).</summary>
    public int SotToken { get; }

    /// <summary>Id of <c>&lt;|endoftext|&gt;</c> (49407 for CLIP), always the largest id.</summary>
    public int EotToken { get; }

    /// <summary>Number of ids, i.e. rows of the token embedding (49408 for CLIP).</summary>
    public int VocabSize { get; }

    /// <summary>Number of merge rules.</summary>
    public int MergeCount => _merges.Count;

    /// <summary>Loads OpenAI's <c>bpe_simple_vocab_16e6.txt.gz</c>, using its first 48894 merges as CLIP does.</summary>
    public static ClipTokenizer FromBpeFile(string path) => new(BpeVocabularyFiles.ReadOpenAiMerges(path), path);

    /// <summary>
    /// CLIP's own tokenizer (the <c>bpe_simple_vocab_16e6.txt.gz</c> embedded in the library, 49,408 tokens), read
    /// once per process; one instance serves every caller (its vocabulary is fixed and its word cache concurrent).
    /// </summary>
    public static ClipTokenizer OpenAi() => _openAi.Value;

    /// <summary>How <see cref="OpenAi"/>'s vocabulary is named in messages and run metadata.</summary>
    public const string OpenAiSource = "built-in " + BpeVocabularyFiles.EmbeddedOpenAiMerges;

    private static readonly Lazy<ClipTokenizer> _openAi = new(() => new ClipTokenizer(BpeVocabularyFiles.ReadEmbeddedOpenAiMerges(), OpenAiSource));

    /// <summary>Loads a Hugging Face tokenizer folder (<c>vocab.json</c> + <c>merges.txt</c>), e.g. a CLIPModel checkpoint.</summary>
    public static ClipTokenizer FromHuggingFace(string directory) =>
        new(BpeVocabularyFiles.ReadHuggingFace(directory), Path.Combine(directory, BpeVocabularyFiles.VocabFileName));

    /// <summary>
    /// A small vocabulary for a model pretrained here: the 256 byte tokens (alone and with <c>&lt;/w&gt;</c>), so any
    /// text still encodes, plus BPE merges learned from the words of <paramref name="texts"/> (cleaned and split as
    /// CLIP does), then the start and end tokens as the last two ids. With the default minimum pair frequency of 1
    /// every corpus word becomes a single token once the vocabulary is large enough.
    /// </summary>
    /// <param name="texts">Captions or class names.</param>
    /// <param name="maxVocabSize">Upper bound on <see cref="VocabSize"/>; at least 514 (bytes, bytes with &lt;/w&gt;, specials).</param>
    /// <param name="minPairFrequency">A pair is merged only if it occurs at least this often in the corpus.</param>
    public static ClipTokenizer BuildFromCorpus(IEnumerable<string> texts, int maxVocabSize = 8192, int minPairFrequency = 1)
    {
        ArgumentNullException.ThrowIfNull(texts);
        const int baseSize = 2 * 256 + 2;
        if (maxVocabSize < baseSize)
            throw new ArgumentOutOfRangeException(nameof(maxVocabSize), maxVocabSize, $"must be at least {baseSize}: 256 byte tokens, the same with </w>, and the two special tokens.");
        if (minPairFrequency < 1)
            throw new ArgumentOutOfRangeException(nameof(minPairFrequency), minPairFrequency, "must be at least 1.");

        var wordCounts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var text in texts)
            foreach (var piece in ClipPreTokenizer.Split(ClipTextNormalizer.Normalize(text)))
            {
                if (piece is ClipPreTokenizer.StartOfText or ClipPreTokenizer.EndOfText) continue;
                var word = ByteLevel.Encode(piece);
                wordCounts[word] = wordCounts.GetValueOrDefault(word) + 1;
            }

        var merges = BpeTrainer.LearnMerges(wordCounts, maxVocabSize - baseSize, minPairFrequency);
        var tokens = new List<string?>(baseSize + merges.Count);
        foreach (var b in ByteLevel.VocabularyOrder) tokens.Add(ByteLevel.ByteToChar[b].ToString());
        foreach (var b in ByteLevel.VocabularyOrder) tokens.Add(ByteLevel.ByteToChar[b] + BpeVocabularyFiles.EndOfWord);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (first, second) in merges)
            if (seen.Add(first + second)) tokens.Add(first + second);
        tokens.Add(ClipPreTokenizer.StartOfText);
        tokens.Add(ClipPreTokenizer.EndOfText);
        var vocabulary = new BpeVocabulary(tokens, merges.Select((m, i) => new BpeMerge(m.First, m.Second, i + 2)).ToList(), "corpus");
        return new ClipTokenizer(vocabulary, "corpus");
    }

    /// <summary>
    /// Writes <c>vocab.json</c> and <c>merges.txt</c> into <paramref name="directory"/> in Hugging Face's format, so
    /// <see cref="FromHuggingFace"/> (and Hugging Face's CLIPTokenizer) load the same tokenizer back.
    /// </summary>
    public void SaveHuggingFace(string directory)
    {
        var tokens = new string[_tokens.Length];
        for (var id = 0; id < _tokens.Length; id++)
        {
            if (_tokens[id] is not { } token || _ids[token] != id)
                throw new InvalidOperationException($"Id {id} has no token of its own (a gap or a repeated token), which vocab.json cannot express.");
            tokens[id] = token;
        }
        BpeVocabularyFiles.WriteHuggingFace(directory, tokens, _merges);
    }

    /// <summary>BPE ids of <paramref name="text"/>, without start and end tokens.</summary>
    public int[] Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>();
        foreach (var piece in ClipPreTokenizer.Split(ClipTextNormalizer.Normalize(text)))
            ids.AddRange(EncodeWord(piece));
        return [.. ids];
    }

    /// <summary>
    /// Text of <paramref name="ids"/> as OpenAI decodes it: tokens joined, bytes decoded as UTF-8 (invalid sequences
    /// become U+FFFD), each <c>&lt;/w&gt;</c> turned into a space. Special and padding ids are decoded like any other.
    /// </summary>
    public string Decode(IEnumerable<int> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var bytes = new List<byte>();
        Span<byte> utf8 = stackalloc byte[4];
        foreach (var id in ids)
        {
            if ((uint)id >= (uint)_tokens.Length || _tokens[id] is not { } token)
                throw new ArgumentOutOfRangeException(nameof(ids), id, $"is not a token id (valid: 0 .. {_tokens.Length - 1}).");
            foreach (var c in token)
            {
                if (ByteLevel.TryGetByte(c, out var b)) bytes.Add(b);
                else bytes.AddRange(utf8[..Encoding.UTF8.GetBytes([c], utf8)]);
            }
        }
        return Encoding.UTF8.GetString([.. bytes]).Replace(BpeVocabularyFiles.EndOfWord, " ");
    }

    /// <summary>
    /// Rows of <c>[SOT] + ids + [EOT]</c> padded with zeros to <paramref name="contextLength"/>, as OpenAI's
    /// <c>clip.tokenize</c>. A text that does not fit is an error unless <paramref name="truncate"/>, which keeps the
    /// first <paramref name="contextLength"/> ids and makes the last one EOT.
    /// </summary>
    public long[,] TokenizeToArray(IEnumerable<string> texts, int contextLength = DefaultContextLength, bool truncate = false)
    {
        ArgumentNullException.ThrowIfNull(texts);
        if (contextLength < 2)
            throw new ArgumentOutOfRangeException(nameof(contextLength), contextLength, "must be at least 2 (start and end tokens).");
        var list = texts as IReadOnlyList<string> ?? [.. texts];
        var result = new long[list.Count, contextLength];
        for (var row = 0; row < list.Count; row++)
        {
            var ids = Encode(list[row]);
            var total = ids.Length + 2;
            if (total > contextLength && !truncate)
                throw new DeftException($"Text #{row} \"{BpeVocabularyFiles.Clip(list[row])}\" has {total} tokens including start and end, " +
                                        $"more than the context length {contextLength}. Shorten it or tokenize with truncation.");
            result[row, 0] = SotToken;
            var kept = Math.Min(ids.Length, contextLength - 2);
            for (var k = 0; k < kept; k++) result[row, k + 1] = ids[k];
            // When truncating this is OpenAI's tokens[:context_length] with the last one replaced by EOT.
            result[row, Math.Min(kept + 1, contextLength - 1)] = EotToken;
        }
        return result;
    }

    /// <summary><see cref="TokenizeToArray"/> as an int64 tensor of shape [N, contextLength] on the CPU.</summary>
    public Tensor TokenizeToTensor(IEnumerable<string> texts, int contextLength = DefaultContextLength, bool truncate = false)
    {
        var array = TokenizeToArray(texts, contextLength, truncate);
        var flat = new long[array.Length];
        Buffer.BlockCopy(array, 0, flat, 0, flat.Length * sizeof(long));
        return torch.tensor(flat, [array.GetLength(0), array.GetLength(1)], dtype: ScalarType.Int64);
    }

    /// <summary>
    /// Position of the end token in a tokenized row: the arg-max, as CLIP's text encoder pools it (the end token has
    /// the largest id); the first position on ties.
    /// </summary>
    public static int EotIndex(ReadOnlySpan<long> row)
    {
        if (row.IsEmpty) throw new ArgumentException("The row is empty.", nameof(row));
        var best = 0;
        for (var k = 1; k < row.Length; k++) if (row[k] > row[best]) best = k;
        return best;
    }

    /// <summary><see cref="EotIndex(ReadOnlySpan{long})"/> of each row of <paramref name="tokens"/>.</summary>
    public static int[] EotIndices(long[,] tokens)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        var width = tokens.GetLength(1);
        var indices = new int[tokens.GetLength(0)];
        var row = new long[width];
        for (var r = 0; r < indices.Length; r++)
        {
            for (var k = 0; k < width; k++) row[k] = tokens[r, k];
            indices[r] = EotIndex(row);
        }
        return indices;
    }

    private int[] EncodeWord(string piece)
    {
        if (_cache.TryGetValue(piece, out var cached)) return cached;
        var ids = Bpe(piece);
        if (_cache.Count >= CacheLimit)
        {
            _cache.Clear();
            _cache[ClipPreTokenizer.StartOfText] = [SotToken];
            _cache[ClipPreTokenizer.EndOfText] = [EotToken];
        }
        _cache[piece] = ids;
        return ids;
    }

    /// <summary>OpenAI's <c>bpe()</c> on token ids: repeatedly merge every occurrence of the best-ranked pair.</summary>
    private int[] Bpe(string piece)
    {
        var bytes = Encoding.UTF8.GetBytes(piece);
        var word = new int[bytes.Length];
        for (var i = 0; i < bytes.Length - 1; i++) word[i] = _byteIds[bytes[i]];
        word[^1] = _byteEndOfWordIds[bytes[^1]];
        var length = word.Length;
        while (length > 1)
        {
            var bestRank = int.MaxValue;
            int first = -1, second = -1, merged = -1;
            for (var i = 0; i + 1 < length; i++)
            {
                if (_mergeRules.TryGetValue(PairKey(word[i], word[i + 1]), out var rule) && rule.Rank < bestRank)
                    (bestRank, first, second, merged) = (rule.Rank, word[i], word[i + 1], rule.Result);
            }
            if (merged < 0) break;
            var write = 0;
            for (var read = 0; read < length;)
            {
                if (read + 1 < length && word[read] == first && word[read + 1] == second)
                {
                    word[write++] = merged;
                    read += 2;
                }
                else word[write++] = word[read++];
            }
            length = write;
        }
        return word[..length];
    }

    private int RequireToken(string token, string source) =>
        _ids.TryGetValue(token, out var id) ? id
            : throw new DeftException($"{source}: the vocabulary has no token '{token}'. A CLIP vocabulary holds all 256 byte tokens " +
                                      $"(alone and with </w>) and {ClipPreTokenizer.StartOfText} / {ClipPreTokenizer.EndOfText}.");

    private static long PairKey(int first, int second) => ((long)first << 32) | (uint)second;
}
