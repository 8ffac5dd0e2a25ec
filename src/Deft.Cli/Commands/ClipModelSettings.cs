using System.ComponentModel;
using Deft.Clip;
using Spectre.Console.Cli;

namespace Deft.Cli.Commands;

/// <summary>Options every command that loads a CLIP model shares.</summary>
internal abstract class ClipModelSettings : CommandSettings
{
    [CommandOption("--model <SPEC>")]
    [Description("Weights (.safetensors / .pt, OpenAI or HF layout), a model directory (HF CLIPModel or open_clip), or random:<preset>[[@seed]] (ViT-B-32, ViT-B-16, ViT-L-14, tiny).")]
    public string? Model { get; init; }

    [CommandOption("--vocab <FILE>")]
    [Description("Vocabulary for models that carry no tokenizer: a bpe_simple_vocab_16e6.txt.gz-style file or a vocab.json + merges.txt directory. Default: $DEFT_CLIP_VOCAB, else CLIP's own vocabulary, built into Deft.")]
    public string? Vocab { get; init; }

    [CommandOption("--dtype <DTYPE>")]
    [Description("fp32 or bf16 (bf16: frozen towers in bfloat16, outputs in fp32).")]
    [DefaultValue("fp32")]
    public string DType { get; init; } = "fp32";

    [CommandOption("--device <DEVICE>")]
    [Description("cpu, or cuda[[:N]] with a CUDA build of TorchSharp.")]
    [DefaultValue("cpu")]
    public string Device { get; init; } = "cpu";

    [CommandOption("--mean <R,G,B>")]
    [Description("Image normalisation mean (default: the model's, else CLIP's).")]
    public string? Mean { get; init; }

    [CommandOption("--std <R,G,B>")]
    [Description("Image normalisation standard deviation (default: the model's, else CLIP's).")]
    public string? Std { get; init; }

    public ClipBundle LoadBundle() => ClipBundle.Load(Model!, Vocab,
        new ClipLoadOptions { DType = ClipBundle.ParseDType(DType), Device = Device });

    public override Spectre.Console.ValidationResult Validate() =>
        string.IsNullOrWhiteSpace(Model)
            ? Spectre.Console.ValidationResult.Error("--model is required (a weights file, a model directory, or random:<preset>).")
            : Spectre.Console.ValidationResult.Success();
}
