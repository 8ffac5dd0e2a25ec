using System.Text.Json;
using System.Text.Json.Nodes;
using Deft.Clip;
using Deft.Tests.Detection;
using Deft.Data.Transforms;
using Deft.Detection;
using Deft.Methods;
using Deft.Peft;
using Deft.Prompts;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Deft.Tests.Settings;

/// <summary>The one settings tree and its consumers: summary.json's config, the detector file, the resume fingerprint.</summary>
public sealed class SettingsTreeTests
{
    private static readonly Normalization Stats = new(new(0.5f, 0.4f, 0.3f), new(0.2f, 0.25f, 0.3f));

    private static DetectOptions Options(string outDir, string labels) => new()
    {
        Model = DetectTestData.TinyModel, Vocab = Fixtures.TinyVocabulary, Data = DetectTestData.FashionMnist, Format = "idx",
        Labels = labels, OutputDirectory = outDir, Peft = new PeftOptions(PeftKind.VptDeep, VptLength: 2, LoraRank: 2),
        Prompts = new PromptOptions(ContextLength: 4), Epochs = 2, BatchSize = 32, Seed = 5, Workers = 1,
        CacheDirectory = Path.Combine(outDir, "..", "cache"),
    };

    [Fact]
    public void TheTreeHasOneGroupPerRecordUnderSummaryNames()
    {
        var o = new DetectOptions
        {
            Model = "random:tiny", Data = "d", Format = "idx", OutputDirectory = "o", LearningRate = 0.07, Seed = 3,
            Peft = new PeftOptions([PeftKind.VptDeep, PeftKind.Lora], Partial: 2, VptLength: 5, LoraRank: 4),
            Prompts = new PromptOptions(6, ClassTokenPosition.Front, true, null), Precision = TowerPrecision.Bf16,
            Variant = DeftVariant.RealNoise, Method = DetectionMethod.Deft, Mean = new RgbTriple(0.1f, 0.2f, 0.3f),
        };
        var tree = DetectionSettingsJson.Serialize(o);
        Assert.Equal(["data", "schedule", "preprocess", "peft", "prompts", "method", "issues"], tree.Select(kv => kv.Key));
        var flat = DetectionSettingsJson.Flatten(tree);
        Assert.Equal("vpt-deep+lora", (string?)flat["peft"]);
        Assert.Equal(2, (int?)flat["partial"]);
        Assert.Equal(5, (int)flat["vpt_len"]!);
        Assert.Equal(4, (int)flat["lora_rank"]!);
        Assert.Equal(6, (int)flat["n_ctx"]!);
        Assert.Equal("front", (string?)flat["class_token_position"]);
        Assert.True((bool)flat["class_specific_contexts"]!);
        Assert.Equal(0.07, (double)flat["lr"]!);
        Assert.Equal(3, (long)flat["seed"]!);
        Assert.Equal("bf16", (string?)flat["dtype"]);
        Assert.Equal("real-noise", (string?)flat["variant"]);
        Assert.Equal("last-epoch", (string?)flat["selection"]);
        Assert.Equal([0.1f, 0.2f, 0.3f], flat["mean"]!.AsArray().Select(v => (float)v!));
        // The record defaults are the paper's, defined once.
        var defaults = DetectionSettingsJson.Flatten(DetectionSettingsJson.Serialize(o with { Schedule = new(), Peft = PeftOptions.Default, Prompts = new() }));
        Assert.Equal((10, 1, 64, 0.03, 0.9, 5e-4), ((int)defaults["epochs"]!, (int)defaults["warmup"]!, (int)defaults["batch"]!,
            (double)defaults["lr"]!, (double)defaults["momentum"]!, (double)defaults["weight_decay"]!));
        Assert.Equal(("vpt-deep", 20, 16), ((string)defaults["peft"]!, (int)defaults["vpt_len"]!, (int)defaults["n_ctx"]!));
        // The records deserialize from their own JSON (one serialization both ways).
        Assert.Equal(o.Schedule, tree["schedule"].Deserialize<TrainingSchedule>(DetectionSettingsJson.Options));
        Assert.Equal(o.Preprocess, tree["preprocess"].Deserialize<PreprocessSettings>(DetectionSettingsJson.Options));
        Assert.Equal(o.MethodSettings, tree["method"].Deserialize<MethodSettings>(DetectionSettingsJson.Options));
        Assert.Equal(o.Prompts, tree["prompts"].Deserialize<PromptOptions>(DetectionSettingsJson.Options));
        var peft = tree["peft"].Deserialize<PeftOptions>(DetectionSettingsJson.Options)!;
        Assert.Equal((o.Peft.Name, o.Peft.Partial, o.Peft.VptLength, o.Peft.LoraRank, o.Peft.AdapterDim), (peft.Name, peft.Partial, peft.VptLength, peft.LoraRank, peft.AdapterDim));
    }

