using Deft.IO;
using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Deft.Data.Transforms;

namespace Deft.Clip;

/// <summary>How an image is resampled when resized (open_clip's <c>preprocess_cfg.interpolation</c>).</summary>
public enum ClipInterpolation { Bicubic, Bilinear, Nearest }

/// <summary>How an image is fitted to the square input (open_clip's <c>preprocess_cfg.resize_mode</c>).</summary>
public enum ClipResizeMode { Shortest, Longest, Squash }

/// <summary>
/// A model's image preprocessing (open_clip's <c>preprocess_cfg</c>): input resolution, per-channel normalisation,
/// resampling and resize mode. Defaults are OpenAI CLIP's (bicubic, shorter side, OpenAI mean/std).
/// </summary>
public sealed record ClipPreprocessConfig(
    int Size,
    Normalization Normalization,
    ClipInterpolation Interpolation = ClipInterpolation.Bicubic,
    ClipResizeMode ResizeMode = ClipResizeMode.Shortest)
{
    /// <summary>OpenAI CLIP's preprocessing at <paramref name="size"/> pixels.</summary>
    public static ClipPreprocessConfig OpenAi(int size) => new(size, Normalization.Clip);
}

/// <summary>What an open_clip hub <c>open_clip_config.json</c> holds: the model config and its preprocessing.</summary>
public sealed record OpenClipConfigFile(ClipConfig Model, ClipPreprocessConfig Preprocess);

/// <summary>
/// The one factory of <see cref="ClipConfig"/> records and their one serialization (open_clip's model-config JSON:
/// <c>embed_dim</c>, <c>quick_gelu</c>, <c>vision_cfg</c>, <c>text_cfg</c>). Reads the embedded presets
/// (Clip/model_configs/*.json), open_clip's <c>open_clip_config.json</c> and Hugging Face's <c>config.json</c>.
/// Absent fields take open_clip's defaults (exact GELU, head width 64, MLP ratio 4, layer-norm eps 1e-5), which is
/// why the OpenAI presets say <c>"quick_gelu": true</c> as open_clip's <c>-quickgelu</c> files do.
/// </summary>
public static class ClipConfigs
{
    /// <summary>open_clip's vision <c>head_width</c> default: heads = width / 64, as in every released CLIP.</summary>
    public const int DefaultHeadWidth = 64;
    public const double DefaultMlpRatio = 4.0;
    public const double DefaultLayerNormEps = 1e-5;

    private const string ResourcePrefix = "Deft.model_configs.";

    /// <summary>The embedded presets, in the order error messages list them; each is model_configs/&lt;name&gt;.json.</summary>
    public static IReadOnlyList<string> PresetNames { get; } = ["ViT-B-32", "ViT-B-16", "ViT-L-14", "tiny"];

    private static readonly ConcurrentDictionary<string, ClipConfig> Presets = new(StringComparer.Ordinal);

    /// <summary>An embedded preset by name (case-insensitive; "ViT-B/16" is "ViT-B-16").</summary>
    public static ClipConfig Preset(string name)
    {
        var normalized = name.Trim().Replace('/', '-');
        var canonical = PresetNames.FirstOrDefault(n => string.Equals(n, normalized, StringComparison.OrdinalIgnoreCase))
            ?? throw new DeftException($"Unknown CLIP preset '{name}'. Valid presets: {string.Join(", ", PresetNames)}.");
        return Presets.GetOrAdd(canonical, ReadPreset);
    }

    /// <summary>The names of the model-config resources embedded in the library (for checking against <see cref="PresetNames"/>).</summary>
    internal static IEnumerable<string> EmbeddedPresetNames() => typeof(ClipConfigs).Assembly.GetManifestResourceNames()
        .Where(r => r.StartsWith(ResourcePrefix, StringComparison.Ordinal) && r.EndsWith(".json", StringComparison.Ordinal))
        .Select(r => r[ResourcePrefix.Length..^".json".Length]);

    private static ClipConfig ReadPreset(string name)
    {
        var resource = $"{ResourcePrefix}{name}.json";
        using var stream = typeof(ClipConfigs).Assembly.GetManifestResourceStream(resource)
            ?? throw new InvalidOperationException($"The library was built without the embedded preset {resource}.");
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return FromJson(reader.ReadToEnd(), $"model_configs/{name}.json");
    }

