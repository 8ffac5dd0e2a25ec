using Deft.Adaptation;
using TorchSharp;
using static TorchSharp.torch;

namespace Deft.Tests.Baselines;

public class RobustLossesTests
{
    private static readonly double[][] Logits = [[2, 1, 0], [0.5, -1, 3], [1, 1, 1], [20, 0, 0]];
    private static readonly int[] Targets = [0, 2, 1, 1];

    private static Tensor LogitTensor(double[][] rows, bool grad = false)
    {
        var t = tensor(rows.SelectMany(r => r).ToArray(), [rows.Length, rows[0].Length], dtype: float64);
        return grad ? t.requires_grad_() : t;
    }

    private static Tensor TargetTensor(int[] targets) => tensor(targets.Select(t => (long)t).ToArray());

    private static double[] Softmax(double[] z)
    {
        var max = z.Max();
        var e = z.Select(v => Math.Exp(v - max)).ToArray();
        var s = e.Sum();
        return e.Select(v => v / s).ToArray();
    }

    private static double Scalar(Tensor t) => t.to(float64).item<double>();

    [Fact]
    public void Two_class_zero_logits_give_the_textbook_values()
    {
        using var z = LogitTensor([[0, 0]]);
        using var y = TargetTensor([0]);
        using var ce = RobustLosses.CrossEntropy(z, y);
        using var gce = RobustLosses.GeneralizedCrossEntropy(z, y, 0.7);
        using var sce = RobustLosses.SymmetricCrossEntropy(z, y, 0.1, 1.0);
        Assert.Equal(Math.Log(2), Scalar(ce), 12);
        Assert.Equal((1 - Math.Pow(0.5, 0.7)) / 0.7, Scalar(gce), 12);   // 0.54918...
        Assert.Equal(0.1 * Math.Log(2) + 0.5 * -Math.Log(1e-4), Scalar(sce), 9); // 4.67448...
    }

    [Fact]
    public void Losses_match_their_formulas_on_a_small_batch()
    {
        using var z = LogitTensor(Logits);
        using var y = TargetTensor(Targets);
        var p = Logits.Select(Softmax).ToArray();
        var ce = p.Select((row, i) => -Math.Log(row[Targets[i]])).Average();
        var gce = p.Select((row, i) => (1 - Math.Pow(row[Targets[i]], 0.7)) / 0.7).Average();
        var rce = p.Select((row, i) => -row.Select((v, j) => Math.Max(v, 1e-7) * Math.Log(j == Targets[i] ? 1 : 1e-4)).Sum()).Average();

        using var ceT = RobustLosses.CrossEntropy(z, y);
        using var gceT = RobustLosses.GeneralizedCrossEntropy(z, y);
        using var sceT = RobustLosses.SymmetricCrossEntropy(z, y);
        Assert.Equal(ce, Scalar(ceT), 10);
        Assert.Equal(gce, Scalar(gceT), 10);
        Assert.Equal(0.1 * ce + 1.0 * rce, Scalar(sceT), 10);
        // GCE at q = 1 is the mean of 1 − p_y.
        using var mae = RobustLosses.GeneralizedCrossEntropy(z, y, 1.0);
        Assert.Equal(p.Select((row, i) => 1 - row[Targets[i]]).Average(), Scalar(mae), 10);
    }

    [Fact]
    public void Gce_tends_to_ce_as_q_goes_to_zero()
    {
        const double q = 1e-4;
        var rows = Logits[..3];
        int[] targets = Targets[..3];
        // (1 − p^q) / q = −ln p − q·ln²p / 2 + O(q²): the gap to CE is about q · mean(ln² p_y) / 2.
        var gap = rows.Select((z, i) => Math.Pow(Math.Log(Softmax(z)[targets[i]]), 2)).Average() * q / 2;
        foreach (var dtype in new[] { float32, float64 })
        {
            using var z = LogitTensor(rows).to(dtype);
            using var y = TargetTensor(targets);
            using var ce = RobustLosses.CrossEntropy(z, y);
            using var gce = RobustLosses.GeneralizedCrossEntropy(z, y, q);
            using var far = RobustLosses.GeneralizedCrossEntropy(z, y, 0.7);
            Assert.True(Math.Abs(Scalar(gce) - Scalar(ce)) < 1e-3, $"{dtype}: GCE {Scalar(gce)} vs CE {Scalar(ce)}");
            Assert.True(Math.Abs(Scalar(far) - Scalar(ce)) > 0.1);
            if (dtype == float64)
                Assert.Equal(gap, Scalar(ce) - Scalar(gce), 7);
        }
    }

    [Fact]
    public void Gradients_are_finite_and_ce_gradient_is_softmax_minus_onehot()
    {
        foreach (var kind in Enum.GetValues<RobustLossKind>())
        {
            using var z = LogitTensor(Logits, grad: true);
            using var y = TargetTensor(Targets);
            using var index = tensor(new long[] { 0, 1, 2, 3 });
            using var loss = RobustLosses.Create(kind, 4, 3);
            using var value = loss.Compute(z, y, index);
            value.backward();
            var grad = z.grad!.data<double>().ToArray();
            Assert.All(grad, g => Assert.True(double.IsFinite(g), $"{kind}: gradient {g}"));
            Assert.Contains(grad, g => Math.Abs(g) > 1e-6);
            if (kind == RobustLossKind.CE)
            {
                var p = Logits.Select(Softmax).ToArray();
                for (var i = 0; i < 4; i++)
                    for (var j = 0; j < 3; j++)
                        Assert.Equal((p[i][j] - (j == Targets[i] ? 1 : 0)) / 4, grad[i * 3 + j], 10);
            }
        }
    }