    [Fact]
    public void TheFlatAccessorsWriteIntoTheRecords()
    {
        var o = new DetectOptions { Model = "m", Data = "d", Format = "f", OutputDirectory = "o", Epochs = 3, Folds = 7, Augment = AugmentPreset.Clip };
        Assert.Equal(3, o.Schedule.Epochs);
        Assert.Equal(7, o.MethodSettings.Folds);
        Assert.Equal(AugmentPreset.Clip, o.Preprocess.Augment);
        Assert.Equal("m", o.DataSettings.Model);
        var changed = o with { LearningRate = 0.5 };
        Assert.Equal(0.5, changed.Schedule.LearningRate);
        Assert.Equal(0.03, o.Schedule.LearningRate);
        Assert.Equal(3, changed.Epochs);
    }

    [Fact]
    public void TheApiConfigIsTheSameRecords()
    {
        var config = new Deft.Api.DetectionConfig { Method = DetectionMethod.SmallLoss, NoiseRate = 0.2, LearningRate = 0.05, Schedule = new() { Momentum = 0.8 } };
        // Initializers run in order: the Schedule record replaces the learning rate set before it.
        Assert.Equal((0.03, 0.8), (config.LearningRate, config.Schedule.Momentum));
        var options = config.ToOptions();
        Assert.Same(config.Schedule, options.Schedule);
        Assert.Same(config.MethodSettings, options.MethodSettings);
        Assert.Same(config.Peft, options.Peft);
        Assert.Same(config.Prompts, options.Prompts);
        Assert.Equal((DetectionMethod.SmallLoss, 0.2), (options.Method, options.NoiseRate));
        // Its own defaults: zero-shot posterior on a frozen tower; the schedule's are the tree's.
        var defaults = new Deft.Api.DetectionConfig();
        Assert.Equal(DetectionMethod.ClipPosterior, defaults.Method);
        Assert.Equal("none", defaults.Peft.Name);
        Assert.Equal(new TrainingSchedule(), defaults.Schedule);
    }

