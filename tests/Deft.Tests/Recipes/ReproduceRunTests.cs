using System.Globalization;
using System.Text.Json.Nodes;
using Deft.Cli;
using Deft.Recipes;
using Deft.Tests.Data;
using Spectre.Console.Cli;

namespace Deft.Tests.Recipes;

/// <summary>
/// <c>deft reproduce</c> end to end on a generated CIFAR-100 miniature (two images per class), the tiny fixture CLIP
/// and one epoch per phase: step folders, result.json against the step outputs, and resuming by skipping.
/// </summary>
public sealed class ReproduceRunTests : IDisposable
{
    private const string Recipe = "cifar100-sym-0.4";
    private readonly TempDir _dir = new("deft-reproduce");

    public void Dispose() => _dir.Dispose();

    /// <summary>CIFAR-100 binary files: <paramref name="perClass"/> training images per class and one test image per class.</summary>
    private string WriteCifar100(int perClass)
    {
        static byte[] Image(int label, int sample)
        {
            // A class-specific colour with a little per-sample texture, so the classes are separable at all.
            var planar = new byte[3072];
            for (var c = 0; c < 3; c++)
                for (var p = 0; p < 1024; p++)
                    planar[c * 1024 + p] = (byte)((label * (37 + 61 * c) + (p % 32) * (sample + 1) + p / 32) % 256);
            return planar;
        }
        var train = Enumerable.Range(0, 100 * perClass).Select(i => ((byte?)(i % 20), (byte)(i % 100), Image(i % 100, i / 100)));
        var test = Enumerable.Range(0, 100).Select(i => ((byte?)(i % 20), (byte)i, Image(i, 7)));
        _dir.Write("cifar/cifar-100-binary/train.bin", DatasetFiles.CifarRecords(train));
        _dir.Write("cifar/cifar-100-binary/test.bin", DatasetFiles.CifarRecords(test));
        _dir.WriteText("cifar/cifar-100-binary/fine_label_names.txt", string.Join("\n", Enumerable.Range(0, 100).Select(i => $"thing{i}")));
        return Path.Combine(_dir.Path, "cifar");
    }

    private static int Reproduce(params string[] args) => CliHarness.Run(["reproduce", .. args], quiet: false);

