using Deft.Training;
using Deft.Detection;
using TorchSharp;
using static TorchSharp.torch;

namespace Deft.Tests.Detection;

public sealed class DeftObjectiveTests
{
    private static (Dictionary<string, Tensor> T, IReadOnlyDictionary<string, string> Meta) Fixture() =>
        (Deft.Clip.Safetensors.Load(Fixtures.Path("deft-step.safetensors"), out var meta), meta);

    [Theory]
    [InlineData("warmup", true)]
    [InlineData("select", false)]
    public void LossesAndSelectionMatchTheOfficialCodeOnFixtureLogits(string variant, bool warmup)
    {
        var (t, _) = Fixture();
        using var scope = NewDisposeScope();
        var pos = t[$"{variant}.pos_logits"].detach().requires_grad_(true);
        var neg = t[$"{variant}.neg_logits"].detach().requires_grad_(true);
        var result = DeftObjective.Compute(pos, neg, t["y"], t["complementary"], warmup);

        Assert.Equal(t[$"{variant}.loss"].item<float>(), result.Loss.item<float>(), 1e-5);
        Assert.Equal(t[$"{variant}.loss_cls"].item<float>(), result.ClassificationLoss.item<float>(), 1e-5);
        Assert.Equal(t[$"{variant}.loss_neg"].item<float>(), result.NegativeLoss.item<float>(), 1e-5);
        Assert.True(result.CleanProbability.allclose(t[$"{variant}.p_clean"], rtol: 0, atol: 1e-6));
        Assert.True(result.Selected.eq(t[$"{variant}.selected"]).all().item<bool>());
        Assert.Equal(t[$"{variant}.selected"].sum().item<long>(), result.SelectedCount);
        foreach (var v in t.Values) v.Dispose();
    }

    [Fact]
    public void PositiveLogitsOnlyGetGradientFromTheClassificationTerm()
    {
        using var scope = NewDisposeScope();
        var pos = tensor(new float[] { 2f, 0f, 1f, 0.5f, 0.2f, -1f }, [2, 3]).requires_grad_(true);
        var neg = tensor(new float[] { 0f, 1f, 0f, 3f, 0f, 0f }, [2, 3]).requires_grad_(true);
        var y = tensor(new long[] { 0, 2 });
        var comp = tensor(new long[] { 1, 0 });
        var r = DeftObjective.Compute(pos, neg, y, comp, warmup: true);
        r.NegativeLoss.backward();
        Assert.Null(pos.grad);
        // d/dneg of −log σ(neg−pos) at (i, comp) and −log σ(pos−neg) at (i, y), each averaged over N=2.
        var g = neg.grad!;
        static double Sig(double v) => 1 / (1 + Math.Exp(-v));
        Assert.Equal(-(1 - Sig(1 - 0)) / 2, g[0, 1].item<float>(), 6);   // p_no term, sample 0: margin neg−pos = 1
        Assert.Equal(Sig(0 - 2) / 2 * 1, g[0, 0].item<float>(), 6);      // p_yes term, sample 0: ∂(−log σ(pos−neg))/∂neg = σ(neg−pos)
        Assert.Equal(-(1 - Sig(3 - 0.5)) / 2, g[1, 0].item<float>(), 6);
        Assert.Equal(Sig(0 - (-1)) / 2, g[1, 2].item<float>(), 6);
        Assert.Equal(0f, g[0, 2].item<float>());
    }

    [Fact]
    public void AfterWarmupAnEmptySelectionLeavesOnlyTheNegativeTerms()
    {
        using var scope = NewDisposeScope();
        // Every negative logit dominates: nothing is clean.
        var pos = tensor(new float[] { 0f, 1f, 0f, 0f }, [2, 2]).requires_grad_(true);
        var neg = tensor(new float[] { 5f, 5f, 5f, 5f }, [2, 2]).requires_grad_(true);
        var r = DeftObjective.Compute(pos, neg, tensor(new long[] { 0, 1 }), tensor(new long[] { 1, 0 }), warmup: false);
        Assert.Equal(0, r.SelectedCount);
        Assert.Equal(0f, r.ClassificationLoss.item<float>());
        Assert.False(float.IsNaN(r.Loss.item<float>()));
        Assert.Equal(r.NegativeLoss.item<float>(), r.Loss.item<float>());
    }

