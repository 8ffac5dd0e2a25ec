using TorchSharp;
using static TorchSharp.torch;

namespace Deft.Baselines;

/// <summary>Settings of <see cref="LogisticRegression"/>.</summary>
/// <param name="C">Inverse L2 strength, as scikit-learn's <c>C</c> (default 1).</param>
/// <param name="MaxIterations">L-BFGS iterations at most.</param>
/// <param name="GradientTolerance">Converged when the largest absolute gradient entry is at most this.</param>
/// <param name="HistorySize">L-BFGS correction pairs kept.</param>
/// <param name="L2NormalizeFeatures">Scale each feature vector to unit length first (as done for CLIP features).</param>
public sealed record LogisticRegressionOptions(
    double C = 1.0,
    int MaxIterations = 200,
    double GradientTolerance = 1e-6,
    int HistorySize = 10,
    bool L2NormalizeFeatures = true);

/// <summary>A fitted multinomial logistic regression: logits = x·W + b.</summary>
/// <param name="Weights">W, [features, classes].</param>
/// <param name="Bias">b, [classes] (not regularised).</param>
/// <param name="Iterations">L-BFGS iterations run.</param>
/// <param name="Converged">Whether the gradient tolerance was met.</param>
/// <param name="Objective">Final value of the training objective.</param>
/// <param name="L2NormalizeFeatures">Whether inputs are normalised before use (copied from the options).</param>
public sealed record LogisticRegressionModel(double[,] Weights, double[] Bias, int Iterations, bool Converged,
    double Objective, bool L2NormalizeFeatures)
{
    public int Classes => Bias.Length;

    /// <summary>Softmax probabilities [n, classes] for features [n, d] (any float dtype, any device).</summary>
    public double[,] PredictProbabilities(Tensor features)
    {
        using var scope = NewDisposeScope();
        var x = LogisticRegression.Prepare(features, L2NormalizeFeatures);
        if (x.shape[1] != Weights.GetLength(0))
            throw new ArgumentException($"Features have {x.shape[1]} dimensions, the model {Weights.GetLength(0)}.", nameof(features));
        var w = tensor(Weights, dtype: float64);
        var b = tensor(Bias, dtype: float64);
        var probabilities = nn.functional.softmax(x.mm(w) + b, 1);
        return ToMatrix(probabilities);
    }

    internal static double[,] ToMatrix(Tensor t)
    {
        var (rows, cols) = ((int)t.shape[0], (int)t.shape[1]);
        var flat = t.contiguous().data<double>().ToArray();
        var matrix = new double[rows, cols];
        Buffer.BlockCopy(flat, 0, matrix, 0, flat.Length * sizeof(double));
        return matrix;
    }
}

/// <summary>Out-of-sample probabilities from <see cref="LogisticRegression.CrossValidatedProbabilities"/>.</summary>
/// <param name="Probabilities">[n, classes]; row i comes from the model of the fold that held sample i out.</param>
/// <param name="FoldOfSample">The fold (0-based) each sample was held out in.</param>
/// <param name="FoldModels">The model trained without each fold.</param>
public sealed record OutOfSampleProbabilities(double[,] Probabilities, int[] FoldOfSample, LogisticRegressionModel[] FoldModels);

/// <summary>
/// Multinomial (softmax) logistic regression on fixed feature vectors, the model behind the confident-learning
/// baseline's out-of-sample probabilities (cleanlab's <c>estimate_cv_predicted_probabilities</c> defaults to
/// scikit-learn's <c>LogisticRegression</c>). The objective is scikit-learn's L2-penalised multinomial log-loss scaled
/// by 1/(C·n): <c>mean_i −log softmax(x_i·W + b)[y_i] + ‖W‖² / (2·C·n)</c>, intercept unpenalised, which has the same
/// minimiser as sklearn's <c>½‖W‖² + C·Σ_i loss_i</c>. It is minimised full-batch in float64 by L-BFGS (two-loop
/// recursion, Armijo backtracking from step 1, curvature pairs with sᵀy ≤ 1e-10 skipped) from W = 0, b = 0, so
/// results are deterministic. The loss and its analytic gradient are computed with TorchSharp; the L-BFGS vector
/// algebra is plain managed code. (TorchSharp's <c>optim.LBFGS</c> was not used: it exposes no line search.)
/// </summary>
public static class LogisticRegression
{
    /// <summary>Fits on features [n, d] (any float dtype/device) and labels in 0..classes−1.</summary>
    public static LogisticRegressionModel Fit(Tensor features, ReadOnlySpan<int> labels, int classes,
        LogisticRegressionOptions? options = null)
    {
        options ??= new LogisticRegressionOptions();
        if (!(options.C > 0)) throw new ArgumentOutOfRangeException(nameof(options), options.C, "C must be positive.");
        if (options.HistorySize < 1) throw new ArgumentOutOfRangeException(nameof(options), options.HistorySize, "HistorySize must be at least 1.");
        CheckLabels(features, labels, classes);
        using var scope = NewDisposeScope();
        var x = Prepare(features, options.L2NormalizeFeatures);
        var (n, d) = ((int)x.shape[0], (int)x.shape[1]);
        var y = nn.functional.one_hot(tensor(labels.ToArray().Select(l => (long)l).ToArray()), classes).to(float64);
        var objective = new Objective(x, y, d, classes, options.C);
        var (theta, iterations, converged, value) = Lbfgs(objective, d * classes + classes, options);
        var weights = new double[d, classes];
        Buffer.BlockCopy(theta, 0, weights, 0, d * classes * sizeof(double));
        return new LogisticRegressionModel(weights, theta[(d * classes)..], iterations, converged, value, options.L2NormalizeFeatures);
    }

