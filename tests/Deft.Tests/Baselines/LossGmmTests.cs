using Deft.Baselines;

namespace Deft.Tests.Baselines;

public class LossGmmTests
{
    private static double Normal(Random random, double mean, double sd)
    {
        var u1 = 1.0 - random.NextDouble();
        var u2 = random.NextDouble();
        return mean + sd * Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }

    [Fact]
    public void Separates_a_planted_bimodal_loss_sample()
    {
        var random = new Random(11);
        var planted = Enumerable.Range(0, 1000).Select(i => i % 5 != 0).ToArray(); // 800 clean, 200 noisy
        var losses = planted.Select(clean => clean ? Normal(random, 0.2, 0.05) : Normal(random, 0.8, 0.1)).ToArray();

        var fit = LossGmm.Fit(losses);

        var correct = planted.Where((clean, i) => clean == fit.IsClean[i]).Count();
        Assert.True(correct >= 950, $"only {correct} / 1000 samples split correctly");
        Assert.True(planted.Where((clean, i) => clean && fit.CleanPosterior[i] <= 0.5).Count() <= 10);
        Assert.True(fit.Means[0] < fit.Means[1]);
        Assert.InRange(fit.Weights[0], 0.75, 0.85);
        Assert.Equal(1.0, fit.Weights[0] + fit.Weights[1], 12);
        // On the normalised scale the clean mean sits near (0.2 - min) / (max - min).
        var (min, max) = (losses.Min(), losses.Max());
        Assert.InRange(fit.Means[0], (0.17 - min) / (max - min), (0.23 - min) / (max - min));
        Assert.All(fit.CleanPosterior, p => Assert.InRange(p, 0.0, 1.0));
        Assert.InRange(fit.Iterations, 1, 10);
    }

    [Fact]
    public void Same_seed_same_split()
    {
        var random = new Random(5);
        var losses = Enumerable.Range(0, 300).Select(i => i < 200 ? Normal(random, 1, 0.3) : Normal(random, 3, 0.5)).ToArray();
        var a = LossGmm.Fit(losses, new GmmOptions(Seed: 9));
        var b = LossGmm.Fit(losses, new GmmOptions(Seed: 9));
        Assert.Equal(a.CleanPosterior, b.CleanPosterior);
        Assert.Equal(a.Means, b.Means);
    }

    /// <summary>
    /// x = {0, 0.1, 0.2, 0.8, 1.0}: k-means splits {0, .1, .2} | {.8, 1} from any seeding, so the initial mixture is
    /// known; one EM iteration is recomputed here with plain densities.
    /// </summary>
    [Fact]
    public void One_em_iteration_matches_a_hand_computation()
    {
        double[] x = [0, 0.1, 0.2, 0.8, 1.0];
        const double reg = 5e-4;
        // initial parameters from the k-means partition
        double m0 = 0.1, v0 = (0.01 + 0 + 0.01) / 3 + reg, w0 = 3 / 5.0;
        double m1 = 0.9, v1 = (0.01 + 0.01) / 2 + reg, w1 = 2 / 5.0;
        static double Pdf(double x, double m, double v) => Math.Exp(-(x - m) * (x - m) / (2 * v)) / Math.Sqrt(2 * Math.PI * v);

        // E-step with the initial parameters: mean log-likelihood and responsibilities
        var r0 = new double[5];
        double lowerBound = 0;
        for (var i = 0; i < 5; i++)
        {
            var (a, b) = (w0 * Pdf(x[i], m0, v0), w1 * Pdf(x[i], m1, v1));
            r0[i] = a / (a + b);
            lowerBound += Math.Log(a + b) / 5;
        }
        // M-step
        var n0 = r0.Sum();
        var n1 = 5 - n0;
        var newM0 = x.Select((v, i) => r0[i] * v).Sum() / n0;
        var newM1 = x.Select((v, i) => (1 - r0[i]) * v).Sum() / n1;
        var newV0 = x.Select((v, i) => r0[i] * (v - newM0) * (v - newM0)).Sum() / n0 + reg;
        var newV1 = x.Select((v, i) => (1 - r0[i]) * (v - newM1) * (v - newM1)).Sum() / n1 + reg;
        var (newW0, newW1) = (n0 / 5, n1 / 5);
        // posterior with the updated parameters
        var posterior = x.Select(v =>
        {
            var (a, b) = (newW0 * Pdf(v, newM0, newV0), newW1 * Pdf(v, newM1, newV1));
            return a / (a + b);
        }).ToArray();

        for (var seed = 0; seed < 5; seed++)
        {
            var fit = LossGmm.Fit(x, new GmmOptions(MaxIterations: 1, Normalize: false, Seed: seed));
            Assert.Equal(1, fit.Iterations);
            Assert.False(fit.Converged); // the first change is measured from -infinity
            Assert.Equal(lowerBound, fit.LowerBound, 9);
            Assert.Equal(newM0, fit.Means[0], 9);
            Assert.Equal(newM1, fit.Means[1], 9);
            Assert.Equal(newV0, fit.Variances[0], 9);
            Assert.Equal(newV1, fit.Variances[1], 9);
            Assert.Equal(newW0, fit.Weights[0], 9);
            Assert.Equal(newW1, fit.Weights[1], 9);
            for (var i = 0; i < 5; i++) Assert.Equal(posterior[i], fit.CleanPosterior[i], 9);
            Assert.Equal([true, true, true, false, false], fit.IsClean);
        }
    }

    [Fact]
    public void Stops_when_the_lower_bound_changes_less_than_the_tolerance()
    {
        double[] x = [0, 0.1, 0.2, 0.8, 1.0];
        // A huge tolerance: iteration 1 compares against -inf, iteration 2 converges.
        var loose = LossGmm.Fit(x, new GmmOptions(Tolerance: 1e6, Normalize: false));
        Assert.True(loose.Converged);
        Assert.Equal(2, loose.Iterations);
        // A zero tolerance never converges and runs all iterations.
        var strict = LossGmm.Fit(x, new GmmOptions(MaxIterations: 7, Tolerance: 0, Normalize: false));
        Assert.False(strict.Converged);
        Assert.Equal(7, strict.Iterations);
    }

    [Fact]
    public void Normalisation_makes_the_fit_scale_invariant_and_threshold_is_configurable()
    {
        double[] x = [0, 0.1, 0.2, 0.8, 1.0, 0.15, 0.05, 0.9];
        var a = LossGmm.Fit(x);
        var b = LossGmm.Fit(x.Select(v => 40 * v + 3).ToArray());
        for (var i = 0; i < x.Length; i++) Assert.Equal(a.CleanPosterior[i], b.CleanPosterior[i], 9);

        var strict = LossGmm.Fit(x, new GmmOptions(CleanThreshold: 0.999999));
        Assert.Equal(strict.CleanPosterior.Select(p => p > 0.999999), strict.IsClean);
    }

    [Fact]
    public void Constant_losses_keep_everything()
    {
        var fit = LossGmm.Fit([0.3, 0.3, 0.3]);
        Assert.All(fit.IsClean, Assert.True);
        Assert.Throws<ArgumentException>(() => LossGmm.Fit([0.1, double.PositiveInfinity]));
    }
}
