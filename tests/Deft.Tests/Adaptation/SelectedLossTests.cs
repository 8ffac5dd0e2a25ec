using Deft.Adaptation;
using TorchSharp;
using static TorchSharp.torch;

namespace Deft.Tests.Adaptation;

public sealed class SelectedLossTests
{
    // Data set indices 0..9; odd ones are selected.
    private static readonly bool[] Selected = Enumerable.Range(0, 10).Select(i => i % 2 == 1).ToArray();

    [Fact]
    public void CrossEntropyIsTheMeanOverSelectedRowsAndUnselectedRowsGetNoGradient()
    {
        using var scope = NewDisposeScope();
        using var g = new Generator(3);
        var logits = randn([6, 4], generator: g).requires_grad_(true);
        long[] indices = [4, 7, 2, 9, 1, 6]; // selected: positions 1, 3, 4
        int[] labels = [0, 3, 1, 2, 0, 3];
        using var ce = RobustLosses.Create(RobustLossKind.CE, 10, 4);
        var loss = Adapter.SelectedLoss(ce, logits, labels, indices, Selected)!;

        // Hand-computed reference: −log softmax(z)[y] averaged over the three selected rows.
        var z = logits.detach().to(float64).data<double>().ToArray();
        double expected = 0;
        foreach (var row in new[] { 1, 3, 4 })
        {
            var r = z.Skip(row * 4).Take(4).ToArray();
            var max = r.Max();
            var logSum = max + Math.Log(r.Sum(v => Math.Exp(v - max)));
            expected += logSum - r[labels[row]];
        }
        Assert.Equal(expected / 3, loss.item<float>(), 5);

        loss.backward();
        var grad = logits.grad!;
        foreach (var row in new[] { 0, 2, 5 }) Assert.Equal(0f, grad[row].abs().sum().item<float>());
        foreach (var row in new[] { 1, 3, 4 }) Assert.True(grad[row].abs().sum().item<float>() > 0);
    }

    [Fact]
    public void UnselectedLabelsAndLogitsDoNotChangeTheLoss()
    {
        using var scope = NewDisposeScope();
        using var g = new Generator(5);
        var logits = randn([4, 3], generator: g);
        long[] indices = [1, 2, 3, 4]; // selected: positions 0 and 2
        using var ce = RobustLosses.Create(RobustLossKind.CE, 10, 3);
        var a = Adapter.SelectedLoss(ce, logits, [0, 1, 2, 0], indices, Selected)!.item<float>();
        var changed = logits.clone();
        changed[1] = tensor(new float[] { 50, -50, 3 });
        changed[3] = tensor(new float[] { -9, 9, 0 });
        var b = Adapter.SelectedLoss(ce, changed, [0, 2, 2, 1], indices, Selected)!.item<float>();
        Assert.Equal(a, b);
    }

    [Fact]
    public void ABatchWithoutSelectedSamplesHasNoLoss()
    {
        using var logits = zeros(3, 2);
        using var ce = RobustLosses.Create(RobustLossKind.CE, 10, 2);
        Assert.Null(Adapter.SelectedLoss(ce, logits, [0, 1, 0], [0, 2, 4], Selected));
        Assert.Empty(Adapter.SelectedPositions([0, 2, 4], Selected));
        Assert.Equal([1, 2], Adapter.SelectedPositions([0, 3, 5, 8], Selected));
    }

    [Theory]
    [InlineData(RobustLossKind.GCE)]
    [InlineData(RobustLossKind.SCE)]
    public void TheChosenRobustLossIsAppliedToTheSelectedRows(RobustLossKind kind)
    {
        using var scope = NewDisposeScope();
        using var g = new Generator(11);
        var logits = randn([5, 4], generator: g);
        long[] indices = [1, 0, 3, 2, 5]; // selected: positions 0, 2, 4
        int[] labels = [2, 0, 1, 3, 0];
        using var loss = RobustLosses.Create(kind, 10, 4);
        var actual = Adapter.SelectedLoss(loss, logits, labels, indices, Selected)!.item<float>();
        var rows = logits.index_select(0, tensor(new long[] { 0, 2, 4 }));
        var targets = tensor(new long[] { 2, 1, 0 });
        var expected = kind == RobustLossKind.GCE
            ? RobustLosses.GeneralizedCrossEntropy(rows, targets).item<float>()
            : RobustLosses.SymmetricCrossEntropy(rows, targets).item<float>();
        Assert.Equal(expected, actual, 6);
        Assert.NotEqual(RobustLosses.CrossEntropy(rows, targets).item<float>(), actual, 3);
    }
}
