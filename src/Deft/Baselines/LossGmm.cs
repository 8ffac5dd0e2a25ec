namespace Deft.Baselines;

/// <summary>
/// Settings of the DivideMix loss split. Defaults are DivideMix's (github.com/LiJunnan1992/DivideMix,
/// <c>Train_CIFAR.py</c> <c>eval_train</c>): <c>GaussianMixture(n_components=2, max_iter=10, tol=1e-2,
/// reg_covar=5e-4)</c>, <c>p_threshold = 0.5</c>.
/// </summary>
/// <param name="MaxIterations">EM iterations at most (sklearn <c>max_iter</c>).</param>
/// <param name="Tolerance">EM stops when the mean log-likelihood changes by less than this (sklearn <c>tol</c>).</param>
/// <param name="RegCovar">Added to each variance (sklearn <c>reg_covar</c>).</param>
/// <param name="CleanThreshold">A sample is clean when its clean-component posterior exceeds this.</param>
/// <param name="Seed">Seeds the k-means++ initialisation (System.Random; not numpy's stream).</param>
/// <param name="Normalize">Min-max normalise the losses to [0, 1] first, as DivideMix does.</param>
public sealed record GmmOptions(
    int MaxIterations = 10,
    double Tolerance = 1e-2,
    double RegCovar = 5e-4,
    double CleanThreshold = 0.5,
    int Seed = 0,
    bool Normalize = true);

/// <summary>
/// A fitted two-component 1-D mixture. Component 0 is the clean one (smaller mean), component 1 the noisy one.
/// </summary>
/// <param name="Means">Component means on the (normalised) loss scale.</param>
/// <param name="Variances">Component variances, <c>reg_covar</c> included.</param>
/// <param name="Weights">Mixing weights, summing to 1.</param>
/// <param name="CleanPosterior">Per sample, the posterior of component 0 (DivideMix's <c>prob</c>).</param>
/// <param name="IsClean">Per sample, <c>CleanPosterior &gt; CleanThreshold</c>.</param>
/// <param name="Iterations">EM iterations run (sklearn <c>n_iter_</c>).</param>
/// <param name="Converged">Whether EM met the tolerance within <c>MaxIterations</c> (sklearn <c>converged_</c>).</param>
/// <param name="LowerBound">Mean log-likelihood at the last E-step (sklearn <c>lower_bound_</c>).</param>
public sealed record LossGmmResult(
    double[] Means,
    double[] Variances,
    double[] Weights,
    double[] CleanPosterior,
    bool[] IsClean,
    int Iterations,
    bool Converged,
    double LowerBound);

/// <summary>
/// DivideMix's clean/noisy split: a two-component Gaussian mixture on per-sample losses, reproducing scikit-learn's
/// <c>GaussianMixture.fit</c> + <c>predict_proba</c> for one feature (<c>covariance_type='full'</c>, <c>n_init=1</c>,
/// <c>init_params='kmeans'</c>):
/// <list type="bullet">
/// <item>Initialisation: 1-D k-means (k = 2, Lloyd, at most 300 iterations, stop on unchanged labels or a squared centre
/// shift ≤ 1e-4 · var(x)) seeded by greedy k-means++ with 2 local trials, as sklearn's <c>_kmeans_plusplus</c>, but
/// drawing from <c>System.Random(Seed)</c>, so the same seed gives the same split on every run and machine though
/// not the same draw as sklearn's numpy stream. Responsibilities are the one-hot k-means labels; parameters follow.</item>
/// <item>Parameters from responsibilities r: <c>n_k = Σ r + 10·eps</c>, <c>μ_k = Σ r·x / n_k</c>,
/// <c>σ²_k = Σ r·(x − μ_k)² / n_k + reg_covar</c>; weights <c>n_k / n</c> at initialisation and
/// <c>n_k / Σ n_k</c> in the M-step (as sklearn).</item>
/// <item>EM: for iteration 1..max_iter, E-step (mean log-likelihood = lower bound, with the current parameters), then
/// M-step; converged when |lower bound − previous| &lt; tol (the first comparison is against −∞).</item>
/// <item>Posterior: one more E-step with the final parameters; the clean posterior is that of the smaller mean
/// (DivideMix's <c>prob[:, gmm.means_.argmin()]</c>).</item>
/// </list>
/// </summary>
public static class LossGmm
{
    private const double Epsilon = 2.220446049250313e-16; // np.finfo(float64).eps

