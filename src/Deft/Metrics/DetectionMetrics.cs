namespace Deft.Metrics;

/// <summary>
/// Quality of a clean-sample selection against ground truth. Positive class = clean. Undefined ratios are 0
/// (scikit-learn's zero_division=0): precision with nothing selected, recall with no clean sample, F1 when both are 0.
/// </summary>
public sealed record SelectionMetrics(
    int TruePositives,
    int FalsePositives,
    int FalseNegatives,
    int TrueNegatives,
    double Precision,
    double Recall,
    double F1)
{
    public int Selected => TruePositives + FalsePositives;
    public int Clean => TruePositives + FalseNegatives;
    public int Total => TruePositives + FalsePositives + FalseNegatives + TrueNegatives;
}

/// <summary>One point of a precision–recall curve: selecting every sample with score ≥ <see cref="Threshold"/>.</summary>
public sealed record PrecisionRecallPoint(double Threshold, int Selected, double Precision, double Recall);

/// <summary>
/// Precision–recall curve over all distinct thresholds, highest threshold first, and the average precision
/// Σ (Rₙ − Rₙ₋₁)·Pₙ (scikit-learn's definition, no interpolation). Recall and AP are NaN when no sample is clean.
/// </summary>
public sealed record PrecisionRecallCurve(IReadOnlyList<PrecisionRecallPoint> Points, double AveragePrecision);

/// <summary>Metrics of noisy-label detection: clean = given label equals the true label.</summary>
public static class DetectionMetrics
{
    /// <summary>isClean[i] = given[i] == truth[i].</summary>
    public static bool[] CleanMask(IReadOnlyList<int> given, IReadOnlyList<int> truth)
    {
        ClassificationMetrics.RequireSameLength(given.Count, truth.Count, nameof(given), nameof(truth));
        var mask = new bool[given.Count];
        for (var i = 0; i < mask.Length; i++) mask[i] = given[i] == truth[i];
        return mask;
    }

    /// <summary>Precision, recall and F1 of <paramref name="selectedAsClean"/> against <paramref name="isClean"/>.</summary>
    public static SelectionMetrics Selection(IReadOnlyList<bool> selectedAsClean, IReadOnlyList<bool> isClean)
    {
        ClassificationMetrics.RequireSameLength(selectedAsClean.Count, isClean.Count, nameof(selectedAsClean), nameof(isClean));
        int tp = 0, fp = 0, fn = 0, tn = 0;
        for (var i = 0; i < isClean.Count; i++)
        {
            switch (selectedAsClean[i], isClean[i])
            {
                case (true, true): tp++; break;
                case (true, false): fp++; break;
                case (false, true): fn++; break;
                default: tn++; break;
            }
        }
        var precision = tp + fp == 0 ? 0.0 : (double)tp / (tp + fp);
        var recall = tp + fn == 0 ? 0.0 : (double)tp / (tp + fn);
        var f1 = precision + recall == 0 ? 0.0 : 2 * precision * recall / (precision + recall);
        return new SelectionMetrics(tp, fp, fn, tn, precision, recall, f1);
    }

    /// <summary>
    /// Precision@k of a ranking: the fraction of truly mislabeled samples among the <paramref name="k"/> of lowest
    /// <paramref name="labelQuality"/> (ties broken by position, as the issue list is ordered).
    /// </summary>
    public static double PrecisionAtK(IReadOnlyList<double> labelQuality, IReadOnlyList<bool> isNoisy, int k)
    {
        ClassificationMetrics.RequireSameLength(labelQuality.Count, isNoisy.Count, nameof(labelQuality), nameof(isNoisy));
        if (k < 1 || k > labelQuality.Count)
            throw new ArgumentOutOfRangeException(nameof(k), k, $"k must lie in 1..{labelQuality.Count}.");
        var order = Enumerable.Range(0, labelQuality.Count).OrderBy(i => labelQuality[i]).ThenBy(i => i);
        return (double)order.Take(k).Count(i => isNoisy[i]) / k;
    }

