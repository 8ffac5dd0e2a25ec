using System.Text.Json;
using Deft.Clip;
using Deft.Clip.Tokenization;
using Deft.IO;

namespace Deft.Pretraining;

/// <summary>
/// Writes a model directory that every command loads like a downloaded open_clip model: open_clip_model.safetensors
/// (OpenAI layout), open_clip_config.json (model_cfg and preprocess_cfg, written by <see cref="ClipConfigs"/>, the one
/// serialization of CLIP configs) and the tokenizer as vocab.json + merges.txt.
/// </summary>
public static class PretrainedModelDirectory
{
    public const string WeightsFile = "open_clip_model.safetensors";
    public const string ConfigFile = "open_clip_config.json";

    public static void Save(string directory, ClipModel model, ClipTokenizer tokenizer, IReadOnlyDictionary<string, string>? metadata = null)
    {
        Directory.CreateDirectory(directory);
        var stateDict = model.NamedClipParameters().Select(p => new KeyValuePair<string, TorchSharp.torch.Tensor>(p.Name, p.Parameter)).ToList();
        AtomicFile.Write(Path.Combine(directory, WeightsFile), tmp => Safetensors.Save(tmp, stateDict, metadata));
        var preprocess = Preprocess(model.Config, metadata);
        AtomicFile.WriteAllText(Path.Combine(directory, ConfigFile), ClipConfigs.ToOpenClipConfigJson(model.Config, preprocess).ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        tokenizer.SaveHuggingFace(directory);
    }

    /// <summary>
    /// The preprocessing the model was trained with: the metadata's mean and std (JSON arrays, as the weights file
    /// records them), else OpenAI CLIP's; at the model's image size.
    /// </summary>
    private static ClipPreprocessConfig Preprocess(ClipConfig config, IReadOnlyDictionary<string, string>? metadata)
    {
        if (metadata is null || !metadata.TryGetValue("mean", out var mean) || !metadata.TryGetValue("std", out var std))
            return ClipPreprocessConfig.OpenAi(config.Vision.ImageSize);
        static float[] Triple(string json) => JsonSerializer.Deserialize<float[]>(json) ?? [];
        return new ClipPreprocessConfig(config.Vision.ImageSize, Deft.Data.Transforms.Normalization.From(Triple(mean), Triple(std)));
    }
}
