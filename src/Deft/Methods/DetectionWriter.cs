using Deft.Data;
using Deft.Detection;
using Deft.IO;
using Deft.Reporting;

namespace Deft.Methods;

/// <summary>A trained detector a method hands back so that <see cref="DetectionWriter"/> can save it; disposing frees its weights.</summary>
public interface ITrainedDetector : IDisposable
{
    /// <summary>Writes the detector file (<see cref="DetectorFile"/>) to <paramref name="path"/>.</summary>
    void Save(string path);
}

/// <summary>
/// Every file of a detection: samples.csv, label_issues.csv, pred_probs (.npy, .ids.csv, .parquet; methods that have
/// class probabilities), summary.json, the detector file (methods that train one) and report.html; and the rules for an output directory that already holds a run.
/// </summary>
public static class DetectionWriter
{
    /// <summary>The files a detect run writes into its output directory besides report.html.</summary>
    public static IReadOnlyList<string> RunFiles { get; } =
        [TrainingCheckpoint.FileName, DetectorFile.FileName, DetectionOutputs.SummaryFile, DetectionOutputs.SamplesFile, DetectionOutputs.IssuesFile, DataIssues.FileName,
         .. DetectionOutputs.PredProbsFiles];

    /// <summary>
    /// What <c>--force</c> removes besides <see cref="RunFiles"/>: the HTML report and <c>deft score</c>'s default
    /// output folder (scores of the detector being replaced).
    /// </summary>
    private static readonly string[] ForceAlsoRemoves = [DetectionHtmlReport.FileName, "score/"];

    /// <summary>The outputs a finished run leaves; a resumed run removes them before it trains so none outlives the checkpoint it continues.</summary>
    private static readonly string[] FinalOutputs =
        [DetectorFile.FileName, DetectionOutputs.SamplesFile, DetectionOutputs.IssuesFile, DataIssues.FileName, DetectionOutputs.SummaryFile, DetectionHtmlReport.FileName,
         .. DetectionOutputs.PredProbsFiles];

    /// <summary>
    /// Takes the output directory's lock (<see cref="OutputDirectory.Lock"/>: a second run into it fails naming the
    /// first's pid; leftover temporary files are removed) and refuses a directory holding another run unless resuming
    /// or forced; forcing removes everything a detect run writes there first. The caller disposes the lock.
    /// </summary>
    internal static IDisposable PrepareOutputDirectory(DetectOptions options, Action<string>? warn = null)
    {
        var dir = options.OutputDirectory;
        var held = OutputDirectory.Lock(dir, warn);
        try
        {
            var existing = RunFiles.Append(DetectionHtmlReport.FileName).Where(f => File.Exists(Path.Combine(dir, f))).ToList();
            if (existing.Count > 0 && !options.Resume && !options.Force)
                throw new DeftException($"{dir} already holds a run ({string.Join(", ", existing)}). Pass {Setting.Resume} to continue it, {Setting.Force} to replace it, or choose another {Setting.OutputDirectory}.");
            if (options.Force) OutputDirectory.Remove(dir, RunFiles.Concat(ForceAlsoRemoves));
            return held;
        }
        catch
        {
            held.Dispose();
            throw;
        }
    }

    /// <summary>Removes a finished run's outputs (a resumed run's state is its checkpoint, not them).</summary>
    internal static void RemoveFinalOutputs(string directory) => OutputDirectory.Remove(directory, FinalOutputs);

    /// <summary>
    /// Writes the detector file (when there is one), then samples.csv, label_issues.csv and summary.json, then
    /// report.html (<paramref name="data"/> gives the issue thumbnails; null: none). Returns report.html's path.
    /// </summary>
    public static string Write(string directory, DetectionReport report, ITrainedDetector? detector, IImageDataset? data, string? title = null)
    {
        Directory.CreateDirectory(directory);
        if (detector is not null)
        {
            TestHooks.PauseBefore("detector");
            detector.Save(Path.Combine(directory, DetectorFile.FileName));
        }
        TestHooks.PauseBefore("outputs");
        // Before summary.json, which is written last: a run without it did not finish.
        DataIssues.Write(directory, report.DataIssues, report.Classes);
        DetectionOutputs.Write(directory, report);
        TestHooks.PauseBefore("report");
        return title is null ? DetectionHtmlReport.Write(directory, report, data) : DetectionHtmlReport.Write(directory, report, data, title);
    }
}
