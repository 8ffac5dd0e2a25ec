using Deft.Clip.Tokenization;

namespace Deft.Prompts;

/// <summary>The CLIP BPE tokenizer as the prompt learner sees it.</summary>
public sealed class ClipPromptTokenizer(ClipTokenizer tokenizer) : IPromptTokenizer
{
    public IReadOnlyList<int> Encode(string text) => tokenizer.Encode(text);
    public int StartToken => tokenizer.SotToken;
    public int EndToken => tokenizer.EotToken;
}
