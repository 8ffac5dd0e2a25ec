using System.Globalization;
using TorchSharp;
using static TorchSharp.torch;

namespace Deft.Data;

/// <summary>
/// Thresholds of the feature-based data issues (<see cref="FeatureIssues"/>).
/// </summary>
public sealed record FeatureIssueOptions
{
    /// <summary>
    /// Two samples are (near) duplicates when the cosine similarity of their image features is at least this, in (0, 1].
    /// Re-encoded or resized copies of one photo score above 0.98 with CLIP; different photos of one class rarely do.
    /// </summary>
    public double DuplicateThreshold { get; init; } = 0.98;

    /// <summary>
    /// A second, relative condition (cleanlab Datalab's near_duplicate rule): the pair's cosine distance is at most this
    /// fraction of the median distance of a sample to its nearest neighbour. It keeps a model whose features crowd
    /// together (every sample 0.98 similar to some other) from calling half the data duplicates; 0 disables it.
    /// </summary>
    public double RelativeDistance { get; init; } = 0.13;

    /// <summary>The k of the k nearest neighbours whose mean similarity measures how isolated a sample is.</summary>
    public int Neighbours { get; init; } = 10;

    /// <summary>
    /// A sample is an outlier when both of its robust z-scores (distance to its neighbours, distance to the closest
    /// class prompt) reach this many MADs above the median.
    /// </summary>
    public double OutlierZ { get; init; } = 3.0;

    /// <summary>Throws a <see cref="DeftException"/> naming the first setting outside its range.</summary>
    public void Validate()
    {
        if (!(DuplicateThreshold > 0 && DuplicateThreshold <= 1))
            throw new DeftException($"{Setting.DuplicateThreshold} is a cosine similarity in (0, 1]; got {DuplicateThreshold.ToString(CultureInfo.InvariantCulture)}.");
        if (!(RelativeDistance >= 0) || double.IsInfinity(RelativeDistance))
            throw new DeftException($"The relative near-duplicate distance must be ≥ 0; got {RelativeDistance.ToString(CultureInfo.InvariantCulture)}.");
        if (Neighbours < 1) throw new DeftException($"The neighbour count of the outlier score must be at least 1; got {Neighbours}.");
        if (!(OutlierZ > 0) || double.IsInfinity(OutlierZ)) throw new DeftException($"The outlier z-score threshold must be positive; got {OutlierZ.ToString(CultureInfo.InvariantCulture)}.");
    }
}

/// <summary>
/// Near-duplicates and outliers among samples known by their CLIP image features (Datalab's near_duplicate and outlier
/// issues). Features are L2-normalised; the pairwise similarities are computed one block of rows at a time (at most
/// 2²⁴ similarities, 64 MB, in memory at once), keeping each sample's nearest neighbours only, so 50,000 samples need
/// no N×N matrix.
/// </summary>
public static class FeatureIssues
{
    private const long BlockElements = 1L << 24;

    /// <summary>
    /// The (conflicting) near-duplicates and outliers among <paramref name="features"/>' rows: conflicting duplicates
    /// first, then near-duplicates, then outliers, each most severe first. A sample is a duplicate when a neighbour is
    /// at least <see cref="FeatureIssueOptions.DuplicateThreshold"/> similar; conflicting when such a neighbour has
    /// another label (the most similar of those is named). Every sample of a duplicate group is listed, each naming its
    /// partner. The similarity must also pass <see cref="FeatureIssueOptions.RelativeDistance"/>. An outlier is far from its k nearest neighbours and from every class prompt (<paramref name="classText"/>;
    /// null: the neighbour criterion alone).
    /// </summary>
    /// <param name="features">[N, E] image features (any norm), one row per sample.</param>
    /// <param name="labels">The given label of every row.</param>
    /// <param name="classText">[K, E] text features of the class prompts, or null.</param>
    /// <param name="options">Thresholds; null: the defaults.</param>
    /// <param name="indexOf">A row's sample index in the reported issues (null: the row number).</param>
    /// <param name="sourceOf">A row's source (null: "features#row").</param>
    /// <param name="cancellationToken">Stops between blocks.</param>
    public static IReadOnlyList<DataIssue> Find(Tensor features, IReadOnlyList<int> labels, Tensor? classText, FeatureIssueOptions? options = null,
        Func<int, int>? indexOf = null, Func<int, string>? sourceOf = null, CancellationToken cancellationToken = default) =>
        Find(features, labels, classText, options, indexOf, sourceOf, BlockElements, cancellationToken);

