using System.Text.Json.Nodes;
using Deft.Adaptation;
using Deft.Clip;
using Deft.Peft;
using TorchSharp;

namespace Deft.Tests.Adaptation;

/// <summary>
/// A fine-tuned CLIP classifier records its shape through the settings' one serialization: the CLIP config as
/// ClipConfigs writes open_clip's model_cfg, the PEFT settings as summary.json names them. The flat form earlier
/// versions wrote still loads, to the same shape.
/// </summary>
public sealed class ClipClassifierArchitectureTests
{
    private static readonly PeftOptions Lora = new(PeftKind.Lora, Partial: 1, LoraRank: 4);

    [Fact]
    public void The_architecture_is_the_model_config_and_peft_settings_and_reloads_to_them()
    {
        using var classifier = new ClipClassifier(new ClipModel(ClipConfig.Tiny, seed: 2), Lora, 3, new torch.Generator(1));
        var arch = classifier.Architecture();
        Assert.Equal(ClipConfigs.ToJson(ClipConfig.Tiny).ToJsonString(), arch["model_cfg"]!.ToJsonString());
        Assert.Equal(("lora", 1, 20, 4, 8), ((string?)arch["peft"], (int?)arch["partial"], (int?)arch["vpt_len"], (int?)arch["lora_rank"], (int?)arch["adapter_dim"]));

        using var reloaded = Reload(classifier, arch);
        AssertSameShape(arch, reloaded.Architecture());
    }

    [Fact]
    public void The_flat_architecture_of_earlier_versions_still_loads()
    {
        using var classifier = new ClipClassifier(new ClipModel(ClipConfig.Tiny, seed: 2), Lora, 3, new torch.Generator(1));
        var c = ClipConfig.Tiny;
        var flat = new JsonObject
        {
            ["embed_dim"] = c.EmbedDim, ["image_size"] = c.Vision.ImageSize, ["patch_size"] = c.Vision.PatchSize, ["width"] = c.Vision.Width,
            ["layers"] = c.Vision.Layers, ["heads"] = c.Vision.Heads, ["mlp_ratio"] = c.Vision.MlpRatio,
            ["activation"] = c.Activation == ClipActivation.QuickGelu ? "quick_gelu" : "gelu", ["layer_norm_eps"] = c.LayerNormEps,
            ["peft"] = "lora", ["partial"] = 1, ["vpt_len"] = 20, ["lora_rank"] = 4, ["adapter_dim"] = 8,
        };
        using var reloaded = Reload(classifier, flat);
        AssertSameShape(classifier.Architecture(), reloaded.Architecture());
    }

    private static ClipClassifier Reload(ClipClassifier saved, JsonObject arch) =>
        ClipClassifier.FromSaved(arch, 3, saved.SavedState().ToDictionary(s => s.Name, s => s.Tensor), "test", torch.CPU);

    /// <summary>Equal but for the text tower, which a reloaded classifier keeps as a placeholder.</summary>
    private static void AssertSameShape(JsonObject expected, JsonObject actual)
    {
        static string WithoutText(JsonObject a)
        {
            var copy = (JsonObject)a.DeepClone();
            ((JsonObject)copy["model_cfg"]!).Remove("text_cfg");
            return copy.ToJsonString();
        }
        Assert.Equal(WithoutText(expected), WithoutText(actual));
    }
}