    /// <summary>Fits the mixture to <paramref name="losses"/> (one per sample) and splits clean from noisy.</summary>
    public static LossGmmResult Fit(ReadOnlySpan<double> losses, GmmOptions? options = null)
    {
        options ??= new GmmOptions();
        if (options.MaxIterations < 1)
            throw new ArgumentOutOfRangeException(nameof(options), options.MaxIterations, "MaxIterations must be at least 1.");
        if (!(options.RegCovar >= 0))
            throw new ArgumentOutOfRangeException(nameof(options), options.RegCovar, "RegCovar must be non-negative.");
        if (losses.Length < 2)
            throw new ArgumentException($"A two-component mixture needs at least 2 losses, got {losses.Length}.", nameof(losses));
        var x = losses.ToArray();
        for (var i = 0; i < x.Length; i++)
            if (!double.IsFinite(x[i]))
                throw new ArgumentException($"Loss of sample {i} is {x[i]}; the mixture needs finite losses.", nameof(losses));

        if (options.Normalize)
        {
            var (min, max) = (x.Min(), x.Max());
            if (max == min)
                return Degenerate(x.Length, options);
            for (var i = 0; i < x.Length; i++) x[i] = (x[i] - min) / (max - min);
        }
        else if (x.Min() == x.Max())
            return Degenerate(x.Length, options);

        var labels = KMeans1D.Fit(x, options.Seed);
        var resp = new double[2][];
        for (var k = 0; k < 2; k++)
        {
            resp[k] = new double[x.Length];
            for (var i = 0; i < x.Length; i++) resp[k][i] = labels[i] == k ? 1 : 0;
        }
        var (means, variances, counts) = EstimateParameters(x, resp, options.RegCovar);
        var weights = new[] { counts[0] / x.Length, counts[1] / x.Length };

        var lowerBound = double.NegativeInfinity;
        var converged = false;
        var iterations = 0;
        for (var iteration = 1; iteration <= options.MaxIterations; iteration++)
        {
            iterations = iteration;
            var previous = lowerBound;
            lowerBound = EStep(x, means, variances, weights, resp);
            (means, variances, counts) = EstimateParameters(x, resp, options.RegCovar);
            var total = counts[0] + counts[1];
            weights = [counts[0] / total, counts[1] / total];
            if (Math.Abs(lowerBound - previous) < options.Tolerance)
            {
                converged = true;
                break;
            }
        }

        EStep(x, means, variances, weights, resp);
        var clean = means[0] <= means[1] ? 0 : 1;
        var noisy = 1 - clean;
        var posterior = resp[clean];
        return new LossGmmResult(
            [means[clean], means[noisy]],
            [variances[clean], variances[noisy]],
            [weights[clean], weights[noisy]],
            posterior,
            posterior.Select(p => p > options.CleanThreshold).ToArray(),
            iterations,
            converged,
            lowerBound);
    }

    /// <summary>
    /// All losses equal: nothing separates clean from noisy (DivideMix would divide by zero in its normalisation).
    /// Every sample is kept as clean with posterior 1, and the fit is reported as zero iterations.
    /// </summary>
    private static LossGmmResult Degenerate(int count, GmmOptions options)
    {
        var posterior = Enumerable.Repeat(1.0, count).ToArray();
        return new LossGmmResult([0, 0], [options.RegCovar, options.RegCovar], [1, 0], posterior,
            posterior.Select(p => p > options.CleanThreshold).ToArray(), 0, true, double.NaN);
    }

    /// <summary>sklearn <c>_estimate_gaussian_parameters</c> for one feature; returns the effective counts n_k.</summary>
    private static (double[] Means, double[] Variances, double[] Counts) EstimateParameters(double[] x, double[][] resp, double regCovar)
    {
        var means = new double[2];
        var variances = new double[2];
        var counts = new double[2];
        for (var k = 0; k < 2; k++)
        {
            double nk = 0, sum = 0;
            for (var i = 0; i < x.Length; i++) { nk += resp[k][i]; sum += resp[k][i] * x[i]; }
            nk += 10 * Epsilon;
            var mean = sum / nk;
            double ss = 0;
            for (var i = 0; i < x.Length; i++) { var d = x[i] - mean; ss += resp[k][i] * d * d; }
            (means[k], variances[k], counts[k]) = (mean, ss / nk + regCovar, nk);
        }
        return (means, variances, counts);
    }

