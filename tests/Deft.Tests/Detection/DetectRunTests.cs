using Deft.Cli;
using System.Globalization;
using System.Text.Json;
using Deft.Clip;
using Deft.Detection;
using Deft.Methods;
using Deft.Peft;
using Deft.Prompts;
using TorchSharp;

namespace Deft.Tests.Detection;

/// <summary>Whole detection runs on Fashion-MNIST subsets with the tiny fixture CLIP.</summary>
public sealed class DetectRunTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static DetectOptions Options(string outDir, string labels, PeftKind peft = PeftKind.VptDeep, int epochs = 2) => new()
    {
        Model = DetectTestData.TinyModel,
        Vocab = Fixtures.TinyVocabulary,
        Data = DetectTestData.FashionMnist,
        Format = "idx",
        Labels = labels,
        OutputDirectory = outDir,
        Peft = new PeftOptions(peft, VptLength: 2, LoraRank: 2),
        Prompts = new PromptOptions(ContextLength: 4),
        Epochs = epochs,
        BatchSize = 32,
        Seed = 5,
        Workers = 1,
        CacheDirectory = Path.Combine(outDir, "..", "cache"),
    };

    [Fact]
    public void WritesWellFormedSamplesIssuesSummaryAndDetector()
    {
        using var tmp = new TempDir("outputs");
        var dir = tmp.Path;
        var labels = DetectTestData.WriteLabelFile(dir, 96);
        var report = DeftDetector.Detect(Options(Path.Combine(dir, "run"), labels));
        var run = Path.Combine(dir, "run");

        var samples = File.ReadAllLines(Path.Combine(run, "samples.csv"));
        Assert.Equal(string.Join(",", DetectionOutputs.CsvHeader), samples[0]);
        Assert.Equal(97, samples.Length);
        var rows = samples.Skip(1).Select(l => l.Split(',')).ToList();
        Assert.All(rows, r => Assert.Equal(DetectionOutputs.CsvHeader.Length, r.Length));
        Assert.Equal(Enumerable.Range(0, 96).Select(i => i.ToString(CultureInfo.InvariantCulture)), rows.Select(r => r[0]));
        foreach (var r in rows)
        {
            var quality = double.Parse(r[4], CultureInfo.InvariantCulture);
            Assert.InRange(quality, 0, 1);
            // DeFT's rule (p_clean ≤ ½), then cleanlab's: a sample whose suggestion is its given label is not flagged.
            Assert.Equal(quality <= 0.5 && r[6] != r[2], r[5] == "true");
            Assert.InRange(double.Parse(r[8], CultureInfo.InvariantCulture), 0.1, 1); // the argmax of 10 classes has p ≥ 0.1
            Assert.Equal(int.Parse(r[9], CultureInfo.InvariantCulture) != int.Parse(r[2], CultureInfo.InvariantCulture),
                (int.Parse(r[0], CultureInfo.InvariantCulture) % 5) == 4);
        }
        // Given labels are the label file's, not the data set's.
        Assert.Equal((DetectTestData.Batch(5).Labels[4] + 1) % 10, long.Parse(rows[4][2], CultureInfo.InvariantCulture));

        var issues = File.ReadAllLines(Path.Combine(run, "label_issues.csv")).Skip(1).Select(l => l.Split(',')).ToList();
        Assert.Equal(rows.Count(r => r[5] == "true"), issues.Count);
        var qualities = issues.Select(r => double.Parse(r[4], CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(qualities.Order(), qualities);
        Assert.Equal(report.IssueIndices, issues.Select(r => int.Parse(r[0], CultureInfo.InvariantCulture)));

        using var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(run, "summary.json")));
        var root = summary.RootElement;
        Assert.Equal(96, root.GetProperty("samples").GetInt32());
        Assert.Equal(issues.Count, root.GetProperty("issues").GetInt32());
        Assert.Equal(96, root.GetProperty("per_class").EnumerateArray().Sum(c => c.GetProperty("samples").GetInt32()));
        var quality0 = root.GetProperty("quality");
        foreach (var name in new[] { "precision", "recall", "f1", "auroc" })
            Assert.InRange(quality0.GetProperty(name).GetDouble(), 0, 1);
        Assert.Equal(19.0 / 96, quality0.GetProperty("true_noise_rate").GetDouble(), 1e-9); // samples 4, 9, …, 94 are flipped
        Assert.Equal(2, root.GetProperty("epochs").GetArrayLength());
        Assert.Equal("vpt-deep", root.GetProperty("config").GetProperty("peft").GetString());
        Assert.True(root.GetProperty("timings_seconds").GetProperty("total_seconds").GetDouble() > 0);
        Assert.Equal(report.Summary.Quality!.Precision, quality0.GetProperty("precision").GetDouble(), 1e-12);
        // precision@10 by hand: the 10 rows of lowest label quality (ties by index), truly flipped = index % 5 == 4.
        var lowest10 = report.Samples.Select(r => (r.Index, Quality: r.LabelQuality)).OrderBy(r => r.Quality).ThenBy(r => r.Index).Take(10);
        Assert.Equal(lowest10.Count(r => r.Index % 5 == 4) / 10.0, quality0.GetProperty("precision_at10").GetDouble(), 1e-12);
        Assert.Equal(JsonValueKind.Null, quality0.GetProperty("precision_at100").ValueKind); // 96 samples < 100
        Assert.Equal(issues.Count, quality0.GetProperty("flagged").GetInt32());

        // The detector file rebuilds the network: scoring the training samples with the eval transform works and
        // new data gets scored too.
        var scoreLabels = DetectTestData.WriteLabelFile(dir, 40, first: 1000);
        var scored = DeftDetector.Score(new ScoreOptions
        {
            RunDirectory = run, Data = DetectTestData.FashionMnist, Format = "idx", Labels = scoreLabels, Vocab = Fixtures.TinyVocabulary, Workers = 1,
        });
        Assert.Equal(40, scored.Samples.Count);
        Assert.Equal(1000, scored.Samples[0].Index);
        Assert.True(File.Exists(Path.Combine(run, "score", "samples.csv")));
        Assert.NotNull(scored.Summary.Quality);
        // score decides issues as detect does: DeFT's rule, then the agreeing-label rule unless asked otherwise.
        Assert.All(scored.Samples, r => Assert.Equal(r.LabelQuality <= 0.5 && r.SuggestedLabel != r.GivenLabel, r.IsLabelIssue));
        // score writes pred_probs as detect does: the positive prompts' softmax, its argmax the suggestion.
        Assert.True(File.Exists(Path.Combine(run, "score", "pred_probs.npy")));
        var probs = scored.PredProbs!;
        Assert.Equal((40, 10), (probs.GetLength(0), probs.GetLength(1)));
        for (var i = 0; i < 40; i++)
        {
            var row = Enumerable.Range(0, 10).Select(c => probs[i, c]).ToArray();
            Assert.Equal(1.0, row.Sum(), 5);
            Assert.Equal(scored.Samples[i].SuggestedLabel, Array.IndexOf(row, row.Max()));
        }
        var scoredAll = DeftDetector.Score(new ScoreOptions
        {
            RunDirectory = run, Data = DetectTestData.FashionMnist, Format = "idx", Labels = scoreLabels, Vocab = Fixtures.TinyVocabulary, Workers = 1,
            OutputDirectory = Path.Combine(dir, "score-all"), Issues = new IssueSettings { FlagAgreeing = true },
        });
        Assert.All(scoredAll.Samples, r => Assert.Equal(r.LabelQuality <= 0.5, r.IsLabelIssue));
        Assert.Equal(scored.Samples.Select(r => r.LabelQuality), scoredAll.Samples.Select(r => r.LabelQuality));
        // score's summary names the detector's settings as detect's does (one serialization of the records).
        var detectConfig = root.GetProperty("config");
        using var scoreSummary = JsonDocument.Parse(File.ReadAllText(Path.Combine(run, "score", "summary.json")));
        var scoreConfig = scoreSummary.RootElement.GetProperty("config");
        foreach (var key in new[] { "model", "format", "split", "peft", "partial", "vpt_len", "lora_rank", "adapter_dim", "n_ctx", "class_token_position", "ctx_init" })
            Assert.Equal(detectConfig.GetProperty(key).GetRawText(), scoreConfig.GetProperty(key).GetRawText());
        Assert.Equal(scoreLabels, scoreConfig.GetProperty("labels").GetString());
        Assert.Equal(64, scoreConfig.GetProperty("batch").GetInt32());
    }

    [Fact]
    public void A_test_set_records_the_prompt_classifiers_accuracy_per_epoch_and_changes_nothing_else()
    {
        using var tmp = new TempDir("test-accuracy");
        var dir = tmp.Path;
        var labels = DetectTestData.WriteLabelFile(dir, 64);
        var plain = DeftDetector.Detect(Options(Path.Combine(dir, "plain"), labels, PeftKind.None) with { Method = DetectionMethod.Deft });
        var withTest = DeftDetector.Detect(Options(Path.Combine(dir, "with-test"), labels, PeftKind.None) with
        {
            Method = DetectionMethod.Deft, TestData = DetectTestData.FashionMnist, TestSplit = "test",
        });
        Assert.Equal(plain.Samples.Select(r => r.LabelQuality), withTest.Samples.Select(r => r.LabelQuality));
        Assert.Equal(plain.Summary.Epochs.Select(e => e.Loss), withTest.Summary.Epochs.Select(e => e.Loss));
        Assert.All(plain.Summary.Epochs, e => Assert.Null(e.TestAccuracy));
        Assert.All(withTest.Summary.Epochs, e => Assert.InRange(e.TestAccuracy!.Value, 0, 1));

        // Independently: the saved detector's suggestions on the test split (deft score, image path) agree with the last epoch's figure.
        var scored = DeftDetector.Score(new ScoreOptions
        {
            RunDirectory = Path.Combine(dir, "with-test"), Data = DetectTestData.FashionMnist, Format = "idx", Split = "test",
            Vocab = Fixtures.TinyVocabulary, Workers = 1, OutputDirectory = Path.Combine(dir, "score-test"),
        });
        Assert.Equal(10_000, scored.Samples.Count);
        var accuracy = scored.Samples.Count(r => r.SuggestedLabel == r.GivenLabel) / (double)scored.Samples.Count;
        Assert.Equal(accuracy, withTest.Summary.Epochs[^1].TestAccuracy!.Value, 3); // cached vs streamed features: ≤ a few ties apart
        using var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "with-test", "summary.json")));
        Assert.Equal(withTest.Summary.Epochs[^1].TestAccuracy!.Value,
            summary.RootElement.GetProperty("epochs")[1].GetProperty("test_accuracy").GetDouble(), 12);

        var refused = Assert.Throws<DeftException>(() => DeftDetector.Detect(Options(Path.Combine(dir, "cp"), labels) with
        {
            Method = DetectionMethod.ClipPosterior, TestData = DetectTestData.FashionMnist,
        }));
        Assert.Contains("--test", FlagNames.Render(refused));
    }

    [Fact]
    public void AResumedRunReachesTheSameResultAsAnUninterruptedOne()
    {
        using var tmp = new TempDir("resume");
        var dir = tmp.Path;
        var labels = DetectTestData.WriteLabelFile(dir, 64);
        var whole = DeftDetector.Detect(Options(Path.Combine(dir, "whole"), labels));

        var killed = Options(Path.Combine(dir, "killed"), labels);
        DetectTestData.DetectUntilKilledInEpochTwo(killed);
        Assert.True(File.Exists(Path.Combine(dir, "killed", TrainingCheckpoint.FileName)));
        Assert.False(File.Exists(Path.Combine(dir, "killed", "summary.json")));
        // Starting again without --resume refuses to overwrite the interrupted run.
        var refused = Assert.Throws<DeftException>(() => DeftDetector.Detect(killed));
        Assert.Contains("--resume", FlagNames.Render(refused));

        var warnings = new List<string>();
        var resumed = DeftDetector.Detect(killed with { Resume = true }, null, warnings.Add);
        Assert.Contains(warnings, w => w.Contains("after epoch 1"));

        Assert.Equal(whole.Samples.Count, resumed.Samples.Count);
        for (var i = 0; i < whole.Samples.Count; i++)
        {
            Assert.Equal(whole.Samples[i].LabelQuality, resumed.Samples[i].LabelQuality, 1e-6);
            Assert.Equal(whole.Samples[i].SuggestedLabel, resumed.Samples[i].SuggestedLabel);
            Assert.Equal(whole.Samples[i].IsLabelIssue, resumed.Samples[i].IsLabelIssue);
        }
        for (var e = 0; e < 2; e++)
            Assert.Equal(whole.Summary.Epochs[e].Loss, resumed.Summary.Epochs[e].Loss, 1e-6);
        var a = Safetensors.Load(Path.Combine(dir, "whole", DetectorFile.FileName));
        var b = Safetensors.Load(Path.Combine(dir, "killed", DetectorFile.FileName));
        Assert.Equal(a.Keys.Order(), b.Keys.Order());
        foreach (var (name, t) in a)
            Assert.True((t - b[name]).abs().max().item<float>() <= 1e-6f, name);
        foreach (var t in a.Values.Concat(b.Values)) t.Dispose();

        // A checkpoint from other settings is not resumed.
        var other = Assert.Throws<DeftException>(() => DeftDetector.Detect(killed with { Resume = true, Seed = 6 }));
        Assert.Contains("seed: 5 → 6", other.Message);
    }

    [Fact]
    public void TheFrozenTowerPathCachesFeaturesAndCanSelectWithAnEvalPass()
    {
        using var tmp = new TempDir("cached");
        var dir = tmp.Path;
        var labels = DetectTestData.WriteLabelFile(dir, 64);
        var first = DeftDetector.Detect(Options(Path.Combine(dir, "a"), labels, PeftKind.None, epochs: 3) with { Selection = SelectionSource.Eval });
        Assert.StartsWith("computed", (string)first.Summary.Config["image_features"]!);
        Assert.Single(Directory.GetFiles(Path.Combine(dir, "cache"), "features-*.safetensors"));
        var second = DeftDetector.Detect(Options(Path.Combine(dir, "b"), labels, PeftKind.None, epochs: 3) with { Selection = SelectionSource.Eval });
        Assert.StartsWith("loaded", (string)second.Summary.Config["image_features"]!);
        Assert.Equal(first.Samples.Select(s => s.LabelQuality), second.Samples.Select(s => s.LabelQuality));
        Assert.Equal("eval", second.Summary.Selection);
        Assert.True(second.Summary.TimingsSeconds.ContainsKey("eval_seconds"));
        Assert.Equal(3, second.Summary.Epochs.Count);

        // bfloat16 features are another cache entry; the detections stay close to the float32 ones.
        var bf16 = DeftDetector.Detect(Options(Path.Combine(dir, "c"), labels, PeftKind.None, epochs: 3) with
        {
            Selection = SelectionSource.Eval, Precision = TowerPrecision.Bf16,
        });
        Assert.StartsWith("computed", (string)bf16.Summary.Config["image_features"]!);
        Assert.Equal(2, Directory.GetFiles(Path.Combine(dir, "cache"), "features-*.safetensors").Length);
        var diffs = first.Samples.Zip(bf16.Samples, (x, y) => Math.Abs(x.LabelQuality - y.LabelQuality)).ToArray();
        var flips = first.Samples.Zip(bf16.Samples, (x, y) => x.IsLabelIssue != y.IsLabelIssue).Count(f => f);
        output.WriteLine($"bf16 vs fp32 label quality: mean |diff| {diffs.Average():g3}, max {diffs.Max():g3}; decisions flipped {flips} of {diffs.Length}");
        // bf16 features keep cosine ≥ 0.999 (ClipModelTests); three epochs of prompt training amplify their rounding
        // in a few samples (max 0.08 on the tiny fixture), so the bound is on the decisions and the mean.
        Assert.True(flips <= diffs.Length / 20, $"bf16 flipped {flips} of {diffs.Length} decisions");
        Assert.True(diffs.Average() < 0.05, $"bf16 label quality differs by {diffs.Average()} on average");
    }

    [Fact]
    public void BadInputsStopWithMessagesThatSayWhatToFix()
    {
        using var tmp = new TempDir("bad");
        var dir = tmp.Path;
        var labels = DetectTestData.WriteLabelFile(dir, 32);

        var unknownIndex = Path.Combine(dir, "unknown.csv");
        File.WriteAllText(unknownIndex, "index,label\n0,1\n99999999,2\n");
        var ex = Assert.Throws<DeftException>(() => DeftDetector.Detect(Options(Path.Combine(dir, "r1"), unknownIndex)));
        Assert.Contains("unknown.csv:3", ex.Message);

        var names = Path.Combine(dir, "names.txt");
        File.WriteAllLines(names, ["shirt", "trouser", "pullover"]);
        Assert.Throws<DeftException>(() => DeftDetector.Detect(Options(Path.Combine(dir, "r2"), labels) with { ClassesFile = names }));

        ex = Assert.Throws<DeftException>(() => DeftDetector.Detect(Options(Path.Combine(dir, "r3"), labels) with { Prompts = new PromptOptions(ContextLength: 74) }));
        Assert.Contains("--n-ctx", Deft.Cli.FlagNames.Render(ex));

        ex = Assert.Throws<DeftException>(() => DeftDetector.Detect(Options(Path.Combine(dir, "r4"), labels) with { Peft = new PeftOptions(PeftKind.Lora, Partial: 5) }));
        Assert.Contains("1..2", ex.Message);

        // A run that diverges stops naming the epoch, the step and the last good checkpoint.
        ex = Assert.Throws<DeftException>(() => DeftDetector.Detect(Options(Path.Combine(dir, "r5"), labels, epochs: 3) with { LearningRate = 1e38 }));
        Assert.Matches(@"epoch \d+, step \d+", ex.Message);
        Assert.True(ex.Message.Contains("checkpoint"), ex.Message);

        // Identical contexts at the start (initialised from the same words) make p_yes = p_no = ½: nothing is
        // selected in the first batch without warm-up; the run warns and goes on.
        var warnings = new List<string>();
        var report = DeftDetector.Detect(Options(Path.Combine(dir, "r6"), labels, epochs: 1) with
        {
            Warmup = 0, Prompts = new PromptOptions(InitWords: "a photo of a"),
        }, null, warnings.Add);
        Assert.Contains(warnings, w => w.Contains("selected no sample"));
        Assert.Equal(32, report.Samples.Count);

        ex = Assert.Throws<DeftException>(() => DeftDetector.Detect(Options(Path.Combine(dir, "r6"), labels, epochs: 1)));
        Assert.Contains("already holds a run", ex.Message);
        DeftDetector.Detect(Options(Path.Combine(dir, "r6"), labels, epochs: 1) with { Force = true });
    }
}

