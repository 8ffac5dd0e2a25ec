using Deft.Clip;
using TorchSharp;
using static TorchSharp.torch;

namespace Deft.Tests.Clip;

/// <summary>The shared fixture's reference inputs and PyTorch outputs (clip-tiny-expected.safetensors).</summary>
internal sealed class TinyReference : IDisposable
{
    private readonly Dictionary<string, Tensor> _tensors;

    public TinyReference() => _tensors = Safetensors.Load(Fixtures.Path("clip-tiny-expected.safetensors"));

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