    /// <summary>Writes the responsibilities into <paramref name="resp"/> and returns the mean log-likelihood.</summary>
    private static double EStep(double[] x, double[] means, double[] variances, double[] weights, double[][] resp)
    {
        var logNormaliser = new double[2];
        for (var k = 0; k < 2; k++)
            logNormaliser[k] = Math.Log(weights[k]) - 0.5 * (Math.Log(2 * Math.PI) + Math.Log(variances[k]));
        double total = 0;
        for (var i = 0; i < x.Length; i++)
        {
            var d0 = x[i] - means[0];
            var d1 = x[i] - means[1];
            var a = logNormaliser[0] - 0.5 * d0 * d0 / variances[0];
            var b = logNormaliser[1] - 0.5 * d1 * d1 / variances[1];
            var max = Math.Max(a, b);
            var logSum = max + Math.Log(Math.Exp(a - max) + Math.Exp(b - max));
            resp[0][i] = Math.Exp(a - logSum);
            resp[1][i] = Math.Exp(b - logSum);
            total += logSum;
        }
        return total / x.Length;
    }
}

/// <summary>k-means with k = 2 on scalars, sklearn-like (k-means++ seeding, Lloyd iterations); see <see cref="LossGmm"/>.</summary>
internal static class KMeans1D
{
    private const int MaxIterations = 300;
    private const double RelativeTolerance = 1e-4;

    /// <summary>Cluster label (0 or 1) per value.</summary>
    public static int[] Fit(double[] x, int seed)
    {
        var centers = PlusPlusSeeds(x, new Random(seed));
        var mean = x.Average();
        var tolerance = x.Sum(v => (v - mean) * (v - mean)) / x.Length * RelativeTolerance;
        int[]? previous = null;
        int[] labels = [];
        var strict = false;
        for (var iteration = 0; iteration < MaxIterations; iteration++)
        {
            labels = Assign(x, centers);
            var updated = Centroids(x, labels, centers);
            var shift = (updated[0] - centers[0]) * (updated[0] - centers[0]) + (updated[1] - centers[1]) * (updated[1] - centers[1]);
            centers = updated;
            if (previous is not null && previous.AsSpan().SequenceEqual(labels))
            {
                strict = true;
                break;
            }
            if (shift <= tolerance) break;
            previous = labels;
        }
        // As sklearn: without strict convergence the labels are recomputed from the final centres.
        return strict ? labels : Assign(x, centers);
    }

    /// <summary>
    /// Greedy k-means++ (sklearn <c>_kmeans_plusplus</c>, 2 + ⌊ln k⌋ = 2 local trials): first centre uniform, the
    /// second drawn D²-weighted, keeping the candidate that minimises the total squared distance.
    /// </summary>
    internal static double[] PlusPlusSeeds(double[] x, Random random)
    {
        const int localTrials = 2;
        var first = x[random.Next(x.Length)];
        var closest = x.Select(v => (v - first) * (v - first)).ToArray();
        var potential = closest.Sum();
        var cumulative = new double[x.Length];
        double running = 0;
        for (var i = 0; i < x.Length; i++) { running += closest[i]; cumulative[i] = running; }

        var best = first;
        var bestPotential = double.PositiveInfinity;
        for (var t = 0; t < localTrials; t++)
        {
            var target = random.NextDouble() * potential;
            var id = LowerBound(cumulative, target);
            var candidate = x[Math.Min(id, x.Length - 1)];
            double candidatePotential = 0;
            for (var i = 0; i < x.Length; i++)
                candidatePotential += Math.Min(closest[i], (x[i] - candidate) * (x[i] - candidate));
            if (candidatePotential < bestPotential) (best, bestPotential) = (candidate, candidatePotential);
        }
        return [first, best];
    }

    /// <summary>numpy <c>searchsorted(side='left')</c>: first index whose value is ≥ <paramref name="value"/>.</summary>
    private static int LowerBound(double[] sorted, double value)
    {
        int lo = 0, hi = sorted.Length;
        while (lo < hi)
        {
            var mid = (lo + hi) / 2;
            if (sorted[mid] < value) lo = mid + 1; else hi = mid;
        }
        return lo;
    }

    private static int[] Assign(double[] x, double[] centers)
    {
        var labels = new int[x.Length];
        for (var i = 0; i < x.Length; i++)
            labels[i] = Math.Abs(x[i] - centers[1]) < Math.Abs(x[i] - centers[0]) ? 1 : 0;
        return labels;
    }

    /// <summary>Cluster means; an empty cluster keeps its centre (sklearn would relocate it to a far point).</summary>
    private static double[] Centroids(double[] x, int[] labels, double[] centers)
    {
        var sums = new double[2];
        var counts = new int[2];
        for (var i = 0; i < x.Length; i++) { sums[labels[i]] += x[i]; counts[labels[i]]++; }
        return [counts[0] > 0 ? sums[0] / counts[0] : centers[0], counts[1] > 0 ? sums[1] / counts[1] : centers[1]];
    }
}