    /// <summary>
    /// K-fold out-of-sample probabilities: samples are split into <paramref name="folds"/> stratified folds (each
    /// class's samples shuffled with <c>System.Random(seed)</c> and dealt round-robin, the dealing continuing across
    /// classes so fold sizes differ by at most one), a model is fitted on all other folds and predicts the held-out
    /// fold. Every model has all <paramref name="classes"/> outputs, even for a class absent from its training folds.
    /// </summary>
    public static OutOfSampleProbabilities CrossValidatedProbabilities(Tensor features, ReadOnlySpan<int> labels,
        int classes, int folds = 5, int seed = 0, LogisticRegressionOptions? options = null)
    {
        CheckLabels(features, labels, classes);
        var n = labels.Length;
        if (folds < 2 || folds > n)
            throw new ArgumentOutOfRangeException(nameof(folds), folds, $"Folds must be between 2 and the number of samples ({n}).");
        var foldOf = StratifiedFolds(labels, classes, folds, seed);
        var probabilities = new double[n, classes];
        var models = new LogisticRegressionModel[folds];
        var labelArray = labels.ToArray();
        for (var f = 0; f < folds; f++)
        {
            var train = Enumerable.Range(0, n).Where(i => foldOf[i] != f).ToArray();
            var held = Enumerable.Range(0, n).Where(i => foldOf[i] == f).ToArray();
            using var scope = NewDisposeScope();
            var source = features.detach();
            var trainX = source.index_select(0, tensor(train.Select(i => (long)i).ToArray(), device: source.device));
            var heldX = source.index_select(0, tensor(held.Select(i => (long)i).ToArray(), device: source.device));
            models[f] = Fit(trainX, train.Select(i => labelArray[i]).ToArray(), classes, options);
            var predicted = models[f].PredictProbabilities(heldX);
            for (var r = 0; r < held.Length; r++)
                for (var c = 0; c < classes; c++)
                    probabilities[held[r], c] = predicted[r, c];
        }
        return new OutOfSampleProbabilities(probabilities, foldOf, models);
    }

