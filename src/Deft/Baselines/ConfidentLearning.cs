namespace Deft.Baselines;

/// <summary>Which samples confident learning flags (cleanlab 2.x <c>find_label_issues(filter_by=...)</c>).</summary>
public enum ConfidentLearningFilter
{
    /// <summary>cleanlab's default <c>'prune_by_noise_rate'</c>: per given class and per other class j, the
    /// (calibrated) confident-joint count of samples with the largest margin P[i, j] − P[i, given].</summary>
    PruneByNoiseRate,

    /// <summary><c>'confident_learning'</c>: the samples counted in the off-diagonal of the confident joint.</summary>
    ConfidentJointOffDiagonal,

    /// <summary><c>'predicted_neq_given'</c>: argmax P[i] differs from the given label.</summary>
    PredictedNeqGiven,

    /// <summary><c>'prune_by_class'</c>: per given class g, the samples with the lowest P[i, g], as many as the (calibrated,
    /// frac_noise-scaled) confident joint counts off its diagonal.</summary>
    PruneByClass,

    /// <summary><c>'both'</c>: flagged by <see cref="PruneByNoiseRate"/> and by <see cref="PruneByClass"/>.</summary>
    Both,
}

/// <summary>Result of <see cref="ConfidentLearning.FindLabelIssues"/>.</summary>
/// <param name="IsIssue">Per sample, whether it is flagged as mislabeled.</param>
/// <param name="RankedIssues">The flagged samples, lowest self-confidence P[i, given] first (ties by index); cleanlab's
/// <c>return_indices_ranked_by='self_confidence'</c>.</param>
/// <param name="Thresholds">Per-class thresholds t_j (<c>get_confident_thresholds</c>).</param>
/// <param name="ConfidentJoint">Calibrated confident joint [given, true] (<c>compute_confident_joint</c>).</param>
public sealed record LabelIssues(bool[] IsIssue, int[] RankedIssues, double[] Thresholds, int[,] ConfidentJoint);

/// <summary>
/// Confident learning (Northcutt et al., JAIR 2021) following cleanlab 2.x (github.com/cleanlab/cleanlab,
/// <c>cleanlab/count.py</c>, <c>cleanlab/filter.py</c>, <c>cleanlab/rank.py</c>) for single-label data, on
/// out-of-sample predicted probabilities P [n, K] (rows summing to 1) and given labels in 0..K−1.
/// Differences from cleanlab: sorts are stable with ties by sample index (cleanlab's <c>np.argsort</c> leaves tie order
/// unspecified); no multiprocessing, multi-label,
/// <c>num_to_remove_per_class</c> or other rankings.
/// </summary>
public static class ConfidentLearning
{
    private const double FloatingPointComparison = 1e-6;   // cleanlab.internal.constants
    private const double ThresholdLowerBound = 2 * FloatingPointComparison;
    private const double MissingClassThreshold = 2;         // "BIG_VALUE": no probability reaches it
    private const double TinyValue = 1e-100;

    /// <summary>
    /// <c>get_confident_thresholds</c>: t_j = mean of P[i, j] over samples given label j; 2 for a class nobody is
    /// given (so nothing is confidently counted there); clipped below at 2e-6.
    /// </summary>
    public static double[] Thresholds(ReadOnlySpan<int> labels, double[,] probabilities)
    {
        var (n, k) = Validate(labels, probabilities);
        var sums = new double[k];
        var counts = new int[k];
        for (var i = 0; i < n; i++) { sums[labels[i]] += probabilities[i, labels[i]]; counts[labels[i]]++; }
        var thresholds = new double[k];
        for (var j = 0; j < k; j++)
            thresholds[j] = Math.Max(counts[j] > 0 ? sums[j] / counts[j] : MissingClassThreshold, ThresholdLowerBound);
        return thresholds;
    }

