using System.IO.Compression;
using System.Text;
using Deft.Clip.Tokenization;

namespace Deft.Tests.Tokenization;

/// <summary>Files that are not vocabularies fail with a message naming the file and the line.</summary>
public sealed class VocabularyFileErrorTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("deft-tok-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string WriteGz(string name, string text)
    {
        var path = Path.Combine(_dir, name);
        using var file = File.Create(path);
        using var gz = new GZipStream(file, CompressionLevel.Fastest);
        gz.Write(Encoding.UTF8.GetBytes(text));
        return path;
    }

    /// <summary>The first lines of the real merges file (header + CLIP's merges), with one line replaced.</summary>
    private string ClipMergesWithLine(int lineNumber, string replacement)
    {
        string[] lines;
        using (var gz = new GZipStream(File.OpenRead(Fixtures.OpenAiVocabularyFile), CompressionMode.Decompress))
        using (var reader = new StreamReader(gz))
            lines = Enumerable.Range(0, 48895).Select(_ => reader.ReadLine()!).ToArray();
        lines[lineNumber - 1] = replacement;
        return WriteGz("edited.txt.gz", string.Join('\n', lines) + "\n");
    }

    private static DeftException FailsNaming(Func<ClipTokenizer> load, string file, string? line)
    {
        var error = Assert.Throws<DeftException>(() => load());
        Assert.Contains(file, error.Message);
        if (line is not null) Assert.Contains(line, error.Message);
        return error;
    }

    [Fact]
    public void Gz_with_damaged_or_non_text_content()
    {
        var damaged = Path.Combine(_dir, "damaged.gz");
        File.WriteAllBytes(damaged, [0x1F, 0x8B, 8, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
        FailsNaming(() => ClipTokenizer.FromBpeFile(damaged), damaged, null);

        var binary = Path.Combine(_dir, "binary.bin");
        File.WriteAllBytes(binary, Enumerable.Range(0, 256).Select(b => (byte)b).ToArray());
        FailsNaming(() => ClipTokenizer.FromBpeFile(binary), binary, "line 2"); // 0x80 comes after the '\n' at 10

        var missing = Path.Combine(_dir, "missing.gz");
        FailsNaming(() => ClipTokenizer.FromBpeFile(missing), missing, "not found");
    }

    [Fact]
    public void Gz_with_a_wrong_header_or_too_few_merges()
    {
        var noHeader = WriteGz("noheader.gz", "i n\nt h\n");
        FailsNaming(() => ClipTokenizer.FromBpeFile(noHeader), noHeader, "line 1");

        var short_ = WriteGz("short.gz", "\"bpe_simple_vocab_16e6.txt#version: 0.2\ni n\nt h\na n\n");
        var error = FailsNaming(() => ClipTokenizer.FromBpeFile(short_), short_, "48894");
        Assert.Contains("has 4 merge lines", error.Message); // three merges and the empty line after the last '\n'

        // CLIP's first 1000 merges (the tiny fixture's vocabulary as a gz file): a truncated file is refused, not
        // read as a smaller vocabulary; the tiny CLIP is given its Hugging Face files instead.
        var tiny = Fixtures.Path("bpe-tiny.txt.gz");
        Assert.Contains("has 1001 merge lines", FailsNaming(() => ClipTokenizer.FromBpeFile(tiny), tiny, "48894").Message);
    }

    [Fact]
    public void Gz_with_a_malformed_or_unknown_merge_line()
    {
        var threeTokens = ClipMergesWithLine(100, "a b c");
        FailsNaming(() => ClipTokenizer.FromBpeFile(threeTokens), threeTokens, "line 100");

        var unknown = ClipMergesWithLine(200, "zzzq yy");
        FailsNaming(() => ClipTokenizer.FromBpeFile(unknown), unknown, "line 200");
    }

    /// <summary>A valid small Hugging Face folder, written one entry per line so JSON errors have line numbers.</summary>
    private string SmallHuggingFace(string name, Func<string, string>? editVocab = null, Func<string, string>? editMerges = null)
    {
        var dir = Path.Combine(_dir, name);
        ClipTokenizer.BuildFromCorpus(["cat cat car"]).SaveHuggingFace(dir);
        var vocabPath = Path.Combine(dir, "vocab.json");
        var entries = System.Text.Json.JsonSerializer.Deserialize<Dictionary<string, int>>(File.ReadAllText(vocabPath))!;
        // Line 1 is "{", the token with id k is on line k + 2.
        var vocab = System.Text.Json.JsonSerializer.Serialize(entries, new System.Text.Json.JsonSerializerOptions
        {
            WriteIndented = true,
            Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        });
        File.WriteAllText(vocabPath, editVocab?.Invoke(vocab) ?? vocab);
        var mergesPath = Path.Combine(dir, "merges.txt");
        if (editMerges is not null) File.WriteAllText(mergesPath, editMerges(File.ReadAllText(mergesPath)));
        return dir;
    }

    [Fact]
    public void Hugging_face_folder_that_is_valid_loads()
    {
        var dir = SmallHuggingFace("valid");
        Assert.Equal([513], ClipTokenizer.FromHuggingFace(dir).Encode("cat"));
    }

    [Fact]
    public void Hugging_face_vocab_that_is_not_json_or_not_a_token_map()
    {
        var garbage = SmallHuggingFace("garbage", editVocab: v => v.Replace("\"ca\": 512,", "\"ca\" 512,"));
        FailsNaming(() => ClipTokenizer.FromHuggingFace(garbage), Path.Combine(garbage, "vocab.json"), "line 514");

        var notInt = SmallHuggingFace("notint", editVocab: v => v.Replace("\"ca\": 512", "\"ca\": \"512\""));
        FailsNaming(() => ClipTokenizer.FromHuggingFace(notInt), Path.Combine(notInt, "vocab.json"), "line 514");

        var array = SmallHuggingFace("array", editVocab: _ => "[1, 2, 3]");
        FailsNaming(() => ClipTokenizer.FromHuggingFace(array), Path.Combine(array, "vocab.json"), "line 1");

        var duplicateId = SmallHuggingFace("dupid", editVocab: v => v.Replace("\"ca\": 512", "\"ca\": 511"));
        FailsNaming(() => ClipTokenizer.FromHuggingFace(duplicateId), Path.Combine(duplicateId, "vocab.json"), "line 514");
    }

    [Fact]
    public void Hugging_face_vocab_without_the_special_tokens_or_with_eot_not_last()
    {
        var noEot = SmallHuggingFace("noeot", editVocab: v => v.Replace("\"<|endoftext|>\": 516", "\"<|endoftext|>x\": 516"));
        var error = FailsNaming(() => ClipTokenizer.FromHuggingFace(noEot), Path.Combine(noEot, "vocab.json"), null);
        Assert.Contains("<|endoftext|>", error.Message);

        var swapped = SmallHuggingFace("swapped", editVocab: v => v.Replace("\"<|startoftext|>\": 515", "\"<|startoftext|>\": 999"));
        error = FailsNaming(() => ClipTokenizer.FromHuggingFace(swapped), Path.Combine(swapped, "vocab.json"), null);
        Assert.Contains("largest id", error.Message);
    }

    [Fact]
    public void Hugging_face_merges_with_a_malformed_or_unknown_line()
    {
        var malformed = SmallHuggingFace("malformed", editMerges: m => m.Replace("ca t</w>", "ca  t</w>"));
        FailsNaming(() => ClipTokenizer.FromHuggingFace(malformed), Path.Combine(malformed, "merges.txt"), "line 3");

        var unknown = SmallHuggingFace("unknown", editMerges: m => m + "ca x</w>\n");
        FailsNaming(() => ClipTokenizer.FromHuggingFace(unknown), Path.Combine(unknown, "merges.txt"), "line 5");

        var missing = SmallHuggingFace("missing");
        File.Delete(Path.Combine(missing, "merges.txt"));
        FailsNaming(() => ClipTokenizer.FromHuggingFace(missing), Path.Combine(missing, "merges.txt"), "not found");
    }
}
