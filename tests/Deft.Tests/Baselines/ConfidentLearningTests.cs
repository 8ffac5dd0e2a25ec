using Deft.Baselines;

namespace Deft.Tests.Baselines;

public class ConfidentLearningTests
{
    // Nine samples, three per given class; sample 2 (given 0) looks like class 1, sample 8 (given 2) like class 0,
    // sample 5 (given 1) is unsure but still predicted as its given class.
    private static readonly int[] HandLabels = [0, 0, 0, 1, 1, 1, 2, 2, 2];
    private static readonly double[,] HandProbabilities =
    {
        { 0.8, 0.1, 0.1 },
        { 0.7, 0.2, 0.1 },
        { 0.2, 0.7, 0.1 },
        { 0.1, 0.8, 0.1 },
        { 0.1, 0.7, 0.2 },
        { 0.3, 0.6, 0.1 },
        { 0.1, 0.1, 0.8 },
        { 0.1, 0.2, 0.7 },
        { 0.6, 0.1, 0.3 },
    };

    [Fact]
    public void Thresholds_are_mean_self_confidence_per_given_class()
    {
        var t = ConfidentLearning.Thresholds(HandLabels, HandProbabilities);
        Assert.Equal(1.7 / 3, t[0], 12);
        Assert.Equal(2.1 / 3, t[1], 12);
        Assert.Equal(1.8 / 3, t[2], 12);
    }

    [Fact]
    public void Confident_joint_of_the_hand_example()
    {
        // t = (0.567, 0.7, 0.6). Confident classes per sample: 0,1→{0}; 2→{1}; 3,4→{1} (0.7 ≥ 0.7 − 1e-6);
        // 5→{} (0.6 < 0.7, 0.3 < 0.567: not counted); 6,7→{2}; 8→{0}.
        var (raw, offDiagonal) = ConfidentLearning.ConfidentJoint(HandLabels, HandProbabilities, calibrate: false);
        Assert.Equal(new int[,] { { 2, 1, 0 }, { 0, 2, 0 }, { 1, 0, 2 } }, raw);
        Assert.Equal([2, 8], offDiagonal);
        // Calibrated: row 1 (sum 2) is scaled to its 3 given labels; rows 0 and 2 already sum to 3; total 9 = n.
        var (calibrated, _) = ConfidentLearning.ConfidentJoint(HandLabels, HandProbabilities);
        Assert.Equal(new int[,] { { 2, 1, 0 }, { 0, 3, 0 }, { 1, 0, 2 } }, calibrated);
    }

    [Fact]
    public void Several_confident_classes_count_under_the_argmax_and_the_diagonal_is_at_least_one()
    {
        int[] labels = [0, 0, 1, 1];
        double[,] p = { { 0.55, 0.45 }, { 0.45, 0.55 }, { 0.5, 0.5 }, { 0.6, 0.4 } };
        // t0 = mean(.55, .45) = .5, t1 = mean(.5, .4) = .45. Sample 0: both pass → argmax 0; sample 1: only 1;
        // sample 2: both, tie → first (0); sample 3: only 0. Diagonal [1][1] raised from 0 to 1.
        var (raw, offDiagonal) = ConfidentLearning.ConfidentJoint(labels, p, calibrate: false);
        Assert.Equal(new int[,] { { 1, 1 }, { 2, 1 } }, raw);
        Assert.Equal([1, 2, 3], offDiagonal);
        // Calibration: rows to 2 and 2 given labels → {1,1} and {4/3, 2/3}; total 4 → unchanged; rounding
        // row 1 (1.33, 0.67) → (1, 1).
        var (calibrated, _) = ConfidentLearning.ConfidentJoint(labels, p);
        Assert.Equal(new int[,] { { 1, 1 }, { 1, 1 } }, calibrated);
    }

