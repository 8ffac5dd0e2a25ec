using Deft.Detection;
using Deft.Metrics;

namespace Deft.Tests.Metrics;

public class PrecisionAtKTests
{
    [Fact]
    public void Counts_the_truly_mislabeled_among_the_k_lowest_label_qualities()
    {
        // Ranked by quality: 4 (0.05, noisy), 1 (0.1, clean), 3 (0.2, noisy), 0 (0.9, clean), 2 (0.95, noisy).
        double[] quality = [0.9, 0.1, 0.95, 0.2, 0.05];
        bool[] noisy = [false, false, true, true, true];
        Assert.Equal(1.0, DetectionMetrics.PrecisionAtK(quality, noisy, 1));
        Assert.Equal(0.5, DetectionMetrics.PrecisionAtK(quality, noisy, 2));
        Assert.Equal(2.0 / 3, DetectionMetrics.PrecisionAtK(quality, noisy, 3), 12);
        Assert.Equal(3.0 / 5, DetectionMetrics.PrecisionAtK(quality, noisy, 5), 12);
        Assert.Throws<ArgumentOutOfRangeException>(() => DetectionMetrics.PrecisionAtK(quality, noisy, 6));
        Assert.Throws<ArgumentOutOfRangeException>(() => DetectionMetrics.PrecisionAtK(quality, noisy, 0));
    }

    [Fact]
    public void Ties_are_broken_by_position_as_the_issue_list_is_ordered()
    {
        double[] quality = [0.3, 0.3, 0.3];
        Assert.Equal(1.0, DetectionMetrics.PrecisionAtK(quality, [true, false, false], 1));
        Assert.Equal(0.0, DetectionMetrics.PrecisionAtK(quality, [false, true, true], 1));
    }

    [Fact]
    public void The_summary_reports_issue_metrics_and_precision_at_k_from_the_verdicts()
    {
        // 12 samples; truly mislabeled: 0, 1, 2 (true label differs). Flagged: 0, 1, 5.
        var rows = Enumerable.Range(0, 12).Select(i => new SampleVerdict(i, $"s{i}", 0, LabelQuality: i < 6 ? 0.1 * i : 0.9,
            IsLabelIssue: i is 0 or 1 or 5, SuggestedLabel: 1, SuggestedProbability: 0.5, TrueLabel: i < 3 ? 1 : 0)).ToList();
        var q = DetectionSummaryBuilder.Quality(rows);
        Assert.Equal(2.0 / 3, q.IssuePrecision, 12);
        Assert.Equal(2.0 / 3, q.IssueRecall, 12);
        Assert.Equal(2.0 / 3, q.IssueF1, 12);
        Assert.Equal(3, q.Flagged);
        Assert.Equal(0.3, q.PrecisionAt10!.Value, 12);         // lowest 10 are 0..9; 3 of them are noisy
        Assert.Null(q.PrecisionAt100);                          // only 12 samples
        Assert.Equal(1.0, q.PrecisionAtFlagged!.Value, 12);     // lowest 3 are 0, 1, 2: all noisy
    }
}
