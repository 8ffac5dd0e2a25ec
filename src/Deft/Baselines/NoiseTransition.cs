namespace Deft.Baselines;

/// <summary>Settings of <see cref="NoiseTransition.Fit"/>.</summary>
/// <param name="PseudoCount">Dirichlet pseudo-count added to every cell of the transition matrix in each M-step (keeps
/// rare cells off 0 and the fit defined for classes with few samples).</param>
/// <param name="InitialDiagonal">Starting P(given = c | true = c) of every class; the rest of the row is uniform. It only
/// picks the basin of the likelihood: the fit assumes each class's label is right more often than it is any one other class.</param>
/// <param name="FitTemperature">Also fit one factor on the logits (calibrates a zero-shot classifier's confidence).</param>
/// <param name="MaxIterations">EM iterations at most.</param>
/// <param name="Tolerance">Stop when the mean log-likelihood per sample changes by less than this between iterations.</param>
public sealed record NoiseTransitionOptions(
    double PseudoCount = 1.0,
    double InitialDiagonal = 0.8,
    bool FitTemperature = true,
    int MaxIterations = 500,
    double Tolerance = 1e-7);

/// <summary>The fitted noise model and what it says about each sample.</summary>
/// <param name="Posterior">[N, C] P(true class = c | image, given label): the classifier's prior times the transition.</param>
/// <param name="Transition">[C, C] row-stochastic T[c, j] = P(given label = j | true class = c).</param>
/// <param name="LogitScale">The factor fitted on the logits (1 when not fitted).</param>
/// <param name="Iterations">EM iterations run.</param>
/// <param name="Converged">Whether the tolerance was reached before <see cref="NoiseTransitionOptions.MaxIterations"/>.</param>
/// <param name="MeanLogLikelihood">Mean log P(given label | image) under the fit.</param>
public sealed record NoiseTransitionFit(double[,] Posterior, double[,] Transition, double LogitScale, int Iterations, bool Converged,
    double MeanLogLikelihood)
{
    /// <summary>P(the given label is right | image, given label) of sample <paramref name="i"/>.</summary>
    public double CleanProbability(int i, int givenLabel) => Posterior[i, givenLabel];
}

/// <summary>
/// Label noise as a class-conditional channel on top of a fixed classifier (Patrini et al., CVPR 2017; Dawid &amp; Skene,
/// 1979): the classifier (here CLIP zero-shot) gives p(c | x), the noise turns true class c into given label j with
/// probability T[c, j]. EM fits T (and one logit factor) by maximum likelihood of the given labels, never looking at
/// true labels; a sample's label quality is then the posterior that its given label is its true class,
/// T[y, y] p(y | x) / Σ_c T[c, y] p(c | x). Because the classifier is not trained on the noisy labels it cannot
/// learn their structure (the failure of fitted classifiers under asymmetric noise), and T absorbs that structure.
/// </summary>
public static class NoiseTransition
{
    /// <summary>Fits the transition to <paramref name="logits"/> [N, C] (before softmax) and the given <paramref name="labels"/>.</summary>
    public static NoiseTransitionFit Fit(double[,] logits, IReadOnlyList<int> labels, NoiseTransitionOptions? options = null)
    {
        options ??= new NoiseTransitionOptions();
        var (n, k) = (logits.GetLength(0), logits.GetLength(1));
        if (labels.Count != n) throw new ArgumentException($"{n} logit rows but {labels.Count} labels.", nameof(labels));
        if (k < 2) throw new ArgumentException("A noise transition needs at least two classes.", nameof(logits));
        if (n == 0) throw new ArgumentException("No samples.", nameof(labels));
        if (!(options.PseudoCount >= 0)) throw new ArgumentOutOfRangeException(nameof(options), "The pseudo-count must be ≥ 0.");
        if (!(options.InitialDiagonal > 1.0 / k && options.InitialDiagonal < 1))
            throw new ArgumentOutOfRangeException(nameof(options), $"The initial diagonal must lie in (1/{k}, 1).");
        for (var i = 0; i < n; i++)
        {
            if (labels[i] < 0 || labels[i] >= k) throw new ArgumentException($"Label {labels[i]} of sample {i} is outside [0, {k}).", nameof(labels));
            for (var c = 0; c < k; c++)
                if (!double.IsFinite(logits[i, c])) throw new ArgumentException($"Logit [{i}, {c}] is {logits[i, c]}.", nameof(logits));
        }

        var t = new double[k, k];
        for (var c = 0; c < k; c++)
        for (var j = 0; j < k; j++)
            t[c, j] = c == j ? options.InitialDiagonal : (1 - options.InitialDiagonal) / (k - 1);
        var scale = 1.0;
        var p = new double[n, k];
        var r = new double[n, k];
        var previous = double.NegativeInfinity;
        var iterations = 0;
        var converged = false;
        var meanLogLikelihood = double.NegativeInfinity;
        while (iterations < options.MaxIterations)
        {
            iterations++;
            Softmax(logits, scale, p);
            meanLogLikelihood = EStep(p, t, labels, r) / n;
            MStepTransition(r, labels, options.PseudoCount, t);
            if (options.FitTemperature) scale = MStepScale(logits, r, scale, p);
            if (Math.Abs(meanLogLikelihood - previous) < options.Tolerance)
            {
                converged = true;
                break;
            }
            previous = meanLogLikelihood;
        }
        Softmax(logits, scale, p);
        meanLogLikelihood = EStep(p, t, labels, r) / n;
        return new NoiseTransitionFit(r, t, scale, iterations, converged, meanLogLikelihood);
    }

