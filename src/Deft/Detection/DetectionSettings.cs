using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Deft.Data.Transforms;
using Deft.IO;
using Deft.Peft;
using Deft.Prompts;

namespace Deft.Detection;

/// <summary>What is detected on: the model, the data and the labels given for it.</summary>
public sealed record DataSettings
{
    /// <summary>Model spec: file, directory, or random:&lt;preset&gt;[@seed] (see ClipLoader).</summary>
    public string Model { get; init; } = "";
    /// <summary>The data set's file or directory.</summary>
    public string Data { get; init; } = "";
    /// <summary>The data set's format (see DatasetFactory).</summary>
    public string Format { get; init; } = "";
    public string Split { get; init; } = "train";
    /// <summary>Label file (index,label[,true_label]) choosing the participating samples and their given labels.</summary>
    public string? Labels { get; init; }
    /// <summary>Class names file, one per line (formats without names).</summary>
    public string? ClassesFile { get; init; }
    /// <summary>BPE vocabulary for OpenAI-layout weights (default: the model directory's, else KnownLocations).</summary>
    public string? Vocab { get; init; }
    /// <summary>
    /// A labelled test set in the training data's format (DeFT: the prompt classifier's accuracy on it is recorded after
    /// every epoch). It never influences training or the selection.
    /// </summary>
    public string? TestData { get; init; }
    /// <summary>The split of <see cref="TestData"/> (null: "test").</summary>
    public string? TestSplit { get; init; }
}

/// <summary>
/// The optimisation schedule; defaults are the paper's ViT-B/16 settings (10 epochs, warm-up 1, batch 64, SGD lr 0.03,
/// momentum 0.9, weight decay 5e-4). Whether the rate follows a cosine or stays constant is the variant's
/// (<see cref="DeftVariants.ConstantLearningRate"/>). JSON names are summary.json's.
/// </summary>
public sealed record TrainingSchedule
{
    public int Epochs { get; init; } = 10;
    public int Warmup { get; init; } = 1;
    [JsonPropertyName("batch")] public int BatchSize { get; init; } = 64;
    [JsonPropertyName("lr")] public double LearningRate { get; init; } = 0.03;
    public double Momentum { get; init; } = 0.9;
    public double WeightDecay { get; init; } = 5e-4;
    /// <summary>Fixes prompt initialization, shuffling and augmentation: the same seed gives the same result.</summary>
    public long Seed { get; init; }
    /// <summary>
    /// DeFT: store the trainable parameters and their momentum in float16 after every step, as the official code's fp16
    /// CLIP keeps its contexts, VPT tokens and PEFT modules (updates below float16's resolution are lost); the
    /// arithmetic stays fp32. Written only when set, so the fingerprints of fp32 runs are those of earlier versions.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public bool Fp16Trainables { get; init; }
}

/// <summary>How images enter the model: normalization, training augmentation and the image tower's precision.</summary>
public sealed record PreprocessSettings
{
    [JsonPropertyName("dtype"), JsonConverter(typeof(TowerPrecisionJson))]
    public TowerPrecision Precision { get; init; } = TowerPrecision.Fp32;
    /// <summary>Per-channel mean; null: the official code's CIFAR statistics for cifar10/100, else the model's own.</summary>
    [JsonConverter(typeof(RgbTripleJson))] public RgbTriple? Mean { get; init; }
    /// <summary>Per-channel standard deviation; null: as for <see cref="Mean"/>.</summary>
    [JsonConverter(typeof(RgbTripleJson))] public RgbTriple? Std { get; init; }
    /// <summary>
    /// Training augmentation; null: cifar for 32-pixel-class data (cifar10/100, idx), clip otherwise. The official-*
    /// presets also fix the evaluation transform (the detector file keeps them for `deft score`).
    /// </summary>
    [JsonConverter(typeof(AugmentJson))] public AugmentPreset? Augment { get; init; }
}

