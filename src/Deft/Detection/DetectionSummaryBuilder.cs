using Deft.Data;

namespace Deft.Detection;

/// <summary>Turns per-sample scores into the report's rows and summary.</summary>
public static class DetectionSummaryBuilder
{
    public static IReadOnlyList<SampleVerdict> Verdicts(LabelAssignment labels, PassScores scores, IImageDataset dataset)
    {
        var rows = new SampleVerdict[labels.Count];
        for (var p = 0; p < labels.Count; p++)
        {
            var index = labels.Indices[p];
            var quality = scores.CleanProbability[p];
            rows[p] = new SampleVerdict(index, dataset.GetSource(index), labels.Labels[p], quality, !scores.IsSelected(p),
                scores.Predicted[p], scores.PredictedProbability[p], labels.TrueLabels[p]);
        }
        return rows.OrderBy(r => r.Index).ToArray();
    }

    public static DetectionSummary Summary(
        IReadOnlyList<SampleVerdict> rows, IReadOnlyList<string> classes, string selection, IReadOnlyList<EpochRecord> epochs,
        IReadOnlyDictionary<string, double> timings, IReadOnlyDictionary<string, object?> config)
    {
        var issues = rows.Count(r => r.IsLabelIssue);
        var hasTruth = rows.Count > 0 && rows.All(r => r.TrueLabel.HasValue);
        var perClass = new List<ClassEstimate>();
        for (var c = 0; c < classes.Count; c++)
        {
            var ofClass = rows.Where(r => r.GivenLabel == c).ToList();
            var classIssues = ofClass.Count(r => r.IsLabelIssue);
            perClass.Add(new ClassEstimate(c, classes[c], ofClass.Count, classIssues,
                ofClass.Count == 0 ? 0 : (double)classIssues / ofClass.Count,
                hasTruth ? ofClass.Count(r => r.TrueLabel != r.GivenLabel) : null));
        }
        return new DetectionSummary(
            rows.Count, issues, rows.Count - issues, rows.Count == 0 ? 0 : (double)issues / rows.Count,
            perClass, hasTruth ? Quality(rows) : null, selection, epochs, timings, config, VersionInfo.Current);
    }

    /// <summary>Precision/recall/F1 of the clean selection and AUROC of label quality against the true labels.</summary>
    public static DetectionQuality Quality(IReadOnlyList<SampleVerdict> rows)
    {
        var isClean = rows.Select(r => r.TrueLabel == r.GivenLabel).ToArray();
        var selected = rows.Select(r => !r.IsLabelIssue).ToArray();
        var selection = Deft.Metrics.DetectionMetrics.Selection(selected, isClean);
        var auroc = Deft.Metrics.DetectionMetrics.Auroc(rows.Select(r => r.LabelQuality).ToArray(), isClean);
        // The same counts seen from the issue side: how many flagged samples are truly mislabeled, and how many of
        // the mislabeled ones were flagged.
        var noisy = isClean.Count(c => !c);
        var flagged = selected.Count(s => !s);
        var flaggedNoisy = selection.TrueNegatives;
        var quality = rows.Select(r => r.LabelQuality).ToArray();
        var isNoisy = isClean.Select(c => !c).ToArray();
        double? At(int k) => k >= 1 && k <= rows.Count ? Deft.Metrics.DetectionMetrics.PrecisionAtK(quality, isNoisy, k) : null;
        return new DetectionQuality(selection.Precision, selection.Recall, selection.F1, auroc, noisy,
            rows.Count == 0 ? 0 : (double)noisy / rows.Count,
            flagged == 0 ? 0 : (double)flaggedNoisy / flagged,
            noisy == 0 ? 0 : (double)flaggedNoisy / noisy)
        {
            Flagged = flagged,
            PrecisionAt10 = At(10),
            PrecisionAt100 = At(100),
            PrecisionAtFlagged = At(flagged),
        };
    }
}
