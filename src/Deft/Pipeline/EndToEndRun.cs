using System.Text.Json;
using System.Text.Json.Serialization;
using Deft.Adaptation;
using Deft.Data;
using Deft.Detection;
using Deft.IO;
using Deft.Methods;
using Deft.Reporting;

namespace Deft.Pipeline;

/// <summary>What one detect-then-adapt run produced.</summary>
public sealed record EndToEndResult(string OutputDirectory, DetectionReport Detection, AdaptResult Adaptation, string ReportPath);

/// <summary>
/// DeFT end to end (<c>deft run</c>): phase 1 writes DIR/detect (samples.csv, report.html, ...), phase 2 fine-tunes on
/// the samples it kept and writes DIR/adapt; DIR/summary.json holds both phases' figures side by side.
/// </summary>
public static class EndToEndRun
{
    public const string DetectFolder = "detect";
    public const string AdaptFolder = "adapt";
    public const string SummaryFile = "summary.json";

    /// <param name="detect">Phase-1 options; its output directory is replaced by DIR/detect.</param>
    /// <param name="adapt">Phase-2 options; output and selection are set here (DIR/adapt, DIR/detect/samples.csv).</param>
    /// <param name="testSplit">The split to test phase 2 on (the paper reports test accuracy).</param>
    /// <param name="testData">
    /// The data set of that split (same format); null: <see cref="DetectOptions.TestData"/> if set (phase 1 then also
    /// records its prompt classifier's accuracy on it), else the training data set.
    /// </param>
    public static EndToEndResult Run(string outputDirectory, DetectOptions detect, AdaptOptions adapt, string testSplit, string? testData,
        IProgress<DetectProgress>? detectProgress = null, IProgress<AdaptProgress>? adaptProgress = null,
        Action<string>? warn = null, CancellationToken cancellationToken = default)
    {
        using var outputLock = OutputDirectory.Lock(outputDirectory, warn);
        // DIR/summary.json describes both phases; a rerun must not leave the previous one's looking current.
        if (detect.Force || detect.Resume) OutputDirectory.Remove(outputDirectory, [SummaryFile]);
        var detectDir = Path.Combine(outputDirectory, DetectFolder);
        var adaptDir = Path.Combine(outputDirectory, AdaptFolder);
        var detection = DeftDetector.Detect(detect with { OutputDirectory = detectDir }, detectProgress, warn, cancellationToken);
        var (train, _) = DeftDetector.OpenDataset(detect.Data, detect.Format, detect.Split, detect.ClassesFile, onBadImage: detect.OnBadImage);
        var reportPath = Path.Combine(detectDir, DetectionHtmlReport.FileName);

        testData ??= detect.TestData ?? detect.Data;
        var (test, _) = DeftDetector.OpenDataset(testData, detect.Format, testSplit, detect.ClassesFile, onBadImage: detect.OnBadImage);
        var adaptOptions = adapt with
        {
            OutputDirectory = adaptDir,
            SelectionPath = Path.Combine(detectDir, DetectionOutputs.SamplesFile),
            TrainDescription = $"{Path.GetFullPath(detect.Data)} ({detect.Format}, {detect.Split})",
            TestDescription = $"{Path.GetFullPath(testData)} ({detect.Format}, {testSplit})",
        };
        var adaptation = Adapter.Train(adaptOptions, train, test, adaptProgress, cancellationToken);
        var result = new EndToEndResult(Path.GetFullPath(outputDirectory), detection, adaptation, reportPath);
        AtomicFile.WriteAllText(Path.Combine(outputDirectory, SummaryFile), JsonSerializer.Serialize(Summary(result), JsonOptions));
        return result;
    }

    /// <summary>The run's headline figures (also what <c>deft compare</c> reads).</summary>
    public static object Summary(EndToEndResult r)
    {
        var q = r.Detection.Summary.Quality;
        return new
        {
            method = "deft",
            samples = r.Detection.Summary.Samples,
            selected_clean = r.Detection.Summary.Clean,
            estimated_noise_rate = r.Detection.Summary.EstimatedNoiseRate,
            detection = q is null ? null : new { q.Precision, q.Recall, q.F1, q.Auroc, true_noise_rate = q.TrueNoiseRate },
            adaptation = new
            {
                backbone = r.Adaptation.Backbone.ToString().ToLowerInvariant(),
                trained_on = r.Adaptation.SelectedSamples,
                test_samples = r.Adaptation.TestSamples,
                last_test_accuracy = r.Adaptation.LastTestAccuracy,
                best_test_accuracy = r.Adaptation.BestTestAccuracy,
                best_epoch = r.Adaptation.BestEpoch,
            },
            seconds = new
            {
                detect = r.Detection.Summary.TimingsSeconds.TryGetValue("total_seconds", out var d) ? d : double.NaN,
                adapt = r.Adaptation.Elapsed.TotalSeconds,
            },
            detect_directory = Path.Combine(r.OutputDirectory, DetectFolder),
            adapt_directory = Path.Combine(r.OutputDirectory, AdaptFolder),
            report = r.ReportPath,
        };
    }

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };
}