    [Fact]
    public void TheFingerprintIgnoresHowTheRunIsCarriedOutAndFollowsTheTrainingSettings()
    {
        var labels = new LabelAssignment([0, 1, 2, 3], [0, 1, 0, 1], [null, null, null, null], 2, "labels");
        var o = new DetectOptions { Model = "random:tiny", Data = "d", Format = "idx", OutputDirectory = "out-a" };
        string Hash(DetectOptions x, LabelAssignment? l = null, AugmentPreset augment = AugmentPreset.Cifar) =>
            DetectionSettingsJson.Hash(DetectionSettingsJson.TrainingPart(x, l ?? labels, Stats, augment));
        var h = Hash(o);
        Assert.StartsWith("sha256:", h);
        Assert.Equal(7 + 64, h.Length);
        foreach (var same in new[]
                 {
                     o with { OutputDirectory = "out-b" }, o with { Threads = 3 }, o with { Workers = 2 }, o with { CacheDirectory = "c" },
                     o with { ReportTitle = "t" }, o with { Resume = true }, o with { Selection = SelectionSource.Eval }, o with { Format = "IDX" },
                 })
            Assert.Equal(h, Hash(same));
        var relevant = new[]
        {
            o with { LearningRate = 0.031 }, o with { Seed = 1 }, o with { Epochs = 11 }, o with { Warmup = 2 }, o with { BatchSize = 32 },
            o with { Momentum = 0.8 }, o with { WeightDecay = 1e-3 }, o with { Peft = new PeftOptions(PeftKind.Lora) },
            o with { Peft = PeftOptions.Default with { VptLength = 10 } }, o with { Prompts = new PromptOptions(8) },
            o with { Variant = DeftVariant.RealNoise }, o with { Precision = TowerPrecision.Bf16 }, o with { Model = "random:tiny@2" },
            o with { Data = "e" }, o with { Split = "test" },
        };
        var hashes = relevant.Select(x => Hash(x)).Append(h)
            .Append(Hash(o, new LabelAssignment([0, 1, 2, 3], [0, 1, 1, 1], [null, null, null, null], 2, "labels")))
            .Append(Hash(o, augment: AugmentPreset.Clip)).ToList();
        Assert.Equal(hashes.Count, hashes.Distinct().Count());
    }

    [Fact]
    public void TheLegacyFingerprintKeepsTheOldForm()
    {
        var labels = new LabelAssignment([0, 1], [0, 1], [null, null], 2, "labels");
        var o = new DetectOptions { Model = "random:tiny", Data = "d", Format = "IDX", OutputDirectory = "o", Seed = 4 };
        var legacy = JsonNode.Parse(DeftMethod.LegacyFingerprint(o, labels, Stats, AugmentPreset.Cifar))!.AsObject();
        // As main wrote it before the settings tree: a sorted object of hand-formatted strings.
        Assert.Equal(["data", "dtype", "format", "labels", "model", "peft", "preprocess", "prompts", "schedule", "seed", "split", "variant"], legacy.Select(kv => kv.Key));
        Assert.Equal("vpt-deep partial= vpt=20 rank=8 adapter=8", (string?)legacy["peft"]);
        Assert.Equal("16 end csc=False init=", (string?)legacy["prompts"]);
        Assert.Equal("epochs=10 warmup=1 batch=64 lr=0.03 momentum=0.9 wd=0.0005", (string?)legacy["schedule"]);
        Assert.Equal(("4", "Fp32", "idx"), ((string?)legacy["seed"], (string?)legacy["dtype"], (string?)legacy["format"]));
        Assert.Null(legacy["variant"]);
    }