    /// <summary>Parses an open_clip model config (a model_configs/*.json, or open_clip_config.json's model_cfg).</summary>
    public static ClipConfig FromJson(string json, string source) => FromJson(Parse(json, source), source, "");

    /// <summary>Parses an open_clip model config object; <paramref name="prefix"/> is its path in the file, for messages.</summary>
    public static ClipConfig FromJson(JsonNode? node, string source, string prefix = "")
    {
        var cfg = new JsonFields(source).Object(node, prefix.TrimEnd('.'), "an open_clip model config");
        var f = new JsonFields(source, prefix);
        foreach (var tower in new[] { "vision_cfg", "text_cfg" })
            foreach (var key in new[] { "timm_model_name", "hf_model_name" })
                if (cfg[tower] is JsonObject t && f.String(t, key, $"{tower}.{key}") is { Length: > 0 } s)
                    throw new DeftException($"{source}: {prefix}{tower}.{key} = '{TextClip.Clip(s, 40)}': towers from timm or Hugging Face are not the CLIP transformer Deft implements.");
        var vision = f.Object(f.Required(cfg, "vision_cfg", "vision_cfg"), "vision_cfg", "an object");
        var text = f.Object(f.Required(cfg, "text_cfg", "text_cfg"), "text_cfg", "an object");
        var activation = f.Bool(cfg, "quick_gelu", "quick_gelu") == true ? ClipActivation.QuickGelu : ClipActivation.Gelu;
        var visionEps = Eps(f, vision, "vision_cfg");
        var textEps = Eps(f, text, "text_cfg");
        if (visionEps != textEps)
            throw new DeftException($"{source}: {prefix}vision_cfg.norm_kwargs.eps ({visionEps}) and {prefix}text_cfg.norm_kwargs.eps ({textEps}) differ; Deft needs one layer-norm eps.");
        return new ClipConfig(f.RequiredPositive(cfg, "embed_dim", "embed_dim"), VisionFromJson(f, vision), TextFromJson(f, text),
            activation, visionEps, f.Number(cfg, "init_logit_scale", "init_logit_scale") ?? ClipConfig.OpenAiInitLogitScale);
    }

    /// <summary>The open_clip model-config JSON of <paramref name="config"/> (what <see cref="FromJson(string, string)"/> reads back).</summary>
    public static JsonObject ToJson(ClipConfig config)
    {
        var json = new JsonObject
        {
            ["embed_dim"] = config.EmbedDim,
            ["quick_gelu"] = config.Activation == ClipActivation.QuickGelu,
            ["vision_cfg"] = ToJson(config.Vision),
            ["text_cfg"] = ToJson(config.Text),
        };
        if (config.LayerNormEps != DefaultLayerNormEps)
            foreach (var tower in new[] { "vision_cfg", "text_cfg" })
                json[tower]!["norm_kwargs"] = new JsonObject { ["eps"] = config.LayerNormEps };
        if (config.InitLogitScale != ClipConfig.OpenAiInitLogitScale) json["init_logit_scale"] = config.InitLogitScale;
        return json;
    }

    /// <summary>open_clip's <c>vision_cfg</c>: heads as <c>head_width</c> when they divide the width, else as Deft's <c>heads</c>.</summary>
    public static JsonObject ToJson(ClipVisionConfig v)
    {
        var json = new JsonObject { ["image_size"] = v.ImageSize, ["layers"] = v.Layers, ["width"] = v.Width };
        if (v.Heads > 0 && v.Width % v.Heads == 0) json["head_width"] = v.Width / v.Heads;
        else json["heads"] = v.Heads;
        json["mlp_ratio"] = v.MlpRatio;
        json["patch_size"] = v.PatchSize;
        return json;
    }

    /// <summary>open_clip's <c>text_cfg</c>.</summary>
    public static JsonObject ToJson(ClipTextConfig t) => new()
    {
        ["context_length"] = t.ContextLength, ["vocab_size"] = t.VocabSize, ["width"] = t.Width, ["heads"] = t.Heads,
        ["layers"] = t.Layers, ["mlp_ratio"] = t.MlpRatio,
    };

