using Deft.Clip.Tokenization;
using static TorchSharp.torch;

namespace Deft.Tests.Tokenization;

/// <summary>Every reference case, from every vocabulary source (see <see cref="TokenizerFixtures.Sources"/>).</summary>
public class ClipTokenizerReferenceTests
{
    public static TheoryData<string, int> CaseIndices()
    {
        var data = new TheoryData<string, int>();
        foreach (var source in TokenizerFixtures.Sources)
            for (var i = 0; i < TokenizerFixtures.ExpectedFor(source).Cases.Length; i++) data.Add(source, i);
        return data;
    }

    [Theory]
    [InlineData("gz")]
    [InlineData("builtin")]
    [InlineData("hf-saved")]
    [InlineData("hf-tiny")]
    public void Vocabulary_matches_clip(string source)
    {
        var tokenizer = TokenizerFixtures.Get(source);
        var expected = TokenizerFixtures.ExpectedFor(source);
        Assert.Equal(expected.VocabSize, tokenizer.VocabSize);
        Assert.Equal(expected.Sot, tokenizer.SotToken);
        Assert.Equal(expected.Eot, tokenizer.EotToken);
        Assert.Equal(expected.MergeCount, tokenizer.MergeCount);
    }

    [Theory]
    [MemberData(nameof(CaseIndices))]
    public void Encode_and_tokenize_match_the_reference(string source, int index)
    {
        var tokenizer = TokenizerFixtures.Get(source);
        var reference = TokenizerFixtures.ExpectedFor(source).Cases[index];

        Assert.Equal(reference.Ids, tokenizer.Encode(reference.Text));
        if (reference.Tokenized77 is { } padded)
            Assert.Equal(padded, TokenizerFixtures.Row(tokenizer.TokenizeToArray([reference.Text]), 0));
        if (reference.Tokenized77Truncated is { } truncated)
        {
            Assert.Equal(truncated, TokenizerFixtures.Row(tokenizer.TokenizeToArray([reference.Text], truncate: true), 0));
            Assert.Throws<DeftException>(() => tokenizer.TokenizeToArray([reference.Text]));
        }
    }

    [Fact]
    public void All_reference_cases_tokenize_together_as_a_tensor()
    {
        var cases = TokenizerFixtures.Cases.ToArray();
        using var tensor = TokenizerFixtures.FromGz.TokenizeToTensor(cases.Select(c => c.Text), truncate: true);
        Assert.Equal(ScalarType.Int64, tensor.dtype);
        Assert.Equal([cases.Length, 77L], tensor.shape);
        var values = tensor.data<long>().ToArray();
        for (var i = 0; i < cases.Length; i++)
            Assert.Equal(cases[i].Tokenized77 ?? cases[i].Tokenized77Truncated, values.AsSpan(i * 77, 77).ToArray());
    }

    [Fact]
    public void Saving_the_gz_vocabulary_in_hugging_face_form_reproduces_the_hugging_face_files()
    {
        // The tiny CLIP's HF files were written by the Python generator from CLIP's first 1000 merges: the saved full
        // vocabulary must agree with them on every merge and every token they share (all but the two specials).
        var dir = Directory.CreateTempSubdirectory("deft-tok-").FullName;
        try
        {
            TokenizerFixtures.FromGz.SaveHuggingFace(dir);
            var tinyMerges = File.ReadAllLines(Path.Combine(TokenizerFixtures.TinyHuggingFaceDirectory, "merges.txt"));
            var savedMerges = File.ReadAllLines(Path.Combine(dir, "merges.txt"));
            Assert.Equal(1 + 48894, savedMerges.Length);
            Assert.Equal(tinyMerges, savedMerges.Take(tinyMerges.Length));

            static Dictionary<string, int> Vocab(string path) =>
                System.Text.Json.JsonSerializer.Deserialize<Dictionary<string, int>>(File.ReadAllText(path))!;
            var tiny = Vocab(Path.Combine(TokenizerFixtures.TinyHuggingFaceDirectory, "vocab.json"));
            var saved = Vocab(Path.Combine(dir, "vocab.json"));
            Assert.Equal(49408, saved.Count);
            var shared = tiny.Where(kv => !kv.Key.StartsWith("<|", StringComparison.Ordinal)).ToArray();
            Assert.Equal(1512, shared.Length);
            foreach (var (token, id) in shared) Assert.Equal(id, saved[token]);
            Assert.Equal(49406, saved["<|startoftext|>"]);
            Assert.Equal(49407, saved["<|endoftext|>"]);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