    /// <summary>As the public overload with at most <paramref name="blockElements"/> similarities per block (tests use tiny blocks).</summary>
    internal static IReadOnlyList<DataIssue> Find(Tensor features, IReadOnlyList<int> labels, Tensor? classText, FeatureIssueOptions? options,
        Func<int, int>? indexOf, Func<int, string>? sourceOf, long blockElements, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(features);
        ArgumentNullException.ThrowIfNull(labels);
        options ??= new FeatureIssueOptions();
        options.Validate();
        if (features.dim() != 2) throw new ArgumentException($"Features must be [N, E]; got [{string.Join(", ", features.shape)}].", nameof(features));
        var n = (int)features.shape[0];
        if (labels.Count != n) throw new ArgumentException($"{labels.Count} labels for {n} feature rows.", nameof(labels));
        if (classText is not null && (classText.dim() != 2 || classText.shape[1] != features.shape[1]))
            throw new ArgumentException($"Class text features must be [K, {features.shape[1]}]; got [{string.Join(", ", classText.shape)}].", nameof(classText));
        indexOf ??= r => r;
        sourceOf ??= r => $"features#{r}";
        if (n < 2) return [];

        var kept = Math.Min(n - 1, Math.Max(options.Neighbours, 8));
        var (neighbourSims, neighbourRows, textSims) = Neighbours(features, classText, kept, blockElements, cancellationToken);

        // Both conditions as one bound on the similarity: absolute (cosine ≥ threshold) and relative to the median
        // nearest-neighbour distance (where that is 0, more than half the rows have an identical twin: absolute only).
        var minSimilarity = options.DuplicateThreshold;
        if (options.RelativeDistance > 0)
        {
            var medianNearest = Median([.. Enumerable.Range(0, n).Select(r => 1 - (double)neighbourSims[r * kept])]);
            if (medianNearest > 0) minSimilarity = Math.Max(minSimilarity, 1 - options.RelativeDistance * medianNearest);
        }
        var duplicates = new List<DataIssue>();
        var conflicting = new List<DataIssue>();
        for (var r = 0; r < n; r++)
        {
            int? partner = null, conflict = null;
            for (var j = 0; j < kept; j++)
            {
                var sim = neighbourSims[r * kept + j];
                if (sim < minSimilarity) break; // sorted: no closer one follows
                var other = neighbourRows[r * kept + j];
                partner ??= other;
                if (labels[other] != labels[r]) { conflict = other; break; }
            }
            if (partner is null) continue;
            var o = conflict ?? partner.Value;
            var cosine = SimilarityOf(neighbourSims, neighbourRows, r, o, kept);
            var detail = conflict is null
                ? FormattableString.Invariant($"cosine {cosine:F4} to #{indexOf(o)}, same label{(cosine >= 0.9999 ? "; identical features (a copy)" : "")}")
                : FormattableString.Invariant($"cosine {cosine:F4} to #{indexOf(o)}, labelled {labels[o]} (here {labels[r]}): one label is wrong");
            var issue = new DataIssue(conflict is null ? DataIssueKind.NearDuplicate : DataIssueKind.ConflictingDuplicate, indexOf(r), sourceOf(r),
                Math.Clamp(1 - cosine, 0, 1), detail) { Label = labels[r], RelatedIndex = indexOf(o), RelatedSource = sourceOf(o) };
            (conflict is null ? duplicates : conflicting).Add(issue);
        }

        var outliers = new List<(double Z, DataIssue Issue)>();
        var k = Math.Min(options.Neighbours, n - 1);
        if (n >= 3)
        {
            var nnDistance = new double[n];
            for (var r = 0; r < n; r++)
            {
                double sum = 0;
                for (var j = 0; j < k; j++) sum += neighbourSims[r * kept + j];
                nnDistance[r] = 1 - sum / k;
            }
            var zNeighbours = RobustZ(nnDistance);
            var zText = textSims is null ? null : RobustZ([.. textSims.Select(s => 1 - (double)s)]);
            for (var r = 0; r < n; r++)
            {
                var z = zText is null ? zNeighbours[r] : Math.Min(zNeighbours[r], zText[r]);
                if (!(z >= options.OutlierZ)) continue;
                var detail = zText is null
                    ? FormattableString.Invariant($"{k}-NN cosine {1 - nnDistance[r]:F3} (z {zNeighbours[r]:F1})")
                    : FormattableString.Invariant($"{k}-NN cosine {1 - nnDistance[r]:F3} (z {zNeighbours[r]:F1}); best class prompt {textSims![r]:F3} (z {zText[r]:F1})");
                outliers.Add((z, new DataIssue(DataIssueKind.Outlier, indexOf(r), sourceOf(r), UpperTail(z), detail) { Label = labels[r] }));
            }
        }

        return [.. conflicting.OrderBy(d => d.Score).ThenBy(d => d.Index),
                .. duplicates.OrderBy(d => d.Score).ThenBy(d => d.Index),
                .. outliers.OrderByDescending(o => o.Z).ThenBy(o => o.Issue.Index).Select(o => o.Issue)];
    }