    /// <summary>open_clip's <c>preprocess_cfg</c>.</summary>
    public static JsonObject ToJson(ClipPreprocessConfig p) => new()
    {
        ["size"] = p.Size,
        ["mean"] = new JsonArray(p.Normalization.Mean.R, p.Normalization.Mean.G, p.Normalization.Mean.B),
        ["std"] = new JsonArray(p.Normalization.Std.R, p.Normalization.Std.G, p.Normalization.Std.B),
        ["interpolation"] = p.Interpolation.ToString().ToLowerInvariant(),
        ["resize_mode"] = p.ResizeMode.ToString().ToLowerInvariant(),
    };

    /// <summary>An open_clip hub <c>open_clip_config.json</c>: <c>{"model_cfg": {...}, "preprocess_cfg": {...}}</c>.</summary>
    public static JsonObject ToOpenClipConfigJson(ClipConfig model, ClipPreprocessConfig preprocess) => new()
    {
        ["model_cfg"] = ToJson(model),
        ["preprocess_cfg"] = ToJson(preprocess),
    };

    /// <summary>
    /// Reads an open_clip hub <c>open_clip_config.json</c> (a bare model config is accepted too). Absent
    /// preprocess_cfg fields are OpenAI's, with the model's image size.
    /// </summary>
    public static OpenClipConfigFile ReadOpenClipConfigFile(string path)
    {
        var root = new JsonFields(path).Object(Parse(ReadText(path), path), "", "an object with model_cfg");
        var hasModelCfg = root.ContainsKey("model_cfg");
        if (!hasModelCfg && !root.ContainsKey("embed_dim"))
            throw new DeftException($"{path}: model_cfg is missing; an open_clip_config.json holds model_cfg (embed_dim, vision_cfg, text_cfg) and preprocess_cfg.");
        var model = FromJson(hasModelCfg ? root["model_cfg"] : root, path, hasModelCfg ? "model_cfg." : "");
        return new OpenClipConfigFile(model, PreprocessFromJson(root["preprocess_cfg"], path, model.Vision.ImageSize));
    }

    /// <summary>open_clip's <c>preprocess_cfg</c>; null or absent fields are OpenAI's, at <paramref name="defaultSize"/> pixels.</summary>
    public static ClipPreprocessConfig PreprocessFromJson(JsonNode? node, string source, int defaultSize)
    {
        if (node is null) return ClipPreprocessConfig.OpenAi(defaultSize);
        var f = new JsonFields(source, "preprocess_cfg.");
        var o = f.Object(node, "", "an object");
        var size = defaultSize;
        if (o["size"] is JsonArray pair)
        {
            if (pair.Count != 2 || f.PositiveValue(pair[0], "size[0]") is not { } h || f.PositiveValue(pair[1], "size[1]") != h)
                throw new DeftException($"{source}: preprocess_cfg.size is {pair.ToJsonString()}; Deft's input is square, one size or [n, n].");
            size = h;
        }
        else if (f.Positive(o, "size", "size") is { } s) size = s;
        var mean = Triple(f, o, "mean") ?? [Normalization.Clip.Mean.R, Normalization.Clip.Mean.G, Normalization.Clip.Mean.B];
        var std = Triple(f, o, "std") ?? [Normalization.Clip.Std.R, Normalization.Clip.Std.G, Normalization.Clip.Std.B];
        if (std.Any(v => !(v > 0)))
            throw new DeftException($"{source}: preprocess_cfg.std = [{string.Join(", ", std)}]; standard deviations must be positive.");
        return new ClipPreprocessConfig(size, Normalization.From(mean, std),
            f.Enum(o, "interpolation", ClipInterpolation.Bicubic), f.Enum(o, "resize_mode", ClipResizeMode.Shortest));
    }