public sealed class DetectPipelineTests
{
    [Fact]
    public void CifarFollowsTheOfficialLoadersAndOtherDataUseClipsEvalTransform()
    {
        var norm = Deft.Data.Transforms.Normalization.Clip;
        var (train, eval) = DeftDetector.Pipelines("cifar10", Deft.Data.Transforms.AugmentPreset.Cifar, 224, norm);
        Assert.Equal(
            [new Deft.Data.Transforms.RandomCropWithPadding(32, 4), new Deft.Data.Transforms.ResizeTo(224, 224, Deft.Data.Transforms.ResampleFilter.Bilinear), new Deft.Data.Transforms.RandomHorizontalFlip()],
            train.Steps);
        Assert.Equal([new Deft.Data.Transforms.ResizeTo(224, 224, Deft.Data.Transforms.ResampleFilter.Bilinear)], eval.Steps);
        var (_, idxEval) = DeftDetector.Pipelines("idx", Deft.Data.Transforms.AugmentPreset.Cifar, 224, norm);
        Assert.Equal(Deft.Data.Transforms.ImagePipeline.Eval(224).Steps, idxEval.Steps);

        var options = new DetectOptions { Model = "m", Data = "d", Format = "cifar100", OutputDirectory = "o" };
        Assert.Equal(new Deft.Data.Transforms.RgbTriple(0.507f, 0.487f, 0.441f), options.ResolveNormalization(norm).Mean);
        Assert.Equal(Deft.Data.Transforms.AugmentPreset.Cifar, options.ResolveAugment());
        Assert.Equal(norm, (options with { Format = "folder" }).ResolveNormalization(norm));
        Assert.Equal(Deft.Data.Transforms.AugmentPreset.Clip, (options with { Format = "folder" }).ResolveAugment());
        Assert.Equal(0.5f, (options with { Mean = new(0.5f, 0.5f, 0.5f) }).ResolveNormalization(norm).Mean.G);
    }
}

