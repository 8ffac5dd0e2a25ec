using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Deft.Clip;
using Deft.Data.Transforms;
using Deft.Peft;
using Deft.Prompts;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Deft.Detection;

/// <summary>
/// What is needed to rebuild a trained detector around its CLIP model, in the settings tree's records (serialized by
/// <see cref="DetectionSettingsJson.Options"/>): the prompts and PEFT as trained, the preprocessing with the resolved
/// normalization, the seed and the variant whose selection rule <c>deft score</c> applies.
/// </summary>
public sealed record DetectorConfig
{
    /// <summary>The model spec; paths are absolute so <c>deft score</c> finds them from any directory.</summary>
    public string Model { get; init; } = "";
    public string? Vocab { get; init; }
    public IReadOnlyList<string> Classes { get; init; } = [];
    public PromptOptions Prompts { get; init; } = new();
    public PeftOptions Peft { get; init; } = PeftOptions.Default;
    /// <summary>
    /// Precision and the normalization the detector was trained with (always explicit); the augmentation only when it is
    /// an official loader's, whose evaluation transform scoring must repeat.
    /// </summary>
    public PreprocessSettings Preprocess { get; init; } = new();
    public long Seed { get; init; }
    [JsonConverter(typeof(DeftVariantJson))] public DeftVariant Variant { get; init; } = DeftVariant.Synthetic;

    [JsonIgnore] public Normalization Normalization => Preprocess is { Mean: { } m, Std: { } s } ? new Normalization(m, s)
        : throw new DeftException("the detector's normalization is missing");

    public static DetectorConfig From(DetectOptions o, IReadOnlyList<string> classes, Normalization normalization) => new()
    {
        Model = Absolute(o.Model), Vocab = o.Vocab is null ? null : Absolute(o.Vocab), Classes = classes.ToArray(), Prompts = o.Prompts, Peft = o.Peft,
        Preprocess = new PreprocessSettings
        {
            Precision = o.Precision, Mean = normalization.Mean, Std = normalization.Std,
            Augment = o.Augment is { } a && a.IsOfficialLoader() ? a : null,
        },
        Seed = o.Seed, Variant = o.Variant,
    };

    /// <summary>Paths are stored absolute so `deft score` finds them from any directory; random:… specs stay as they are.</summary>
    private static string Absolute(string spec) => File.Exists(spec) || Directory.Exists(spec) ? Path.GetFullPath(spec) : spec;
}

/// <summary>The flat form detector files had before the settings tree (every setting a string or number); read only.</summary>
internal sealed record LegacyDetectorConfig(
    string Model,
    IReadOnlyList<string> Classes,
    int ContextLength,
    string ClassTokenPosition,
    bool ClassSpecific,
    string? ContextInit,
    string Peft,
    int? Partial,
    int VptLength,
    int LoraRank,
    int AdapterDim,
    float[] Mean,
    float[] Std,
    string Precision,
    long Seed,
    string? Vocab,
    string Variant = "synthetic")
{
    /// <summary>The same detector in today's records; a damaged value throws <see cref="DeftException"/>.</summary>
    public DetectorConfig ToConfig()
    {
        if (Mean is not { Length: 3 } || Std is not { Length: 3 }) throw new DeftException("mean/std are not three numbers");
        if (Precision is not ("fp32" or "bf16")) throw new DeftException($"precision '{TextClip.Clip(Precision ?? "null", 20)}' is not fp32 or bf16");
        if (ClassTokenPosition is null || Peft is null) throw new DeftException("class_token_position or peft is missing");
        return new()
        {
            Model = Model, Vocab = Vocab, Classes = Classes,
            Prompts = new PromptOptions(ContextLength, ClassTokenPositions.Parse(ClassTokenPosition), ClassSpecific, ContextInit),
            Peft = new PeftOptions(PeftOptions.ParseKinds(Peft), Partial, VptLength, LoraRank, AdapterDim),
            Preprocess = new PreprocessSettings
            {
                Precision = Precision == "bf16" ? TowerPrecision.Bf16 : TowerPrecision.Fp32,
                Mean = new RgbTriple(Mean[0], Mean[1], Mean[2]), Std = new RgbTriple(Std[0], Std[1], Std[2]),
            },
            Seed = Seed, Variant = Variant is null ? DeftVariant.Synthetic : DeftVariants.Parse(Variant),
        };
    }
}

/// <summary>
/// <c>DIR/detector.safetensors</c>: the trained prompt contexts and PEFT weights (<c>param.*</c>, the names of
/// <see cref="DeftNetwork.Trainables"/>) and the <see cref="DetectorConfig"/> (metadata <c>config</c>, JSON) needed to
/// rebuild the network around the same CLIP weights.
/// </summary>
public static class DetectorFile
{
    public const string FileName = "detector.safetensors";
    private const string FormatTag = "deft-detector-1";