    [Fact]
    public void Rounding_preserves_row_totals_like_cleanlab()
    {
        Assert.Equal([0, 2, 1], ConfidentLearning.RoundPreservingSum([0.5, 1.5, 1.0])); // half to even
        // [1.4, 1.4, 1.2] rounds to 3, total 4: the largest residue gets +1; between the tied 0.4s numpy's
        // reversed argsort picks the later index.
        Assert.Equal([1, 2, 1], ConfidentLearning.RoundPreservingSum([1.4, 1.4, 1.2]));
        // [1.6, 1.6, 0.8] rounds to [2, 2, 1] = 5, total 4: the smallest residue (first of the tied −0.4s) loses 1.
        Assert.Equal([1, 2, 1], ConfidentLearning.RoundPreservingSum([1.6, 1.6, 0.8]));
    }

    [Fact]
    public void Keep_at_least_one_per_class_follows_cleanlab_quirks()
    {
        // Given class 0 has an empty diagonal: it is raised to 1 and 1 / max(nonzero − 1, 1) = 1 is taken from every
        // off-diagonal entry of that class.
        var prune = ConfidentLearning.KeepAtLeastOnePerClass(new int[,] { { 0, 4, 2 }, { 0, 5, 0 }, { 1, 0, 3 } }, 1.0);
        Assert.Equal(new int[,] { { 1, 3, 1 }, { 0, 5, 0 }, { 1, 0, 3 } }, prune);
        // frac_noise = 0.5: off-diagonals halved and truncated, the diagonal absorbs the removed mass.
        var half = ConfidentLearning.KeepAtLeastOnePerClass(new int[,] { { 5, 3, 1 }, { 0, 2, 0 }, { 0, 0, 1 } }, 0.5);
        Assert.Equal(new int[,] { { 7, 1, 0 }, { 0, 2, 0 }, { 0, 0, 1 } }, half);
    }

    [Fact]
    public void Hand_example_issues_by_every_filter()
    {
        foreach (var filter in Enum.GetValues<ConfidentLearningFilter>())
        {
            var issues = ConfidentLearning.FindLabelIssues(HandLabels, HandProbabilities, filter);
            Assert.Equal([2, 8], issues.RankedIssues); // self-confidence 0.2 before 0.3
            Assert.Equal(HandLabels.Select((_, i) => i is 2 or 8), issues.IsIssue);
        }
        Assert.Equal([false, false, true, false, false, false, false, false, true],
            ConfidentLearning.PredictedNeqGiven(HandLabels, HandProbabilities));
    }

    [Fact]
    public void Prune_by_class_takes_the_lowest_self_confidence_where_prune_by_noise_rate_takes_the_largest_margin()
    {
        // Given class 0: samples 0, 1 sure of it, 2 leans to class 1, 3 has the lowest P[i, 0] but leans to class 2.
        int[] labels = [0, 0, 0, 0, 1, 1, 1, 2, 2, 2];
        double[,] p =
        {
            { 0.9, 0.05, 0.05 }, { 0.9, 0.05, 0.05 }, { 0.4, 0.55, 0.05 }, { 0.3, 0.2, 0.5 },
            { 0.25, 0.5, 0.25 }, { 0.25, 0.5, 0.25 }, { 0.25, 0.5, 0.25 },
            { 0.1, 0.1, 0.8 }, { 0.1, 0.1, 0.8 }, { 0.1, 0.1, 0.8 },
        };
        // t = (0.625, 0.5, 0.8): sample 2 is confident only for class 1 (0.55 ≥ 0.5), sample 3 for none. Raw joint row 0
        // = [2, 1, 0] for 4 given labels; calibrated to [2.67, 1.33, 0] and rounded to [3, 1, 0]; rows 1, 2 diagonal.
        var (joint, _) = ConfidentLearning.ConfidentJoint(labels, p);
        Assert.Equal(new int[,] { { 3, 1, 0 }, { 0, 3, 0 }, { 0, 0, 3 } }, joint);
        int[] Flagged(ConfidentLearningFilter f) => ConfidentLearning.FindLabelIssues(labels, p, f).RankedIssues;
        // prune_by_noise_rate: one sample of class 0 toward class 1, the largest P[i,1] − P[i,0]: sample 2.
        Assert.Equal([2], Flagged(ConfidentLearningFilter.PruneByNoiseRate));
        // prune_by_class: 4 − 3 = 1 sample of class 0 with the lowest P[i, 0]: sample 3.
        Assert.Equal([3], Flagged(ConfidentLearningFilter.PruneByClass));
        // both: flagged by each, so none here.
        Assert.Empty(Flagged(ConfidentLearningFilter.Both));
        Assert.Equal([2], Flagged(ConfidentLearningFilter.ConfidentJointOffDiagonal));
        Assert.Equal([3, 2], Flagged(ConfidentLearningFilter.PredictedNeqGiven));
    }