public sealed class ThreadPlanTests
{
    [Fact]
    public void SmallOperationsRunOnOneThreadAndLargeImagePassesOnAllCores()
    {
        var tiny = new Deft.Clip.ClipVisionConfig(32, 8, 128, 2, 2);
        var b16 = Deft.Clip.ClipConfig.ViTB16.Vision;
        Assert.Equal(new ThreadPlan(1, 1), ThreadPlan.Choose(null, new PeftOptions(PeftKind.Lora), 64, tiny, 2));
        Assert.Equal(new ThreadPlan(2, 2), ThreadPlan.Choose(null, new PeftOptions(PeftKind.VptDeep), 8, b16, 2));
        Assert.Equal(new ThreadPlan(2, 1), ThreadPlan.Choose(null, new PeftOptions(PeftKind.None), 64, b16, 2));
        Assert.Equal(new ThreadPlan(3, 3), ThreadPlan.Choose(3, new PeftOptions(PeftKind.None), 64, b16, 2));
    }

    [Fact]
    public void TheFrozenTowerStepUsesAllCoresOnlyWhenItsTextPassIsHeavy()
    {
        var b16 = Deft.Clip.ClipConfig.ViTB16;
        var none = new PeftOptions(PeftKind.None);
        // Shared prefix of 16 context tokens + SOS (17, once per prompt set) and a 5-token suffix per class and set.
        static long Tokens(int classes) => 2 * 17 + 2L * classes * 5;
        // ViT-B/16's text tower: 12 layers, width 512 → 12 · 12 · 512² ≈ 37.7M multiply-accumulates per token.
        Assert.Equal(Tokens(10) * 12 * 12.0 * 512 * 512, ThreadPlan.TextMacs(b16.Text, Tokens(10)));
        Assert.Equal(new ThreadPlan(2, 1), ThreadPlan.Choose(null, none, 64, b16.Vision, 2, ThreadPlan.TextMacs(b16.Text, Tokens(10))));   // 5.1 G
        Assert.Equal(new ThreadPlan(2, 2), ThreadPlan.Choose(null, none, 64, b16.Vision, 2, ThreadPlan.TextMacs(b16.Text, Tokens(100))));  // 39 G
        Assert.Equal(new ThreadPlan(1, 1), ThreadPlan.Choose(1, none, 64, b16.Vision, 2, ThreadPlan.TextMacs(b16.Text, Tokens(100))));
    }
}

