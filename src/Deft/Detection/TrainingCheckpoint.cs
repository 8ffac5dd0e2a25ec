using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Deft.Clip;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Deft.Detection;

/// <summary>
/// The state after a completed epoch, written atomically to <c>DIR/checkpoint.safetensors</c>: trainable parameters
/// (<c>param.*</c>), SGD momentum buffers (<c>momentum.*</c>), the last epoch's per-sample scores and selections (<c>scores.*</c>),
/// and in the metadata the completed epochs, the epoch records and the run's fingerprint. The scheduler position is
/// the epoch count and every random draw is keyed by (seed, epoch, sample), so nothing else is needed to continue
/// exactly where the run stopped.
/// </summary>
public static class TrainingCheckpoint
{
    public const string FileName = "checkpoint.safetensors";
    private const string FormatTag = "deft-checkpoint-1";

    public static void Save(string path, TrainingState state, IReadOnlyList<(string Name, Parameter Parameter)> trainables,
        MomentumSgd sgd, string fingerprint, string? settings = null)
    {
        var tensors = new List<KeyValuePair<string, Tensor>>();
        var owned = new List<Tensor>();
        try
        {
            for (var i = 0; i < trainables.Count; i++)
            {
                tensors.Add(new($"param.{trainables[i].Name}", trainables[i].Parameter));
                if (sgd.GetBuffer(i) is { } buffer) tensors.Add(new($"momentum.{trainables[i].Name}", buffer));
            }
            if (state.LastEpochScores is { } s)
            {
                Tensor Own(Tensor t) { owned.Add(t); return t; }
                tensors.Add(new("scores.p_clean", Own(tensor(s.CleanProbability))));
                tensors.Add(new("scores.predicted", Own(tensor(s.Predicted.Select(v => (long)v).ToArray()))));
                tensors.Add(new("scores.probability", Own(tensor(s.PredictedProbability))));
                tensors.Add(new("scores.selected", Own(tensor(s.Selected))));
            }
            var metadata = new Dictionary<string, string>
            {
                ["format"] = FormatTag,
                ["completed_epochs"] = state.CompletedEpochs.ToString(CultureInfo.InvariantCulture),
                ["train_seconds"] = state.TrainSeconds.ToString("R", CultureInfo.InvariantCulture),
                ["epochs"] = JsonSerializer.Serialize(state.Epochs, DetectionOutputs.JsonOptions),
                ["fingerprint"] = fingerprint,
            };
            // The settings behind the fingerprint, so a refused resume can say which of them differ.
            if (settings is not null) metadata["settings"] = settings;
            Safetensors.Save(path, tensors, metadata);
        }
        finally
        {
            foreach (var t in owned) t.Dispose();
        }
    }

    /// <summary>The fingerprint a checkpoint was written with, or null when the file is not a Deft checkpoint.</summary>
    public static string? ReadFingerprint(string path)
    {
        var (_, metadata, _) = Safetensors.ReadHeader(path);
        return metadata.GetValueOrDefault("format") == FormatTag ? metadata.GetValueOrDefault("fingerprint") : null;
    }

