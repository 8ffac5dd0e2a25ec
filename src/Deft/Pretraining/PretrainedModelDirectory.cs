using System.Text.Json;
using System.Text.Json.Nodes;
using Deft.Clip;
using Deft.Clip.Tokenization;
using Deft.IO;

namespace Deft.Pretraining;

/// <summary>
/// Writes a model directory that every command loads like a downloaded open_clip model: open_clip_model.safetensors
/// (OpenAI layout), open_clip_config.json (model_cfg) and the tokenizer as vocab.json + merges.txt.
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
        var c = model.Config;
        var json = new JsonObject
        {
            ["model_cfg"] = new JsonObject
            {
                ["embed_dim"] = c.EmbedDim,
                ["quick_gelu"] = c.Activation == ClipActivation.QuickGelu,
                ["vision_cfg"] = new JsonObject
                {
                    ["image_size"] = c.Vision.ImageSize, ["patch_size"] = c.Vision.PatchSize, ["width"] = c.Vision.Width,
                    ["layers"] = c.Vision.Layers, ["heads"] = c.Vision.Heads,
                },
                ["text_cfg"] = new JsonObject
                {
                    ["context_length"] = c.Text.ContextLength, ["vocab_size"] = c.Text.VocabSize, ["width"] = c.Text.Width,
                    ["layers"] = c.Text.Layers, ["heads"] = c.Text.Heads,
                },
            },
            ["preprocess_cfg"] = metadata is not null && metadata.TryGetValue("mean", out var mean) && metadata.TryGetValue("std", out var std)
                ? new JsonObject { ["mean"] = JsonNode.Parse(mean), ["std"] = JsonNode.Parse(std) }
                : null,
        };
        AtomicFile.WriteAllText(Path.Combine(directory, ConfigFile), json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        tokenizer.SaveHuggingFace(directory);
    }
}