    /// <summary>
    /// A Hugging Face <c>preprocessor_config.json</c> (CLIPImageProcessor: image_mean, image_std, resample, crop_size;
    /// it resizes the shorter side, then crops the centre); absent fields are OpenAI's, at <paramref name="defaultSize"/> pixels.
    /// </summary>
    public static ClipPreprocessConfig ReadHuggingFacePreprocessorFile(string path, int defaultSize)
    {
        var f = new JsonFields(path);
        var o = f.Object(Parse(ReadText(path), path), "", "an object (CLIPImageProcessor settings)");
        int? SquareSize(string key)
        {
            var node = o[key];
            if (node is null || node is JsonValue) return f.Positive(o, key, key);
            var d = f.Object(node, key, "a number or an object");
            if (f.Positive(d, "shortest_edge", $"{key}.shortest_edge") is { } edge) return edge;
            var h = f.Positive(d, "height", $"{key}.height");
            var w = f.Positive(d, "width", $"{key}.width");
            if (h is null && w is null) return null;
            return h == w ? h : throw new DeftException($"{path}: {key} is {h}×{w}; Deft's input is square.");
        }
        var size = SquareSize("crop_size") ?? SquareSize("size") ?? defaultSize;
        var mean = Triple(f, o, "image_mean") ?? [Normalization.Clip.Mean.R, Normalization.Clip.Mean.G, Normalization.Clip.Mean.B];
        var std = Triple(f, o, "image_std") ?? [Normalization.Clip.Std.R, Normalization.Clip.Std.G, Normalization.Clip.Std.B];
        if (std.Any(v => !(v > 0)))
            throw new DeftException($"{path}: image_std = [{string.Join(", ", std)}]; standard deviations must be positive.");
        // PIL's resampling codes, as transformers stores them.
        var interpolation = f.Number(o, "resample", "resample") switch
        {
            null or 3 => ClipInterpolation.Bicubic,
            2 => ClipInterpolation.Bilinear,
            0 => ClipInterpolation.Nearest,
            var other => throw new DeftException($"{path}: resample = {other} is not supported (valid: 0 nearest, 2 bilinear, 3 bicubic)."),
        };
        return new ClipPreprocessConfig(size, Normalization.From(mean, std), interpolation);
    }

    /// <summary>
    /// A Hugging Face CLIPModel <c>config.json</c> as a whole config, with transformers' defaults for absent fields
    /// (ViT-B/32's sizes); errors name the file and the field.
    /// </summary>
    public static ClipConfig FromHuggingFace(string configJsonPath) => HuggingFaceConfigFile.Read(configJsonPath).Config;

    /// <summary>Parses an open_clip <c>vision_cfg</c> object.</summary>
    public static ClipVisionConfig VisionFromJson(JsonNode? node, string source) =>
        VisionFromJson(new JsonFields(source), new JsonFields(source).Object(node, "vision_cfg", "an object"));

    /// <summary>Parses an open_clip <c>text_cfg</c> object.</summary>
    public static ClipTextConfig TextFromJson(JsonNode? node, string source) =>
        TextFromJson(new JsonFields(source), new JsonFields(source).Object(node, "text_cfg", "an object"));

    private static ClipVisionConfig VisionFromJson(JsonFields f, JsonObject v)
    {
        var width = f.RequiredPositive(v, "width", "vision_cfg.width");
        // open_clip derives the heads from head_width; Deft's own older files wrote heads directly.
        var heads = f.Positive(v, "heads", "vision_cfg.heads");
        if (heads is null)
        {
            var headWidth = f.Positive(v, "head_width", "vision_cfg.head_width") ?? DefaultHeadWidth;
            if (width % headWidth != 0)
                throw new DeftException($"{f.Source}: {f.Prefix}vision_cfg.head_width = {headWidth} does not divide {f.Prefix}vision_cfg.width = {width}.");
            heads = width / headWidth;
        }
        int imageSize;
        if (v["image_size"] is JsonArray pair)
        {
            if (pair.Count != 2 || f.PositiveValue(pair[0], "vision_cfg.image_size[0]") is not { } h || f.PositiveValue(pair[1], "vision_cfg.image_size[1]") != h)
                throw new DeftException($"{f.Source}: {f.Prefix}vision_cfg.image_size is {pair.ToJsonString()}; Deft's ViT takes square images, one size or [n, n].");
            imageSize = h;
        }
        else imageSize = f.RequiredPositive(v, "image_size", "vision_cfg.image_size");
        var patch = f.RequiredPositive(v, "patch_size", "vision_cfg.patch_size");
        if (imageSize % patch != 0)
            throw new DeftException($"{f.Source}: {f.Prefix}vision_cfg.image_size = {imageSize} is not a multiple of {f.Prefix}vision_cfg.patch_size = {patch}.");
        return new ClipVisionConfig(imageSize, patch, width, f.RequiredPositive(v, "layers", "vision_cfg.layers"), heads.Value,
            MlpRatio(f, v, "vision_cfg"));
    }

