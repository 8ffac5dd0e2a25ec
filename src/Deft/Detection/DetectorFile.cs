using System.Text.Json;
using Deft.Clip;
using Deft.Data.Transforms;
using Deft.Peft;
using Deft.Prompts;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Deft.Detection;

/// <summary>What is needed to rebuild a trained detector around its CLIP model.</summary>
public sealed record DetectorConfig(
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
    public PromptOptions PromptOptions => new(ContextLength, ClassTokenPositions.Parse(ClassTokenPosition), ClassSpecific, ContextInit);
    public PeftOptions PeftOptions => new(PeftOptions.ParseKinds(Peft), Partial, VptLength, LoraRank, AdapterDim);
    public Normalization Normalization => Normalization.From(Mean, Std);
    public TowerPrecision TowerPrecision => Precision == "bf16" ? TowerPrecision.Bf16 : TowerPrecision.Fp32;
    /// <summary>The selection rule <c>deft score</c> applies: the one the detector was trained with (files without it: synthetic).</summary>
    public DeftVariant DeftVariant => Variant is null ? DeftVariant.Synthetic : DeftVariants.Parse(Variant);

    public static DetectorConfig From(DetectOptions o, IReadOnlyList<string> classes, Normalization normalization) => new(
        Absolute(o.Model), classes.ToArray(), o.Prompts.ContextLength, o.Prompts.Position.ToName(), o.Prompts.ClassSpecific, o.Prompts.InitWords,
        o.Peft.Name, o.Peft.Partial, o.Peft.VptLength, o.Peft.LoraRank, o.Peft.AdapterDim,
        [normalization.Mean.R, normalization.Mean.G, normalization.Mean.B], [normalization.Std.R, normalization.Std.G, normalization.Std.B],
        o.Precision == TowerPrecision.Bf16 ? "bf16" : "fp32", o.Seed, o.Vocab is null ? null : Absolute(o.Vocab), o.Variant.ToName());

    /// <summary>Paths are stored absolute so `deft score` finds them from any directory; random:… specs stay as they are.</summary>
    private static string Absolute(string spec) => File.Exists(spec) || Directory.Exists(spec) ? Path.GetFullPath(spec) : spec;
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
            new Dictionary<string, string> { ["format"] = FormatTag, ["config"] = JsonSerializer.Serialize(config, DetectionOutputs.JsonOptions) });

    public static DetectorConfig ReadConfig(string path)
    {
        var (_, metadata, _) = Safetensors.ReadHeader(path);
        if (metadata.GetValueOrDefault("format") != FormatTag || !metadata.TryGetValue("config", out var json))
            throw new DeftException($"{path}: not a Deft detector file (expected one written by `deft detect`).");
        DetectorConfig? config;
        try
        {
            config = JsonSerializer.Deserialize<DetectorConfig>(json, DetectionOutputs.JsonOptions);
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

    private static void Validate(DetectorConfig c, string path)
    {
        string? problem =
            string.IsNullOrEmpty(c.Model) ? "model is missing"
            : c.Classes is null || c.Classes.Count == 0 || c.Classes.Any(n => n is null) ? "classes are missing"
            : c.ContextLength is < 1 or > 1000 ? $"context_length {c.ContextLength} is outside 1..1000"
            : c.VptLength is < 0 or > 10_000 || c.LoraRank is < 0 or > 100_000 || c.AdapterDim is < 0 or > 100_000 || c.Partial is < 1
                ? "a PEFT size is negative or impossible"
            : c.Mean is not { Length: 3 } || c.Std is not { Length: 3 } || c.Mean.Any(v => !float.IsFinite(v)) || c.Std.Any(v => !(v > 0 && float.IsFinite(v)))
                ? "mean/std are not three finite numbers (std > 0)"
            : c.Precision is not ("fp32" or "bf16") ? $"precision '{TextClip.Clip(c.Precision ?? "null", 20)}' is not fp32 or bf16"
            : c.ClassTokenPosition is null || c.Peft is null ? "class_token_position or peft is missing"
            : null;
        if (problem is null)
        {
            try
            {
                _ = c.PromptOptions;
                _ = c.PeftOptions;
                _ = c.Normalization;
                _ = c.DeftVariant;
            }
            catch (DeftException ex)
            {
                problem = ex.Message;
            }
            catch (Exception ex) when (ex is ArgumentException or FormatException or InvalidOperationException)
            {
                problem = ex.Message;
            }
        }
        if (problem is not null)
            throw new DeftException($"{path}: the detector configuration is damaged: {TextClip.Clip(problem, 200)}. Run `deft detect` again.");
    }

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