    [Fact]
    public void UnselectedSamplesTakeThePositivePredictionAsTheYesTarget()
    {
        using var scope = NewDisposeScope();
        // Sample 0 is labelled 0 but the negative prompt wins there; the positive prompts predict class 1.
        var pos = tensor(new float[] { 0f, 3f }, [1, 2]);
        var neg = tensor(new float[] { 4f, 1f }, [1, 2]);
        var r = DeftObjective.Compute(pos, neg, tensor(new long[] { 0 }), tensor(new long[] { 1 }), warmup: false);
        static double Sig(double v) => 1 / (1 + Math.Exp(-v));
        var expected = -Math.Log(Sig(1 - 3)) - Math.Log(Sig(3 - 1)); // p_no at comp=1, p_yes at ŷ=1
        Assert.Equal(expected, r.NegativeLoss.item<float>(), 5);
        Assert.False(r.Selected[0].item<bool>());
    }

    [Fact]
    public void ProbabilitiesAreClampedBeforeTheLogarithm()
    {
        using var scope = NewDisposeScope();
        var pos = tensor(new float[] { 0f, 0f }, [1, 2]);
        var neg = tensor(new float[] { 100f, -100f }, [1, 2]).requires_grad_(true);
        var r = DeftObjective.Compute(pos, neg, tensor(new long[] { 0 }), tensor(new long[] { 1 }), warmup: true);
        // p_yes(0) ≈ e^-100 → clamped to 1e-5; p_no(1) ≈ e^-100 → clamped to 1e-5.
        Assert.Equal(-2 * Math.Log(1e-5), r.NegativeLoss.item<float>(), 3);
        r.NegativeLoss.backward();
        Assert.Equal(0f, neg.grad!.abs().sum().item<float>());
    }

    [Fact]
    public void SgdMatchesPyTorchSemanticsOverTwoSteps()
    {
        using var scope = NewDisposeScope();
        // torch.optim updates parameters (not plain tensors requiring grad).
        var p = new TorchSharp.Modules.Parameter(tensor(new float[] { 1f, -2f }));
        using var sgd = new MomentumSgd([p], learningRate: 0.1, momentum: 0.9, weightDecay: 0.01);
        // loss = sum(p²) → g = 2p.
        double[] pv = [1, -2];
        double[]? buf = null;
        for (var step = 0; step < 2; step++)
        {
            p.square().sum().backward();
            sgd.Step();
            sgd.ZeroGrad();
            var d = pv.Select(v => 2 * v + 0.01 * v).ToArray();
            buf = buf is null ? d : buf.Zip(d, (b, x) => 0.9 * b + x).ToArray();
            pv = pv.Zip(buf, (v, b) => v - 0.1 * b).ToArray();
        }
        Assert.Equal(pv[0], p[0].item<float>(), 5);
        Assert.Equal(pv[1], p[1].item<float>(), 5);
        Assert.Null(p.grad);
    }

    [Fact]
    public void Float16_storage_loses_updates_below_float16_resolution_as_the_official_fp16_parameters_do()
    {
        using var scope = NewDisposeScope();
        // loss = p → g = 1; no momentum or decay: p ← p − lr. Below 1, float16 steps by 2⁻¹¹ = 0.00048828125.
        float StepOnce(double lr, bool half)
        {
            var p = new TorchSharp.Modules.Parameter(tensor(new float[] { 1f }));
            using var sgd = new MomentumSgd([p], learningRate: lr, momentum: 0, weightDecay: 0) { Float16Storage = half };
            p.sum().backward();
            sgd.Step();
            return p[0].item<float>();
        }
        Assert.Equal(0.9999f, StepOnce(1e-4, half: false));
        Assert.Equal(1f, StepOnce(1e-4, half: true));                 // 0.9999 rounds back to 1: the update is lost
        Assert.Equal(0.9990234375f, StepOnce(1e-3, half: true));      // 0.999 → 2046 · 2⁻¹¹
        // The momentum buffer is stored in float16 as well.
        var q = new TorchSharp.Modules.Parameter(tensor(new float[] { 1f }));
        using var withMomentum = new MomentumSgd([q], learningRate: 1e-3, momentum: 0.9, weightDecay: 0) { Float16Storage = true };
        (q * 1.0001f).sum().backward();
        withMomentum.Step();
        Assert.Equal(1f, withMomentum.GetBuffer(0)![0].item<float>()); // 1.0001 is not a float16; 1 is
    }

    [Fact]
    public void CosineScheduleFollowsCosineAnnealingLR()
    {
        Assert.Equal(0.03, CosineSchedule.LearningRate(0.03, 0, 10), 12);
        Assert.Equal(0.015, CosineSchedule.LearningRate(0.03, 5, 10), 12);
        Assert.Equal(0.0, CosineSchedule.LearningRate(0.03, 10, 10), 12);
        Assert.Equal(0.03 * (1 + Math.Cos(Math.PI / 10)) / 2, CosineSchedule.LearningRate(0.03, 1, 10), 12);
    }
}
