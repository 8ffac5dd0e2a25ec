namespace Deft.Tests;

/// <summary>
/// The reference files vendored under <c>tests/fixtures</c> (made by <c>tools/fixtures/make_fixtures.py</c> with
/// PyTorch and committed), copied next to the test assembly at build time. Nothing outside the repository is read.
/// </summary>
internal static class Fixtures
{
    public static string Root { get; } = System.IO.Path.Combine(AppContext.BaseDirectory, "fixtures");

    /// <summary>A fixture file or folder by its name under tests/fixtures; a missing one fails naming it.</summary>
    public static string Path(string name)
    {
        var full = System.IO.Path.Combine(Root, name);
        if (!File.Exists(full) && !Directory.Exists(full))
            throw new FileNotFoundException($"Test fixture '{name}' is missing from {Root} (tests/fixtures in the repository; regenerate with tools/fixtures/make_fixtures.py).", full);
        return full;
    }

    /// <summary>The tiny random CLIP (OpenAI layout, safetensors) that most model tests use.</summary>
    public static string TinyClip => Path("clip-tiny-openai.safetensors");

    /// <summary>The tiny CLIP's shape: vision 32 px, patch 8, width 128, 2 layers, 2 heads; text width 64, 2 layers, 1 head, 1514 tokens; embed 64.</summary>
    public static Deft.Clip.ClipConfig TinyClipConfig { get; } = new(64, new(32, 8, 128, 2, 2), new(77, 1514, 64, 2, 1));

    /// <summary>
    /// The reduced vocabulary the tiny CLIP was made with (CLIP's first merges), as the Hugging Face tokenizer files
    /// of its HF copy; what <c>--vocab</c> takes for the OpenAI-layout copies.
    /// </summary>
    public static string TinyVocabulary => Path("clip-tiny-hf");

    public static Deft.Clip.Tokenization.ClipTokenizer TinyTokenizer() => Deft.Clip.Tokenization.ClipTokenizer.FromHuggingFace(TinyVocabulary);

    /// <summary>CLIP's full bpe_simple_vocab_16e6.txt.gz as a file: the copy the library embeds, placed beside the tests.</summary>
    public static string OpenAiVocabularyFile => Path("clip-vocab/bpe_simple_vocab_16e6.txt.gz");
}