public sealed class DetectStepBenchmarkTests
{
    [Theory]
    [InlineData(PeftKind.VptDeep, false)]
    [InlineData(PeftKind.None, true)]
    public void ReportsStepTimesAndForTheFrozenTowerEpochsPerMinute(PeftKind peft, bool cached)
    {
        var r = DetectStepBenchmark.Run(new DetectStepBenchmarkOptions
        {
            Model = "random:tiny", Peft = new PeftOptions(peft, VptLength: 2), Batch = 4, Steps = 2, ContextLength = 4,
        });
        Assert.Equal(2, r.StepSeconds.Count);
        Assert.True(r.SecondsPerStep > 0 && r.FastestStepSeconds <= r.SecondsPerStep);
        Assert.Equal(4 / r.SecondsPerStep, r.ImagesPerSecond, 1e-9);
        Assert.Equal(cached, r.CachedFeatures);
        Assert.Equal(cached, r.EpochsPerMinute.HasValue);
        if (File.Exists("/proc/self/status")) Assert.True(r.PeakResidentBytes > 10_000_000, $"peak RSS {r.PeakResidentBytes}");
        if (cached) Assert.Equal(60 / (r.SecondsPerStep * 10_000), r.EpochsPerMinute!.Value, 1e-9);
    }
}
