using System.Text.Json.Serialization;

namespace Deft.Clip;

/// <summary>Activation of the transformer MLPs: OpenAI weights use QuickGELU, most open_clip/LAION weights exact GELU.</summary>
public enum ClipActivation { QuickGelu, Gelu }

/// <summary>Vision tower configuration (open_clip's <c>vision_cfg</c>).</summary>
public sealed record ClipVisionConfig(
    [property: JsonPropertyName("image_size")] int ImageSize,
    [property: JsonPropertyName("patch_size")] int PatchSize,
    [property: JsonPropertyName("width")] int Width,
    [property: JsonPropertyName("layers")] int Layers,
    [property: JsonPropertyName("heads")] int Heads,
    [property: JsonPropertyName("mlp_ratio")] double MlpRatio = 4.0)
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
public sealed record ClipTextConfig(
    [property: JsonPropertyName("context_length")] int ContextLength,
    [property: JsonPropertyName("vocab_size")] int VocabSize,
    [property: JsonPropertyName("width")] int Width,
    [property: JsonPropertyName("layers")] int Layers,
    [property: JsonPropertyName("heads")] int Heads,
    [property: JsonPropertyName("mlp_ratio")] double MlpRatio = 4.0);

/// <summary>A whole CLIP model configuration, mirroring open_clip's model config JSON.</summary>
public sealed partial record ClipConfig(
    [property: JsonPropertyName("embed_dim")] int EmbedDim,
    [property: JsonPropertyName("vision_cfg")] ClipVisionConfig Vision,
    [property: JsonPropertyName("text_cfg")] ClipTextConfig Text,
    [property: JsonPropertyName("hidden_act")] ClipActivation Activation = ClipActivation.QuickGelu,
    [property: JsonPropertyName("layer_norm_eps")] double LayerNormEps = 1e-5)
{
    public static ClipConfig ViTB32 { get; } = new(512, new(224, 32, 768, 12, 12), new(77, 49408, 512, 12, 8));
    public static ClipConfig ViTB16 { get; } = new(512, new(224, 16, 768, 12, 12), new(77, 49408, 512, 12, 8));
    public static ClipConfig ViTL14 { get; } = new(768, new(224, 14, 1024, 24, 16), new(77, 49408, 768, 12, 12));
    /// <summary>A tiny CLIP for tests and smoke runs: 32 px, patch 8, width 128, 2 layers, 2 heads; embed 64; CLIP's full vocabulary.</summary>
    public static ClipConfig Tiny { get; } = new(64, new(32, 8, 128, 2, 2), new(77, 49408, 128, 2, 2));

    /// <summary>Preset names accepted by <see cref="FromPreset"/> (and by <c>random:&lt;preset&gt;</c> model specs).</summary>
    public static IReadOnlyList<string> PresetNames { get; } = ["ViT-B-32", "ViT-B-16", "ViT-L-14", "tiny"];

    public static ClipConfig FromPreset(string name) => name.Replace('/', '-').ToUpperInvariant() switch
    {
        "VIT-B-32" => ViTB32,
        "VIT-B-16" => ViTB16,
        "VIT-L-14" => ViTL14,
        "TINY" => Tiny,
        _ => throw new DeftException($"Unknown CLIP preset '{name}'. Valid presets: {string.Join(", ", PresetNames)}."),
    };
}
