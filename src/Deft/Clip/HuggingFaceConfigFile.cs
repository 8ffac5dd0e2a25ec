using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Deft.IO;

namespace Deft.Clip;

/// <summary>
/// A Hugging Face CLIPModel <c>config.json</c>, validated field by field: wrong types, impossible values and a missing
/// vision_config/text_config are errors naming the field; <see cref="CheckAgainst"/> compares its sizes with the ones
/// the weights imply and names the first field that disagrees.
/// </summary>
internal sealed class HuggingFaceConfigFile
{
    private readonly string _path;
    private readonly JsonFields _fields;
    private readonly List<(string Field, long Declared, Func<ClipConfig, long> Actual)> _sizes = [];

    private HuggingFaceConfigFile(string path)
    {
        _path = path;
        _fields = new JsonFields(path);
    }

    public ClipActivation Activation { get; private set; }
    public double LayerNormEps { get; private set; }
    public int VisionHeads { get; private set; }
    public int TextHeads { get; private set; }

    /// <summary>The whole config, with transformers' CLIPConfig defaults (ViT-B/32's sizes) for absent fields.</summary>
    public ClipConfig Config { get; private set; } = null!;

    public static HuggingFaceConfigFile Read(string path)
    {
        JsonNode? node;
        try
        {
            var bytes = File.ReadAllBytes(path);
            node = JsonNode.Parse(TorchPickle.StrictUtf8.GetString(bytes));
        }
        catch (DecoderFallbackException ex)
        {
            throw new DeftException($"{path}: not UTF-8 text, so not a Hugging Face config.json.", ex);
        }
        catch (JsonException ex)
        {
            throw new DeftException($"{path}: not valid JSON ({ex.Message}).", ex);
        }
        if (node is not JsonObject root)
            throw new DeftException($"{path}: the JSON is {JsonFields.Kind(node)}, not an object; a Hugging Face CLIPModel config.json is an object with vision_config and text_config.");
        var file = new HuggingFaceConfigFile(path);
        var modelType = file.String(root, "model_type", "model_type");
        if (modelType is not null && modelType != "clip")
            throw new DeftException($"{path}: model_type is '{TextClip.Clip(modelType, 40)}'; Deft reads Hugging Face CLIPModel directories (model_type 'clip').");
        var vision = file.Tower(root, "vision_config");
        var text = file.Tower(root, "text_config");
        var visionAct = file.Activation_(vision, "vision_config.hidden_act");
        var textAct = file.Activation_(text, "text_config.hidden_act");
        if (visionAct != textAct)
            throw new DeftException($"{path}: the vision tower uses {visionAct} but the text tower {textAct}; Deft needs one activation for both.");
        var visionEps = file.Number(vision, "layer_norm_eps", "vision_config.layer_norm_eps") ?? 1e-5;
        var textEps = file.Number(text, "layer_norm_eps", "text_config.layer_norm_eps") ?? 1e-5;
        foreach (var (eps, field) in new[] { (visionEps, "vision_config.layer_norm_eps"), (textEps, "text_config.layer_norm_eps") })
            if (!(eps > 0 && eps < 1))
                throw new DeftException($"{path}: {field} = {eps}; layer-norm eps must be a small positive number such as 1e-05.");
        if (Math.Abs(visionEps - textEps) > 1e-12)
            throw new DeftException($"{path}: layer_norm_eps differs between towers ({visionEps} vs {textEps}); Deft needs one value.");
        file.Activation = visionAct;
        file.LayerNormEps = visionEps;
        file.VisionHeads = file.Positive(vision, "num_attention_heads", "vision_config.num_attention_heads") ?? 12;
        file.TextHeads = file.Positive(text, "num_attention_heads", "text_config.num_attention_heads") ?? 8;

        foreach (var (tower, towerName, heads) in new[] { (vision, "vision_config", file.VisionHeads), (text, "text_config", file.TextHeads) })
            if (file.Positive(tower, "hidden_size", $"{towerName}.hidden_size") is { } width && width % heads != 0)
                throw new DeftException($"{path}: {towerName}.num_attention_heads = {heads} does not divide {towerName}.hidden_size = {width}; " +
                    "fix one of the two fields.");
        file.Size(vision, "hidden_size", "vision_config", c => c.Vision.Width);
        file.Size(vision, "num_hidden_layers", "vision_config", c => c.Vision.Layers);
        file.Size(vision, "intermediate_size", "vision_config", c => (long)Math.Round(c.Vision.MlpRatio * c.Vision.Width));
        file.Size(vision, "patch_size", "vision_config", c => c.Vision.PatchSize);
        file.Size(vision, "image_size", "vision_config", c => c.Vision.ImageSize);
        file.Size(text, "hidden_size", "text_config", c => c.Text.Width);
        file.Size(text, "num_hidden_layers", "text_config", c => c.Text.Layers);
        file.Size(text, "intermediate_size", "text_config", c => (long)Math.Round(c.Text.MlpRatio * c.Text.Width));
        file.Size(text, "max_position_embeddings", "text_config", c => c.Text.ContextLength);
        file.Size(text, "vocab_size", "text_config", c => c.Text.VocabSize);
        file.Size(root, "projection_dim", "", c => c.EmbedDim);

        int Or(JsonObject o, string key, string tower, int fallback) => file.Positive(o, key, tower.Length == 0 ? key : $"{tower}.{key}") ?? fallback;
        var visionWidth = Or(vision, "hidden_size", "vision_config", 768);
        var textWidth = Or(text, "hidden_size", "text_config", 512);
        var logitScale = file.Number(root, "logit_scale_init_value", "logit_scale_init_value");
        if (logitScale is { } ls && !(ls > 0 && ls < 20))
            throw new DeftException($"{path}: logit_scale_init_value = {ls}; it is a log temperature such as 2.6592 (ln 1/0.07).");
        file.Config = new ClipConfig(Or(root, "projection_dim", "", 512),
            new ClipVisionConfig(Or(vision, "image_size", "vision_config", 224), Or(vision, "patch_size", "vision_config", 32), visionWidth,
                Or(vision, "num_hidden_layers", "vision_config", 12), file.VisionHeads, (double)Or(vision, "intermediate_size", "vision_config", 3072) / visionWidth),
            new ClipTextConfig(Or(text, "max_position_embeddings", "text_config", 77), Or(text, "vocab_size", "text_config", 49408), textWidth,
                Or(text, "num_hidden_layers", "text_config", 12), file.TextHeads, (double)Or(text, "intermediate_size", "text_config", 2048) / textWidth),
            file.Activation, file.LayerNormEps,
            // transformers writes ln(1/0.07) rounded to 2.6592; absent means OpenAI's value.
            logitScale ?? ClipConfig.OpenAiInitLogitScale);
        return file;
    }

