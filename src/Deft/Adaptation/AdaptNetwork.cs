using System.Text.Json.Nodes;
using Deft.Data.Transforms;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Deft.Adaptation;

/// <summary>The phase-2 model family (<c>--backbone</c>).</summary>
public enum BackboneKind
{
    /// <summary>From the model spec: the weights file's key layout, or the random preset's family.</summary>
    Auto,
    /// <summary>CLIP's image tower with a linear head on the ln_post features.</summary>
    Clip,
    /// <summary>A bottleneck ResNet in the torchvision/timm layout (ResNet-50 by default).</summary>
    ResNet,
    /// <summary>A vision transformer in timm's layout (ViT-B/16 by default), with the augreg weights' settings.</summary>
    Vit,
    /// <summary>A ConvNeXt in timm's layout (ConvNeXt-T by default; facebookresearch's layout is renamed on load).</summary>
    ConvNext,
    /// <summary>
    /// A timm ViT with MAE's settings (timm's vit_base_patch16_224.mae: class-token pooling, ImageNet statistics, the
    /// checkpoint has no head, so the head starts fresh).
    /// </summary>
    Mae,
}

public static class BackboneKinds
{
    public static IReadOnlyList<string> ValidNames { get; } = ["auto", "clip", "resnet", "vit", "convnext", "mae"];

    public static string ToName(this BackboneKind kind) => ValidNames[(int)kind];

    /// <summary>The state-dict layout a kind loads: MAE is a ViT with other settings.</summary>
    internal static BackboneKind Layout(this BackboneKind kind) => kind == BackboneKind.Mae ? BackboneKind.Vit : kind;

    public static BackboneKind Parse(string name) => name.Trim().ToLowerInvariant() switch
    {
        "auto" => BackboneKind.Auto,
        "clip" => BackboneKind.Clip,
        "resnet" or "resnet50" or "resnet-50" => BackboneKind.ResNet,
        "vit" or "vit-b-16" or "vit_b_16" or "vit-b/16" => BackboneKind.Vit,
        "convnext" or "convnext-t" or "convnext_tiny" or "convnext-tiny" => BackboneKind.ConvNext,
        "mae" => BackboneKind.Mae,
        _ => throw new DeftException($"Unknown backbone '{name}'. Valid values: {string.Join(", ", ValidNames)}."),
    };
}

/// <summary>
/// A classifier being fine-tuned or used for prediction: images [B, 3, R, R] (normalised) to logits [B, K].
/// Owns its modules.
/// </summary>
internal interface IAdaptNetwork : IDisposable
{
    BackboneKind Kind { get; }
    int ClassCount { get; }
    /// <summary>The input resolution R.</summary>
    int Resolution { get; }
    Device Device { get; }

    /// <summary>True when a sample's output depends on the other samples of its batch (batch normalisation in training mode).</summary>
    bool BatchDependent { get; }

    /// <summary>The parameters the optimizer updates, with stable names (checkpoint keys).</summary>
    IReadOnlyList<(string Name, Parameter Parameter)> Trainables { get; }

    /// <summary>Non-parameter state that training changes (batch-norm running statistics), for checkpoints.</summary>
    IReadOnlyList<(string Name, Tensor Tensor)> TrainingBuffers { get; }

    Tensor Logits(Tensor images);

    void SetTraining(bool training);

    /// <summary>Every tensor a saved model needs, under the names <c>LoadSaved</c> expects.</summary>
    IEnumerable<(string Name, Tensor Tensor)> SavedState();

    /// <summary>Architecture description for the model directory's config (enough to rebuild the modules).</summary>
    JsonObject Architecture();
}

/// <summary>Shared helpers of the networks.</summary>
internal static class AdaptNetworkHelpers
{
    /// <summary>ImageNet statistics (torchvision and timm ResNets, timm's ConvNeXt and MAE ViT).</summary>
    public static Normalization ImageNet { get; } = new(new(0.485f, 0.456f, 0.406f), new(0.229f, 0.224f, 0.225f));

    /// <summary>timm's ViT augreg statistics (0.5, 0.5).</summary>
    public static Normalization Half { get; } = new(new(0.5f, 0.5f, 0.5f), new(0.5f, 0.5f, 0.5f));

    /// <summary>
    /// nn.Linear's default initialisation (kaiming_uniform with a = √5, i.e. U(−1/√in, 1/√in), and the same range for
    /// the bias), drawn from <paramref name="generator"/> so a seed reproduces it.
    /// </summary>
    public static void LinearDefaultInit(Tensor weight, Tensor? bias, Generator? generator)
    {
        using var noGrad = torch.no_grad();
        var bound = 1.0 / Math.Sqrt(weight.shape[1] * (weight.dim() > 2 ? weight.shape.Skip(2).Aggregate(1L, (a, b) => a * b) : 1));
        Uniform(weight, bound, generator);
        if (bias is not null) Uniform(bias, bound, generator);
    }

    public static void Uniform(Tensor t, double bound, Generator? generator)
    {
        using var noGrad = torch.no_grad();
        using var r = torch.rand(t.shape, dtype: t.dtype, device: t.device, generator: generator);
        t.copy_(r.mul_(2 * bound).sub_(bound));
    }

    /// <summary>timm's trunc_normal_(std) with cut-offs at ±2 (absolute, as timm passes them): a plain normal at std 0.02.</summary>
    public static void TruncatedNormal(Tensor t, double std, Generator? generator)
    {
        using var noGrad = torch.no_grad();
        using var r = torch.randn(t.shape, dtype: t.dtype, device: t.device, generator: generator);
        t.copy_(r.mul_(std).clamp_(-2.0, 2.0));
    }

    public static void Normal(Tensor t, double std, Generator? generator)
    {
        using var noGrad = torch.no_grad();
        using var r = torch.randn(t.shape, dtype: t.dtype, device: t.device, generator: generator);
        t.copy_(r.mul_(std));
    }

    public static JsonArray IntArray(IEnumerable<int> values) => new(values.Select(v => (JsonNode)JsonValue.Create(v)!).ToArray());
}
