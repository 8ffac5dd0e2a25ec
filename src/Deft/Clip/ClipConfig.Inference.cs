using System.Globalization;

namespace Deft.Clip;

public sealed partial record ClipConfig
{
    /// <summary>Width of one attention head in every released CLIP (OpenAI's build_model: heads = width / 64).</summary>
    public const int HeadWidth = 64;

    /// <summary>
    /// Infers the configuration from an OpenAI/open_clip state dict's shapes, as OpenAI's <c>build_model</c> does:
    /// widths from conv1 / ln_final, patch from conv1's kernel, grid from the positional embedding, layers by counting
    /// resblocks, heads = width / 64 unless given.
    /// </summary>
    public static ClipConfig FromOpenAiStateDict(IReadOnlyDictionary<string, long[]> shapes, ClipActivation activation = ClipActivation.QuickGelu,
        double layerNormEps = 1e-5, int? visionHeads = null, int? textHeads = null, string source = "state dict")
    {
        if (shapes.Keys.Any(k => k.StartsWith("visual.layer1.", StringComparison.Ordinal)))
            throw new DeftException($"{source}: this is a ResNet CLIP (RN50 family); Deft supports the ViT models only.");
        long[] Shape(string key, int rank)
        {
            if (!shapes.TryGetValue(key, out var s))
                throw new DeftException($"{source}: not an OpenAI/open_clip ViT CLIP state dict: key '{key}' is missing " +
                    $"(first keys present: {string.Join(", ", shapes.Keys.Take(5))}).");
            if (s.Length != rank)
                throw new DeftException($"{source}: key '{key}' has shape [{string.Join(", ", s)}]; expected {rank} dimensions.");
            return s;
        }

        int Size(long value, string what)
        {
            if (value <= 0 || value > 1 << 20)
                throw new DeftException($"{source}: {what} is {value}; the weights are damaged or not a CLIP ViT.");
            return (int)value;
        }
        var conv = Shape("visual.conv1.weight", 4);
        var visionWidth = Size(conv[0], "the vision width (visual.conv1.weight's first dimension)");
        var patch = Size(conv[^1], "the patch size (visual.conv1.weight's kernel)");
        if (conv[^2] != conv[^1])
            throw new DeftException($"{source}: visual.conv1.weight has a {conv[^2]}×{conv[^1]} kernel; CLIP's patches are square.");
        var visionTokens = Size(Shape("visual.positional_embedding", 2)[0], "the number of visual.positional_embedding rows");
        var grid = (int)Math.Round(Math.Sqrt(visionTokens - 1));
        if (grid < 1 || grid * grid + 1 != visionTokens)
            throw new DeftException($"{source}: visual.positional_embedding has {visionTokens} rows, not 1 + a square number of patches.");
        var visionLayers = CountLayers(shapes, "visual.transformer.resblocks.", source);
        var visionHidden = Size(Shape("visual.transformer.resblocks.0.mlp.c_fc.weight", 2)[0], "the vision MLP width");

        var embedDim = Size(Shape("text_projection", 2)[1], "the embedding size (text_projection's second dimension)");
        var context = Size(Shape("positional_embedding", 2)[0], "the context length (positional_embedding rows)");
        var vocab = Size(Shape("token_embedding.weight", 2)[0], "the vocabulary size");
        var textWidth = Size(Shape("ln_final.weight", 1)[0], "the text width (ln_final.weight)");
        var textLayers = CountLayers(shapes, "transformer.resblocks.", source);
        var textHidden = Size(Shape("transformer.resblocks.0.mlp.c_fc.weight", 2)[0], "the text MLP width");
        CheckHeads(visionHeads, visionWidth, "vision", source);
        CheckHeads(textHeads, textWidth, "text", source);

        return new ClipConfig(embedDim,
            new ClipVisionConfig(patch * grid, patch, visionWidth, visionLayers, visionHeads ?? HeadsFor(visionWidth, source), (double)visionHidden / visionWidth),
            new ClipTextConfig(context, vocab, textWidth, textLayers, textHeads ?? HeadsFor(textWidth, source), (double)textHidden / textWidth),
            activation, layerNormEps);
    }

    /// <summary>
    /// Activation, layer-norm eps and head counts from a Hugging Face <c>config.json</c> (CLIPConfig), with the
    /// transformers defaults for absent fields; sizes come from the weights.
    /// </summary>
    public static (ClipActivation Activation, double LayerNormEps, int VisionHeads, int TextHeads) ReadHuggingFaceConfig(string configJsonPath)
    {
        var c = HuggingFaceConfigFile.Read(configJsonPath);
        return (c.Activation, c.LayerNormEps, c.VisionHeads, c.TextHeads);
    }

    /// <summary>
    /// The activation an open_clip <c>open_clip_config.json</c> declares: QuickGELU only when <c>quick_gelu</c> is
    /// true (open_clip's default is exact GELU). The file is read whole by <see cref="ClipConfigs.ReadOpenClipConfigFile"/>.
    /// </summary>
    public static ClipActivation? ReadOpenClipActivation(string openClipConfigPath) =>
        ClipConfigs.ReadOpenClipConfigFile(openClipConfigPath).Model.Activation;

    /// <summary>Parses "quick_gelu"/"quickgelu"/"gelu" (case-insensitive); the guard message lists the valid names.</summary>
    public static ClipActivation ParseActivation(string name) => name.Trim().ToLowerInvariant().Replace("-", "_") switch
    {
        "quick_gelu" or "quickgelu" => ClipActivation.QuickGelu,
        "gelu" => ClipActivation.Gelu,
        _ => throw new DeftException($"Unknown activation '{name}'. Valid: quick_gelu, gelu."),
    };

    private static int CountLayers(IReadOnlyDictionary<string, long[]> shapes, string prefix, string source)
    {
        var indices = new HashSet<int>();
        foreach (var key in shapes.Keys)
        {
            if (!key.StartsWith(prefix, StringComparison.Ordinal)) continue;
            var rest = key.AsSpan(prefix.Length);
            var dot = rest.IndexOf('.');
            if (dot > 0 && int.TryParse(rest[..dot], NumberStyles.None, CultureInfo.InvariantCulture, out var i)) indices.Add(i);
        }
        if (indices.Count == 0) throw new DeftException($"{source}: no '{prefix}N.*' keys; not a CLIP ViT state dict.");
        if (indices.Max() != indices.Count - 1)
            throw new DeftException($"{source}: '{prefix}N' indices are not 0..{indices.Count - 1} (found {string.Join(", ", indices.Order().Take(10))}).");
        return indices.Count;
    }

    private static void CheckHeads(int? heads, int width, string tower, string source)
    {
        if (heads is not { } h) return;
        if (h <= 0 || width % h != 0)
            throw new DeftException($"{source}: the {tower} tower's {h} attention heads do not divide its width {width} (from the weights); " +
                "the config's num_attention_heads does not belong to these weights.");
    }

    private static int HeadsFor(int width, string source) => width % HeadWidth == 0
        ? width / HeadWidth
        : throw new DeftException($"{source}: width {width} is not a multiple of {HeadWidth}, so the head count cannot be inferred; give it explicitly.");
}