    /// <summary>Throws naming the first size field of the config that the weights contradict.</summary>
    public void CheckAgainst(ClipConfig fromWeights, string weightsPath)
    {
        foreach (var (field, declared, actual) in _sizes)
        {
            var value = actual(fromWeights);
            if (value != declared)
                throw new DeftException($"{_path}: {field} = {declared}, but the weights in {Path.GetFileName(weightsPath)} have {value}. " +
                    "The config.json does not belong to these weights; fix the field or use the model's own config.json.");
        }
    }

    private JsonObject Tower(JsonObject root, string name) => root[name] switch
    {
        JsonObject o => o,
        null => throw new DeftException($"{_path}: has no {name}. A Hugging Face CLIPModel config.json holds vision_config and text_config " +
            "(a CLIPVisionModel's or CLIPTextModel's config alone is not a whole CLIP)."),
        var other => throw new DeftException($"{_path}: {name} is {JsonFields.Kind(other)}, not an object."),
    };

    private void Size(JsonObject o, string key, string tower, Func<ClipConfig, long> actual)
    {
        var field = tower.Length == 0 ? key : $"{tower}.{key}";
        if (Positive(o, key, field) is { } v) _sizes.Add((field, v, actual));
    }

    // The typed reads share ClipConfigs' JsonFields (same messages: the file, then the field's path).
    private int? Positive(JsonObject o, string key, string field) => _fields.Positive(o, key, field);

    private double? Number(JsonObject o, string key, string field) => _fields.Number(o, key, field);

    private string? String(JsonObject o, string key, string field) => _fields.String(o, key, field);

    private ClipActivation Activation_(JsonObject o, string field)
    {
        var name = String(o, "hidden_act", field);
        return name switch
        {
            null or "quick_gelu" => ClipActivation.QuickGelu, // transformers' CLIP default
            "gelu" => ClipActivation.Gelu,
            _ => throw new DeftException($"{_path}: {field} = '{TextClip.Clip(name, 40)}' is not supported (valid: quick_gelu, gelu)."),
        };
    }
}
