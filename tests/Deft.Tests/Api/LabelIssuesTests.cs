using Deft.Api;

namespace Deft.Tests.Api;

/// <summary>The array API against cases worked out by hand with cleanlab's definitions (thresholds, confident joint, pruning).</summary>
public sealed class LabelIssuesTests
{
    // Given 0: t0 = (0.9 + 0.8 + 0.2) / 3; given 1: t1 = (0.9 + 0.7 + 0.3) / 3. The confident joint is [[2, 1], [1, 2]]
    // (sample 2 confidently in class 1, sample 5 in class 0), already calibrated (rows sum to 3, total 6), so one
    // sample per off-diagonal cell is pruned: the largest margin among those given 0 (sample 2) and given 1 (sample 5).
    private static readonly int[] Labels = [0, 0, 0, 1, 1, 1];
    private static readonly double[,] Probs = { { 0.9, 0.1 }, { 0.8, 0.2 }, { 0.2, 0.8 }, { 0.1, 0.9 }, { 0.3, 0.7 }, { 0.7, 0.3 } };

    [Fact]
    public void FindRanksThePrunedSamplesByTheirGivenLabelsProbability()
    {
        Assert.Equal([2, 5], LabelIssues.Find(Labels, Probs));
        Assert.Equal([false, false, true, false, false, true], LabelIssues.FindMask(Labels, Probs));
    }

    [Fact]
    public void PruneByNoiseRateKeepsDisagreementsTheConfidentJointDoesNotCount()
    {
        // t0 = 0.6375, t1 = 0.8125: samples 2 and 3 (given 0, argmax 1 at 0.55 and 0.6) pass no threshold, so the joint
        // is diagonal ([[2, 0], [0, 2]], calibrated to [[4, 0], [0, 4]]) and nothing is pruned; predicted ≠ given flags them.
        int[] labels = [0, 0, 0, 0, 1, 1, 1, 1];
        double[,] probs =
        {
            { 0.9, 0.1 }, { 0.8, 0.2 }, { 0.45, 0.55 }, { 0.4, 0.6 },
            { 0.1, 0.9 }, { 0.2, 0.8 }, { 0.15, 0.85 }, { 0.3, 0.7 },
        };
        Assert.Empty(LabelIssues.Find(labels, probs));
        Assert.Empty(LabelIssues.Find(labels, probs, IssueFilter.ConfidentLearning));
        Assert.Equal([3, 2], LabelIssues.Find(labels, probs, IssueFilter.PredictedNeqGiven));
    }

    [Fact]
    public void FracNoiseScalesThePruneCountsBeforeTruncating()
    {
        // One estimated issue per off-diagonal cell: ×0.5 truncates to none, ×1 keeps both.
        Assert.Empty(LabelIssues.Find(Labels, Probs, fracNoise: 0.5));
        Assert.Equal([2, 5], LabelIssues.Find(Labels, Probs, fracNoise: 1.0));
        Assert.Throws<ArgumentOutOfRangeException>(() => LabelIssues.Find(Labels, Probs, fracNoise: 0));
    }

    [Fact]
    public void ScoresAreSelfConfidenceOrNormalizedMargin()
    {
        Assert.Equal([0.9, 0.8, 0.2, 0.9, 0.7, 0.3], LabelQuality.Scores(Labels, Probs));
        // Three classes: (P[given] − max other + 1) / 2.
        int[] labels = [1, 0];
        double[,] probs = { { 0.5, 0.3, 0.2 }, { 0.6, 0.1, 0.3 } };
        var margin = LabelQuality.Scores(labels, probs, QualityScore.NormalizedMargin);
        Assert.Equal(0.4, margin[0], 12);
        Assert.Equal(0.65, margin[1], 12);
        Assert.All(margin, m => Assert.InRange(m, 0, 1));
    }

    [Fact]
    public void BadInputsAreRefusedNamingTheProblem()
    {
        Assert.Contains("2 labels for 6 rows", Assert.Throws<ArgumentException>(() => LabelQuality.Scores([0, 1], Probs)).Message);
        Assert.Contains("outside 0..1", Assert.Throws<ArgumentException>(() => LabelIssues.Find([0, 0, 0, 1, 1, 2], Probs)).Message);
        Assert.Contains("not in [0, 1]", Assert.Throws<ArgumentException>(() => LabelQuality.Scores([0], new[,] { { 1.5, -0.5 } })).Message);
        Assert.Contains("at least 2 classes", Assert.Throws<ArgumentException>(() => LabelQuality.Scores([0], new[,] { { 1.0 } })).Message);
    }
}
