using System.Text.Json.Nodes;
using Deft.Baselines;
using Deft.Clip;
using Deft.Data;
using Deft.Data.Transforms;
using Deft.Detection;
using Deft.Methods;
using Deft.Peft;
using Deft.Tests.Detection;
using Spectre.Console.Cli;
using TorchSharp;
using static TorchSharp.torch;

namespace Deft.Tests.Methods;

/// <summary>Every method end to end on the same small real subset (see <see cref="MethodRuns"/>).</summary>
public sealed class MethodRunTests(MethodRuns runs) : IClassFixture<MethodRuns>
{
    public static IEnumerable<object[]> Baselines() =>
        Enum.GetValues<DetectionMethod>().Where(m => m != DetectionMethod.Deft).Select(m => new object[] { m });

    [Theory]
    [MemberData(nameof(Baselines))]
    public void Every_method_writes_deft_s_files_with_the_same_columns(DetectionMethod method)
    {
        var deftDir = runs.Directory(DetectionMethod.Deft);
        var dir = runs.Directory(method);
        var (deftHeader, deftRows) = MethodRuns.ReadCsv(Path.Combine(deftDir, DetectionOutputs.SamplesFile));
        var (header, rows) = MethodRuns.ReadCsv(Path.Combine(dir, DetectionOutputs.SamplesFile));
        Assert.Equal(deftHeader, header);
        Assert.Equal(DetectionOutputs.CsvHeader, header);
        Assert.Equal(MethodRuns.Samples, rows.Count);
        Assert.Equal(deftRows.Select(r => r[0]), rows.Select(r => r[0]));   // same samples, index order

        int Col(string name) => Array.IndexOf(header, name);
        var flagged = new List<(int Index, double Quality)>();
        foreach (var r in rows)
        {
            var quality = MethodRuns.Number(r[Col("label_quality")]);
            Assert.InRange(quality, 0, 1);
            Assert.Contains(r[Col("is_label_issue")], new[] { "true", "false" });
            Assert.InRange(int.Parse(r[Col("suggested_label")]), 0, 9);
            Assert.InRange(MethodRuns.Number(r[Col("suggested_probability")]), 0, 1);
            Assert.NotEqual("", r[Col("true_label")]);
            if (r[Col("is_label_issue")] == "true") flagged.Add((int.Parse(r[0]), quality));
        }

        // label_issues.csv: exactly the flagged rows, lowest label quality first.
        var (issueHeader, issueRows) = MethodRuns.ReadCsv(Path.Combine(dir, DetectionOutputs.IssuesFile));
        Assert.Equal(header, issueHeader);
        Assert.Equal(flagged.OrderBy(f => f.Quality).ThenBy(f => f.Index).Select(f => f.Index), issueRows.Select(r => int.Parse(r[0])));

        var summary = MethodRuns.Summary(dir);
        var deftSummary = MethodRuns.Summary(deftDir);
        Assert.Equal(method.ToName(), (string?)summary["method"]);
        Assert.Equal("deft", (string?)deftSummary["method"]);
        Assert.Equal((string?)deftSummary["labels_fingerprint"], (string?)summary["labels_fingerprint"]);
        Assert.Equal(flagged.Count, (int)summary["issues"]!);
        var quality0 = summary["quality"]!;
        foreach (var key in new[] { "precision", "recall", "f1", "auroc" }) Assert.NotNull(quality0[key]);
        Assert.Equal(MethodRuns.Samples / 5, (int)quality0["truly_noisy"]!);

        // The reported precision is that of the written selection against the written true labels.
        var selected = rows.Where(r => r[Col("is_label_issue")] == "false").ToList();
        var expectedPrecision = selected.Count == 0 ? 0 : (double)selected.Count(r => r[Col("given_label")] == r[Col("true_label")]) / selected.Count;
        Assert.Equal(expectedPrecision, (double)quality0["precision"]!, 9);
    }

    [Fact]
    public void Score_on_a_clip_posterior_run_says_that_it_keeps_no_detector()
    {
        var dir = runs.Directory(DetectionMethod.ClipPosterior);
        var error = Assert.Throws<DeftException>(() => DeftDetector.Score(new ScoreOptions
        {
            RunDirectory = dir, Data = DetectTestData.FashionMnist, Format = "idx", OutputDirectory = Path.Combine(runs.Root, "score-clip-posterior"),
        }));
        Assert.Contains("--method clip-posterior", Deft.Cli.FlagNames.Render(error));
        Assert.Contains("keeps no trained detector", error.Message);
    }