    [Fact]
    public void Smoke_run_writes_every_step_folder_and_a_result_that_matches_them_then_resumes_by_skipping()
    {
        var root = WriteCifar100(perClass: 2);
        var output = Path.Combine(_dir.Path, "runs");
        string[] args = [Recipe, "--root", root, "--model", Fixtures.Path("clip-tiny-hf"), "--out", output, "--seed", "3", "--epochs", "1"];

        Assert.Equal(0, Reproduce(args));

        var run = Path.Combine(output, Recipe);
        var result = JsonNode.Parse(File.ReadAllText(Path.Combine(run, ReproduceRunner.ResultFile)))!;
        Assert.Equal(Recipe, (string?)result["recipe"]);
        Assert.False((bool)result["full_schedule"]!);
        Assert.Equal((1, 1), ((int)result["phase_one_epochs"]!, (int)result["phase_two_epochs"]!));
        var steps = result["steps"]!.AsArray();
        Assert.Equal(["noise", "detect", "adapt"], steps.Select(s => (string?)s!["kind"]));
        Assert.All(steps, s => Assert.Equal("ran", (string?)s!["status"]));

        // Each step in its own folder, with its command recorded and its outputs complete.
        foreach (var (folder, files) in new[]
                 {
                     ("noise", new[] { "noisy-labels.csv" }),
                     ("detect", new[] { "samples.csv", "summary.json", "detector.safetensors" }),
                     ("adapt", new[] { "model.safetensors", "result.json" }),
                 })
        {
            foreach (var f in files.Append(ReproduceRunner.StepFile)) Assert.True(File.Exists(Path.Combine(run, folder, f)), $"{folder}/{f} missing");
            var recorded = JsonNode.Parse(File.ReadAllText(Path.Combine(run, folder, ReproduceRunner.StepFile)))!;
            Assert.Equal((string?)steps.Single(s => (string?)s!["directory"] == Path.Combine(run, folder))!["command"], (string?)recorded["command"]);
            Assert.NotNull(recorded["finished"]);
        }

        // 40% symmetric noise over 200 samples: round(0.4 · 200) redrawn; about 1 in 100 lands on its own class.
        var noisy = File.ReadAllLines(Path.Combine(run, "noise", "noisy-labels.csv")).Skip(1).Select(l => l.Split(',')).ToList();
        Assert.Equal(200, noisy.Count);
        var flipped = noisy.Count(r => r[1] != r[2]);
        Assert.InRange(flipped, 74, 80);

        // Detection figures are samples.csv's: precision = truly clean among the kept, against the noise file's truth.
        var samples = File.ReadAllLines(Path.Combine(run, "detect", "samples.csv")).Skip(1).Select(l => l.Split(',')).ToList();
        Assert.Equal(200, samples.Count);
        var kept = samples.Where(r => r[5] == "false").ToList();
        var detection = result["detection"]!;
        Assert.Equal(200, (int)detection["samples"]!);
        Assert.Equal(kept.Count, (int)detection["selected_clean"]!);
        var truth = noisy.ToDictionary(r => r[0], r => r[2]);
        if (kept.Count > 0)
            Assert.Equal((double)kept.Count(r => truth[r[0]] == r[2]) / kept.Count, (double)detection["precision"]!, 9);

        // The test figure is phase 2's last-epoch accuracy on the 100 test images.
        var adapt = JsonNode.Parse(File.ReadAllText(Path.Combine(run, "adapt", "result.json")))!;
        var test = result["tests"]!.AsArray().Single()!;
        Assert.Equal(100, (int)test["samples"]!);
        Assert.Equal((double)adapt["last_test_accuracy"]!, (double)test["accuracy"]!, 12);
        Assert.Empty(result["paper"]!.AsArray());

        // Run again: every step is complete, so all are skipped and the figures stay.
        Assert.Equal(0, Reproduce(args));
        var again = JsonNode.Parse(File.ReadAllText(Path.Combine(run, ReproduceRunner.ResultFile)))!;
        Assert.All(again["steps"]!.AsArray(), s => Assert.Equal("skipped", (string?)s!["status"]));
        Assert.Equal(detection.ToJsonString(), again["detection"]!.ToJsonString());

        // A step whose outputs are incomplete runs again; the steps before it are kept.
        File.Delete(Path.Combine(run, "adapt", "result.json"));
        Assert.Equal(0, Reproduce(args));
        var resumed = JsonNode.Parse(File.ReadAllText(Path.Combine(run, ReproduceRunner.ResultFile)))!;
        Assert.Equal(["skipped", "skipped", "ran"], resumed["steps"]!.AsArray().Select(s => (string?)s!["status"]));
        Assert.True(File.Exists(Path.Combine(run, "adapt", "result.json")));

        // Another seed into the same folders is refused, not mixed in.
        string[] otherSeed = [.. args[..^4], "--seed", "4", "--epochs", "1"];
        var ex = Assert.Throws<DeftException>(() => Reproduce(otherSeed));
        Assert.Contains("holds a step of another run", ex.Message);
        Assert.Contains("--seed 4", ex.Message);
    }

