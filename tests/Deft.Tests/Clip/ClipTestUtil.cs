using Deft.Clip;
using TorchSharp;
using static TorchSharp.torch;

namespace Deft.Tests.Clip;

/// <summary>The shared fixture's reference inputs and PyTorch outputs (clip-tiny-expected.safetensors).</summary>
internal sealed class TinyReference : IDisposable
{
    private readonly Dictionary<string, Tensor> _tensors;

    public TinyReference() => _tensors = Safetensors.Load(Shared.Fixture("clip-tiny-expected.safetensors"));

    public Tensor Images => _tensors["images"];
    public Tensor TokenIds => _tensors["token_ids"];
    public Tensor ImageFeatures => _tensors["image_features"];
    public Tensor ImagePreProjection => _tensors["image_pre_projection"];
    public Tensor TextFeatures => _tensors["text_features"];
    public Tensor LogitsPerImage => _tensors["logits_per_image"];

    public void Dispose()
    {
        foreach (var t in _tensors.Values) t.Dispose();
    }
}

internal static class TensorAssert
{
    public static double MaxAbsDiff(Tensor actual, Tensor expected)
    {
        Assert.Equal(expected.shape, actual.shape);
        using var diff = (actual.to(ScalarType.Float64) - expected.to(ScalarType.Float64)).abs().max();
        return diff.item<double>();
    }

    public static void Close(Tensor expected, Tensor actual, double tolerance, string what)
    {
        var d = MaxAbsDiff(actual, expected);
        Assert.True(d <= tolerance, $"{what}: max |actual − expected| = {d:g4} > {tolerance:g2}");
    }

    /// <summary>Smallest row-wise cosine similarity between two [N, D] tensors.</summary>
    public static double MinRowCosine(Tensor a, Tensor b)
    {
        using var scope = torch.NewDisposeScope();
        var a64 = a.to(ScalarType.Float64);
        var b64 = b.to(ScalarType.Float64);
        var cos = (a64 * b64).sum(1) / (a64.norm(1) * b64.norm(1));
        return cos.min().item<double>();
    }
}
