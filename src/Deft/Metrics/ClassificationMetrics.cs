namespace Deft.Metrics;

/// <summary>Counts of (row = true class, column = predicted or given class) pairs.</summary>
public sealed record ConfusionMatrix(int ClassCount, long[][] Counts)
{
    public long Total => Counts.Sum(row => row.Sum());

    /// <summary>Fraction on the diagonal; NaN when the matrix is empty.</summary>
    public double Accuracy
    {
        get
        {
            var total = Total;
            if (total == 0) return double.NaN;
            long diagonal = 0;
            for (var c = 0; c < ClassCount; c++) diagonal += Counts[c][c];
            return (double)diagonal / total;
        }
    }

    /// <summary>Each row divided by its sum, so row r is P(column | true class r). A row with no samples stays all zero.</summary>
    public double[][] RowNormalized()
    {
        var result = new double[ClassCount][];
        for (var r = 0; r < ClassCount; r++)
        {
            result[r] = new double[ClassCount];
            long sum = 0;
            foreach (var v in Counts[r]) sum += v;
            if (sum == 0) continue;
            for (var c = 0; c < ClassCount; c++) result[r][c] = (double)Counts[r][c] / sum;
        }
        return result;
    }
}

/// <summary>Accuracy, top-k accuracy, confusion and noise-transition matrices.</summary>
public static class ClassificationMetrics
{
    /// <summary>Fraction of samples with predicted == truth; NaN for no samples.</summary>
    public static double Accuracy(IReadOnlyList<int> predicted, IReadOnlyList<int> truth)
    {
        RequireSameLength(predicted.Count, truth.Count, nameof(predicted), nameof(truth));
        if (truth.Count == 0) return double.NaN;
        var correct = 0;
        for (var i = 0; i < truth.Count; i++)
            if (predicted[i] == truth[i]) correct++;
        return (double)correct / truth.Count;
    }

    /// <summary>
    /// Fraction of samples whose true class is among the <paramref name="k"/> highest scores. <paramref name="scores"/>
    /// is row-major N×C. A sample counts as correct when fewer than k classes score strictly higher than its true
    /// class, so ties are resolved in the sample's favour (torch.topk would pick among ties arbitrarily).
    /// NaN for no samples.
    /// </summary>
    public static double TopKAccuracy(ReadOnlySpan<float> scores, int classCount, IReadOnlyList<int> truth, int k)
    {
        if (classCount <= 0) throw new ArgumentOutOfRangeException(nameof(classCount), $"Class count must be positive, got {classCount}.");
        if (k < 1) throw new ArgumentOutOfRangeException(nameof(k), $"k must be at least 1, got {k}.");
        if (scores.Length != truth.Count * classCount)
            throw new ArgumentException($"Expected {truth.Count}×{classCount} = {truth.Count * classCount} scores, got {scores.Length}.", nameof(scores));
        if (truth.Count == 0) return double.NaN;
        var correct = 0;
        for (var i = 0; i < truth.Count; i++)
        {
            var y = truth[i];
            if ((uint)y >= (uint)classCount)
                throw new ArgumentOutOfRangeException(nameof(truth), $"Sample {i}: class {y} is outside 0..{classCount - 1}.");
            var row = scores.Slice(i * classCount, classCount);
            var target = row[y];
            var higher = 0;
            foreach (var s in row)
                if (s > target) higher++;
            if (higher < k) correct++;
        }
        return (double)correct / truth.Count;
    }

    /// <summary>Confusion matrix: Counts[truth][predicted].</summary>
    public static ConfusionMatrix Confusion(IReadOnlyList<int> truth, IReadOnlyList<int> predicted, int classCount)
    {
        if (classCount <= 0) throw new ArgumentOutOfRangeException(nameof(classCount), $"Class count must be positive, got {classCount}.");
        RequireSameLength(truth.Count, predicted.Count, nameof(truth), nameof(predicted));
        var counts = new long[classCount][];
        for (var r = 0; r < classCount; r++) counts[r] = new long[classCount];
        for (var i = 0; i < truth.Count; i++)
        {
            var t = truth[i];
            var p = predicted[i];
            if ((uint)t >= (uint)classCount)
                throw new ArgumentOutOfRangeException(nameof(truth), $"Sample {i}: true class {t} is outside 0..{classCount - 1}.");
            if ((uint)p >= (uint)classCount)
                throw new ArgumentOutOfRangeException(nameof(predicted), $"Sample {i}: class {p} is outside 0..{classCount - 1}.");
            counts[t][p]++;
        }
        return new ConfusionMatrix(classCount, counts);
    }

    /// <summary>
    /// The realized noise transition matrix T[true, given] = P(given label | true class), estimated from counts and
    /// row-normalised. A class with no samples has an all-zero row.
    /// </summary>
    public static double[][] TransitionMatrix(IReadOnlyList<int> trueLabels, IReadOnlyList<int> givenLabels, int classCount) =>
        Confusion(trueLabels, givenLabels, classCount).RowNormalized();

    internal static void RequireSameLength(int a, int b, string nameA, string nameB)
    {
        if (a != b) throw new ArgumentException($"{nameA} has {a} entries but {nameB} has {b}.");
    }
}
