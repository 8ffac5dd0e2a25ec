using Deft.Metrics;
using Deft.Noise;

namespace Deft.Tests.Metrics;

public class DetectionMetricsTests
{
    [Fact]
    public void Clean_mask_compares_given_and_true_labels()
    {
        Assert.Equal([true, false, true, false], DetectionMetrics.CleanMask([0, 1, 2, 3], [0, 2, 2, 0]));
    }

    [Fact]
    public void Precision_recall_f1_by_hand()
    {
        bool[] selected = [true, true, true, false, false, false, true, false];
        bool[] clean = [true, true, false, true, false, false, true, true];
        // TP: 0,1,6  FP: 2  FN: 3,7  TN: 4,5
        var m = DetectionMetrics.Selection(selected, clean);
        Assert.Equal((3, 1, 2, 2), (m.TruePositives, m.FalsePositives, m.FalseNegatives, m.TrueNegatives));
        Assert.Equal(0.75, m.Precision, 15);
        Assert.Equal(0.6, m.Recall, 15);
        Assert.Equal(2 * 0.75 * 0.6 / 1.35, m.F1, 15);
        Assert.Equal((4, 5, 8), (m.Selected, m.Clean, m.Total));
    }

    [Fact]
    public void Undefined_selection_ratios_are_zero()
    {
        var nothingSelected = DetectionMetrics.Selection([false, false], [true, false]);
        Assert.Equal((0.0, 0.0, 0.0), (nothingSelected.Precision, nothingSelected.Recall, nothingSelected.F1));
        var nothingClean = DetectionMetrics.Selection([true, false], [false, false]);
        Assert.Equal((0.0, 0.0, 0.0), (nothingClean.Precision, nothingClean.Recall, nothingClean.F1));
        var perfect = DetectionMetrics.Selection([true, false], [true, false]);
        Assert.Equal((1.0, 1.0, 1.0), (perfect.Precision, perfect.Recall, perfect.F1));
        Assert.Throws<ArgumentException>(() => DetectionMetrics.Selection([true], [true, false]));
    }

    [Fact]
    public void Auroc_with_ties_by_hand()
    {
        double[] score = [0.9, 0.8, 0.8, 0.7, 0.5, 0.5, 0.3];
        bool[] clean = [true, true, false, true, false, true, false];
        // Clean vs noisy pairs (4 × 3 = 12), a tie counting ½:
        // 0.9 beats 0.8, 0.5, 0.3 → 3;  0.8 ties 0.8, beats 0.5, 0.3 → 2.5;
        // 0.7 loses to 0.8, beats 0.5, 0.3 → 2;  0.5 loses to 0.8, ties 0.5, beats 0.3 → 1.5.   Σ = 9 → 9/12.
        Assert.Equal(0.75, DetectionMetrics.Auroc(score, clean), 15);
        Assert.Equal(0.75, DetectionMetrics.Auroc(score.Select(s => (float)s).ToArray(), clean), 15);
    }

    [Fact]
    public void Auroc_edge_cases()
    {
        Assert.Equal(1.0, DetectionMetrics.Auroc([3.0, 2.0, 1.0], [true, true, false]));
        Assert.Equal(0.0, DetectionMetrics.Auroc([1.0, 2.0, 3.0], [true, true, false]));
        Assert.Equal(0.5, DetectionMetrics.Auroc([1.0, 1.0, 1.0, 1.0], [true, false, true, false]));
        Assert.True(double.IsNaN(DetectionMetrics.Auroc([1.0, 2.0], [true, true])));
        Assert.True(double.IsNaN(DetectionMetrics.Auroc([1.0, 2.0], [false, false])));
        Assert.True(double.IsNaN(DetectionMetrics.Auroc(Array.Empty<double>(), Array.Empty<bool>())));
        Assert.Throws<ArgumentException>(() => DetectionMetrics.Auroc([double.NaN, 1.0], [true, false]));
    }

    [Fact]
    public void Auroc_equals_the_pairwise_count_on_random_data_with_many_ties()
    {
        var rng = new SeededRandom(4);
        var n = 600;
        var score = Enumerable.Range(0, n).Select(_ => (double)rng.NextInt(20)).ToArray();
        var clean = score.Select(s => rng.NextDouble() < 0.3 + s / 40).ToArray();
        double wins = 0;
        long pairs = 0;
        for (var i = 0; i < n; i++)
        {
            if (!clean[i]) continue;
            for (var j = 0; j < n; j++)
            {
                if (clean[j]) continue;
                pairs++;
                wins += score[i] > score[j] ? 1 : score[i] == score[j] ? 0.5 : 0;
            }
        }
        Assert.Equal(wins / pairs, DetectionMetrics.Auroc(score, clean), 12);
    }

    [Fact]
    public void Precision_recall_curve_by_hand()
    {
        double[] score = [0.9, 0.8, 0.8, 0.7, 0.5, 0.5, 0.3];
        bool[] clean = [true, true, false, true, false, true, false];
        var curve = DetectionMetrics.PrecisionRecall(score, clean);
        var expected = new (double T, int Sel, double P, double R)[]
        {
            (0.9, 1, 1.0, 0.25),
            (0.8, 3, 2.0 / 3, 0.5),
            (0.7, 4, 0.75, 0.75),
            (0.5, 6, 4.0 / 6, 1.0),
            (0.3, 7, 4.0 / 7, 1.0),
        };
        Assert.Equal(expected.Length, curve.Points.Count);
        for (var i = 0; i < expected.Length; i++)
        {
            var p = curve.Points[i];
            Assert.Equal(expected[i].T, p.Threshold);
            Assert.Equal(expected[i].Sel, p.Selected);
            Assert.Equal(expected[i].P, p.Precision, 15);
            Assert.Equal(expected[i].R, p.Recall, 15);
        }
        // AP = Σ ΔR·P = 0.25·(1 + 2/3 + 3/4 + 2/3)
        Assert.Equal(0.25 * (1 + 2.0 / 3 + 0.75 + 2.0 / 3), curve.AveragePrecision, 15);

        var noClean = DetectionMetrics.PrecisionRecall([1.0, 2.0], [false, false]);
        Assert.True(double.IsNaN(noClean.AveragePrecision));
        Assert.All(noClean.Points, p => Assert.Equal(0.0, p.Precision));
    }
}