    [Fact]
    public void WebVision_run_keeps_the_first_50_classes_and_tests_on_both_test_sets()
    {
        // 60 classes listed; the recipe keeps 0..49: two Google images and one validation image each, one ImageNet image each.
        const int listed = 60;
        _dir.WriteText("wv/info/synsets.txt", string.Join("\n", Enumerable.Range(0, listed).Select(c => $"n{c:D8} class {c}, thing {c}")));
        _dir.WriteText("wv/info/train_filelist_google.txt", string.Join("\n", Enumerable.Range(0, 2 * listed).Select(i => $"google/q{i % listed:D4}/{i / listed:D6}.jpg {i % listed}")));
        _dir.WriteText("wv/info/val_filelist.txt", string.Join("\n", Enumerable.Range(0, listed).Select(c => $"val{c:D6}.jpg {c}")));
        // 40 px a side: above 32, so phase 2 takes CLIP's augmentation as it would for WebVision's images.
        static byte[] Picture(int label, int sample) =>
            TestImages.Png(40, 40, 2, Enumerable.Range(0, 40 * 40 * 3).Select(i => (byte)((label * (37 + 61 * (i % 3)) + i / 3 % 40 * (sample + 1)) % 256)).ToArray());
        for (var i = 0; i < 2 * listed; i++) _dir.Write($"wv/google/q{i % listed:D4}/{i / listed:D6}.jpg", Picture(i % listed, i / listed));
        for (var c = 0; c < listed; c++) _dir.Write($"wv/val_images_256/val{c:D6}.jpg", Picture(c, 5));
        for (var c = 0; c < 50; c++) _dir.Write($"wv/imagenet/val/{c}/ILSVRC2012_val_{c:D8}.JPEG", Picture(c, 6));
        var output = Path.Combine(_dir.Path, "runs");

        Assert.Equal(0, Reproduce("webvision", "--root", Path.Combine(_dir.Path, "wv"), "--model", Fixtures.Path("clip-tiny-hf"),
            "--out", output, "--epochs", "1"));

        var run = Path.Combine(output, "webvision");
        var result = JsonNode.Parse(File.ReadAllText(Path.Combine(run, ReproduceRunner.ResultFile)))!;
        Assert.Equal(["detect", "adapt", "evaluate"], result["steps"]!.AsArray().Select(s => (string?)s!["kind"]));
        Assert.Equal(100, (int)result["detection"]!["samples"]!);
        Assert.Null(result["detection"]!["precision"]);  // WebVision's noise is unknown: no truth, no precision
        var tests = result["tests"]!.AsArray();
        Assert.Equal(["WebVision validation", "ImageNet validation"], tests.Select(t => (string?)t!["test_set"]));
        Assert.All(tests, t => Assert.Equal(50, (int)t!["samples"]!));

        // The ImageNet accuracy is predictions.csv's: predicted_label against given_label over its 50 rows.
        var predictions = File.ReadAllLines(Path.Combine(run, "eval-webvision-imagenet", "predictions.csv")).Skip(1).Select(l => l.Split(',')).ToList();
        Assert.Equal(50, predictions.Count);
        Assert.Equal((double)predictions.Count(r => r[2] == r[5]) / 50, (double)tests[1]!["accuracy"]!, 12);

        // The paper's WebVision figure is top-1 on WebVision validation: phase 2's last-epoch accuracy.
        var figure = result["paper"]!.AsArray().Single()!;
        Assert.Equal(85.12, (double)figure["paper_percent"]!);
        Assert.Equal((double)tests[0]!["accuracy"]! * 100, (double)figure["ours_percent"]!, 9);
    }

    [Fact]
    public void Running_needs_a_root_and_weights()
    {
        Assert.Throws<CommandRuntimeException>(() => Reproduce(Recipe, "--model", "m.safetensors"));
        Assert.Throws<CommandRuntimeException>(() => Reproduce(Recipe, "--root", _dir.Path));
    }

    [Fact]
    public void Result_sets_our_figure_beside_the_papers()
    {
        // CIFAR-100N's paper figure is detection precision; ours is read from detect/summary.json.
        var root = WriteCifar100(perClass: 1);
        File.WriteAllText(Path.Combine(root, "CIFAR-100_human.csv"),
            "noisy_label\n" + string.Join("\n", Enumerable.Range(0, 100).Select(i => ((i % 4 == 0 ? i + 1 : i) % 100).ToString(CultureInfo.InvariantCulture))));
        var plan = ReproducePlanner.Plan(RecipeRegistry.Get("cifar100n"), new PlanOptions(root, "m.safetensors", Path.Combine(_dir.Path, "runs")));
        var detect = plan.Steps.Single(s => s.Kind == StepKind.Detect).Directory;
        var adapt = plan.Steps.Single(s => s.Kind == StepKind.Adapt).Directory;
        _dir.WriteText(Path.Combine(detect, "summary.json"), """{"samples": 100, "clean": 80, "estimated_noise_rate": 0.2, "quality": {"precision": 0.9125, "recall": 0.97, "f1": 0.94, "auroc": "NaN"}}""");
        _dir.WriteText(Path.Combine(detect, "samples.csv"), "index\n");
        _dir.WriteText(Path.Combine(adapt, "result.json"), """{"test_samples": 100, "last_test_accuracy": 0.5, "best_test_accuracy": 0.6, "best_epoch": 3}""");
        _dir.WriteText(Path.Combine(adapt, "model.safetensors"), "");

        var result = ReproduceRunner.Run(plan, Deft.Cli.Commands.PlanCommandLine.Of);

        Assert.All(result.Steps, s => Assert.Equal(StepStatus.Skipped, s.Status));
        var figure = Assert.Single(result.Paper);
        Assert.Equal(("detection_precision", 88.43), (figure.Metric, figure.PaperPercent));
        Assert.Equal(91.25, figure.OursPercent!.Value, 9);
        Assert.Null(result.Detection!.Auroc);
        Assert.Equal((0.5, 0.6, 3), (Assert.Single(result.Tests).Accuracy, result.Tests[0].BestAccuracy, result.Tests[0].BestEpoch));
        Assert.True(result.FullSchedule);
        Assert.True(File.Exists(Path.Combine(plan.RunDirectory, ReproduceRunner.ResultFile)));
    }
}
