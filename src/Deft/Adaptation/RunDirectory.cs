using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Deft.Clip;
using Deft.Data;
using Deft.IO;
using static TorchSharp.torch;

namespace Deft.Adaptation;

/// <summary>
/// The output directory of one phase-2 run: <c>run.json</c> records what the run is (options and data identity) so
/// that <c>--resume</c> continues only the same run and a different run refuses to overwrite it without
/// <c>--force</c>; <c>checkpoint.safetensors</c> holds the state after the last finished epoch and is removed when
/// the run completes. The directory's lock (<see cref="OutputDirectory.Lock"/>) is held from
/// <c>Prepare</c> until dispose.
/// </summary>
internal sealed class RunDirectory : IDisposable
{
    public const string RunFile = "run.json";
    public const string CheckpointFile = "checkpoint.safetensors";
    public const string ResultFile = "result.json";

    /// <summary>Every file a run writes; --force removes these and leftover temporary files (and nothing else).</summary>
    private static readonly string[] RunFiles = [RunFile, CheckpointFile, ResultFile, AdaptedModel.WeightsFile, AdaptedModel.ConfigFile];

    internal static JsonSerializerOptions Json { get; } = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower) },
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    private readonly JsonObject _identity;
    private readonly IDisposable _lock;

    private RunDirectory(string directory, string fingerprint, string? checkpoint, JsonObject identity, IDisposable held)
    {
        _identity = identity;
        _lock = held;
        Directory = directory;
        Fingerprint = fingerprint;
        Checkpoint = checkpoint;
    }

    public string Directory { get; }
    /// <summary>SHA-256 of run.json's identity part.</summary>
    public string Fingerprint { get; }
    /// <summary>The checkpoint to resume from, or null to start fresh.</summary>
    public string? Checkpoint { get; }
    public string CheckpointPath => Path.Combine(Directory, CheckpointFile);

    public void Dispose() => _lock.Dispose();

    /// <param name="notice">Told when a stale lock of an interrupted run is taken over.</param>
    public static RunDirectory Prepare(AdaptOptions options, IImageDataset train, IImageDataset? test, int selectedCount, Action<string>? notice = null)
    {
        var dir = Path.GetFullPath(options.OutputDirectory);
        var held = OutputDirectory.Lock(dir, notice);
        try
        {
            return Prepare(options, train, test, selectedCount, dir, held);
        }
        catch
        {
            held.Dispose();
            throw;
        }
    }

    private static RunDirectory Prepare(AdaptOptions options, IImageDataset train, IImageDataset? test, int selectedCount, string dir, IDisposable held)
    {
        var identity = Identity(options, train, test, selectedCount);
        var identityText = identity.ToJsonString();
        var fingerprint = Convert.ToHexStringLower(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(identityText)));
        var runPath = Path.Combine(dir, RunFile);
        var existing = RunFiles.Where(f => File.Exists(Path.Combine(dir, f))).ToList();
        string? resumeFrom = null;

        if (options.Force)
        {
            OutputDirectory.Remove(dir, RunFiles);
        }
        else if (options.Resume)
        {
            if (File.Exists(runPath))
            {
                var differences = Differences(ReadIdentity(runPath), identity);
                if (differences.Count > 0)
                    throw new DeftException($"{Setting.Resume}: {dir} holds a different run; these settings differ from run.json: " +
                        $"{string.Join("; ", differences.Take(8))}. Pass the original settings, or {Setting.Force} to start over.");
            }
            var checkpoint = Path.Combine(dir, CheckpointFile);
            if (File.Exists(checkpoint)) resumeFrom = checkpoint;
            else if (File.Exists(Path.Combine(dir, ResultFile)))
                throw new DeftException($"{Setting.Resume}: the run in {dir} has finished (result.json); nothing to resume. Pass {Setting.Force} to train it again.");
        }
        else if (existing.Count > 0)
        {
            throw new DeftException($"{dir} holds another run ({string.Join(", ", existing)}). Pass {Setting.Resume} to continue it, {Setting.Force} to overwrite it, or choose another {Setting.OutputDirectory}.");
        }

        return new RunDirectory(dir, fingerprint, resumeFrom, identity, held);
    }

    /// <summary>Records the run in run.json; called once the model is built, so a run that fails to start leaves nothing behind.</summary>
    public void Begin()
    {
        System.IO.Directory.CreateDirectory(Directory);
        var run = new JsonObject { ["format"] = "deft-adapt-run", ["version"] = 1, ["fingerprint"] = Fingerprint, ["identity"] = _identity.DeepClone() };
        AtomicFile.WriteAllText(Path.Combine(Directory, RunFile), run.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
    }

    public void Complete(AdaptResult result)
    {
        AtomicFile.WriteAllText(Path.Combine(Directory, ResultFile), JsonSerializer.Serialize(result, Json) + "\n");
        // The checkpoint holds optimizer state as large as the model; the finished model is in model.safetensors.
        if (File.Exists(CheckpointPath)) File.Delete(CheckpointPath);
    }

    private static JsonObject ReadIdentity(string runPath)
    {
        try
        {
            return JsonNode.Parse(File.ReadAllText(runPath))?["identity"] as JsonObject
                ?? throw new DeftException($"{runPath}: no 'identity' object; the file is not a Deft adapt run. Pass {Setting.Force} to start over.");
        }
        catch (JsonException ex)
        {
            throw new DeftException($"{runPath} is not valid JSON ({ex.Message}). Pass {Setting.Force} to start over.", ex);
        }
    }

    private static List<string> Differences(JsonObject recorded, JsonObject current)
    {
        var keys = recorded.Select(p => p.Key).Union(current.Select(p => p.Key)).ToList();
        var result = new List<string>();
        foreach (var key in keys)
        {
            var a = recorded[key]?.ToJsonString() ?? "null";
            var b = current[key]?.ToJsonString() ?? "null";
            if (a != b) result.Add($"{key}: {a} then, {b} now");
        }
        return result;
    }

    /// <summary>What makes two runs the same run: model, data identity, selection content, every training setting.</summary>
    private static JsonObject Identity(AdaptOptions o, IImageDataset train, IImageDataset? test, int selectedCount)
    {
        JsonObject Data(IImageDataset d, string? description) => new()
        {
            ["description"] = description,
            ["count"] = d.Count,
            ["classes"] = d.Classes.Count,
            ["first_source"] = d.Count > 0 ? d.GetSource(0) : null,
            ["last_source"] = d.Count > 0 ? d.GetSource(d.Count - 1) : null,
        };
        var p = o.Peft;
        var identity = new JsonObject
        {
            ["model"] = File.Exists(o.Model) || System.IO.Directory.Exists(o.Model) ? Path.GetFullPath(o.Model) : o.Model,
            ["backbone"] = o.Backbone.ToName(),
            ["selection"] = o.TrainsOnAll ? "all" : Path.GetFullPath(o.SelectionPath!),
            ["selection_sha256"] = o.TrainsOnAll ? null : Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(o.SelectionPath!))),
            ["labels"] = o.LabelsPath is null ? null : Path.GetFullPath(o.LabelsPath),
            ["labels_sha256"] = o.LabelsPath is null || !File.Exists(o.LabelsPath) ? null : Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(o.LabelsPath))),
            ["selected"] = selectedCount,
            ["train"] = Data(train, o.TrainDescription),
            ["test"] = test is null ? null : Data(test, o.TestDescription),
            ["epochs"] = o.Epochs,
            ["batch"] = o.BatchSize,
            ["optimizer"] = o.Optimizer?.ToString().ToLowerInvariant(),
            ["lr"] = o.LearningRate,
            ["weight_decay"] = o.WeightDecay,
            ["momentum"] = o.Momentum,
            ["loss"] = o.Loss.ToString().ToLowerInvariant(),
            ["loss_options"] = JsonSerializer.SerializeToNode(o.LossOptions, Json),
            ["head_init"] = o.HeadInit?.ToString().ToLowerInvariant() ?? "auto",
            ["head_templates"] = o.HeadInit != HeadInit.Random ? new JsonArray(o.HeadTemplates.Select(t => (JsonNode)JsonValue.Create(t)!).ToArray()) : null,
            ["peft"] = p is null ? null : new JsonObject
            {
                ["kinds"] = p.Name, ["partial"] = p.Partial, ["vpt_len"] = p.VptLength, ["lora_rank"] = p.LoraRank, ["adapter_dim"] = p.AdapterDim,
            },
            ["augment"] = o.Augment?.Text ?? "auto",
            ["recipe"] = o.Recipe?.ToName() ?? "auto",
            ["schedule"] = o.ConstantLearningRate ? "constant" : "cosine",
            ["tower_lr_scale"] = o.TowerLearningRateScale,
            ["head_epochs"] = o.HeadOnlyEpochs,
            ["resolution"] = o.Resolution,
            ["seed"] = o.Seed,
            ["limit"] = o.Limit,
        };
        // Only when set, so the identities (and fingerprints) of runs without them stay as they were.
        if (o.HoldoutFraction is { } holdout) identity["holdout"] = holdout;
        if (o.WiseFt is { } wise) identity["wise_ft"] = wise.Alpha is { } alpha ? JsonValue.Create(alpha) : JsonValue.Create("auto");
        if (o.Unselected != UnselectedSamples.Drop)
            identity["unselected"] = new JsonObject { ["use"] = "pseudo-label", ["min_probability"] = o.PseudoLabels.MinProbability, ["weight"] = o.PseudoLabels.Weight };
        if (o.LabelSmoothing != 0) identity["label_smoothing"] = o.LabelSmoothing;
        if (o.LearningRateRule != LearningRateRule.Fixed) identity["lr_rule"] = "scaled";
        return identity;
    }
}

