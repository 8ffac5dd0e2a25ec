using System.Globalization;
using System.Text;
using Deft.Data;
using Deft.Detection;
using Deft.IO;
using Deft.Tests.Detection;

namespace Deft.Tests.Cli;

/// <summary>
/// A real kill: `deft detect` runs as a child process, is SIGKILLed mid-epoch and during its final writes (stopped
/// there by the test-only DEFT_TEST_PAUSE_BEFORE hook, so the point is exact), and a rerun with --resume must
/// produce samples.csv, label_issues.csv and detector.safetensors byte for byte as an uninterrupted run does. After
/// each kill no output may look complete.
/// </summary>
public sealed class KillResumeTests
{
    private const int Samples = 160; // 5 steps of 32 per epoch
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);
    private static readonly string[] Compared = [DetectionOutputs.SamplesFile, DetectionOutputs.IssuesFile, DetectorFile.FileName];
    private static readonly string[] Finished = [DetectionOutputs.SamplesFile, DetectionOutputs.IssuesFile, DetectionOutputs.SummaryFile, DetectorFile.FileName, "report.html"];

    /// <summary>Labels over the first samples of Fashion-MNIST's test split (10k images: quick to open); every 5th moved to the next class.</summary>
    internal static string WriteLabels(string directory)
    {
        var data = DatasetFactory.Open(new DatasetOptions(DetectTestData.FashionMnist, "idx", "test"));
        var sb = new StringBuilder("index,label,true_label\n");
        for (var i = 0; i < Samples; i++)
        {
            var truth = data.GetLabel(i);
            sb.Append(CultureInfo.InvariantCulture, $"{i},{(i % 5 == 4 ? (truth + 1) % 10 : truth)},{truth}\n");
        }
        var path = Path.Combine(directory, "labels.csv");
        File.WriteAllText(path, sb.ToString());
        return path;
    }

    internal static string[] DetectArgs(string output, string labels, string peft, bool resume = false) =>
    [
        "detect", "--method", "deft", "--model", "random:tiny@1", "--data", DetectTestData.FashionMnist, "--format", "idx", "--split", "test",
        "--labels", labels, "--peft", peft, "--vpt-len", "2", "--n-ctx", "4", "--epochs", "3", "--batch", "32", "--seed", "3",
        "--threads", "1", "--json", "--out", output, .. resume ? new[] { "--resume" } : [],
    ];

    private static Dictionary<string, string?> Env(string cache, string? pauseBefore = null) => new()
    {
        ["DEFT_CACHE_DIR"] = cache,
        [TestHooks.PauseVariable] = pauseBefore,
    };

    private static void RunToEnd(string[] args, Dictionary<string, string?> env, Action<string>? check = null)
    {
        var (code, output) = CliProcess.Run(args, env, Patience);
        Assert.True(code == 0, $"deft exited {code}:\n{output}");
        check?.Invoke(output);
    }

    /// <summary>Starts a run that pauses at <paramref name="stage"/>, waits for the pause and SIGKILLs it.</summary>
    private static int KillAt(string[] args, Dictionary<string, string?> env)
    {
        using var child = CliProcess.Start(args, env);
        Assert.True(child.WaitFor(l => l.StartsWith(TestHooks.PausedMessage, StringComparison.Ordinal), Patience),
            $"the run never reached the pause point:\n{child.Output}");
        var pid = child.Id;
        child.Kill();
        return pid;
    }

    private static void AssertSameOutputs(string expected, string actual)
    {
        foreach (var name in Compared)
            Assert.True(File.ReadAllBytes(Path.Combine(expected, name)).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(actual, name))),
                $"{name} differs between the uninterrupted and the resumed run");
        Assert.Empty(Directory.GetFiles(actual, "*.tmp"));
        Assert.False(File.Exists(Path.Combine(actual, OutputDirectory.LockFile)), "the lock outlived the run");
    }

    private static void AssertNothingLooksFinished(string dir, params string[] except)
    {
        foreach (var name in Finished.Except(except))
            Assert.False(File.Exists(Path.Combine(dir, name)), $"{name} exists after the kill");
    }

    [Fact]
    public void KilledMidEpochAndDuringTheFinalWritesResumesToTheSameBytes()
    {
        using var tmp = new TempDir("kill");
        var labels = WriteLabels(tmp.Path);
        var cache = Path.Combine(tmp.Path, "cache");
        var whole = Path.Combine(tmp.Path, "whole");
        RunToEnd(DetectArgs(whole, labels, "vpt-deep"), Env(cache));

        // Mid-epoch: after step 1 of the 5 of epoch 2; the checkpoint of epoch 1 is there, nothing else.
        var killed = Path.Combine(tmp.Path, "mid-epoch");
        var pid = KillAt(DetectArgs(killed, labels, "vpt-deep"), Env(cache, "train:2:1"));
        Assert.True(File.Exists(Path.Combine(killed, TrainingCheckpoint.FileName)));
        AssertNothingLooksFinished(killed);
        Assert.True(File.Exists(Path.Combine(killed, OutputDirectory.LockFile)));
        RunToEnd(DetectArgs(killed, labels, "vpt-deep", resume: true), Env(cache), output =>
        {
            Assert.Contains("after epoch 1 of 3", output);
            Assert.Contains($"took over the lock of pid {pid}", output);
        });
        AssertSameOutputs(whole, killed);

        // During the final writes: summary.json's temporary file is complete and about to be renamed. The detector
        // and the CSVs are written (atomically, so whole), but the run is not finished: no summary.json, no report.
        var late = Path.Combine(tmp.Path, "final-writes");
        KillAt(DetectArgs(late, labels, "vpt-deep"), Env(cache, $"rename:{DetectionOutputs.SummaryFile}"));
        AssertNothingLooksFinished(late, DetectionOutputs.SamplesFile, DetectionOutputs.IssuesFile, DetectorFile.FileName);
        Assert.Single(Directory.GetFiles(late, $".{DetectionOutputs.SummaryFile}.*.tmp"));
        RunToEnd(DetectArgs(late, labels, "vpt-deep", resume: true), Env(cache), output => Assert.Contains("after epoch 3 of 3", output));
        AssertSameOutputs(whole, late);
        Assert.True(File.Exists(Path.Combine(late, "report.html")));
    }

    [Fact]
    public void TheCachedFeaturePathResumesToTheSameBytesAfterAKill()
    {
        using var tmp = new TempDir("kill-cached");
        var labels = WriteLabels(tmp.Path);
        var cache = Path.Combine(tmp.Path, "cache");
        var whole = Path.Combine(tmp.Path, "whole");
        RunToEnd(DetectArgs(whole, labels, "none"), Env(cache));

        // Killed while writing samples.csv (its temporary file complete): the detector is there, no CSV, no summary.
        var killed = Path.Combine(tmp.Path, "killed");
        KillAt(DetectArgs(killed, labels, "none"), Env(cache, $"rename:{DetectionOutputs.SamplesFile}"));
        AssertNothingLooksFinished(killed, DetectorFile.FileName);
        Assert.Single(Directory.GetFiles(killed, ".samples.csv.*.tmp"));
        RunToEnd(DetectArgs(killed, labels, "none", resume: true), Env(cache), output => Assert.Contains("loaded from", output));
        AssertSameOutputs(whole, killed);
    }

    [Fact]
    public void ASecondRunIntoTheSameFolderFailsAtOnceNamingTheFirstsPid()
    {
        using var tmp = new TempDir("lock");
        var labels = WriteLabels(tmp.Path);
        var output = Path.Combine(tmp.Path, "run");
        using var first = CliProcess.Start(DetectArgs(output, labels, "none"), Env(Path.Combine(tmp.Path, "cache"), "train:1:1"));
        Assert.True(first.WaitFor(l => l.StartsWith(TestHooks.PausedMessage, StringComparison.Ordinal), Patience), first.Output);

        var clock = System.Diagnostics.Stopwatch.StartNew();
        var (code, printed) = CliProcess.Run(DetectArgs(output, labels, "none", resume: true), Env(Path.Combine(tmp.Path, "cache")), Patience);
        Assert.NotEqual(0, code);
        var text = System.Text.RegularExpressions.Regex.Replace(printed, @"\s+", " "); // the console wraps long lines
        Assert.Contains($"pid {first.Id}", text);
        Assert.Contains("in use by another Deft run", text);
        // In-process too, before any data or model is read.
        var ex = Assert.Throws<DeftException>(() => OutputDirectory.Lock(output));
        Assert.Contains($"pid {first.Id}", ex.Message);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"the refusal took {clock.Elapsed}");

        first.Kill();
        var notices = new List<string>();
        using (OutputDirectory.Lock(output, notices.Add))
            Assert.Contains(notices, n => n.Contains($"took over the lock of pid {first.Id}", StringComparison.Ordinal));
    }
}