    [Fact]
    public void Clip_posterior_reports_its_fitted_channel()
    {
        var config = MethodRuns.Summary(runs.Directory(DetectionMethod.ClipPosterior))["config"]!;
        var transition = config["transition"]!.AsArray();
        Assert.Equal(10, transition.Count);
        foreach (var row in transition) Assert.Equal(1.0, row!.AsArray().Sum(x => (double)x!), 3);   // rows rounded to 4 decimals
        Assert.True((double)config["fitted_logit_factor"]! > 0);
        Assert.True((bool)config["em_converged"]!);
    }

    [Fact]
    public void Label_match_flags_exactly_the_zero_shot_mismatches()
    {
        var report = runs.Run(DetectionMethod.LabelMatch);
        // Independent computation: the fixture model's zero-shot classifier on the eval-transformed images.
        using var bundle = ClipBundle.Load(DetectTestData.TinyModel, Fixtures.TinyVocabulary);
        var data = DatasetFactory.Open(new DatasetOptions(DetectTestData.FashionMnist, "idx"));
        var indices = Enumerable.Range(0, MethodRuns.Samples).ToArray();
        using var features = ImageFeatures.Compute(bundle.Model, data, indices, ImagePipeline.Eval(bundle.Resolution, bundle.Normalization), 100);
        using var classifier = ZeroShotClassifier.Create(bundle.Model, bundle.Tokenizer, data.Classes, PromptTemplates.Default);
        using var sims = classifier.Similarities(features);
        var cos = sims.to(ScalarType.Float64).data<double>().ToArray();
        var scale = Math.Exp(bundle.Model.LogitScale.to(ScalarType.Float64).item<double>());
        var k = data.Classes.Count;
        var mismatches = 0;
        foreach (var row in report.Samples)
        {
            var logits = Enumerable.Range(0, k).Select(c => scale * cos[row.Index * k + c]).ToArray();
            var argmax = Array.IndexOf(logits, logits.Max());
            var max = logits.Max();
            var pGiven = Math.Exp(logits[row.GivenLabel] - max) / logits.Sum(l => Math.Exp(l - max));
            Assert.Equal(argmax != row.GivenLabel, row.IsLabelIssue);
            Assert.Equal(argmax, row.SuggestedLabel);
            Assert.Equal(pGiven, row.LabelQuality, 4);
            if (row.IsLabelIssue) mismatches++;
        }
        Assert.InRange(mismatches, 1, MethodRuns.Samples - 1);   // the check saw both verdicts
    }

    [Fact]
    public void Small_loss_keeps_the_scheduled_count_of_every_batch()
    {
        var summary = MethodRuns.Summary(runs.Directory(DetectionMethod.SmallLoss));
        // 300 samples in batches of 64: 64, 64, 64, 64, 44. Forget rates linspace(0, 0.3, 3) = 0, 0.15, 0.3 over the
        // three warm-up epochs; kept per batch int((1 − r)·n): epoch 1 all 300; epoch 2 4·54 + 37 = 253 (0.85·64 = 54.4,
        // 0.85·44 = 37.4); epoch 3 4·44 + 30 = 206 (0.7·64 = 44.8, 0.7·44 = 30.8).
        int[] expectedKept = [300, 253, 206];
        var epochs = summary["epochs"]!.AsArray();
        Assert.Equal(MethodRuns.Epochs, epochs.Count);
        var schedule = SmallLoss.Schedule(MethodRuns.NoiseRate, MethodRuns.Warmup, MethodRuns.Epochs);
        int[] batches = [64, 64, 64, 64, 44];
        for (var e = 0; e < epochs.Count; e++)
        {
            Assert.Equal(expectedKept[e], batches.Sum(n => SmallLoss.RememberCount(n, schedule[e])));
            Assert.Equal(expectedKept[e], (int)Math.Round((double)epochs[e]!["selected_fraction"]! * MethodRuns.Samples));
        }
        // The verdict is the last epoch's kept set.
        Assert.Equal(MethodRuns.Samples - expectedKept[^1], (int)summary["issues"]!);
        Assert.Equal(MethodRuns.NoiseRate, (double)summary["config"]!["noise_rate"]!);
    }