/// <summary>
/// The per-epoch checkpoint: trainable parameters (<c>param.*</c>), batch-norm buffers (<c>buffer.*</c>), optimizer
/// state (<c>optimizer.*</c>), ELR's target memory (<c>loss.elr_targets</c>); metadata: the finished epoch, the
/// epoch records so far and the run fingerprint. Written atomically.
/// </summary>
internal static class AdaptCheckpoint
{
    public static void Save(string path, int epoch, IReadOnlyList<EpochRecord> history, double? startAccuracy, double? startValidation,
        IReadOnlyDictionary<string, Tensor>? startWeights, IAdaptNetwork network, IAdaptOptimizer optimizer, IRobustLoss loss, string fingerprint)
    {
        using var scope = NewDisposeScope();
        var tensors = new List<KeyValuePair<string, Tensor>>();
        tensors.AddRange(network.Trainables.Select(t => new KeyValuePair<string, Tensor>("param." + t.Name, t.Parameter)));
        tensors.AddRange(network.TrainingBuffers.Select(t => new KeyValuePair<string, Tensor>("buffer." + t.Name, t.Tensor)));
        tensors.AddRange(optimizer.State().Select(t => new KeyValuePair<string, Tensor>("optimizer." + t.Name, t.Tensor)));
        if (loss is ElrLoss elr) tensors.Add(new("loss.elr_targets", elr.Targets()));
        // WiSE-FT's zero-shot weights: a resumed run mixes with the same start.
        if (startWeights is not null) tensors.AddRange(startWeights.Select(kv => new KeyValuePair<string, Tensor>("start." + kv.Key, kv.Value)));
        var metadata = new Dictionary<string, string>
        {
            ["format"] = "deft-adapt-checkpoint",
            ["epoch"] = epoch.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["fingerprint"] = fingerprint,
            ["history"] = JsonSerializer.Serialize(history, RunDirectory.Json),
        };
        if (startAccuracy is { } start) metadata["start_test_accuracy"] = start.ToString("R", System.Globalization.CultureInfo.InvariantCulture);
        if (startValidation is { } v) metadata["start_validation_accuracy"] = v.ToString("R", System.Globalization.CultureInfo.InvariantCulture);
        Safetensors.Save(path, tensors, metadata);
    }