    private static ClipTextConfig TextFromJson(JsonFields f, JsonObject t)
    {
        var width = f.RequiredPositive(t, "width", "text_cfg.width");
        var heads = f.Positive(t, "heads", "text_cfg.heads") ?? 8; // open_clip's CLIPTextCfg default
        if (width % heads != 0)
            throw new DeftException($"{f.Source}: {f.Prefix}text_cfg.heads = {heads} does not divide {f.Prefix}text_cfg.width = {width}.");
        return new ClipTextConfig(f.Positive(t, "context_length", "text_cfg.context_length") ?? 77,
            f.Positive(t, "vocab_size", "text_cfg.vocab_size") ?? 49408, width, f.RequiredPositive(t, "layers", "text_cfg.layers"), heads,
            MlpRatio(f, t, "text_cfg"));
    }

    private static double MlpRatio(JsonFields f, JsonObject o, string tower)
    {
        var ratio = f.Number(o, "mlp_ratio", $"{tower}.mlp_ratio") ?? DefaultMlpRatio;
        return ratio > 0 && ratio <= 64 ? ratio : throw new DeftException($"{f.Source}: {f.Prefix}{tower}.mlp_ratio = {ratio}; it must be positive.");
    }

    private static double Eps(JsonFields f, JsonObject tower, string name)
    {
        if (tower["norm_kwargs"] is null) return DefaultLayerNormEps;
        var kwargs = f.Object(tower["norm_kwargs"], $"{name}.norm_kwargs", "an object");
        var eps = f.Number(kwargs, "eps", $"{name}.norm_kwargs.eps") ?? DefaultLayerNormEps;
        return eps > 0 && eps < 1 ? eps : throw new DeftException($"{f.Source}: {f.Prefix}{name}.norm_kwargs.eps = {eps}; layer-norm eps must be a small positive number such as 1e-05.");
    }

    private static float[]? Triple(JsonFields f, JsonObject o, string key)
    {
        var node = o[key];
        if (node is null) return null;
        if (node is not JsonArray a || a.Count != 3)
            throw new DeftException($"{f.Source}: {f.Prefix}{key} is {JsonFields.Kind(node)}; it must be three numbers (R, G, B).");
        return a.Select((n, i) => (float)(f.NumberValue(n, $"{key}[{i}]") ?? throw new DeftException($"{f.Source}: {f.Prefix}{key}[{i}] is null, not a number."))).ToArray();
    }

    private static string ReadText(string path)
    {
        try
        {
            return TorchPickle.StrictUtf8.GetString(File.ReadAllBytes(path));
        }
        catch (DecoderFallbackException ex)
        {
            throw new DeftException($"{path}: not UTF-8 text, so not a JSON config.", ex);
        }
    }

    private static JsonNode? Parse(string json, string source)
    {
        try
        {
            return JsonNode.Parse(json);
        }
        catch (JsonException ex)
        {
            throw new DeftException($"{source}: not valid JSON ({ex.Message}).", ex);
        }
    }
}

/// <summary>Typed reads of JSON fields whose errors name the file and the field's path (<paramref name="Prefix"/> + field).</summary>
internal sealed record JsonFields(string Source, string Prefix = "")
{
    public JsonObject Object(JsonNode? node, string field, string what) => node as JsonObject
        ?? throw new DeftException($"{Source}: {(field.Length == 0 && Prefix.Length == 0 ? "the JSON" : Prefix + field)} is {Kind(node)}, not {what}.");

    public JsonNode Required(JsonObject o, string key, string field) => o[key]
        ?? throw new DeftException($"{Source}: {Prefix}{field} is missing.");

    public int RequiredPositive(JsonObject o, string key, string field) => Positive(o, key, field)
        ?? throw new DeftException($"{Source}: {Prefix}{field} is missing.");

    public int? Positive(JsonObject o, string key, string field) => PositiveValue(o[key], field);

    public int? PositiveValue(JsonNode? node, string field)
    {
        var n = NumberValue(node, field);
        if (n is null) return null;
        if (n is not { } v || v != Math.Floor(v) || v < 1 || v > 1 << 24)
            throw new DeftException($"{Source}: {Prefix}{field} = {n}; it must be a positive whole number.");
        return (int)v;
    }