    [Fact]
    public void Small_loss_selector_keeps_the_smallest_losses_at_the_epoch_s_rate()
    {
        var schedule = SmallLoss.Schedule(0.4, 3, 5);   // 0, 0.2, 0.4, 0.4, 0.4
        double[] losses = [0.9, 0.1, 0.5, 2.0, 0.3, 0.7, 0.2, 1.5, 0.4, 0.8];
        Assert.All(Deft.Methods.SmallLossMethod.Selector(schedule)(1, losses, []), Assert.True);
        // Epoch 2 forgets 20 %: the two largest losses (2.0 at 3, 1.5 at 7) go.
        Assert.Equal([true, true, true, false, true, true, true, false, true, true], Deft.Methods.SmallLossMethod.Selector(schedule)(2, losses, []));
        // Epoch 4 forgets 40 %: also 0.9 (0) and 0.8 (9).
        Assert.Equal([false, true, true, false, true, true, true, false, true, false], Deft.Methods.SmallLossMethod.Selector(schedule)(4, losses, []));
    }

    [Fact]
    public void Gmm_trains_the_warm_up_epochs_and_flags_the_low_posterior_samples()
    {
        var dir = runs.Directory(DetectionMethod.Gmm);
        var summary = MethodRuns.Summary(dir);
        Assert.Equal(MethodRuns.Warmup, summary["epochs"]!.AsArray().Count);
        Assert.All(summary["epochs"]!.AsArray(), e => Assert.Equal(1.0, (double)e!["selected_fraction"]!));
        var report = runs.Run(DetectionMethod.Gmm);
        Assert.All(report.Samples, s => Assert.Equal(s.LabelQuality <= 0.5, s.IsLabelIssue));
        Assert.Equal(2, summary["config"]!["gmm_means"]!.AsArray().Count);

        // By default a sample whose suggestion is its given label is not flagged (cleanlab's rule); nothing else changes.
        var defaults = runs.Run("gmm-default-issues", runs.Options(DetectionMethod.Gmm, "gmm-default-issues") with { Issues = new IssueSettings() });
        Assert.Equal(report.Samples.Select(s => s.LabelQuality), defaults.Samples.Select(s => s.LabelQuality));
        Assert.Equal(report.Samples.Select(s => s.IsLabelIssue && s.SuggestedLabel != s.GivenLabel), defaults.Samples.Select(s => s.IsLabelIssue));
        Assert.Contains(report.Samples, s => s.IsLabelIssue && s.SuggestedLabel == s.GivenLabel);
        Assert.False(MethodRuns.Summary(Path.Combine(runs.Root, "gmm-default-issues"))["config"]!["flag_agreeing"]!.GetValue<bool>());
    }

    [Fact]
    public void Gmm_refit_trains_every_epoch_on_the_clean_samples_of_a_fit_made_before_it()
    {
        // main_baseline.py: for epoch > warmup: idx_clean = eval_train() (GMM on the losses); train on idx_clean only.
        var options = runs.Options(DetectionMethod.Gmm, "gmm-refit") with { GmmRefit = true, Epochs = 3, Warmup = 1 };
        var report = runs.Run("gmm-refit", options);
        var epochs = report.Summary.Epochs;
        Assert.Equal([1, 2, 3], epochs.Select(e => e.Epoch));
        Assert.Equal(1.0, epochs[0].SelectedFraction);            // warm-up: every sample
        Assert.All(epochs.Skip(1), e => Assert.InRange(e.SelectedFraction, 0.05, 0.999));
        // The verdicts are those of the last fit, the one epoch 3 trained on.
        Assert.Equal(report.Samples.Count(s => !s.IsLabelIssue) / (double)report.Samples.Count, epochs[2].SelectedFraction, 12);
        Assert.Equal(2, report.Summary.Config["gmm_fits"]);
        Assert.Equal(true, report.Summary.Config["gmm_refit"]);
        // Each epoch trains at the rate of the 3-epoch cosine schedule.
        Assert.Equal(Enumerable.Range(1, 3).Select(e => new Deft.Training.LearningRateSchedule(options.LearningRate, 3).RateForEpoch(e)),
            epochs.Select(e => e.LearningRate));

        // With the warm-up filling every epoch there is nothing to refit: the same as the single fit.
        var filled = runs.Run("gmm-refit-filled", runs.Options(DetectionMethod.Gmm, "gmm-refit-filled") with { GmmRefit = true, Warmup = MethodRuns.Epochs });
        var once = runs.Run("gmm-once-filled", runs.Options(DetectionMethod.Gmm, "gmm-once-filled") with { Warmup = MethodRuns.Epochs });
        Assert.Equal(once.Samples.Select(s => s.LabelQuality), filled.Samples.Select(s => s.LabelQuality));
        Assert.Throws<DeftException>(() => (runs.Options(DetectionMethod.ClipPosterior, "x") with { GmmRefit = true }).Validate());
    }