    /// <summary>p = row-wise softmax(scale · logits), numerically stable.</summary>
    internal static void Softmax(double[,] logits, double scale, double[,] p)
    {
        var (n, k) = (logits.GetLength(0), logits.GetLength(1));
        for (var i = 0; i < n; i++)
        {
            var max = double.NegativeInfinity;
            for (var c = 0; c < k; c++) max = Math.Max(max, scale * logits[i, c]);
            var sum = 0.0;
            for (var c = 0; c < k; c++) sum += p[i, c] = Math.Exp(scale * logits[i, c] - max);
            for (var c = 0; c < k; c++) p[i, c] /= sum;
        }
    }

    /// <summary>r[i, c] ∝ p[i, c] T[c, y_i]; returns Σ_i log Σ_c p[i, c] T[c, y_i].</summary>
    private static double EStep(double[,] p, double[,] t, IReadOnlyList<int> labels, double[,] r)
    {
        var (n, k) = (p.GetLength(0), p.GetLength(1));
        var logLikelihood = 0.0;
        for (var i = 0; i < n; i++)
        {
            var y = labels[i];
            var sum = 0.0;
            for (var c = 0; c < k; c++) sum += r[i, c] = p[i, c] * t[c, y];
            sum = Math.Max(sum, double.Epsilon);
            for (var c = 0; c < k; c++) r[i, c] /= sum;
            logLikelihood += Math.Log(sum);
        }
        return logLikelihood;
    }

    /// <summary>T[c, j] = (Σ_{i: y_i = j} r[i, c] + α) / (Σ_i r[i, c] + Kα).</summary>
    private static void MStepTransition(double[,] r, IReadOnlyList<int> labels, double alpha, double[,] t)
    {
        var (n, k) = (r.GetLength(0), r.GetLength(1));
        Array.Clear(t);
        for (var i = 0; i < n; i++)
            for (var c = 0; c < k; c++) t[c, labels[i]] += r[i, c];
        for (var c = 0; c < k; c++)
        {
            var row = 0.0;
            for (var j = 0; j < k; j++) row += t[c, j] += alpha;
            if (row <= 0) // a class no sample is believed to belong to, without pseudo-counts: keep its labels as given
            {
                for (var j = 0; j < k; j++) t[c, j] = c == j ? 1 : 0;
                continue;
            }
            for (var j = 0; j < k; j++) t[c, j] /= row;
        }
    }

    /// <summary>
    /// One Newton step per EM iteration on the logit factor a (a partial M-step; at the fixed point the gradient is 0)
    /// for the expected complete-data log-likelihood Σ_i Σ_c r[i, c] log softmax(a z_i)_c, concave in a: gradient
    /// Σ_i (Σ_c r[i, c] z_ic − E_p z_i), curvature −Σ_i Var_p z_i. <paramref name="p"/> is softmax(a z) at the current a.
    /// </summary>
    private static double MStepScale(double[,] logits, double[,] r, double scale, double[,] p)
    {
        var (n, k) = (logits.GetLength(0), logits.GetLength(1));
        double gradient = 0, curvature = 0;
        for (var i = 0; i < n; i++)
        {
            double expected = 0, second = 0, observed = 0;
            for (var c = 0; c < k; c++)
            {
                var z = logits[i, c];
                expected += p[i, c] * z;
                second += p[i, c] * z * z;
                observed += r[i, c] * z;
            }
            gradient += observed - expected;
            curvature += second - expected * expected;
        }
        return curvature > 1e-12 ? Math.Clamp(scale + gradient / curvature, 1e-3, 1e3) : scale;
    }
}
