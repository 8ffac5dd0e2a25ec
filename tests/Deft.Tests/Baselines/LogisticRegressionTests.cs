using Deft.Baselines;
using static TorchSharp.torch;

namespace Deft.Tests.Baselines;

public class LogisticRegressionTests
{
    /// <summary>Three well-separated directions in the plane, <paramref name="perClass"/> noisy points each.</summary>
    private static (float[,] Features, int[] Truth) ThreeClusters(int perClass, int seed, int extraDimensions = 0)
    {
        var random = new Random(seed);
        var n = 3 * perClass;
        var features = new float[n, 2 + extraDimensions];
        var truth = new int[n];
        for (var i = 0; i < n; i++)
        {
            truth[i] = i % 3;
            var angle = 2 * Math.PI * truth[i] / 3 + 0.25 * (random.NextDouble() - 0.5);
            var radius = 1 + 0.2 * random.NextDouble();
            features[i, 0] = (float)(radius * Math.Cos(angle));
            features[i, 1] = (float)(radius * Math.Sin(angle));
        }
        return (features, truth);
    }

    [Fact]
    public void Planted_wrong_label_gets_the_lowest_out_of_sample_self_confidence()
    {
        var (features, truth) = ThreeClusters(30, seed: 1);
        var labels = (int[])truth.Clone();
        const int planted = 6; // a class-0 point labelled 1
        labels[planted] = 1;
        using var x = tensor(features);

        var oos = LogisticRegression.CrossValidatedProbabilities(x, labels, 3, folds: 5, seed: 0);

        var p = oos.Probabilities;
        Assert.Equal(planted, ConfidentLearning.RankBySelfConfidence(labels, p)[0]);
        Assert.True(p[planted, 1] < 0.2, $"planted sample keeps self-confidence {p[planted, 1]}");
        var correct = Enumerable.Range(0, truth.Length).Count(i => ArgMax(p, i) == truth[i]);
        Assert.True(correct >= truth.Length - 1, $"{correct} / {truth.Length} argmax predictions match the true class");
        for (var i = 0; i < truth.Length; i++)
            Assert.Equal(1.0, Enumerable.Range(0, 3).Sum(c => p[i, c]), 9);
        Assert.All(oos.FoldModels, m => Assert.True(m.Converged));
        // And confident learning flags exactly that sample.
        Assert.Equal([planted], ConfidentLearning.FindLabelIssues(labels, p).RankedIssues);
    }

    [Fact]
    public void Each_probability_comes_from_the_model_that_did_not_see_the_sample()
    {
        // The planted sample alone has a non-zero third coordinate: a model that trained on it can use that
        // coordinate to memorise its (wrong) label; a model that did not has a zero weight there.
        var (features, truth) = ThreeClusters(20, seed: 2, extraDimensions: 1);
        var labels = (int[])truth.Clone();
        const int planted = 9; // class 0
        labels[planted] = 2;
        features[planted, 2] = 1f;
        var options = new LogisticRegressionOptions(C: 1000, L2NormalizeFeatures: false, MaxIterations: 500);
        using var x = tensor(features);

        var inSample = LogisticRegression.Fit(x, labels, 3, options).PredictProbabilities(x);
        var oos = LogisticRegression.CrossValidatedProbabilities(x, labels, 3, folds: 4, seed: 3, options);

        Assert.True(inSample[planted, 2] > 0.5, $"in-sample model did not memorise: {inSample[planted, 2]}");
        Assert.True(oos.Probabilities[planted, 2] < 0.1, $"out-of-sample self-confidence {oos.Probabilities[planted, 2]}");
        var heldOutModel = oos.FoldModels[oos.FoldOfSample[planted]];
        Assert.All(Enumerable.Range(0, 3), c => Assert.Equal(0.0, heldOutModel.Weights[2, c]));
        // Rows are the held-out fold model's predictions.
        for (var i = 0; i < labels.Length; i += 7)
        {
            using var row = x[i..(i + 1)];
            var expected = oos.FoldModels[oos.FoldOfSample[i]].PredictProbabilities(row);
            for (var c = 0; c < 3; c++) Assert.Equal(expected[0, c], oos.Probabilities[i, c], 12);
        }
    }

