using Deft.Data;

namespace Deft.Reporting;

/// <summary>One scored sample as the report shows it; <paramref name="Source"/> is its file (or container#index), when known.</summary>
public sealed record ReportSample(
    int Index,
    int GivenLabel,
    int SuggestedLabel,
    double LabelQuality,
    bool IsLabelIssue,
    int? TrueLabel,
    string? Source = null);

/// <summary>Points of a precision–recall curve (same length, ordered by decreasing threshold).</summary>
public sealed record PrecisionRecallPoints(IReadOnlyList<double> Recall, IReadOnlyList<double> Precision, string Description);

/// <summary>Everything <see cref="HtmlReport"/> needs; computed by the caller (detect, run, score).</summary>
public sealed record ReportInput(
    string Title,
    IReadOnlyList<string> Classes,
    IReadOnlyList<ReportSample> Samples,
    IReadOnlyList<KeyValuePair<string, string>> Summary,
    PrecisionRecallPoints? PrecisionRecall = null,
    Func<int, RgbImage>? LoadImage = null,
    int Thumbnails = 50)
{
    /// <summary>Problems with the data itself (data_issues.csv), shown in their own table.</summary>
    public IReadOnlyList<DataIssue> DataIssues { get; init; } = [];

    public bool HasGroundTruth => Samples.Count > 0 && Samples.All(s => s.TrueLabel.HasValue);
}