    [Fact]
    public void Elr_updates_its_memory_and_adds_the_regulariser()
    {
        const double beta = 0.3, lambda = 5;
        using var elr = new ElrLoss(sampleCount: 5, classCount: 3, beta, lambda);
        double[][] first = [Logits[0], Logits[3]];
        int[] firstTargets = [0, 1];
        using var z1 = LogitTensor(first, grad: true);
        using var y1 = TargetTensor(firstTargets);
        using var i1 = tensor(new long[] { 4, 1 });

        using var loss1 = elr.Compute(z1, y1, i1);

        static double[] Clamped(double[] logits) => Softmax(logits).Select(v => Math.Clamp(v, 1e-4, 1 - 1e-4)).ToArray();
        static double[] Normalised(double[] p) => p.Select(v => v / p.Sum()).ToArray();
        // memory starts at zero: t = (1 − β) · p̂ / Σ p̂
        var t4 = Normalised(Clamped(first[0])).Select(v => (1 - beta) * v).ToArray();
        var t1 = Normalised(Clamped(first[1])).Select(v => (1 - beta) * v).ToArray();
        using (var memory = elr.Targets())
        {
            var m = memory.to(float64).data<double>().ToArray();
            for (var j = 0; j < 3; j++)
            {
                Assert.Equal(t4[j], m[4 * 3 + j], 6);
                Assert.Equal(t1[j], m[1 * 3 + j], 6);
                Assert.Equal(0.0, m[0 * 3 + j]);
                Assert.Equal(0.0, m[2 * 3 + j]);
                Assert.Equal(0.0, m[3 * 3 + j]);
            }
        }
        double Expected(double[][] logits, int[] targets, double[][] memoryRows)
        {
            var ce = logits.Select((z, i) => -Math.Log(Softmax(z)[targets[i]])).Average();
            var reg = logits.Select((z, i) => Math.Log(1 - Clamped(z).Select((v, j) => v * memoryRows[i][j]).Sum())).Average();
            return ce + lambda * reg;
        }
        Assert.Equal(Expected(first, firstTargets, [t4, t1]), Scalar(loss1), 5); // float32 memory
        loss1.backward();
        Assert.All(z1.grad!.data<double>().ToArray(), g => Assert.True(double.IsFinite(g)));

        // Second visit of sample 1 with new logits: t ← β·t + (1 − β)·p̂ / Σ p̂.
        double[][] second = [Logits[1]];
        using var z2 = LogitTensor(second);
        using var y2 = TargetTensor([2]);
        using var i2 = tensor(new long[] { 1 });
        using var loss2 = elr.Compute(z2, y2, i2);
        var t1Again = Normalised(Clamped(second[0])).Select((v, j) => beta * t1[j] + (1 - beta) * v).ToArray();
        using (var memory = elr.Targets())
        {
            var m = memory.to(float64).data<double>().ToArray();
            for (var j = 0; j < 3; j++)
            {
                Assert.Equal(t1Again[j], m[1 * 3 + j], 6);
                Assert.Equal(t4[j], m[4 * 3 + j], 6);
            }
        }
        Assert.Equal(Expected(second, [2], [t1Again]), Scalar(loss2), 5);
    }

    [Fact]
    public void Factory_builds_each_kind_and_stateless_kinds_match_the_functions()
    {
        using var z = LogitTensor(Logits);
        using var y = TargetTensor(Targets);
        using var index = tensor(new long[] { 0, 1, 2, 3 });
        var options = new RobustLossOptions(GceQ: 0.5, SceAlpha: 0.3, SceBeta: 0.7);
        using var ce = RobustLosses.Create(RobustLossKind.CE, 4, 3, options);
        using var gce = RobustLosses.Create(RobustLossKind.GCE, 4, 3, options);
        using var sce = RobustLosses.Create(RobustLossKind.SCE, 4, 3, options);
        using var elr = RobustLosses.Create(RobustLossKind.ELR, 4, 3, options);
        Assert.Equal(RobustLossKind.ELR, elr.Kind);
        Assert.IsType<ElrLoss>(elr);
        using var a = ce.Compute(z, y, index);
        using var b = RobustLosses.CrossEntropy(z, y);
        using var c = gce.Compute(z, y, index);
        using var d = RobustLosses.GeneralizedCrossEntropy(z, y, 0.5);
        using var e = sce.Compute(z, y, index);
        using var f = RobustLosses.SymmetricCrossEntropy(z, y, 0.3, 0.7);
        Assert.Equal(Scalar(b), Scalar(a), 12);
        Assert.Equal(Scalar(d), Scalar(c), 12);
        Assert.Equal(Scalar(f), Scalar(e), 12);
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => RobustLosses.Create((RobustLossKind)42, 4, 3));
        Assert.Contains("CE, GCE, SCE, ELR", error.Message);
    }
}