    [Fact]
    public void Self_confidence_ranks_every_sample_lowest_first_ties_by_index()
    {
        Assert.Equal([2, 8, 5, 1, 4, 7, 0, 3, 6], ConfidentLearning.RankBySelfConfidence(HandLabels, HandProbabilities));
    }

    [Fact]
    public void Prune_by_noise_rate_finds_planted_errors_in_a_synthetic_matrix()
    {
        const int n = 800, k = 4;
        var random = new Random(21);
        var labels = new int[n];
        var planted = new bool[n];
        var p = new double[n, k];
        for (var i = 0; i < n; i++)
        {
            var truth = i % k;
            planted[i] = i / k % 10 == 3; // 10% of every class flipped to the next class
            labels[i] = planted[i] ? (truth + 1) % k : truth;
            // the model is right about the true class with a random confidence, the rest spread at random
            var confidence = 0.5 + 0.45 * random.NextDouble();
            var rest = Enumerable.Range(0, k - 1).Select(_ => random.NextDouble() + 0.05).ToArray();
            var restSum = rest.Sum();
            for (int j = 0, r = 0; j < k; j++)
                p[i, j] = j == truth ? confidence : (1 - confidence) * rest[r++] / restSum;
        }

        var issues = ConfidentLearning.FindLabelIssues(labels, p);
        var truePositives = issues.RankedIssues.Count(i => planted[i]);
        var flagged = issues.RankedIssues.Length;
        var errors = planted.Count(x => x);
        // Confident counting underestimates the noise a little (72 of the 80 here), as in cleanlab.
        Assert.True(truePositives >= 0.85 * errors, $"recall {truePositives}/{errors}");
        Assert.True(truePositives >= 0.95 * flagged, $"precision {truePositives}/{flagged}");
        Assert.Equal(flagged, issues.IsIssue.Count(x => x));
        // Ranked lowest self-confidence first.
        var quality = issues.RankedIssues.Select(i => p[i, labels[i]]).ToArray();
        Assert.True(quality.Zip(quality.Skip(1)).All(t => t.First <= t.Second));
        // The self-confidence ranking puts planted errors first: they are all in the top 10%.
        var top = ConfidentLearning.RankBySelfConfidence(labels, p).Take(errors);
        Assert.True(top.Count(i => planted[i]) >= 0.95 * errors);
        // The calibrated joint sums to n with rows equal to the given-label counts.
        var joint = issues.ConfidentJoint;
        for (var g = 0; g < k; g++)
            Assert.Equal(labels.Count(l => l == g), Enumerable.Range(0, k).Sum(j => joint[g, j]));
    }

    [Fact]
    public void Invalid_inputs_name_the_sample()
    {
        var error = Assert.Throws<ArgumentException>(() =>
            ConfidentLearning.FindLabelIssues([0, 3], new double[,] { { 0.5, 0.5 }, { 0.5, 0.5 } }));
        Assert.Contains("sample 1", error.Message);
        Assert.Throws<ArgumentException>(() => ConfidentLearning.Thresholds([0], new double[,] { { 0.5, 0.5 }, { 0.5, 0.5 } }));
    }
}
