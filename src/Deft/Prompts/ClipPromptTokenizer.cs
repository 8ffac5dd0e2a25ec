using Deft.Clip;
using Deft.Clip.Tokenization;

namespace Deft.Prompts;

/// <summary>The CLIP BPE tokenizer as the prompt learner sees it.</summary>
public sealed class ClipPromptTokenizer(ClipTokenizer tokenizer) : IPromptTokenizer
{
    public IReadOnlyList<int> Encode(string text) => tokenizer.Encode(text);
    public int StartToken => tokenizer.SotToken;
    public int EndToken => tokenizer.EotToken;

    /// <summary>
    /// The tokenizer for a loaded model: the model directory's own files (Hugging Face vocab.json + merges.txt, or
    /// bpe_simple_vocab_16e6.txt.gz), else <paramref name="vocabPath"/>, else the default CLIP vocabulary
    /// (<see cref="KnownLocations.ClipVocabulary"/>).
    /// </summary>
    public static ClipTokenizer Resolve(LoadedClip loaded, string? vocabPath)
    {
        if (!string.IsNullOrEmpty(vocabPath))
        {
            if (Directory.Exists(vocabPath)) return ClipTokenizer.FromHuggingFace(vocabPath);
            if (!File.Exists(vocabPath)) throw new DeftException($"--vocab {vocabPath}: file not found.");
            return ClipTokenizer.FromBpeFile(vocabPath);
        }
        if (loaded.TokenizerDirectory is { } dir)
        {
            var gz = Path.Combine(dir, "bpe_simple_vocab_16e6.txt.gz");
            return File.Exists(gz) ? ClipTokenizer.FromBpeFile(gz) : ClipTokenizer.FromHuggingFace(dir);
        }
        var known = KnownLocations.ClipVocabulary()
            ?? throw new DeftException($"No CLIP vocabulary for model '{loaded.Spec}': pass --vocab bpe_simple_vocab_16e6.txt.gz (or set DEFT_CLIP_VOCAB).");
        return ClipTokenizer.FromBpeFile(known);
    }
}
