using Deft.Adaptation;
using Deft.Detection;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Deft.Tests.Adaptation;

/// <summary>The phase-2 optimizers (torch.optim.SGD / AdamW underneath) against hand-computed steps, and their saved state.</summary>
public sealed class AdaptOptimizerTests
{
    /// <summary>AdamW as PyTorch documents it, in double precision, for loss = Σ p² (g = 2p).</summary>
    private static double[] ReferenceAdamW(double[] p, int steps, double lr, double wd)
    {
        const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
        var m = new double[p.Length];
        var v = new double[p.Length];
        p = p.ToArray();
        for (var t = 1; t <= steps; t++)
        {
            for (var i = 0; i < p.Length; i++)
            {
                var g = 2 * p[i];
                p[i] *= 1 - lr * wd;
                m[i] = b1 * m[i] + (1 - b1) * g;
                v[i] = b2 * v[i] + (1 - b2) * g * g;
                var denom = Math.Sqrt(v[i]) / Math.Sqrt(1 - Math.Pow(b2, t)) + eps;
                p[i] -= lr / (1 - Math.Pow(b1, t)) * m[i] / denom;
            }
        }
        return p;
    }

    private static void Steps(IAdaptOptimizer optimizer, Parameter p, int steps)
    {
        for (var s = 0; s < steps; s++)
        {
            using (var loss = p.square().sum()) loss.backward();
            optimizer.Step();
            optimizer.ZeroGrad();
        }
    }

    [Fact]
    public void AdamW_matches_the_documented_update_over_three_steps_and_drops_gradients()
    {
        using var p = new Parameter(tensor(new[] { 1.0, -2.0, 0.5 }));
        using var adamW = AdaptOptimizers.Create(OptimizerKind.AdamW, [("w", p)], learningRate: 0.1, momentum: 0, weightDecay: 0.05);
        Steps(adamW, p, 3);
        var expected = ReferenceAdamW([1.0, -2.0, 0.5], 3, 0.1, 0.05);
        var actual = p.data<double>().ToArray();
        for (var i = 0; i < expected.Length; i++) Assert.Equal(expected[i], actual[i], 12);
        Assert.Null(p.grad);
    }

    [Theory]
    [InlineData(OptimizerKind.AdamW)]
    [InlineData(OptimizerKind.Sgd)]
    public void Saved_state_continues_exactly_where_the_uninterrupted_optimizer_goes(OptimizerKind kind)
    {
        using var whole = new Parameter(tensor(new float[] { 1f, -2f, 0.5f }));
        using var wholeOptimizer = AdaptOptimizers.Create(kind, [("w", whole)], 0.05, 0.9, 5e-4);
        Steps(wholeOptimizer, whole, 4);

        using var first = new Parameter(tensor(new float[] { 1f, -2f, 0.5f }));
        using var firstOptimizer = AdaptOptimizers.Create(kind, [("w", first)], 0.05, 0.9, 5e-4);
        Steps(firstOptimizer, first, 2);
        var saved = firstOptimizer.State().ToDictionary(s => s.Name, s => s.Tensor.clone());
        Assert.NotEmpty(saved);

        using var resumed = new Parameter(first.detach().clone());
        using var resumedOptimizer = AdaptOptimizers.Create(kind, [("w", resumed)], 0.05, 0.9, 5e-4);
        resumedOptimizer.LoadState(saved);
        Steps(resumedOptimizer, resumed, 2);
        Assert.True(whole.eq(resumed).all().item<bool>(), $"{kind}: resumed {resumed.str()} vs whole {whole.str()}");
        foreach (var t in saved.Values) t.Dispose();
    }

    [Fact]
    public void A_fresh_optimizer_has_no_state_to_save_and_the_learning_rate_is_the_groups()
    {
        using var p = new Parameter(zeros(2));
        using var adamW = AdaptOptimizers.Create(OptimizerKind.AdamW, [("w", p)], 0.1, 0, 0);
        Assert.Empty(adamW.State());
        adamW.LearningRate = 0.025;
        Assert.Equal(0.025, adamW.LearningRate);
        using var sgd = new MomentumSgd([p], 0.1, 0.9, 0);
        sgd.LearningRate = 0.5;
        Assert.Equal(0.5, sgd.LearningRate);
        Assert.Null(sgd.GetBuffer(0));
    }
}