    /// <summary>
    /// <c>compute_confident_joint</c>: sample i counts in C[given_i][j] where j is its only class with
    /// P[i, j] ≥ t_j − 1e-6, or the argmax of P[i] when several classes pass; samples with none are not counted. The
    /// diagonal is raised to at least 1; with <paramref name="calibrate"/> each row is rescaled to the number of
    /// samples given that label, the total to n, and rows are rounded preserving their totals
    /// (<c>calibrate_confident_joint</c>, <c>round_preserving_row_totals</c>).
    /// </summary>
    /// <returns>The joint [given, true] and the samples counted off the diagonal, ascending.</returns>
    public static (int[,] Joint, int[] OffDiagonal) ConfidentJoint(ReadOnlySpan<int> labels, double[,] probabilities,
        bool calibrate = true, double[]? thresholds = null)
    {
        var (n, k) = Validate(labels, probabilities);
        thresholds ??= Thresholds(labels, probabilities);
        if (thresholds.Length != k)
            throw new ArgumentException($"Got {thresholds.Length} thresholds for {k} classes.", nameof(thresholds));
        var joint = new int[k, k];
        var offDiagonal = new List<int>();
        for (var i = 0; i < n; i++)
        {
            int confident = 0, onlyConfident = -1;
            for (var j = 0; j < k; j++)
                if (probabilities[i, j] >= thresholds[j] - FloatingPointComparison)
                {
                    confident++;
                    if (onlyConfident < 0) onlyConfident = j;
                }
            if (confident == 0) continue;
            var guess = confident > 1 ? ArgMax(probabilities, i, k) : onlyConfident;
            joint[labels[i], guess]++;
            if (guess != labels[i]) offDiagonal.Add(i);
        }
        for (var j = 0; j < k; j++) joint[j, j] = Math.Max(joint[j, j], 1);
        return (calibrate ? Calibrate(joint, ClassCounts(labels, k)) : joint, offDiagonal.ToArray());
    }

    /// <summary>
    /// <c>calibrate_confident_joint</c>: rows scaled to the given-label counts, then the whole matrix to their sum,
    /// then each row rounded to integers keeping its (rounded) total.
    /// </summary>
    public static int[,] Calibrate(int[,] joint, int[] labelCounts)
    {
        var k = joint.GetLength(0);
        var scaled = new double[k, k];
        double total = 0;
        for (var r = 0; r < k; r++)
        {
            double rowSum = 0;
            for (var c = 0; c < k; c++) rowSum += joint[r, c];
            for (var c = 0; c < k; c++)
            {
                scaled[r, c] = joint[r, c] / Math.Max(rowSum, TinyValue) * labelCounts[r];
                total += scaled[r, c];
            }
        }
        var labelTotal = labelCounts.Sum();
        var result = new int[k, k];
        var row = new double[k];
        for (var r = 0; r < k; r++)
        {
            for (var c = 0; c < k; c++) row[c] = scaled[r, c] / Math.Max(total, TinyValue) * labelTotal;
            var rounded = RoundPreservingSum(row);
            for (var c = 0; c < k; c++) result[r, c] = rounded[c];
        }
        return result;
    }

    /// <summary>
    /// cleanlab's <c>round_preserving_sum</c>: round half to even, then move the rounding deficit onto the entries
    /// with the largest (or, for a surplus, smallest) rounding residue.
    /// </summary>
    internal static int[] RoundPreservingSum(double[] values)
    {
        var ints = values.Select(v => Math.Round(v)).ToArray();
        var targetSum = Math.Round(values.Sum());
        var intSum = Math.Round(ints.Sum());
        while (Math.Abs(intSum - targetSum) > 1e-6)
        {
            var difference = Math.Round(targetSum - intSum);
            var increment = difference < 0 ? -1 : 1;
            var changes = (int)Math.Min(Math.Abs(difference), values.Length);
            var order = StableArgSort(values.Select((v, i) => v - ints[i]).ToArray());
            if (increment > 0) Array.Reverse(order); // np.argsort(...)[::-1]
            foreach (var i in order.Take(changes)) ints[i] += increment;
            intSum = Math.Round(ints.Sum());
        }
        return ints.Select(v => (int)v).ToArray();
    }

