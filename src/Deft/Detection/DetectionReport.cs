using System.Text.Json.Serialization;

namespace Deft.Detection;

/// <summary>The verdict on one sample (one row of samples.csv).</summary>
/// <param name="Index">The sample's index in the data set.</param>
/// <param name="Source">Where it comes from (file path or "file#record").</param>
/// <param name="GivenLabel">The label under scrutiny.</param>
/// <param name="LabelQuality">p_clean: the probability, in [0, 1], that the given label is right.</param>
/// <param name="IsLabelIssue">LabelQuality ≤ ½ (not selected as clean).</param>
/// <param name="SuggestedLabel">The positive prompts' prediction (argmax of the positive logits).</param>
/// <param name="SuggestedProbability">Softmax of the positive logits at the suggested label.</param>
/// <param name="TrueLabel">The true label when the label file or data set knows it.</param>
public sealed record SampleVerdict(
    int Index, string Source, int GivenLabel, double LabelQuality, bool IsLabelIssue,
    int SuggestedLabel, double SuggestedProbability, int? TrueLabel);

/// <summary>Per-class counts: how many samples carry the label and how many of them look mislabeled.</summary>
public sealed record ClassEstimate(int Label, string Name, int Samples, int Issues, double EstimatedNoiseRate, int? TrulyNoisy = null);

/// <summary>
/// How well the detector did where the true labels are known, seen from both sides.
/// Issue side (cleanlab's view, mislabeled = positive): issue precision = truly mislabeled among the flagged, issue
/// recall = flagged among the truly mislabeled; precision@k = truly mislabeled among the k samples of lowest label
/// quality (a ranking measure, independent of the flag decision; null when fewer than k samples take part).
/// Clean-selection side (the DeFT paper's view, clean = positive): precision = truly clean among the selected,
/// recall = selected among the truly clean. AUROC: label_quality as a score separating clean from noisy samples.
/// </summary>
public sealed record DetectionQuality(
    double Precision, double Recall, double F1, double Auroc,
    int TrulyNoisy, double TrueNoiseRate, double IssuePrecision, double IssueRecall)
{
    /// <summary>Harmonic mean of <see cref="IssuePrecision"/> and <see cref="IssueRecall"/> (0 when both are 0).</summary>
    public double IssueF1 => IssuePrecision + IssueRecall == 0 ? 0 : 2 * IssuePrecision * IssueRecall / (IssuePrecision + IssueRecall);

    /// <summary>Samples flagged as label issues.</summary>
    public int Flagged { get; init; }

    /// <summary>Truly mislabeled among the 10 samples of lowest label quality.</summary>
    public double? PrecisionAt10 { get; init; }

    /// <summary>Truly mislabeled among the 100 samples of lowest label quality.</summary>
    public double? PrecisionAt100 { get; init; }

    /// <summary>Truly mislabeled among the <see cref="Flagged"/> samples of lowest label quality (null when none is flagged).</summary>
    public double? PrecisionAtFlagged { get; init; }
}

/// <summary>
/// Training statistics of one epoch. <paramref name="TestAccuracy"/>: top-1 accuracy of the positive prompts (the
/// prompt classifier) on the test split after the epoch, when one was given (the official loop prints it).
/// </summary>
public sealed record EpochRecord(
    int Epoch, double LearningRate, double Loss, double ClassificationLoss, double NegativeLoss,
    double SelectedFraction, double Seconds, double? Precision = null, double? Recall = null, double? TestAccuracy = null);

/// <summary>Versions of what produced a result.</summary>
public sealed record VersionInfo(string Deft, string TorchSharp, string Runtime)
{
    public static VersionInfo Current { get; } = new(
        typeof(VersionInfo).Assembly.GetName().Version?.ToString() ?? "unknown",
        typeof(TorchSharp.torch).Assembly.GetName().Version?.ToString() ?? "unknown",
        System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription);
}

/// <summary>Everything summary.json holds.</summary>
public sealed record DetectionSummary(
    int Samples,
    int Issues,
    int Clean,
    double EstimatedNoiseRate,
    IReadOnlyList<ClassEstimate> PerClass,
    DetectionQuality? Quality,
    string Selection,
    IReadOnlyList<EpochRecord> Epochs,
    IReadOnlyDictionary<string, double> TimingsSeconds,
    IReadOnlyDictionary<string, object?> Config,
    VersionInfo Versions)
{
    /// <summary>The detector that produced the result (<see cref="DetectionMethods.ValidNames"/>).</summary>
    [JsonPropertyOrder(-2)]
    public string Method { get; init; } = "deft";

    /// <summary><see cref="LabelAssignment.Fingerprint"/> of the labels examined: runs comparable with `deft compare` share it.</summary>
    [JsonPropertyOrder(-1)]
    public string? LabelsFingerprint { get; init; }
}

/// <summary>
/// The result of phase-1 detection, cleanlab-style: per-sample label quality, the ranked issues and suggested
/// labels, plus the summary. Samples are in data-set index order.
/// </summary>
public sealed record DetectionReport(IReadOnlyList<string> Classes, IReadOnlyList<SampleVerdict> Samples, DetectionSummary Summary)
{
    /// <summary>
    /// The method's class probabilities [Samples.Count, Classes.Count], row r for <see cref="Samples"/>[r] (cleanlab's
    /// pred_probs); null where the method has none. Written as pred_probs.npy / .parquet beside samples.csv.
    /// </summary>
    [JsonIgnore]
    public double[,]? PredProbs { get; init; }

    /// <summary>
    /// Problems with the data itself (data_issues.csv): skipped unreadable, empty or missing files and empty classes;
    /// where the method computed frozen image features, near-duplicates and outliers too.
    /// </summary>
    [JsonIgnore]
    public IReadOnlyList<Deft.Data.DataIssue> DataIssues { get; init; } = [];

    /// <summary>Indices (data-set indices) of likely mislabeled samples, most certain first (lowest label quality).</summary>
    [JsonIgnore]
    public IReadOnlyList<int> IssueIndices => RankedIssues.Select(s => s.Index).ToArray();

    /// <summary>The issue rows, most certain first; ties by index.</summary>
    [JsonIgnore]
    public IReadOnlyList<SampleVerdict> RankedIssues =>
        Samples.Where(s => s.IsLabelIssue).OrderBy(s => s.LabelQuality).ThenBy(s => s.Index).ToArray();

    /// <summary>Label quality by data-set index (samples that took part only).</summary>
    [JsonIgnore]
    public IReadOnlyDictionary<int, double> LabelQuality => Samples.ToDictionary(s => s.Index, s => s.LabelQuality);

    /// <summary>Suggested labels by data-set index.</summary>
    [JsonIgnore]
    public IReadOnlyDictionary<int, int> SuggestedLabels => Samples.ToDictionary(s => s.Index, s => s.SuggestedLabel);
}
