using Deft.Clip.Tokenization;
using static TorchSharp.torch;

namespace Deft.Tests.Tokenization;

/// <summary>Every reference case of tokenizer_cases.json, from both vocabulary formats.</summary>
public class ClipTokenizerReferenceTests
{
    public static TheoryData<string, int> CaseIndices()
    {
        var data = new TheoryData<string, int>();
        foreach (var source in new[] { "gz", "hf" })
            for (var i = 0; i < TokenizerFixtures.Expected.Cases.Length; i++) data.Add(source, i);
        return data;
    }

    [Theory]
    [InlineData("gz")]
    [InlineData("hf")]
    public void Vocabulary_matches_clip(string source)
    {
        var tokenizer = TokenizerFixtures.Get(source);
        var (vocabSize, sot, eot, _) = TokenizerFixtures.Expected;
        Assert.Equal(vocabSize, tokenizer.VocabSize);
        Assert.Equal(sot, tokenizer.SotToken);
        Assert.Equal(eot, tokenizer.EotToken);
        Assert.Equal(48894, tokenizer.MergeCount);
    }

    [Theory]
    [MemberData(nameof(CaseIndices))]
    public void Encode_and_tokenize_match_the_reference(string source, int index)
    {
        var tokenizer = TokenizerFixtures.Get(source);
        var reference = TokenizerFixtures.Expected.Cases[index];

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
        var dir = Directory.CreateTempSubdirectory("deft-tok-").FullName;
        try
        {
            TokenizerFixtures.FromGz.SaveHuggingFace(dir);
            var expectedMerges = File.ReadAllLines(Path.Combine(TokenizerFixtures.HuggingFaceDirectory, "merges.txt"));
            Assert.Equal(expectedMerges, File.ReadAllLines(Path.Combine(dir, "merges.txt")));

            static Dictionary<string, int> Vocab(string path) =>
                System.Text.Json.JsonSerializer.Deserialize<Dictionary<string, int>>(File.ReadAllText(path))!;
            Assert.Equal(Vocab(Path.Combine(TokenizerFixtures.HuggingFaceDirectory, "vocab.json")), Vocab(Path.Combine(dir, "vocab.json")));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