    /// <summary>
    /// cleanlab <c>find_label_issues</c> with <c>min_examples_per_class=1</c>, <c>frac_noise</c> as given, and
    /// <c>return_indices_ranked_by='self_confidence'</c>. For every filter, samples whose argmax equals their given
    /// label are finally un-flagged (as cleanlab does).
    /// </summary>
    public static LabelIssues FindLabelIssues(ReadOnlySpan<int> labels, double[,] probabilities,
        ConfidentLearningFilter filter = ConfidentLearningFilter.PruneByNoiseRate, double fracNoise = 1.0)
    {
        var (n, k) = Validate(labels, probabilities);
        if (!(fracNoise > 0 && fracNoise <= 1))
            throw new ArgumentOutOfRangeException(nameof(fracNoise), fracNoise, "fracNoise must lie in (0, 1].");
        var thresholds = Thresholds(labels, probabilities);
        var (joint, offDiagonal) = ConfidentJoint(labels, probabilities, calibrate: true, thresholds);
        var issue = new bool[n];
        switch (filter)
        {
            case ConfidentLearningFilter.PruneByNoiseRate:
                PruneByNoiseRate(labels, probabilities, KeepAtLeastOnePerClass(joint, fracNoise), issue);
                break;
            case ConfidentLearningFilter.ConfidentJointOffDiagonal:
                foreach (var i in offDiagonal) issue[i] = true;
                break;
            case ConfidentLearningFilter.PredictedNeqGiven:
                for (var i = 0; i < n; i++) issue[i] = ArgMax(probabilities, i, k) != labels[i];
                break;
            case ConfidentLearningFilter.PruneByClass:
                PruneByClass(labels, probabilities, KeepAtLeastOnePerClass(joint, fracNoise), issue);
                break;
            case ConfidentLearningFilter.Both:
            {
                var prune = KeepAtLeastOnePerClass(joint, fracNoise);
                var byClass = new bool[n];
                PruneByNoiseRate(labels, probabilities, prune, issue);
                PruneByClass(labels, probabilities, prune, byClass);
                for (var i = 0; i < n; i++) issue[i] &= byClass[i];
                break;
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(filter), filter,
                    $"Valid filters: {string.Join(", ", Enum.GetNames<ConfidentLearningFilter>())}.");
        }
        for (var i = 0; i < n; i++)
            if (ArgMax(probabilities, i, k) == labels[i]) issue[i] = false;

        var flagged = Enumerable.Range(0, n).Where(i => issue[i]).ToArray();
        var quality = new double[flagged.Length];
        for (var r = 0; r < flagged.Length; r++) quality[r] = probabilities[flagged[r], labels[flagged[r]]];
        var ranked = StableArgSort(quality).Select(r => flagged[r]).ToArray();
        return new LabelIssues(issue, ranked, thresholds, joint);
    }

    /// <summary>Boolean mask of <c>argmax P[i] != given</c> (cleanlab <c>find_predicted_neq_given</c>).</summary>
    public static bool[] PredictedNeqGiven(ReadOnlySpan<int> labels, double[,] probabilities)
    {
        var (n, k) = Validate(labels, probabilities);
        var mask = new bool[n];
        for (var i = 0; i < n; i++) mask[i] = ArgMax(probabilities, i, k) != labels[i];
        return mask;
    }

    /// <summary>Self-confidence label quality P[i, given] (cleanlab <c>get_self_confidence_for_each_label</c>).</summary>
    public static double[] SelfConfidence(ReadOnlySpan<int> labels, double[,] probabilities)
    {
        var (n, _) = Validate(labels, probabilities);
        var quality = new double[n];
        for (var i = 0; i < n; i++) quality[i] = probabilities[i, labels[i]];
        return quality;
    }

    /// <summary>All sample indices, most likely mislabeled (lowest P[i, given]) first, ties by index.</summary>
    public static int[] RankBySelfConfidence(ReadOnlySpan<int> labels, double[,] probabilities) =>
        StableArgSort(SelfConfidence(labels, probabilities));

    /// <summary>
    /// <c>_keep_at_least_n_per_class(confident_joint.T, n=1, frac_noise)</c>, returned as prune counts [given, true]
    /// (cleanlab keeps it transposed; the arithmetic per given class is the same): a diagonal below 1 is raised to 1
    /// and the raise taken evenly from that class's non-zero off-diagonal counts (floored at 0); then off-diagonals are
    /// scaled by <paramref name="fracNoise"/> with the diagonal taking up the difference, and truncated to integers.
    /// </summary>
    internal static int[,] KeepAtLeastOnePerClass(int[,] joint, double fracNoise)
    {
        const int minimum = 1;
        var k = joint.GetLength(0);
        var prune = new int[k, k];
        for (var given = 0; given < k; given++)
        {
            var diagonal = joint[given, given];
            var raised = Math.Max(diagonal, minimum);
            var nonZero = 0;
            for (var j = 0; j < k; j++) if (joint[given, j] != 0) nonZero++;
            var perEntry = (raised - diagonal) / Math.Max(nonZero - 1.0, 1.0);
            var adjusted = new double[k];
            for (var j = 0; j < k; j++) adjusted[j] = j == given ? raised : Math.Max(joint[given, j] - perEntry, 0);
            double removed = 0;
            for (var j = 0; j < k; j++)
            {
                if (j == given) continue;
                var scaled = adjusted[j] * fracNoise;
                removed += adjusted[j] - scaled;
                prune[given, j] = (int)scaled;
            }
            prune[given, given] = (int)(adjusted[given] + removed);
        }
        return prune;
    }