/// <summary>Which detector runs and the settings only some methods read.</summary>
public sealed record MethodSettings
{
    [JsonConverter(typeof(DetectionMethodJson))] public DetectionMethod Method { get; init; } = DetectionMethod.Deft;
    /// <summary>DeFT: which selections the report uses.</summary>
    [JsonConverter(typeof(SelectionSourceJson))] public SelectionSource Selection { get; init; } = SelectionSource.LastEpoch;
    /// <summary>DeFT: which official phase-1 script the objective follows (see <see cref="DeftVariant"/>).</summary>
    [JsonConverter(typeof(DeftVariantJson))] public DeftVariant Variant { get; init; } = DeftVariant.Synthetic;
    /// <summary>small-loss: the forget rate the schedule ramps up to (the assumed noise rate), in [0, 1).</summary>
    public double? NoiseRate { get; init; }
    /// <summary>confident-learning and its variants: cross-validation folds.</summary>
    public int Folds { get; init; } = 5;
    /// <summary>label-match, clip-posterior: prompt templates (see PromptTemplates.Resolve); null: "a photo of a {}.".</summary>
    public string? Templates { get; init; }
    /// <summary>
    /// gmm: refit the mixture before every epoch after warm-up and train on its clean samples, through all epochs, as
    /// the official <c>main_baseline.py</c>; false: train the warm-up epochs and fit once.
    /// </summary>
    public bool GmmRefit { get; init; }
    /// <summary>
    /// small-loss, gmm: the classifier trained on the given labels (see <see cref="BaselineClassifier"/>). Written only
    /// when it is not the default, so the settings of prompt runs read as those of earlier versions.
    /// </summary>
    [JsonConverter(typeof(BaselineClassifierJson)), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public BaselineClassifier Classifier { get; init; } = BaselineClassifier.Prompts;
}

/// <summary>
/// The one serialization of the detection settings tree (System.Text.Json, snake_case names): its groups are
/// <c>data</c>, <c>schedule</c>, <c>preprocess</c>, <c>peft</c>, <c>prompts</c>, <c>method</c> and <c>issues</c>, and its leaf names are
/// unique across groups, so <see cref="Flatten"/> gives summary.json's flat "config" keys.
/// </summary>
public static class DetectionSettingsJson
{
    public static JsonSerializerOptions Options { get; } = new(DetectionOutputs.JsonOptions) { WriteIndented = false };

    /// <summary>The settings of <paramref name="o"/> as one JSON object (run-only things such as the output directory and threads are not settings).</summary>
    public static JsonObject Serialize(DetectOptions o) => new()
    {
        ["data"] = JsonSerializer.SerializeToNode(o.DataSettings, Options),
        ["schedule"] = JsonSerializer.SerializeToNode(o.Schedule, Options),
        ["preprocess"] = JsonSerializer.SerializeToNode(o.Preprocess, Options),
        ["peft"] = JsonSerializer.SerializeToNode(o.Peft, Options),
        ["prompts"] = JsonSerializer.SerializeToNode(o.Prompts, Options),
        ["method"] = JsonSerializer.SerializeToNode(o.MethodSettings, Options),
        ["issues"] = JsonSerializer.SerializeToNode(o.Issues, Options),
    };

    /// <summary>The leaves of the groups, by their own names (unique across groups).</summary>
    public static Dictionary<string, JsonNode?> Flatten(JsonObject tree)
    {
        var flat = new Dictionary<string, JsonNode?>();
        foreach (var (_, group) in tree)
            foreach (var (key, value) in group!.AsObject())
                if (!flat.TryAdd(key, value?.DeepClone())) throw new InvalidOperationException($"Settings key '{key}' appears in two groups.");
        return flat;
    }

    /// <summary>A JSON leaf as the CLR value summary.json's config dictionary holds (string, long, double, bool, or the node for arrays/objects).</summary>
    public static object? ToValue(JsonNode? node)
    {
        if (node is null) return null;
        var e = JsonSerializer.Deserialize<JsonElement>(node.ToJsonString());
        // Typed object: JsonNode's implicit conversions would otherwise make every arm a node again.
        return e.ValueKind switch
        {
            JsonValueKind.String => (object?)e.GetString(),
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            JsonValueKind.Null => null,
            JsonValueKind.Number => e.TryGetInt32(out var i) ? i : e.TryGetInt64(out var l) ? (object)l : e.GetDouble(),
            _ => node.DeepClone(),
        };
    }