    /// <summary>
    /// Each row's <paramref name="kept"/> most similar other rows (cosine, descending; [N·kept] row-major) and, when
    /// class text is given, its highest cosine to a class prompt.
    /// </summary>
    private static (float[] Sims, int[] Rows, float[]? Text) Neighbours(Tensor features, Tensor? classText, int kept, long blockElements, CancellationToken cancellationToken)
    {
        var n = features.shape[0];
        var sims = new float[n * kept];
        var rows = new int[n * kept];
        float[]? text = null;
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var x = nn.functional.normalize(features.detach().to(ScalarType.Float32).cpu(), dim: 1);
        if (classText is not null)
        {
            var t = nn.functional.normalize(classText.detach().to(ScalarType.Float32).cpu(), dim: 1);
            text = x.matmul(t.t()).max(1).values.contiguous().data<float>().ToArray();
        }
        var xt = x.t().contiguous();
        var block = (int)Math.Clamp(blockElements / n, 1, n);
        for (long start = 0; start < n; start += block)
        {
            cancellationToken.ThrowIfCancellationRequested();
            using var inner = NewDisposeScope();
            var count = Math.Min(block, n - start);
            var s = x.narrow(0, start, count).matmul(xt);
            // A row is not its own neighbour.
            var self = arange(start, start + count, ScalarType.Int64).unsqueeze(1);
            s.scatter_(1, self, full(count, 1, float.NegativeInfinity, ScalarType.Float32));
            var (values, indices) = s.topk(kept, dim: 1, largest: true, sorted: true);
            values.contiguous().data<float>().CopyTo(sims, (int)(start * kept));
            var idx = indices.contiguous().data<long>().ToArray();
            for (var i = 0; i < idx.Length; i++) rows[start * kept + i] = (int)idx[i];
        }
        return (sims, rows, text);
    }

    private static double SimilarityOf(float[] sims, int[] rows, int r, int other, int kept)
    {
        for (var j = 0; j < kept; j++) if (rows[r * kept + j] == other) return sims[r * kept + j];
        return double.NaN;
    }

    /// <summary>(v − median) / (1.4826 · MAD); where the MAD is 0 (more than half the values equal), the mean absolute deviation instead.</summary>
    internal static double[] RobustZ(double[] values)
    {
        var median = Median(values);
        var deviations = values.Select(v => Math.Abs(v - median)).ToArray();
        var scale = 1.4826 * Median(deviations);
        if (!(scale > 1e-12)) scale = 1.2533 * deviations.Average();
        if (!(scale > 1e-12)) return new double[values.Length];
        return [.. values.Select(v => (v - median) / scale)];
    }

    private static double Median(double[] values)
    {
        var sorted = values.Order().ToArray();
        var m = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[m] : (sorted[m - 1] + sorted[m]) / 2;
    }

    /// <summary>1 − Φ(z), the standard normal upper tail (erfc to 1.2·10⁻⁷ relative error, Numerical Recipes' erfcc).</summary>
    internal static double UpperTail(double z) => 0.5 * Erfc(z / Math.Sqrt(2));

    private static double Erfc(double x)
    {
        var z = Math.Abs(x);
        var t = 1 / (1 + 0.5 * z);
        var r = t * Math.Exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
            t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
        return x >= 0 ? r : 2 - r;
    }
}
