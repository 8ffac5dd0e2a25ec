using Deft.Clip.Tokenization;
using Deft.Data.Transforms;
using TorchSharp;

namespace Deft.Clip;

/// <summary>
/// A CLIP model with the tokenizer and image normalisation that belong to it — what every command needs from
/// <c>--model</c> (and <c>--vocab</c>). The tokenizer comes from the model's directory when it carries one
/// (vocab.json + merges.txt, or bpe_simple_vocab_16e6.txt.gz), else from <c>--vocab</c>, else from $DEFT_CLIP_VOCAB,
/// else CLIP's own vocabulary, which ships inside the library; the normalisation from open_clip_config.json's preprocess_cfg when present, else CLIP's.
/// </summary>
public sealed class ClipBundle : IDisposable
{
    private ClipBundle(LoadedClip loaded, ClipTokenizer tokenizer, ClipPreprocessConfig preprocess, string tokenizerSource)
    {
        Loaded = loaded;
        Tokenizer = tokenizer;
        Preprocess = preprocess;
        TokenizerSource = tokenizerSource;
    }

    public LoadedClip Loaded { get; }
    public ClipModel Model => Loaded.Model;
    public ClipTokenizer Tokenizer { get; }
    /// <summary>The model's preprocessing (open_clip_config.json's preprocess_cfg, else OpenAI CLIP's at the model's image size).</summary>
    public ClipPreprocessConfig Preprocess { get; }
    public Normalization Normalization => Preprocess.Normalization;
    public string TokenizerSource { get; }
    public int Resolution => Model.Config.Vision.ImageSize;

    public static ClipBundle Load(string spec, string? vocab = null, ClipLoadOptions? options = null)
    {
        // A library user has no `deft` start-up to make TorchSharp's native library loadable; this is the first
        // TorchSharp call of the documented entry points (idempotent, once per process).
        Native.TorchNativeSetup.EnsureLoadable();
        var loaded = ClipLoader.LoadWithInfo(spec, options);
        try
        {
            var (tokenizer, source) = LoadTokenizer(loaded, vocab);
            if (tokenizer.VocabSize > loaded.Model.Config.Text.VocabSize)
                throw new DeftException(
                    $"The tokenizer from {source} has {tokenizer.VocabSize} tokens but the model's token embedding has " +
                    $"{loaded.Model.Config.Text.VocabSize} rows; pass the vocabulary the model was trained with ({Setting.Vocabulary}).");
            return new ClipBundle(loaded, tokenizer, ModelPreprocess(loaded), source);
        }
        catch
        {
            loaded.Model.Dispose();
            throw;
        }
    }

    private static (ClipTokenizer, string) LoadTokenizer(LoadedClip loaded, string? vocab)
    {
        if (vocab is not null)
        {
            if (!Directory.Exists(vocab) && !File.Exists(vocab))
                throw new DeftException($"Vocabulary not found: {vocab} ({Setting.Vocabulary}). {VocabularyHint}");
            return LoadVocabulary(vocab, "");
        }
        if (loaded.TokenizerDirectory is { } dir)
        {
            var gz = Path.Combine(dir, "bpe_simple_vocab_16e6.txt.gz");
            return File.Exists(Path.Combine(dir, "vocab.json")) ? (ClipTokenizer.FromHuggingFace(dir), dir) : (ClipTokenizer.FromBpeFile(gz), gz);
        }
        if (KnownLocations.ClipVocabulary() is { } chosen) return LoadVocabulary(chosen, $"${KnownLocations.ClipVocabularyVariable}");
        return (ClipTokenizer.OpenAi(), ClipTokenizer.OpenAiSource);
    }

    private const string VocabularyHint = "Pass bpe_simple_vocab_16e6.txt.gz or a directory with vocab.json + merges.txt.";

    /// <summary>A vocabulary the user named: a bpe_simple_vocab_16e6.txt.gz-style file or a Hugging Face tokenizer folder.</summary>
    private static (ClipTokenizer, string) LoadVocabulary(string vocab, string origin)
    {
        if (Directory.Exists(vocab)) return (ClipTokenizer.FromHuggingFace(vocab), vocab);
        if (!File.Exists(vocab))
            throw new DeftException($"Vocabulary not found: {vocab} ({origin}). {VocabularyHint}");
        return (ClipTokenizer.FromBpeFile(vocab), vocab);
    }

    /// <summary>The model directory's preprocess_cfg mean/std (open_clip_config.json, as pretrain writes it), else CLIP's.</summary>
    public static Normalization ModelNormalization(LoadedClip loaded) => ModelPreprocess(loaded).Normalization;

    /// <summary>
    /// The model directory's preprocessing: open_clip_config.json's preprocess_cfg, else Hugging Face's
    /// preprocessor_config.json, else OpenAI CLIP's at the model's image size.
    /// </summary>
    public static ClipPreprocessConfig ModelPreprocess(LoadedClip loaded)
    {
        var imageSize = loaded.Model.Config.Vision.ImageSize;
        if (loaded.WeightsPath is not { } w) return ClipPreprocessConfig.OpenAi(imageSize);
        var dir = Path.GetDirectoryName(Path.GetFullPath(w))!;
        var openClip = Path.Combine(dir, ClipLoader.OpenClipConfigName);
        if (File.Exists(openClip)) return ClipConfigs.ReadOpenClipConfigFile(openClip).Preprocess;
        var huggingFace = Path.Combine(dir, HuggingFacePreprocessorName);
        return File.Exists(huggingFace)
            ? ClipConfigs.ReadHuggingFacePreprocessorFile(huggingFace, imageSize)
            : ClipPreprocessConfig.OpenAi(imageSize);
    }

    /// <summary>Hugging Face's image-processor settings file beside config.json.</summary>
    public const string HuggingFacePreprocessorName = "preprocessor_config.json";

    /// <summary>Parses "--mean 0.48,0.45,0.40" style options; null when not given.</summary>
    public static Normalization Resolve(Normalization modelDefault, string? mean, string? std)
    {
        if (mean is null && std is null) return modelDefault;
        static float[] Parse(string s, string what) => s.Split(',', StringSplitOptions.TrimEntries).Select(v =>
            float.TryParse(v, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var f)
                ? f : throw new DeftException($"--{what} takes three comma-separated numbers (R,G,B), got '{s}'.")).ToArray();
        var m = mean is null ? [modelDefault.Mean.R, modelDefault.Mean.G, modelDefault.Mean.B] : Parse(mean, "mean");
        var s = std is null ? [modelDefault.Std.R, modelDefault.Std.G, modelDefault.Std.B] : Parse(std, "std");
        return Normalization.From(m, s);
    }

    /// <summary>
    /// "fp32" or "bf16" (and "fp16" where <paramref name="allowFloat16"/>: benchmarks) → the dtype; the error lists the
    /// valid values.
    /// </summary>
    public static torch.ScalarType ParseDType(string name, bool allowFloat16 = false) => name.Trim().ToLowerInvariant() switch
    {
        "fp32" or "float32" or "float" => torch.ScalarType.Float32,
        "bf16" or "bfloat16" => torch.ScalarType.BFloat16,
        "fp16" or "float16" or "half" when allowFloat16 => torch.ScalarType.Float16,
        _ => throw new DeftException($"Unknown {Setting.Precision} '{name}'. Valid values: fp32, bf16{(allowFloat16 ? ", fp16" : "")}."),
    };

    public void Dispose() => Loaded.Model.Dispose();
}