    /// <summary>
    /// Restores parameters, momentum buffers and <paramref name="state"/> from <paramref name="path"/>. The
    /// fingerprint must match: resuming with other settings would not reproduce the uninterrupted run. Checkpoints
    /// written before the fingerprint was a hash of the settings JSON hold <paramref name="legacyFingerprint"/>'s form.
    /// <paramref name="settings"/> (the JSON behind <paramref name="fingerprint"/>) names the differences when refused.
    /// </summary>
    public static void Load(string path, TrainingState state, IReadOnlyList<(string Name, Parameter Parameter)> trainables,
        MomentumSgd sgd, string fingerprint, int sampleCount, string? legacyFingerprint = null, string? settings = null)
    {
        var tensors = Safetensors.Load(path, out var metadata);
        try
        {
            if (metadata.GetValueOrDefault("format") != FormatTag)
                throw new DeftException($"{path}: not a Deft detection checkpoint.");
            var saved = metadata.GetValueOrDefault("fingerprint") ?? "";
            if (saved != fingerprint && (legacyFingerprint is null || saved != legacyFingerprint))
            {
                var difference = metadata.TryGetValue("settings", out var savedSettings) && settings is not null
                    ? SettingsDifference(savedSettings, settings)
                    : FingerprintDifference(saved, legacyFingerprint ?? fingerprint);
                throw new DeftException($"{path} was written by a run with other settings ({difference}). " +
                                        $"Resume with the same settings, or pass {Setting.Force} to start over.");
            }
            using (no_grad())
            {
                for (var i = 0; i < trainables.Count; i++)
                {
                    var (name, p) = trainables[i];
                    // Checkpoints written before DeftNetwork was a module use the shorter legacy names.
                    var key = tensors.ContainsKey($"param.{name}") ? name : DeftNetwork.LegacyName(name) ?? name;
                    if (!tensors.TryGetValue($"param.{key}", out var value))
                        throw new DeftException($"{path}: parameter '{name}' is missing; the checkpoint is damaged.");
                    p.copy_(value);
                    sgd.SetBuffer(i, tensors.GetValueOrDefault($"momentum.{key}"));
                }
            }
            state.CompletedEpochs = int.Parse(metadata["completed_epochs"], CultureInfo.InvariantCulture);
            state.TrainSeconds = double.Parse(metadata["train_seconds"], CultureInfo.InvariantCulture);
            state.Epochs.Clear();
            state.Epochs.AddRange(JsonSerializer.Deserialize<List<EpochRecord>>(metadata["epochs"], DetectionOutputs.JsonOptions) ?? []);
            if (tensors.TryGetValue("scores.p_clean", out var pClean))
            {
                if (pClean.shape[0] != sampleCount)
                    throw new DeftException($"{path}: holds scores for {pClean.shape[0]} samples, this run has {sampleCount}.");
                var scores = new PassScores(sampleCount);
                pClean.data<float>().CopyTo(scores.CleanProbability, 0);
                var predicted = tensors["scores.predicted"].data<long>().ToArray();
                for (var i = 0; i < sampleCount; i++) scores.Predicted[i] = (int)predicted[i];
                tensors["scores.probability"].data<float>().CopyTo(scores.PredictedProbability, 0);
                // Checkpoints written before the selection was stored used the threshold rule only.
                if (tensors.TryGetValue("scores.selected", out var selected)) selected.data<bool>().CopyTo(scores.Selected, 0);
                else for (var i = 0; i < sampleCount; i++) scores.Selected[i] = scores.CleanProbability[i] > DeftObjective.CleanThreshold;
                Array.Fill(scores.Seen, true);
                state.LastEpochScores = scores;
            }
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
    }

    /// <summary>The settings that differ between two settings trees (<see cref="DetectionSettingsJson"/>), by leaf name.</summary>
    internal static string SettingsDifference(string saved, string current)
    {
        try
        {
            var a = DetectionSettingsJson.Flatten(JsonNode.Parse(saved)!.AsObject());
            var b = DetectionSettingsJson.Flatten(JsonNode.Parse(current)!.AsObject());
            string? Text(Dictionary<string, JsonNode?> d, string k) => d.TryGetValue(k, out var v) ? v is JsonValue j && j.GetValueKind() == JsonValueKind.String ? j.GetValue<string>() : v?.ToJsonString() ?? "null" : null;
            var diffs = a.Keys.Union(b.Keys)
                .Where(k => Text(a, k) != Text(b, k))
                .Select(k => $"{k}: {Text(a, k) ?? "(none)"} → {Text(b, k) ?? "(none)"}")
                .ToList();
            return diffs.Count == 0 ? "unknown difference" : string.Join("; ", diffs);
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or NullReferenceException)
        {
            return "unreadable settings";
        }
    }

    /// <summary>The settings that differ between two legacy fingerprints (JSON objects of strings), for error messages.</summary>
    internal static string FingerprintDifference(string saved, string current)
    {
        try
        {
            var a = JsonSerializer.Deserialize<Dictionary<string, string?>>(saved) ?? new();
            var b = JsonSerializer.Deserialize<Dictionary<string, string?>>(current) ?? new();
            var diffs = a.Keys.Union(b.Keys)
                .Where(k => a.GetValueOrDefault(k) != b.GetValueOrDefault(k))
                .Select(k => $"{k}: {a.GetValueOrDefault(k) ?? "(none)"} → {b.GetValueOrDefault(k) ?? "(none)"}")
                .ToList();
            return diffs.Count == 0 ? "unknown difference" : string.Join("; ", diffs);
        }
        catch (JsonException)
        {
            return "unreadable settings";
        }
    }
}