    [Fact]
    public void Fit_reaches_the_minimum_of_the_sklearn_objective()
    {
        // Independent objective: mean log-loss + ||W||² / (2 C n), intercept unpenalised. Its finite-difference
        // gradient must vanish at the returned parameters.
        const int n = 40, d = 3, k = 3;
        const double c = 0.7;
        var random = new Random(4);
        var features = new float[n, d];
        var labels = new int[n];
        for (var i = 0; i < n; i++)
        {
            labels[i] = random.Next(k);
            for (var j = 0; j < d; j++) features[i, j] = (float)(random.NextDouble() * 2 - 1 + (j == labels[i] ? 0.8 : 0));
        }
        using var x = tensor(features);
        var model = LogisticRegression.Fit(x, labels, k, new LogisticRegressionOptions(C: c, L2NormalizeFeatures: false));
        Assert.True(model.Converged);

        double Objective(double[,] w, double[] b)
        {
            double total = 0, norm = 0;
            for (var i = 0; i < n; i++)
            {
                var z = new double[k];
                for (var cl = 0; cl < k; cl++)
                {
                    z[cl] = b[cl];
                    for (var j = 0; j < d; j++) z[cl] += features[i, j] * w[j, cl];
                }
                var max = z.Max();
                total += max + Math.Log(z.Sum(v => Math.Exp(v - max))) - z[labels[i]];
            }
            foreach (var v in w) norm += v * v;
            return total / n + norm / (2 * c * n);
        }

        var weights = (double[,])model.Weights.Clone();
        var bias = (double[])model.Bias.Clone();
        Assert.Equal(Objective(weights, bias), model.Objective, 9);
        const double h = 1e-5;
        for (var j = 0; j < d; j++)
            for (var cl = 0; cl < k; cl++)
            {
                var keep = weights[j, cl];
                weights[j, cl] = keep + h; var up = Objective(weights, bias);
                weights[j, cl] = keep - h; var down = Objective(weights, bias);
                weights[j, cl] = keep;
                Assert.True(Math.Abs((up - down) / (2 * h)) < 1e-5, $"dW[{j},{cl}] = {(up - down) / (2 * h)}");
            }
        for (var cl = 0; cl < k; cl++)
        {
            var keep = bias[cl];
            bias[cl] = keep + h; var up = Objective(weights, bias);
            bias[cl] = keep - h; var down = Objective(weights, bias);
            bias[cl] = keep;
            Assert.True(Math.Abs((up - down) / (2 * h)) < 1e-5, $"db[{cl}] = {(up - down) / (2 * h)}");
        }
    }

    [Fact]
    public void Folds_are_stratified_balanced_and_seeded()
    {
        var labels = Enumerable.Repeat(0, 23).Concat(Enumerable.Repeat(1, 17)).Concat(Enumerable.Repeat(2, 10)).ToArray();
        var folds = LogisticRegression.StratifiedFolds(labels, 3, 5, seed: 7);
        for (var c = 0; c < 3; c++)
        {
            var perFold = Enumerable.Range(0, 5).Select(f => labels.Where((l, i) => l == c && folds[i] == f).Count()).ToArray();
            Assert.True(perFold.Max() - perFold.Min() <= 1, $"class {c}: {string.Join(",", perFold)}");
        }
        var sizes = Enumerable.Range(0, 5).Select(f => folds.Count(x => x == f)).ToArray();
        Assert.Equal([10, 10, 10, 10, 10], sizes);
        Assert.Equal(folds, LogisticRegression.StratifiedFolds(labels, 3, 5, seed: 7));
        Assert.NotEqual(folds, LogisticRegression.StratifiedFolds(labels, 3, 5, seed: 8));
    }

    [Fact]
    public void Bad_inputs_are_rejected_with_the_valid_range()
    {
        using var x = zeros(4, 2);
        var error = Assert.Throws<ArgumentException>(() => LogisticRegression.Fit(x, [0, 1, 2, 1], 2));
        Assert.Contains("0..1", error.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => LogisticRegression.CrossValidatedProbabilities(x, [0, 1, 0, 1], 2, folds: 5));
    }

    private static int ArgMax(double[,] p, int row)
    {
        var best = 0;
        for (var c = 1; c < p.GetLength(1); c++) if (p[row, c] > p[row, best]) best = c;
        return best;
    }
}
