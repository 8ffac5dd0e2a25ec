using Deft.Clip;
using Deft.Clip.Tokenization;
using Deft.Detection;
using Deft.Tests.Tokenization;

namespace Deft.Tests.Clip;

/// <summary>
/// CLIP's vocabulary ships inside the library: OpenAI-layout weights load with no vocabulary argument, and a
/// <c>DEFT_*</c> variable that points nowhere is an error naming it, never a silent fall-back.
/// </summary>
public sealed class BuiltInVocabularyTests : IDisposable
{
    private readonly TempDir _dir = new("deft-vocab");

    public void Dispose() => _dir.Dispose();

    /// <summary>A random CLIP with the full 49,408-token embedding, saved as an OpenAI-layout state dict (no tokenizer beside it).</summary>
    private string OpenAiLayoutFile()
    {
        using var model = ClipLoader.Load("random:tiny@4");
        var path = _dir.File("model", "clip.safetensors");
        Safetensors.Save(path, model.NamedClipParameters().Select(p => new KeyValuePair<string, TorchSharp.torch.Tensor>(p.Name, p.Parameter)));
        return path;
    }

    [Fact]
    public void The_built_in_vocabulary_tokenizes_every_reference_case_as_openai_does()
    {
        var tokenizer = ClipTokenizer.OpenAi();
        Assert.Same(tokenizer, ClipTokenizer.OpenAi());
        Assert.Equal(49408, tokenizer.VocabSize);
        foreach (var reference in TokenizerFixtures.Cases)
            Assert.Equal(reference.Ids, tokenizer.Encode(reference.Text));
    }

    [Fact]
    public void OpenAI_layout_weights_load_without_a_vocabulary_argument()
    {
        WithVariable(KnownLocations.ClipVocabularyVariable, null, () =>
        {
            using var bundle = ClipBundle.Load(OpenAiLayoutFile());
            Assert.Equal(ClipTokenizer.OpenAiSource, bundle.TokenizerSource);
            Assert.Equal(TokenizerFixtures.Cases.First().Ids, bundle.Tokenizer.Encode(TokenizerFixtures.Cases.First().Text));
        });
    }

    [Fact]
    public void The_cli_embeds_texts_with_openai_layout_weights_and_no_vocab_flag()
    {
        var model = OpenAiLayoutFile();
        var texts = _dir.WriteText("prompts.txt", "a photo of a cat.\na photo of a dog.\n");
        var output = _dir.File("features.safetensors");
        WithVariable(KnownLocations.ClipVocabularyVariable, null, () =>
            Assert.Equal(0, CliHarness.Run(["embed", "--model", model, "--synthetic", "2", "--texts", texts, "--out", output])));
        var features = Safetensors.Load(output);
        Assert.Equal([2L, 64], features["text_features"].shape);
        foreach (var t in features.Values) t.Dispose();
    }

    [Fact]
    public void A_vocabulary_variable_that_points_nowhere_is_an_error_naming_it()
    {
        var model = OpenAiLayoutFile();
        var missing = _dir.File("no-such-vocab.txt.gz");
        WithVariable(KnownLocations.ClipVocabularyVariable, missing, () =>
        {
            var ex = Assert.Throws<DeftException>(() => ClipBundle.Load(model));
            Assert.Contains(KnownLocations.ClipVocabularyVariable, ex.Message);
            Assert.Contains(missing, ex.Message);
        });
    }

    [Fact]
    public void A_vocabulary_variable_that_is_set_overrides_the_built_in_one()
    {
        // The tiny CLIP's reduced vocabulary is smaller than the random model's embedding, so it loads, and is used.
        var model = OpenAiLayoutFile();
        WithVariable(KnownLocations.ClipVocabularyVariable, Fixtures.TinyVocabulary, () =>
        {
            using var bundle = ClipBundle.Load(model);
            Assert.Equal(Fixtures.TinyTokenizer().VocabSize, bundle.Tokenizer.VocabSize);
        });
    }

    [Fact]
    public void A_fashion_mnist_variable_that_points_nowhere_is_an_error_naming_it()
    {
        var empty = Directory.CreateDirectory(_dir.File("empty", "x")).Parent!.FullName;
        WithVariable(KnownLocations.FashionMnistVariable, empty, () =>
        {
            var ex = Assert.Throws<DeftException>(() => KnownLocations.FashionMnist());
            Assert.Contains(KnownLocations.FashionMnistVariable, ex.Message);
            Assert.Contains(empty, ex.Message);
        });
    }

    [Fact]
    public void A_cache_variable_that_names_a_file_is_an_error_naming_it()
    {
        var file = _dir.WriteText("not-a-dir", "x");
        WithVariable("DEFT_CACHE_DIR", file, () =>
        {
            var ex = Assert.Throws<DeftException>(FeatureCache.DefaultDirectory);
            Assert.Contains("DEFT_CACHE_DIR", ex.Message);
        });
    }

    /// <summary>Runs <paramref name="body"/> with the variable set (or unset), restoring it after (tests run one at a time).</summary>
    internal static void WithVariable(string name, string? value, Action body)
    {
        var before = Environment.GetEnvironmentVariable(name);
        Environment.SetEnvironmentVariable(name, value);
        try { body(); }
        finally { Environment.SetEnvironmentVariable(name, before); }
    }
}