    /// <summary>
    /// Area under the ROC curve of a clean score (higher = cleaner), computed as the Mann–Whitney statistic with
    /// tied scores given their average rank (a clean/noisy pair with equal scores counts ½). NaN when only one class
    /// is present (AUROC is undefined). Scores must not be NaN.
    /// </summary>
    public static double Auroc(IReadOnlyList<double> cleanScore, IReadOnlyList<bool> isClean)
    {
        ClassificationMetrics.RequireSameLength(cleanScore.Count, isClean.Count, nameof(cleanScore), nameof(isClean));
        var n = cleanScore.Count;
        var order = SortedOrder(cleanScore, descending: false);
        long positives = 0;
        foreach (var c in isClean) if (c) positives++;
        var negatives = n - positives;
        if (positives == 0 || negatives == 0) return double.NaN;

        // Sum of (1-based, tie-averaged) ranks of the clean samples.
        double positiveRankSum = 0;
        for (var start = 0; start < n;)
        {
            var end = start + 1;
            while (end < n && cleanScore[order[end]] == cleanScore[order[start]]) end++;
            var averageRank = (start + 1 + end) / 2.0;
            for (var j = start; j < end; j++)
                if (isClean[order[j]]) positiveRankSum += averageRank;
            start = end;
        }
        var u = positiveRankSum - positives * (positives + 1) / 2.0;
        return u / ((double)positives * negatives);
    }

    /// <inheritdoc cref="Auroc(IReadOnlyList{double}, IReadOnlyList{bool})"/>
    public static double Auroc(IReadOnlyList<float> cleanScore, IReadOnlyList<bool> isClean) =>
        Auroc(cleanScore.Select(s => (double)s).ToArray(), isClean);

    /// <summary>Precision–recall curve of a clean score (higher = cleaner); see <see cref="PrecisionRecallCurve"/>.</summary>
    public static PrecisionRecallCurve PrecisionRecall(IReadOnlyList<double> cleanScore, IReadOnlyList<bool> isClean)
    {
        ClassificationMetrics.RequireSameLength(cleanScore.Count, isClean.Count, nameof(cleanScore), nameof(isClean));
        var n = cleanScore.Count;
        var order = SortedOrder(cleanScore, descending: true);
        var positives = isClean.Count(c => c);
        var points = new List<PrecisionRecallPoint>();
        int tp = 0, fp = 0;
        double averagePrecision = 0, previousRecall = 0;
        for (var start = 0; start < n;)
        {
            var threshold = cleanScore[order[start]];
            var end = start;
            while (end < n && cleanScore[order[end]] == threshold)
            {
                if (isClean[order[end]]) tp++; else fp++;
                end++;
            }
            var precision = (double)tp / (tp + fp);
            var recall = positives == 0 ? double.NaN : (double)tp / positives;
            points.Add(new PrecisionRecallPoint(threshold, tp + fp, precision, recall));
            if (positives > 0)
            {
                averagePrecision += (recall - previousRecall) * precision;
                previousRecall = recall;
            }
            start = end;
        }
        return new PrecisionRecallCurve(points, positives == 0 ? double.NaN : averagePrecision);
    }

    /// <inheritdoc cref="PrecisionRecall(IReadOnlyList{double}, IReadOnlyList{bool})"/>
    public static PrecisionRecallCurve PrecisionRecall(IReadOnlyList<float> cleanScore, IReadOnlyList<bool> isClean) =>
        PrecisionRecall(cleanScore.Select(s => (double)s).ToArray(), isClean);

    private static int[] SortedOrder(IReadOnlyList<double> scores, bool descending)
    {
        var keys = new double[scores.Count];
        for (var i = 0; i < keys.Length; i++)
        {
            var s = scores[i];
            if (double.IsNaN(s)) throw new ArgumentException($"Score of sample {i} is NaN.", nameof(scores));
            keys[i] = descending ? -s : s;
        }
        var order = Enumerable.Range(0, keys.Length).ToArray();
        Array.Sort(keys, order);
        return order;
    }
}