    /// <summary>Fold (0..folds−1) of each sample; see <see cref="CrossValidatedProbabilities"/>.</summary>
    public static int[] StratifiedFolds(ReadOnlySpan<int> labels, int classes, int folds, int seed)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(folds, 2);
        for (var i = 0; i < labels.Length; i++)
            if ((uint)labels[i] >= (uint)classes)
                throw new ArgumentException($"Label {labels[i]} of sample {i} is outside 0..{classes - 1}.", nameof(labels));
        var random = new Random(seed);
        var foldOf = new int[labels.Length];
        var dealt = 0;
        for (var c = 0; c < classes; c++)
        {
            var members = new List<int>();
            for (var i = 0; i < labels.Length; i++) if (labels[i] == c) members.Add(i);
            var shuffled = members.ToArray();
            for (var i = shuffled.Length - 1; i > 0; i--)
            {
                var j = random.Next(i + 1);
                (shuffled[i], shuffled[j]) = (shuffled[j], shuffled[i]);
            }
            foreach (var i in shuffled) foldOf[i] = dealt++ % folds;
        }
        return foldOf;
    }

    /// <summary>Features as a CPU float64 [n, d] tensor, optionally with unit-length rows (zero rows stay zero).</summary>
    internal static Tensor Prepare(Tensor features, bool normalize)
    {
        if (features.dim() != 2)
            throw new ArgumentException($"Features must be a matrix [samples, dimensions], got shape [{string.Join(", ", features.shape)}].", nameof(features));
        var x = features.detach().to(float64).cpu();
        return normalize ? nn.functional.normalize(x, p: 2, dim: 1) : x;
    }

    private static void CheckLabels(Tensor features, ReadOnlySpan<int> labels, int classes)
    {
        if (classes < 2) throw new ArgumentOutOfRangeException(nameof(classes), classes, "Need at least 2 classes.");
        if (features.dim() != 2 || features.shape[0] != labels.Length)
            throw new ArgumentException($"Got {labels.Length} labels for features of shape [{string.Join(", ", features.shape)}].", nameof(labels));
        for (var i = 0; i < labels.Length; i++)
            if ((uint)labels[i] >= (uint)classes)
                throw new ArgumentException($"Label {labels[i]} of sample {i} is outside 0..{classes - 1}.", nameof(labels));
    }

    /// <summary>The penalised mean log-loss and its gradient with respect to θ = [W (row-major d×K), b].</summary>
    private sealed class Objective(Tensor x, Tensor y, int d, int k, double c)
    {
        private readonly double _n = x.shape[0];

        public double Evaluate(double[] theta, double[] gradient)
        {
            using var scope = NewDisposeScope();
            var all = tensor(theta, dtype: float64);
            var w = all[..(d * k)].view(d, k);
            var b = all[(d * k)..];
            var logProbabilities = nn.functional.log_softmax(x.mm(w) + b, 1);
            var residual = logProbabilities.exp() - y;
            var penalty = 1.0 / (c * _n);
            var value = -(y * logProbabilities).sum().item<double>() / _n + 0.5 * penalty * w.square().sum().item<double>();
            var gradW = x.t().mm(residual).div_(_n).add_(w, alpha: penalty);
            var gradB = residual.sum(0L).div_(_n);
            gradW.contiguous().data<double>().CopyTo(gradient.AsSpan(0, d * k));
            gradB.contiguous().data<double>().CopyTo(gradient.AsSpan(d * k));
            return value;
        }
    }

    private static (double[] Theta, int Iterations, bool Converged, double Value) Lbfgs(Objective objective, int size,
        LogisticRegressionOptions options)
    {
        const double armijo = 1e-4;
        var theta = new double[size];
        var gradient = new double[size];
        var value = objective.Evaluate(theta, gradient);
        var history = new LinkedList<(double[] S, double[] Y, double Rho)>();
        var trial = new double[size];
        var trialGradient = new double[size];
        var direction = new double[size];
        var iterations = 0;
        var converged = MaxAbs(gradient) <= options.GradientTolerance;
        while (!converged && iterations < options.MaxIterations)
        {
            iterations++;
            TwoLoopDirection(gradient, history, direction);
            var slope = Dot(gradient, direction);
            if (!(slope < 0))
            {
                history.Clear();
                for (var i = 0; i < size; i++) direction[i] = -gradient[i];
                slope = Dot(gradient, direction);
            }
            // Without curvature information the first step is scaled to unit length, as PyTorch's LBFGS does.
            var step = history.Count == 0 ? Math.Min(1.0, 1.0 / Math.Sqrt(-slope)) : 1.0;
            double trialValue;
            var halvings = 0;
            while (true)
            {
                for (var i = 0; i < size; i++) trial[i] = theta[i] + step * direction[i];
                trialValue = objective.Evaluate(trial, trialGradient);
                if (trialValue <= value + armijo * step * slope || ++halvings > 60) break;
                step *= 0.5;
            }
            if (halvings > 60) break; // no decrease possible at double precision: at the optimum
            var s = new double[size];
            var yv = new double[size];
            for (var i = 0; i < size; i++) { s[i] = trial[i] - theta[i]; yv[i] = trialGradient[i] - gradient[i]; }
            var sy = Dot(s, yv);
            if (sy > 1e-10)
            {
                history.AddLast((s, yv, 1.0 / sy));
                if (history.Count > options.HistorySize) history.RemoveFirst();
            }
            (theta, trial) = (trial, theta);
            (gradient, trialGradient) = (trialGradient, gradient);
            value = trialValue;
            converged = MaxAbs(gradient) <= options.GradientTolerance;
        }
        return (theta, iterations, converged, value);
    }

    private static void TwoLoopDirection(double[] gradient, LinkedList<(double[] S, double[] Y, double Rho)> history, double[] direction)
    {
        var q = (double[])gradient.Clone();
        var alphas = new Stack<double>();
        for (var node = history.Last; node is not null; node = node.Previous)
        {
            var (s, y, rho) = node.Value;
            var alpha = rho * Dot(s, q);
            alphas.Push(alpha);
            for (var i = 0; i < q.Length; i++) q[i] -= alpha * y[i];
        }
        if (history.Last is { } newest)
        {
            var (s, y, _) = newest.Value;
            var gamma = Dot(s, y) / Dot(y, y);
            for (var i = 0; i < q.Length; i++) q[i] *= gamma;
        }
        for (var node = history.First; node is not null; node = node.Next)
        {
            var (s, y, rho) = node.Value;
            var beta = rho * Dot(y, q);
            var alpha = alphas.Pop();
            for (var i = 0; i < q.Length; i++) q[i] += (alpha - beta) * s[i];
        }
        for (var i = 0; i < q.Length; i++) direction[i] = -q[i];
    }

    private static double Dot(double[] a, double[] b)
    {
        double sum = 0;
        for (var i = 0; i < a.Length; i++) sum += a[i] * b[i];
        return sum;
    }

    private static double MaxAbs(double[] a)
    {
        double max = 0;
        foreach (var v in a) max = Math.Max(max, Math.Abs(v));
        return max;
    }
}
