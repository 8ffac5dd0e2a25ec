namespace Deft.Cli.Commands;

/// <summary>
/// The one description of each PEFT and model option that detect, adapt and bench detect-step declare alike (their
/// defaults differ by command, so each declares its own, as with <see cref="TrainingOptionTexts"/>).
/// </summary>
internal static class PeftOptionTexts
{
    public const string Peft = "vpt-deep (default), vpt-shallow, lora, adapter, adaptformer, ssf, bias, full, none; several joined by '+'. none caches image features (fast path).";
    public const string Partial = "Adapt only the last K blocks of the image tower.";
    public const string VptLength = "Learnable prompt tokens per block of VPT (vpt-deep, vpt-shallow).";
    public const string LoraRank = "Rank of LoRA's low-rank update.";
    public const string AdapterDim = "Bottleneck of adapter/adaptformer.";
    public const string ContextLength = "Learnable context tokens per prompt.";
    public const string Vocabulary = "Vocabulary for models that carry no tokenizer: a bpe_simple_vocab_16e6.txt.gz-style file or a vocab.json + merges.txt directory. Default: $DEFT_CLIP_VOCAB, else CLIP's own vocabulary, built into Deft.";
    public const string Model = "Weights (.safetensors / .pt, OpenAI or HF layout), a model directory (HF CLIPModel or open_clip), or random:<preset>[[@seed]] (ViT-B-32, ViT-B-16, ViT-L-14, tiny).";
}