    /// <summary>
    /// The part of the tree a resumed DeFT run must share with the run that wrote its checkpoint: the model, data and
    /// labels (by content fingerprint), schedule, resolved preprocessing, PEFT, prompts and variant — not the output
    /// directory, threads, cache or report title, nor the selection (it is made after training).
    /// </summary>
    public static JsonObject TrainingPart(DetectOptions o, LabelAssignment labels, Normalization normalization, AugmentPreset augment)
    {
        var tree = Serialize(o);
        var data = tree["data"]!.AsObject();
        var preprocess = tree["preprocess"]!.AsObject();
        return new JsonObject
        {
            ["data"] = new JsonObject
            {
                ["model"] = data["model"]!.DeepClone(), ["data"] = Path.GetFullPath(o.Data),
                ["format"] = o.Format.ToLowerInvariant(), ["split"] = o.Split.ToLowerInvariant(), ["labels"] = labels.Fingerprint(),
            },
            ["schedule"] = tree["schedule"]!.DeepClone(),
            ["preprocess"] = new JsonObject
            {
                ["dtype"] = preprocess["dtype"]!.DeepClone(),
                ["mean"] = JsonSerializer.SerializeToNode(new[] { normalization.Mean.R, normalization.Mean.G, normalization.Mean.B }, Options),
                ["std"] = JsonSerializer.SerializeToNode(new[] { normalization.Std.R, normalization.Std.G, normalization.Std.B }, Options),
                ["augment"] = augment.ToName(),
            },
            ["peft"] = tree["peft"]!.DeepClone(),
            ["prompts"] = tree["prompts"]!.DeepClone(),
            ["method"] = new JsonObject { ["variant"] = tree["method"]!["variant"]!.DeepClone() },
        };
    }

    /// <summary>"sha256:" and the hex SHA-256 of <paramref name="node"/>'s compact JSON.</summary>
    public static string Hash(JsonNode node) =>
        "sha256:" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(node.ToJsonString())));
}

internal sealed class DetectionMethodJson() : NamedEnumJson<DetectionMethod>(m => m.ToName(), DetectionMethods.Parse);
internal sealed class SelectionSourceJson() : NamedEnumJson<SelectionSource>(s => s.ToName(), SelectionSources.Parse);
internal sealed class BaselineClassifierJson() : NamedEnumJson<BaselineClassifier>(c => c.ToName(), BaselineClassifiers.Parse);
internal sealed class DeftVariantJson() : NamedEnumJson<DeftVariant>(v => v.ToName(), DeftVariants.Parse);
internal sealed class TowerPrecisionJson() : NamedEnumJson<TowerPrecision>(p => p.ToName(),
    s => s switch { "fp32" => TowerPrecision.Fp32, "bf16" => TowerPrecision.Bf16, "auto" => TowerPrecision.Auto, _ => throw new DeftException($"precision '{s}' is not auto, fp32 or bf16") });

internal sealed class AugmentJson : JsonConverter<AugmentPreset?>
{
    public override bool HandleNull => true;

    public override AugmentPreset? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        reader.TokenType == JsonTokenType.Null ? null
        : AugmentPresets.TryParse(reader.GetString() ?? "") is { } a ? a
        : throw new JsonException("Unknown augmentation.");

    public override void Write(Utf8JsonWriter writer, AugmentPreset? value, JsonSerializerOptions options)
    {
        if (value is { } a) writer.WriteStringValue(a.ToName());
        else writer.WriteNullValue();
    }
}

/// <summary>RGB statistics as [r, g, b], as summary.json's mean/std.</summary>
internal sealed class RgbTripleJson : JsonConverter<RgbTriple?>
{
    public override bool HandleNull => true;

    public override RgbTriple? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType == JsonTokenType.Null) return null;
        var v = JsonSerializer.Deserialize<float[]>(ref reader, options);
        return v is { Length: 3 } ? new RgbTriple(v[0], v[1], v[2]) : throw new JsonException("Expected three numbers.");
    }

    public override void Write(Utf8JsonWriter writer, RgbTriple? value, JsonSerializerOptions options)
    {
        if (value is { } t) JsonSerializer.Serialize(writer, new[] { t.R, t.G, t.B }, options);
        else writer.WriteNullValue();
    }
}
