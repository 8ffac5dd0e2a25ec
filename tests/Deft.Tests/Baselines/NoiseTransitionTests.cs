using Deft.Baselines;
using Deft.Methods;

namespace Deft.Tests.Baselines;

public sealed class NoiseTransitionTests
{
    /// <summary>
    /// A classifier that is right but unsure (logit 2 for the true class, N(0, 1) noise on every logit) and labels
    /// that follow a known channel: 30% of class 0 moved to class 1 (asymmetric), 10% of every other class to a
    /// uniformly drawn other class. Returns logits, given labels, true labels.
    /// </summary>
    private static (double[,] Logits, int[] Given, int[] True) Planted(int n, int k, int seed)
    {
        var rng = new Random(seed);
        double Gaussian() => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
        var logits = new double[n, k];
        var given = new int[n];
        var truth = new int[n];
        for (var i = 0; i < n; i++)
        {
            var t = truth[i] = rng.Next(k);
            for (var c = 0; c < k; c++) logits[i, c] = (c == t ? 2.0 : 0.0) + Gaussian();
            var u = rng.NextDouble();
            given[i] = t == 0 ? (u < 0.3 ? 1 : 0) : u < 0.1 ? (t + 1 + rng.Next(k - 1)) % k : t;
        }
        return (logits, given, truth);
    }

    [Fact]
    public void Em_recovers_a_planted_channel_and_flags_the_moved_labels()
    {
        const int n = 20000, k = 4;
        var (logits, given, truth) = Planted(n, k, 7);
        var fit = NoiseTransition.Fit(logits, given);
        Assert.True(fit.Converged, $"EM did not converge in {fit.Iterations} iterations");
        for (var c = 0; c < k; c++)
        {
            var row = Enumerable.Range(0, k).Select(j => fit.Transition[c, j]).ToArray();
            Assert.Equal(1.0, row.Sum(), 9);
        }
        // The planted channel: T[0,0] = 0.7, T[0,1] = 0.3, T[c,c] = 0.9 otherwise.
        Assert.InRange(fit.Transition[0, 0], 0.65, 0.75);
        Assert.InRange(fit.Transition[0, 1], 0.25, 0.35);
        for (var c = 1; c < k; c++) Assert.InRange(fit.Transition[c, c], 0.86, 0.94);

        // The verdicts beat the classifier's own argmax rule (label-match) on the moved labels.
        var scores = ClipPosteriorMethod.Scores(fit, given);
        int Errors(Func<int, bool> flagged) => Enumerable.Range(0, n).Count(i => flagged(i) != (given[i] != truth[i]));
        var argmaxErrors = Errors(i => Enumerable.Range(0, k).MaxBy(c => logits[i, c]) != given[i]);
        var posteriorErrors = Errors(i => scores.IsIssue[i]);
        Assert.True(posteriorErrors < 0.8 * argmaxErrors, $"posterior verdicts wrong on {posteriorErrors} samples, argmax on {argmaxErrors}");
        for (var i = 0; i < n; i++)
        {
            Assert.InRange(scores.LabelQuality[i], 0, 1);
            Assert.Equal(fit.Posterior[i, given[i]], scores.LabelQuality[i]);
            Assert.Equal(scores.LabelQuality[i] < 0.5, scores.IsIssue[i]);
        }
    }

    [Fact]
    public void One_iteration_matches_the_hand_computed_em_step()
    {
        // Two classes, logits chosen so p = softmax gives (0.8, 0.2) and (0.5, 0.5); labels 0 and 1; T₀ = [[0.8, 0.2], [0.2, 0.8]].
        var logits = new double[,] { { Math.Log(4), 0 }, { 0, 0 } };
        int[] labels = [0, 1];
        var fit = NoiseTransition.Fit(logits, labels, new NoiseTransitionOptions(PseudoCount: 0, FitTemperature: false, MaxIterations: 1));
        // E-step: r₀ ∝ (0.8·0.8, 0.2·0.2) = (0.64, 0.04) → (16/17, 1/17); r₁ ∝ (0.5·0.2, 0.5·0.8) → (0.2, 0.8).
        // M-step: T[0,·] = (16/17, 0.2) / (16/17 + 0.2); T[1,·] = (1/17, 0.8) / (1/17 + 0.8).
        var t00 = (16.0 / 17) / (16.0 / 17 + 0.2);
        var t11 = 0.8 / (1.0 / 17 + 0.8);
        Assert.Equal(t00, fit.Transition[0, 0], 12);
        Assert.Equal(1 - t00, fit.Transition[0, 1], 12);
        Assert.Equal(t11, fit.Transition[1, 1], 12);
        // The returned posterior is the E-step under the updated T.
        var r00 = 0.8 * t00 / (0.8 * t00 + 0.2 * (1 - t11));
        var r11 = 0.5 * t11 / (0.5 * (1 - t00) + 0.5 * t11);
        Assert.Equal(r00, fit.Posterior[0, 0], 12);
        Assert.Equal(r11, fit.Posterior[1, 1], 12);
        Assert.Equal(1.0, fit.LogitScale);
    }

    [Fact]
    public void Relabelling_the_classes_permutes_the_fit()
    {
        const int n = 3000, k = 3;
        var (logits, given, _) = Planted(n, k, 3);
        int[] perm = [2, 0, 1];
        var permuted = new double[n, k];
        for (var i = 0; i < n; i++)
            for (var c = 0; c < k; c++) permuted[i, perm[c]] = logits[i, c];
        var a = NoiseTransition.Fit(logits, given);
        var b = NoiseTransition.Fit(permuted, given.Select(y => perm[y]).ToArray());
        Assert.Equal(a.LogitScale, b.LogitScale, 9);
        for (var c = 0; c < k; c++)
            for (var j = 0; j < k; j++) Assert.Equal(a.Transition[c, j], b.Transition[perm[c], perm[j]], 9);
        for (var i = 0; i < n; i += 97) Assert.Equal(a.Posterior[i, given[i]], b.Posterior[i, perm[given[i]]], 9);
    }

    [Fact]
    public void The_temperature_fit_finds_the_calibrated_factor()
    {
        // With logits 2·e_t + N(0, I), the Bayes posterior of the true class is softmax(2·z): log p(z | t = c) =
        // −‖z − 2e_c‖²/2 = 2 z_c + const. The fitted factor must come out near 2, and near 6 for logits divided by 3.
        const int n = 6000, k = 4;
        var (logits, given, _) = Planted(n, k, 11);
        var soft = new double[n, k];
        for (var i = 0; i < n; i++)
            for (var c = 0; c < k; c++) soft[i, c] = logits[i, c] / 3;
        Assert.InRange(NoiseTransition.Fit(logits, given).LogitScale, 1.7, 2.3);
        Assert.InRange(NoiseTransition.Fit(soft, given).LogitScale, 5.1, 6.9);
    }

    [Fact]
    public void Bad_inputs_name_the_sample()
    {
        var logits = new double[,] { { 0, 1 }, { 1, 0 } };
        Assert.Contains("sample 1", Assert.Throws<ArgumentException>(() => NoiseTransition.Fit(logits, [0, 2])).Message);
        Assert.Contains("2 logit rows but 1 labels", Assert.Throws<ArgumentException>(() => NoiseTransition.Fit(logits, [0])).Message);
        var nan = new double[,] { { 0, double.NaN } };
        Assert.Contains("[0, 1]", Assert.Throws<ArgumentException>(() => NoiseTransition.Fit(nan, [0])).Message);
    }
}
