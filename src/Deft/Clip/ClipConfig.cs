using System.Text.Json.Serialization;

namespace Deft.Clip;

/// <summary>Activation of the transformer MLPs: OpenAI weights use QuickGELU, most open_clip/LAION weights exact GELU.</summary>
public enum ClipActivation { QuickGelu, Gelu }

/// <summary>Vision tower configuration (open_clip's <c>vision_cfg</c>).</summary>
[JsonConverter(typeof(ClipVisionConfigJsonConverter))]
public sealed record ClipVisionConfig(
    int ImageSize,
    int PatchSize,
    int Width,
    int Layers,
    int Heads,
    double MlpRatio = 4.0)
{
    public int GridSize => ImageSize / PatchSize;
    /// <summary>Tokens per image: class token + patches.</summary>
    public int SequenceLength => GridSize * GridSize + 1;

    /// <summary>
    /// Multiply-adds of one image's forward pass (patch embedding, q/k/v/out and MLP projections, attention scores
    /// and weighted sums; norms and activations are negligible): 17.56 G for ViT-B/16, so a forward pass is about
    /// 35 GFLOP and the images/s a machine can reach is its matrix-product GFLOP/s divided by that.
    /// </summary>
    public double MultiplyAddsPerImage(int embedDim = 0)
    {
        double t = SequenceLength, w = Width, hidden = Math.Round(MlpRatio * Width);
        var patches = (double)GridSize * GridSize * (3.0 * PatchSize * PatchSize) * w;
        var perBlock = t * (4 * w * w + 2 * w * hidden) + 2 * t * t * w;
        return patches + Layers * perBlock + w * embedDim;
    }
}

/// <summary>Text tower configuration (open_clip's <c>text_cfg</c>).</summary>
[JsonConverter(typeof(ClipTextConfigJsonConverter))]
public sealed record ClipTextConfig(
    int ContextLength,
    int VocabSize,
    int Width,
    int Layers,
    int Heads,
    double MlpRatio = 4.0);

/// <summary>
/// A whole CLIP model configuration, mirroring open_clip's model config JSON; made, read and written by
/// <see cref="ClipConfigs"/> (the JSON shape is open_clip's, also through System.Text.Json).
/// </summary>
/// <param name="InitLogitScale">The temperature a new model starts from (log scale; open_clip's <c>init_logit_scale</c>,
/// Hugging Face's <c>logit_scale_init_value</c>); loaded weights bring their own.</param>
[JsonConverter(typeof(ClipConfigJsonConverter))]
public sealed partial record ClipConfig(
    int EmbedDim,
    ClipVisionConfig Vision,
    ClipTextConfig Text,
    ClipActivation Activation = ClipActivation.QuickGelu,
    double LayerNormEps = 1e-5,
    double InitLogitScale = ClipConfig.OpenAiInitLogitScale)
{
    /// <summary>ln(1/0.07), OpenAI's initial temperature.</summary>
    public const double OpenAiInitLogitScale = 2.6592600369327779;

    /// <summary>The embedded preset ViT-B-32 (model_configs/ViT-B-32.json).</summary>
    public static ClipConfig ViTB32 => ClipConfigs.Preset("ViT-B-32");
    /// <summary>The embedded preset ViT-B-16 (model_configs/ViT-B-16.json).</summary>
    public static ClipConfig ViTB16 => ClipConfigs.Preset("ViT-B-16");
    /// <summary>The embedded preset ViT-L-14 (model_configs/ViT-L-14.json).</summary>
    public static ClipConfig ViTL14 => ClipConfigs.Preset("ViT-L-14");
    /// <summary>A tiny CLIP for tests and smoke runs (model_configs/tiny.json): 32 px, patch 8, width 128, 2 layers, 2 heads; embed 64; CLIP's full vocabulary.</summary>
    public static ClipConfig Tiny => ClipConfigs.Preset("tiny");

    /// <summary>Preset names accepted by <see cref="FromPreset"/> (and by <c>random:&lt;preset&gt;</c> model specs).</summary>
    public static IReadOnlyList<string> PresetNames => ClipConfigs.PresetNames;

    /// <summary>An embedded preset by name (see <see cref="ClipConfigs.Preset"/>).</summary>
    public static ClipConfig FromPreset(string name) => ClipConfigs.Preset(name);
}