    /// <summary>
    /// cleanlab <c>_prune_by_count</c>: among samples given label g (skipped when there is at most 1), for each j ≠ g
    /// flag the <c>prune[g, j]</c> samples with the largest P[i, j] − P[i, g] (ties by index).
    /// </summary>
    private static void PruneByNoiseRate(ReadOnlySpan<int> labels, double[,] probabilities, int[,] prune, bool[] issue)
    {
        var k = probabilities.GetLength(1);
        for (var given = 0; given < k; given++)
        {
            var members = new List<int>();
            for (var i = 0; i < labels.Length; i++) if (labels[i] == given) members.Add(i);
            if (members.Count <= 1) continue;
            for (var j = 0; j < k; j++)
            {
                var count = prune[given, j];
                if (j == given || count <= 0) continue;
                var negativeMargin = members.Select(i => probabilities[i, given] - probabilities[i, j]).ToArray();
                foreach (var r in StableArgSort(negativeMargin).Take(count)) issue[members[r]] = true;
            }
        }
    }

    /// <summary>
    /// cleanlab <c>_prune_by_class</c>: among samples given label g (skipped when there is at most 1), flag the
    /// count(g) − prune[g, g] with the lowest P[i, g]. Ties are taken by index where cleanlab's strict
    /// <c>P &lt; partition value</c> flags none of the tied samples.
    /// </summary>
    private static void PruneByClass(ReadOnlySpan<int> labels, double[,] probabilities, int[,] prune, bool[] issue)
    {
        var k = probabilities.GetLength(1);
        for (var given = 0; given < k; given++)
        {
            var members = new List<int>();
            for (var i = 0; i < labels.Length; i++) if (labels[i] == given) members.Add(i);
            if (members.Count <= 1) continue;
            var count = Math.Min(members.Count - prune[given, given], members.Count);
            if (count <= 0) continue;
            var own = members.Select(i => probabilities[i, given]).ToArray();
            foreach (var r in StableArgSort(own).Take(count)) issue[members[r]] = true;
        }
    }

    private static int[] ClassCounts(ReadOnlySpan<int> labels, int k)
    {
        var counts = new int[k];
        foreach (var label in labels) counts[label]++;
        return counts;
    }

    /// <summary>First index of the row maximum, as <c>np.argmax</c>.</summary>
    private static int ArgMax(double[,] probabilities, int row, int k)
    {
        var best = 0;
        for (var j = 1; j < k; j++) if (probabilities[row, j] > probabilities[row, best]) best = j;
        return best;
    }

    private static int[] StableArgSort(double[] values)
    {
        var order = Enumerable.Range(0, values.Length).ToArray();
        Array.Sort(order, (a, b) => values[a] != values[b] ? values[a].CompareTo(values[b]) : a.CompareTo(b));
        return order;
    }

    private static (int N, int K) Validate(ReadOnlySpan<int> labels, double[,] probabilities)
    {
        var (n, k) = (probabilities.GetLength(0), probabilities.GetLength(1));
        if (k < 2)
            throw new ArgumentException($"Probabilities need at least 2 classes (columns), got {k}.", nameof(probabilities));
        if (labels.Length != n)
            throw new ArgumentException($"Got {labels.Length} labels for {n} probability rows.", nameof(labels));
        for (var i = 0; i < n; i++)
            if ((uint)labels[i] >= (uint)k)
                throw new ArgumentException($"Label {labels[i]} of sample {i} is outside 0..{k - 1}.", nameof(labels));
        return (n, k);
    }
}