    [Theory]
    [InlineData(DetectionMethod.SmallLoss)]
    [InlineData(DetectionMethod.Gmm)]
    public void The_linear_head_trains_on_cached_pre_projection_features_and_says_so(DetectionMethod method)
    {
        var name = method.ToName() + "-linear-head";
        var report = runs.Run(name, runs.Options(method, name) with { Classifier = BaselineClassifier.LinearHead });
        var prompts = runs.Run(method);
        Assert.Equal("linear-head", report.Summary.Config["classifier"]);
        Assert.Equal("prompts", prompts.Summary.Config["classifier"]);
        Assert.Contains("before the projection", (string)report.Summary.Config["image_features"]!);
        Assert.Equal("linear-head", (string)MethodRuns.Summary(Path.Combine(runs.Root, name))["config"]!["classifier"]!);
        // Another classifier: other scores on the same samples.
        Assert.Equal(prompts.Samples.Select(s => s.Index), report.Samples.Select(s => s.Index));
        Assert.NotEqual(prompts.Samples.Select(s => s.LabelQuality), report.Samples.Select(s => s.LabelQuality));
        // The cache holds the pre-projection features [N, W] as an entry of their own beside the projected [N, E] ones.
        var widths = Directory.GetFiles(runs.CacheDirectory, "features-*.safetensors")
            .Select(f => Deft.Clip.Safetensors.ReadHeader(f).Entries.Single().Shape[1]).ToHashSet();
        Assert.Contains(Fixtures.TinyClipConfig.Vision.Width, widths.Select(w => (int)w));
        Assert.Contains(Fixtures.TinyClipConfig.EmbedDim, widths.Select(w => (int)w));
        // Near-duplicates are looked for on the projected features, as for the prompts.
        Assert.Equal(prompts.DataIssues.Count, report.DataIssues.Count);
    }

    [Fact]
    public void The_linear_head_also_trains_through_an_adapted_image_tower()
    {
        var options = runs.Options(DetectionMethod.SmallLoss, "small-loss-linear-vpt") with
        {
            Peft = new PeftOptions(PeftKind.VptShallow, VptLength: 2), Epochs = 1, Warmup = 1, Classifier = BaselineClassifier.LinearHead,
        };
        var report = runs.Run("small-loss-linear-vpt", options);
        Assert.Equal("computed every step through the adapted tower", report.Summary.Config["image_features"]);
        Assert.Equal("linear-head", report.Summary.Config["classifier"]);
        Assert.Equal(1.0, report.Summary.Epochs.Single().SelectedFraction);
    }

    [Fact]
    public void Confident_learning_variants_share_probabilities_and_the_prune_count()
    {
        var cl = runs.Run(DetectionMethod.ConfidentLearning);
        var neq = runs.Run(DetectionMethod.PredictedNeqGiven);
        var self = runs.Run(DetectionMethod.SelfConfidence);
        Assert.Equal(cl.Samples.Select(s => s.LabelQuality), neq.Samples.Select(s => s.LabelQuality));
        Assert.Equal(cl.Samples.Select(s => s.LabelQuality), self.Samples.Select(s => s.LabelQuality));
        Assert.All(neq.Samples, s => Assert.Equal(s.SuggestedLabel != s.GivenLabel, s.IsLabelIssue));
        // self-confidence flags as many as prune-by-noise-rate: the lowest label qualities.
        Assert.Equal(cl.Summary.Issues, self.Summary.Issues);
        var lowest = self.Samples.OrderBy(s => s.LabelQuality).ThenBy(s => s.Index).Take(self.Summary.Issues).Select(s => s.Index).ToHashSet();
        Assert.Equal(lowest.Order(), self.Samples.Where(s => s.IsLabelIssue).Select(s => s.Index).Order());
        // prune-by-noise-rate never flags a sample whose prediction is its given label.
        Assert.All(cl.Samples.Where(s => s.IsLabelIssue), s => Assert.NotEqual(s.GivenLabel, s.SuggestedLabel));
        Assert.Equal(5, (int)MethodRuns.Summary(runs.Directory(DetectionMethod.ConfidentLearning))["config"]!["folds"]!);
    }

