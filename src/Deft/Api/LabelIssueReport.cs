using Deft.Data;
using Deft.Detection;
using Deft.Reporting;

namespace Deft.Api;

/// <summary>
/// The result of an in-memory detection: arrays by sample index, and the full <see cref="DetectionReport"/>.
/// Nothing is written until <see cref="Save"/> or <see cref="WriteHtml"/> is called.
/// </summary>
public sealed class LabelIssueReport
{
    private readonly IImageDataset? _images;

    internal LabelIssueReport(DetectionReport detection, double[,]? predProbs, IImageDataset? images)
    {
        Detection = detection;
        PredProbs = predProbs;
        _images = images;
        var n = detection.Samples.Count;
        QualityScores = new double[n];
        SuggestedLabels = new int[n];
        IsIssue = new bool[n];
        foreach (var s in detection.Samples)
        {
            QualityScores[s.Index] = s.LabelQuality;
            SuggestedLabels[s.Index] = s.SuggestedLabel;
            IsIssue[s.Index] = s.IsLabelIssue;
        }
        Issues = detection.IssueIndices.ToArray();
    }

    /// <summary>Indices of the samples whose label is likely wrong, most certain first (lowest quality score; ties by index).</summary>
    public int[] Issues { get; }
    /// <summary>Per sample, the probability that its given label is right, in [0, 1]; low = likely mislabeled.</summary>
    public double[] QualityScores { get; }
    /// <summary>Per sample, whether the method flags its label.</summary>
    public bool[] IsIssue { get; }
    /// <summary>Per sample, the class the method believes in.</summary>
    public int[] SuggestedLabels { get; }
    /// <summary>
    /// Class probabilities [N, K] by sample index where the method has them (clip-posterior: the posterior of each
    /// class; label-match: zero-shot; confident learning: out-of-sample; DeFT: the softmax of its positive prompts, from
    /// the pass its selection comes from — the last training epoch by default, or the evaluation pass); null where a
    /// method has none (small-loss, GMM) or for more than 2²⁵ values. DeFT's quality score is p(positive) of the given
    /// label against its negative prompt, not a column of these.
    /// </summary>
    public double[,]? PredProbs { get; }
    /// <summary>The class names the labels index.</summary>
    public IReadOnlyList<string> Classes => Detection.Classes;
    /// <summary>
    /// Problems with the data rather than the labels (cleanlab Datalab's issues): empty classes and, where the method
    /// computed frozen image features, near-duplicates (conflicting ones: across labels) and outliers, each with a score
    /// in [0, 1] (lower = more severe; see <see cref="DataIssue"/>).
    /// </summary>
    public IReadOnlyList<DataIssue> DataIssues => Detection.DataIssues;
    /// <summary>Everything the command line writes: per-sample rows, summary statistics, settings, timings.</summary>
    public DetectionReport Detection { get; }

    /// <summary>
    /// Writes samples.csv, label_issues.csv, data_issues.csv, summary.json and, where the method has
    /// <see cref="PredProbs"/>, the pred_probs files (pred_probs.npy with pred_probs.ids.csv, and pred_probs.parquet; see
    /// <see cref="SampleArrayFile"/>) into <paramref name="directory"/> (created if missing).
    /// </summary>
    public void Save(string directory)
    {
        Directory.CreateDirectory(directory);
        Deft.Data.DataIssues.Write(directory, Detection.DataIssues, Detection.Classes);
        DetectionOutputs.Write(directory, Detection);
    }

    /// <summary>Writes the HTML report (issue thumbnails from the detected images) to <paramref name="path"/>; returns it.</summary>
    public string WriteHtml(string path, string title = "Deft label-issue report")
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is not null) Directory.CreateDirectory(dir);
        HtmlReport.Write(path, DetectionHtmlReport.ToInput(Detection, _images, title));
        return path;
    }
}