    [Fact]
    public void SummaryConfigTakesItsSettingsFromTheTree()
    {
        using var tmp = new TempDir("settings-summary");
        var labels = DetectTestData.WriteLabelFile(tmp.Path, 48);
        var options = Options(Path.Combine(tmp.Path, "run"), labels) with
        {
            Epochs = 1, Warmup = 0, LearningRate = 0.021, Prompts = new PromptOptions(3, ClassTokenPosition.Middle), Peft = new PeftOptions(PeftKind.None),
        };
        var report = DeftDetector.Detect(options);
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(options.OutputDirectory, "summary.json")))!["config"]!.AsObject();
        var tree = DetectionSettingsJson.Flatten(DetectionSettingsJson.Serialize(options));
        // The keys tests, docs and run comparison read, each with the tree's value.
        string[] fromTree = ["model", "data", "format", "split", "batch", "seed", "dtype", "peft", "partial", "vpt_len", "lora_rank", "adapter_dim",
            "n_ctx", "class_token_position", "class_specific_contexts", "ctx_init", "epochs", "warmup", "lr", "momentum", "weight_decay", "selection", "variant"];
        foreach (var key in fromTree)
        {
            Assert.True(config.ContainsKey(key), key);
            Assert.Equal(tree[key]?.ToJsonString() ?? "null", config[key]?.ToJsonString() ?? "null");
        }
        Assert.Equal(0.021, (double)config["lr"]!);
        Assert.Equal("middle", (string?)config["class_token_position"]);
        Assert.Equal("none", (string?)config["peft"]);
        Assert.Equal("cosine", (string?)config["lr_schedule"]);
        foreach (var key in new[] { "tokenizer", "resolution", "labels", "classes", "mean", "std", "threads", "augment", "image_features" })
            Assert.True(config.ContainsKey(key), key);
        // The in-memory summary holds plain values, as before (not JSON nodes).
        Assert.Equal("middle", report.Summary.Config["class_token_position"]);
        Assert.Equal(32, report.Summary.Config["batch"]);
        Assert.Equal(false, report.Summary.Config["class_specific_contexts"]);
    }

    [Fact]
    public void DetectorMetadataRoundTripsThroughTheRecords()
    {
        using var tmp = new TempDir("settings-detector");
        var o = new DetectOptions
        {
            Model = "random:tiny", Data = "d", Format = "idx", OutputDirectory = "o", Seed = 9, Variant = DeftVariant.RealNoise, Precision = TowerPrecision.Bf16,
            Peft = new PeftOptions([PeftKind.VptShallow, PeftKind.Adapter], VptLength: 3, AdapterDim: 4), Prompts = new PromptOptions(5, ClassTokenPosition.Front, true, "a photo"),
        };
        var config = DetectorConfig.From(o, ["cat", "dog"], Stats);
        using var p = new Parameter(ones(2, 3));
        var path = Path.Combine(tmp.Path, DetectorFile.FileName);
        DetectorFile.Save(path, config, [("ctx", p)]);
        var read = DetectorFile.ReadConfig(path);
        Assert.Equal(o.Prompts, read.Prompts);
        Assert.Equal(o.Peft.Name, read.Peft.Name);
        Assert.Equal((3, 4, (int?)null), (read.Peft.VptLength, read.Peft.AdapterDim, read.Peft.Partial));
        Assert.Equal(Stats, read.Normalization);
        Assert.Equal((TowerPrecision.Bf16, 9L, DeftVariant.RealNoise, "random:tiny"), (read.Preprocess.Precision, read.Seed, read.Variant, read.Model));
        Assert.Equal(["cat", "dog"], read.Classes);
        // The metadata is the records' own JSON: the same groups and names as the settings tree.
        var (_, metadata, _) = Safetensors.ReadHeader(path);
        var json = JsonNode.Parse(metadata["config"])!.AsObject();
        Assert.Equal(DetectionSettingsJson.Serialize(o)["prompts"]!.ToJsonString(), json["prompts"]!.ToJsonString());
        Assert.Equal(DetectionSettingsJson.Serialize(o)["peft"]!.ToJsonString(), json["peft"]!.ToJsonString());
    }

    [Fact]
    public void ADetectorFileInTheOldFlatFormStillLoads()
    {
        using var tmp = new TempDir("settings-old-detector");
        // Written the way main wrote detector metadata before the settings tree (snake_case flat strings and numbers).
        const string old = """
            {"model":"random:tiny","classes":["cat","dog","bird"],"context_length":4,"class_token_position":"middle","class_specific":true,
             "context_init":null,"peft":"vpt-deep+lora","partial":2,"vpt_length":2,"lora_rank":4,"adapter_dim":8,
             "mean":[0.5,0.4,0.3],"std":[0.2,0.25,0.3],"precision":"bf16","seed":7,"vocab":null,"variant":"real-noise"}
            """;
        using var p = new Parameter(ones(2));
        var path = Path.Combine(tmp.Path, DetectorFile.FileName);
        Safetensors.Save(path, [new("param.ctx", (Tensor)p)], new Dictionary<string, string> { ["format"] = "deft-detector-1", ["config"] = old });
        var c = DetectorFile.ReadConfig(path);
        Assert.Equal(new PromptOptions(4, ClassTokenPosition.Middle, true, null), c.Prompts);
        Assert.Equal(("vpt-deep+lora", (int?)2, 2, 4, 8), (c.Peft.Name, c.Peft.Partial, c.Peft.VptLength, c.Peft.LoraRank, c.Peft.AdapterDim));
        Assert.Equal(Stats, c.Normalization);
        Assert.Equal((TowerPrecision.Bf16, 7L, DeftVariant.RealNoise), (c.Preprocess.Precision, c.Seed, c.Variant));
        Assert.Equal(["cat", "dog", "bird"], c.Classes);

        // Files from before variants existed have none: synthetic. A damaged old file is still refused as damaged.
        var noVariant = old.Replace(""","variant":"real-noise" """.Trim(), "");
        Safetensors.Save(path, [new("param.ctx", (Tensor)p)], new Dictionary<string, string> { ["format"] = "deft-detector-1", ["config"] = noVariant });
        Assert.Equal(DeftVariant.Synthetic, DetectorFile.ReadConfig(path).Variant);
        Safetensors.Save(path, [new("param.ctx", (Tensor)p)], new Dictionary<string, string> { ["format"] = "deft-detector-1", ["config"] = old.Replace("\"bf16\"", "\"fp64\"") });
        Assert.Contains("damaged", Assert.Throws<DeftException>(() => DetectorFile.ReadConfig(path)).Message);
    }

    [Fact]
    public void ACheckpointWithTheOldFingerprintStillResumes()
    {
        using var tmp = new TempDir("settings-resume");
        var dir = tmp.Path;
        var labels = DetectTestData.WriteLabelFile(dir, 64);
        var whole = DeftDetector.Detect(Options(Path.Combine(dir, "whole"), labels));
        var killed = Options(Path.Combine(dir, "killed"), labels);
        DetectTestData.DetectUntilKilledInEpochTwo(killed);
        // Rewrite the checkpoint as main wrote it: the legacy fingerprint string, no settings JSON.
        var checkpoint = Path.Combine(dir, "killed", TrainingCheckpoint.FileName);
        var tensors = Safetensors.Load(checkpoint, out var metadata);
        var saved = metadata.ToDictionary(kv => kv.Key, kv => kv.Value);
        Assert.StartsWith("sha256:", saved["fingerprint"]);
        Assert.True(saved.Remove("settings"));
        saved["fingerprint"] = LegacyFingerprintOf(killed, labels);
        Safetensors.Save(checkpoint, tensors, saved);
        foreach (var t in tensors.Values) t.Dispose();

        // Other settings are still refused, naming the difference from the old form.
        var other = Assert.Throws<DeftException>(() => DeftDetector.Detect(killed with { Resume = true, Seed = 6 }));
        Assert.Contains("seed: 5 → 6", other.Message);

        var warnings = new List<string>();
        var resumed = DeftDetector.Detect(killed with { Resume = true }, null, warnings.Add);
        Assert.Contains(warnings, w => w.Contains("after epoch 1"));
        Assert.Equal(whole.Samples.Count, resumed.Samples.Count);
        for (var i = 0; i < whole.Samples.Count; i++)
        {
            Assert.Equal(whole.Samples[i].LabelQuality, resumed.Samples[i].LabelQuality, 1e-6);
            Assert.Equal(whole.Samples[i].IsLabelIssue, resumed.Samples[i].IsLabelIssue);
        }
    }

    /// <summary>The legacy fingerprint of a DetectRunTests-style run (idx data at the model's own statistics, cifar augmentation).</summary>
    private static string LegacyFingerprintOf(DetectOptions o, string labelFile)
    {
        using var bundle = ClipBundle.Load(o.Model, o.Vocab, new ClipLoadOptions());
        var (dataset, _) = DeftDetector.OpenDataset(o.Data, o.Format, o.Split, o.ClassesFile);
        var labels = LabelAssignment.FromLabelFile(labelFile, dataset);
        return DeftMethod.LegacyFingerprint(o, labels, o.ResolveNormalization(bundle.Normalization), o.ResolveAugment());
    }
}