    [Fact]
    public void Small_loss_also_trains_through_an_adapted_image_tower()
    {
        var options = runs.Options(DetectionMethod.SmallLoss, "small-loss-vpt") with
        {
            Peft = new PeftOptions(PeftKind.VptShallow, VptLength: 2), Epochs = 1, Warmup = 1,
        };
        var report = runs.Run("small-loss-vpt", options);
        // One warm-up epoch forgets nothing (linspace(0, r, 1) = [0]), so nothing is flagged.
        Assert.Equal(0, report.Summary.Issues);
        Assert.Equal("computed every step through the adapted tower", report.Summary.Config["image_features"]);
        Assert.Equal(1.0, report.Summary.Epochs.Single().SelectedFraction);
    }

    [Fact]
    public void Compare_tables_runs_on_the_same_labels_and_refuses_others()
    {
        var deft = runs.Directory(DetectionMethod.Deft);
        var gmm = runs.Directory(DetectionMethod.Gmm);
        var comparison = RunComparison.Load([deft, gmm]);
        var table = RunComparison.Markdown(comparison).TrimEnd('\n').Split('\n');
        Assert.Equal(4, table.Length);
        Assert.StartsWith("| run | method | precision | recall | F1 | AUROC |", table[0]);
        var gmmQuality = runs.Run(DetectionMethod.Gmm).Summary.Quality!;
        Assert.Contains($"| gmm | gmm | {gmmQuality.Precision:F4} | {gmmQuality.Recall:F4} | {gmmQuality.F1:F4} | {gmmQuality.Auroc:F4} |", table[3]);
        Assert.DoesNotContain("test acc", table[0]);
        var json = JsonNode.Parse(RunComparison.Json(comparison))!;
        Assert.Equal("deft", (string?)json["runs"]![0]!["method"]);

        // A copy of the gmm run with a phase-2 result gains the accuracy column.
        var withAdapt = CopyRun(gmm, "gmm-adapted");
        Directory.CreateDirectory(Path.Combine(withAdapt, "adapt"));
        File.WriteAllText(Path.Combine(withAdapt, "adapt", "result.json"), "{\"last_test_accuracy\": 0.8125, \"best_test_accuracy\": 0.9}");
        var adapted = RunComparison.Load([deft, withAdapt]);
        Assert.Equal(0.8125, adapted.Runs[1].TestAccuracy);
        Assert.Contains("81.2%", RunComparison.Markdown(adapted).Split('\n')[3]);

        // Other samples, or other labels: refused, naming the runs.
        var fewer = CopyRun(gmm, "fewer", s => s["samples"] = 299);
        var ex = Assert.Throws<DeftException>(() => RunComparison.Load([deft, fewer]));
        Assert.Contains(deft, ex.Message);
        Assert.Contains(fewer, ex.Message);
        var relabelled = CopyRun(gmm, "relabelled", s => s["labels_fingerprint"] = "0000000000000000");
        ex = Assert.Throws<DeftException>(() => RunComparison.Load([deft, relabelled]));
        Assert.Contains(relabelled, ex.Message);
        Assert.Contains("different labels", ex.Message);
    }

    [Fact]
    public void Compare_command_writes_the_table_and_fails_on_mismatch()
    {
        var deft = runs.Directory(DetectionMethod.Deft);
        var cl = runs.Directory(DetectionMethod.ConfidentLearning);
        var outFile = Path.Combine(runs.Root, "table.md");
        Assert.Equal(0, CliHarness.Run(["compare", deft, cl, "--out", outFile]));
        var lines = File.ReadAllLines(outFile);
        Assert.Equal(4, lines.Length);
        Assert.Contains("| confident-learning | confident-learning |", lines[3]);
        var fewer = CopyRun(cl, "cl-fewer", s => s["samples"] = 1);
        Assert.Throws<DeftException>(() => CliHarness.Run(["compare", deft, fewer]));
    }

    private string CopyRun(string from, string name, Action<JsonObject>? edit = null)
    {
        var dir = Path.Combine(runs.Root, name);
        Directory.CreateDirectory(dir);
        var summary = MethodRuns.Summary(from);
        edit?.Invoke(summary);
        File.WriteAllText(Path.Combine(dir, DetectionOutputs.SummaryFile), summary.ToJsonString());
        return dir;
    }
}