    public static void Save(string path, DetectorConfig config, IReadOnlyList<(string Name, Parameter Parameter)> trainables) =>
        Safetensors.Save(path, trainables.Select(t => new KeyValuePair<string, Tensor>($"param.{t.Name}", t.Parameter)),
            new Dictionary<string, string> { ["format"] = FormatTag, ["config"] = JsonSerializer.Serialize(config, DetectionSettingsJson.Options) });

    public static DetectorConfig ReadConfig(string path)
    {
        var (_, metadata, _) = Safetensors.ReadHeader(path);
        if (metadata.GetValueOrDefault("format") != FormatTag || !metadata.TryGetValue("config", out var json))
            throw new DeftException($"{path}: not a Deft detector file (expected one written by `deft detect`).");
        DetectorConfig? config;
        try
        {
            // Files written before the settings tree hold the flat form (no "prompts" group).
            config = JsonNode.Parse(json) is JsonObject root && !root.ContainsKey("prompts")
                ? LegacyConfig(JsonSerializer.Deserialize<LegacyDetectorConfig>(json, DetectionOutputs.JsonOptions), path)
                : JsonSerializer.Deserialize<DetectorConfig>(json, DetectionSettingsJson.Options);
        }
        catch (Exception ex) when (ex is JsonException or NotSupportedException or InvalidOperationException or ArgumentException)
        {
            throw new DeftException($"{path}: the detector configuration (metadata 'config') is not valid JSON for a detector ({TextClip.Clip(ex.Message, 200)}). " +
                "The file is damaged; run `deft detect` again.", ex);
        }
        if (config is null) throw new DeftException($"{path}: the detector configuration is empty.");
        Validate(config, path);
        return config;
    }

    private static DetectorConfig? LegacyConfig(LegacyDetectorConfig? legacy, string path)
    {
        if (legacy is null) return null;
        if (legacy.Classes is null) Damaged("classes are missing", path);
        try
        {
            return legacy.ToConfig();
        }
        catch (Exception ex) when (ex is DeftException or ArgumentException or FormatException or InvalidOperationException)
        {
            Damaged(ex.Message, path);
            return null;
        }
    }

    private static void Validate(DetectorConfig c, string path)
    {
        static bool Finite(RgbTriple? t, bool positive) => t is { } v && new[] { v.R, v.G, v.B }.All(x => float.IsFinite(x) && (!positive || x > 0));
        string? problem =
            string.IsNullOrEmpty(c.Model) ? "model is missing"
            : c.Classes is null || c.Classes.Count == 0 || c.Classes.Any(n => n is null) ? "classes are missing"
            : c.Prompts is null || c.Peft is null || c.Preprocess is null ? "prompts, peft or preprocess is missing"
            : c.Prompts.ContextLength is < 1 or > 1000 ? $"context_length {c.Prompts.ContextLength} is outside 1..1000"
            : c.Peft.Kinds is null || c.Peft.VptLength is < 0 or > 10_000 || c.Peft.LoraRank is < 0 or > 100_000 || c.Peft.AdapterDim is < 0 or > 100_000 || c.Peft.Partial is < 1
                ? "a PEFT size is negative or impossible"
            : !Finite(c.Preprocess.Mean, false) || !Finite(c.Preprocess.Std, true) ? "mean/std are not three finite numbers (std > 0)"
            : null;
        if (problem is not null) Damaged(problem, path);
    }

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private static void Damaged(string problem, string path) =>
        throw new DeftException($"{path}: the detector configuration is damaged: {TextClip.Clip(problem, 200)}. Run `deft detect` again.");

    /// <summary>Copies the saved values into <paramref name="trainables"/>; every name must be present with its shape.</summary>
    public static void LoadInto(string path, IReadOnlyList<(string Name, Parameter Parameter)> trainables)
    {
        var tensors = Safetensors.Load(path);
        try
        {
            using var noGrad = no_grad();
            foreach (var (name, p) in trainables)
            {
                // Files written before DeftNetwork was a module use the shorter legacy names.
                if (!tensors.TryGetValue($"param.{name}", out var value) &&
                    !(DeftNetwork.LegacyName(name) is { } legacy && tensors.TryGetValue($"param.{legacy}", out value)))
                    throw new DeftException($"{path}: parameter '{name}' is missing; the file does not belong to this configuration.");
                if (!value.shape.SequenceEqual(p.shape))
                    throw new DeftException($"{path}: parameter '{name}' has shape [{string.Join(", ", value.shape)}], expected [{string.Join(", ", p.shape)}].");
                p.copy_(value);
            }
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
    }
}