    public sealed record Restored(int Epoch, List<EpochRecord> History, double? StartAccuracy, double? StartValidation, Dictionary<string, Tensor>? StartWeights);

    public static Restored Load(string path, IAdaptNetwork network, IAdaptOptimizer optimizer, IRobustLoss loss, string fingerprint, bool withStart = false)
    {
        var tensors = Safetensors.Load(path, out var metadata);
        try
        {
            if (!metadata.TryGetValue("format", out var format) || format != "deft-adapt-checkpoint" || !metadata.TryGetValue("epoch", out var epochText))
                throw new DeftException($"{path} is not a Deft adapt checkpoint. Pass {Setting.Force} to start over.");
            if (metadata.GetValueOrDefault("fingerprint") != fingerprint)
                throw new DeftException($"{path} was written by another run than the one run.json describes. Pass {Setting.Force} to start over.");
            var epoch = int.Parse(epochText, System.Globalization.CultureInfo.InvariantCulture);
            var history = JsonSerializer.Deserialize<List<EpochRecord>>(metadata.GetValueOrDefault("history") ?? "[]", RunDirectory.Json) ?? [];
            Dictionary<string, Tensor> Part(string prefix) => tensors.Where(kv => kv.Key.StartsWith(prefix, StringComparison.Ordinal))
                .ToDictionary(kv => kv.Key[prefix.Length..], kv => kv.Value, StringComparer.Ordinal);
            SavedStateIO.CopyInto(network.Trainables.Select(t => (t.Name, (Tensor)t.Parameter)).Concat(network.TrainingBuffers),
                Part("param.").Concat(Part("buffer.")).ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal), path);
            optimizer.LoadState(Part("optimizer."));
            if (loss is ElrLoss elr)
            {
                if (!tensors.TryGetValue("loss.elr_targets", out var targets))
                    throw new DeftException($"{path} has no ELR targets; it was written by a run with another loss. Pass {Setting.Force} to start over.");
                elr.RestoreTargets(targets);
            }
            double? start = metadata.TryGetValue("start_test_accuracy", out var startText)
                ? double.Parse(startText, System.Globalization.CultureInfo.InvariantCulture) : null;
            double? startValidation = metadata.TryGetValue("start_validation_accuracy", out var validationText)
                ? double.Parse(validationText, System.Globalization.CultureInfo.InvariantCulture) : null;
            Dictionary<string, Tensor>? startWeights = null;
            if (withStart)
            {
                var part = Part("start.");
                var absent = network.Trainables.Select(t => t.Name).Where(n => !part.ContainsKey(n)).ToList();
                if (absent.Count > 0)
                    throw new DeftException($"{path} has no WiSE-FT start weights for {string.Join(", ", absent.Take(3))}; it was written without {Setting.WiseFt}. Pass {Setting.Force} to start over.");
                startWeights = WiseFt.Snapshot(part.Select(kv => (kv.Key, kv.Value)));
            }
            return new Restored(epoch, history, start, startValidation, startWeights);
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
    }
}