    public double? Number(JsonObject o, string key, string field) => NumberValue(o[key], field);

    public double? NumberValue(JsonNode? node, string field)
    {
        if (node is null) return null;
        if (node is JsonValue v && v.GetValueKind() == JsonValueKind.Number && v.TryGetValue<double>(out var d) && double.IsFinite(d)) return d;
        throw new DeftException($"{Source}: {Prefix}{field} is {Kind(node)}, not a number.");
    }

    public bool? Bool(JsonObject o, string key, string field)
    {
        var node = o[key];
        if (node is null) return null;
        if (node is JsonValue v && v.GetValueKind() is JsonValueKind.True or JsonValueKind.False) return v.GetValue<bool>();
        throw new DeftException($"{Source}: {Prefix}{field} is {Kind(node)}, not true or false.");
    }

    public string? String(JsonObject o, string key, string field)
    {
        var node = o[key];
        if (node is null) return null;
        if (node is JsonValue v && v.GetValueKind() == JsonValueKind.String) return v.GetValue<string>();
        throw new DeftException($"{Source}: {Prefix}{field} is {Kind(node)}, not a string.");
    }

    /// <summary>An enum spelled in lower case with underscores (open_clip's strings); the error lists the valid ones.</summary>
    public T Enum<T>(JsonObject o, string key, T fallback) where T : struct, Enum
    {
        if (String(o, key, key) is not { } s) return fallback;
        var valid = System.Enum.GetValues<T>().ToDictionary(e => e.ToString().ToLowerInvariant(), e => e);
        return valid.TryGetValue(s.Replace("_", "", StringComparison.Ordinal).ToLowerInvariant(), out var value) ? value
            : throw new DeftException($"{Source}: {Prefix}{key} = '{TextClip.Clip(s, 40)}' is not supported (valid: {string.Join(", ", valid.Keys)}).");
    }

    public static string Kind(JsonNode? node) => node switch
    {
        null => "null",
        JsonArray => "an array",
        JsonObject => "an object",
        JsonValue v => v.GetValueKind() switch
        {
            JsonValueKind.String => $"the string \"{TextClip.Clip(v.GetValue<string>(), 40)}\"",
            JsonValueKind.True or JsonValueKind.False => "a boolean",
            JsonValueKind.Number => $"the number {v.ToJsonString()}",
            _ => "null",
        },
        _ => "something else",
    };
}

/// <summary>System.Text.Json uses open_clip's shape for <see cref="ClipConfig"/> (see <see cref="ClipConfigs.ToJson(ClipConfig)"/>).</summary>
internal sealed class ClipConfigJsonConverter : JsonConverter<ClipConfig>
{
    public override ClipConfig Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        ClipConfigs.FromJson(JsonNode.Parse(ref reader), "CLIP config JSON");

    public override void Write(Utf8JsonWriter writer, ClipConfig value, JsonSerializerOptions options) =>
        ClipConfigs.ToJson(value).WriteTo(writer, options);
}

/// <summary>System.Text.Json uses open_clip's <c>vision_cfg</c> shape for <see cref="ClipVisionConfig"/>.</summary>
internal sealed class ClipVisionConfigJsonConverter : JsonConverter<ClipVisionConfig>
{
    public override ClipVisionConfig Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        ClipConfigs.VisionFromJson(JsonNode.Parse(ref reader), "CLIP vision config JSON");

    public override void Write(Utf8JsonWriter writer, ClipVisionConfig value, JsonSerializerOptions options) =>
        ClipConfigs.ToJson(value).WriteTo(writer, options);
}

/// <summary>System.Text.Json uses open_clip's <c>text_cfg</c> shape for <see cref="ClipTextConfig"/>.</summary>
internal sealed class ClipTextConfigJsonConverter : JsonConverter<ClipTextConfig>
{
    public override ClipTextConfig Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        ClipConfigs.TextFromJson(JsonNode.Parse(ref reader), "CLIP text config JSON");

    public override void Write(Utf8JsonWriter writer, ClipTextConfig value, JsonSerializerOptions options) =>
        ClipConfigs.ToJson(value).WriteTo(writer, options);
}
