using Deft.Baselines;

namespace Deft.Api;

/// <summary>How <see cref="LabelQuality.Scores"/> scores a label (cleanlab's <c>method</c>).</summary>
public enum QualityScore
{
    /// <summary>cleanlab's default <c>'self_confidence'</c>: the predicted probability of the given label.</summary>
    SelfConfidence,
    /// <summary>
    /// <c>'normalized_margin'</c>: (P[given] − the largest other P + 1) / 2, which also falls when another class is
    /// clearly preferred.
    /// </summary>
    NormalizedMargin,
}

/// <summary>Per-sample label quality scores from a model's predicted probabilities: in [0, 1], low = likely mislabeled.</summary>
public static class LabelQuality
{
    /// <summary>
    /// One score per sample in [0, 1]; low means the given label is likely wrong. Mirrors cleanlab's
    /// <c>cleanlab.rank.get_label_quality_scores(labels, pred_probs, method=..., adjust_pred_probs=False)</c>.
    /// </summary>
    /// <param name="labels">The given label of each sample, in 0..K−1.</param>
    /// <param name="predProbs">Predicted probabilities [N, K].</param>
    /// <param name="method">The score; cleanlab's default is <see cref="QualityScore.SelfConfidence"/>.</param>
    /// <exception cref="ArgumentException">The shapes disagree, a label is outside 0..K−1, K &lt; 2, or a probability is not in [0, 1].</exception>
    public static double[] Scores(int[] labels, double[,] predProbs, QualityScore method = QualityScore.SelfConfidence)
    {
        Validate(labels, predProbs);
        var self = ConfidentLearning.SelfConfidence(labels, predProbs);
        if (method == QualityScore.SelfConfidence) return self;
        if (method != QualityScore.NormalizedMargin)
            throw new ArgumentOutOfRangeException(nameof(method), method, $"Valid methods: {string.Join(", ", Enum.GetNames<QualityScore>())}.");
        var k = predProbs.GetLength(1);
        for (var i = 0; i < self.Length; i++)
        {
            var other = double.NegativeInfinity;
            for (var j = 0; j < k; j++) if (j != labels[i]) other = Math.Max(other, predProbs[i, j]);
            self[i] = (self[i] - other + 1) / 2;
        }
        return self;
    }

    /// <summary>Shapes, label range and probability range, checked before any algorithm runs.</summary>
    internal static void Validate(int[] labels, double[,] predProbs)
    {
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(predProbs);
        var (n, k) = (predProbs.GetLength(0), predProbs.GetLength(1));
        if (labels.Length != n) throw new ArgumentException($"Got {labels.Length} labels for {n} rows of predicted probabilities.", nameof(labels));
        if (k < 2) throw new ArgumentException($"Predicted probabilities need at least 2 classes (columns), got {k}.", nameof(predProbs));
        for (var i = 0; i < n; i++)
        {
            if ((uint)labels[i] >= (uint)k) throw new ArgumentException($"Label {labels[i]} of sample {i} is outside 0..{k - 1}.", nameof(labels));
            for (var j = 0; j < k; j++)
                if (!(predProbs[i, j] >= 0 && predProbs[i, j] <= 1))
                    throw new ArgumentException($"Predicted probability [{i}, {j}] = {predProbs[i, j]} is not in [0, 1].", nameof(predProbs));
        }
    }
}
