using TorchSharp;
using static TorchSharp.torch;

namespace Deft.Tests;

/// <summary>Tensor comparisons for the whole suite (computed in float64, so the check adds no rounding of its own).</summary>
internal static class TensorAssert
{
    public static double MaxAbsDiff(Tensor actual, Tensor expected)
    {
        Assert.Equal(expected.shape, actual.shape);
        using var scope = NewDisposeScope();
        return (actual.detach().to(ScalarType.Float64) - expected.detach().to(ScalarType.Float64)).abs().max().item<double>();
    }

    /// <summary>Max |actual − expected| ≤ <paramref name="tolerance"/>; the message names <paramref name="what"/> and the distance.</summary>
    public static void Close(Tensor expected, Tensor actual, double tolerance, string what)
    {
        var d = MaxAbsDiff(actual, expected);
        Assert.True(d <= tolerance, $"{what}: max |actual − expected| = {d:g4} > {tolerance:g2}");
    }

    /// <summary>Smallest row-wise cosine similarity between two [N, D] tensors.</summary>
    public static double MinRowCosine(Tensor a, Tensor b)
    {
        using var scope = NewDisposeScope();
        var a64 = a.to(ScalarType.Float64);
        var b64 = b.to(ScalarType.Float64);
        var cos = (a64 * b64).sum(1) / (a64.norm(1) * b64.norm(1));
        return cos.min().item<double>();
    }
}
