using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Deft.Clip;

// The building blocks own their parameters directly (no nn.Linear/LayerNorm) so that construction allocates without
// running an initialiser the loader would overwrite anyway, and so the state-dict names are exactly OpenAI's.

/// <summary>A linear layer (<c>weight</c> [out, in], <c>bias</c> [out]).</summary>
internal sealed class ClipLinear : nn.Module<Tensor, Tensor>
{
    [ComponentName(Name = "weight")] private Parameter _weight;
    [ComponentName(Name = "bias")] private Parameter _bias;

    public ClipLinear(long inFeatures, long outFeatures, Device? device) : base(nameof(ClipLinear))
    {
        _weight = new Parameter(torch.empty(outFeatures, inFeatures, device: device));
        _bias = new Parameter(torch.zeros(outFeatures, device: device));
        RegisterComponents();
    }

    public Parameter Weight => _weight;
    public Parameter Bias => _bias;

    public override Tensor forward(Tensor x) => ReducedPrecision.Linear(x, _weight, _bias);
}

/// <summary>Layer normalisation over the last dimension (<c>weight</c>, <c>bias</c>).</summary>
internal sealed class ClipLayerNorm : nn.Module<Tensor, Tensor>
{
    [ComponentName(Name = "weight")] private Parameter _weight;
    [ComponentName(Name = "bias")] private Parameter _bias;
    private readonly long[] _shape;
    private readonly double _eps;

    public ClipLayerNorm(long width, double eps, Device? device) : base(nameof(ClipLayerNorm))
    {
        _weight = new Parameter(torch.ones(width, device: device));
        _bias = new Parameter(torch.zeros(width, device: device));
        _shape = [width];
        _eps = eps;
        RegisterComponents();
    }

    // With reduced-precision weights and a float32 stream (the image tower in bf16) the normalisation runs in
    // float32, as autocast runs it: subtracting the mean of bf16 values would lose most of their digits.
    public override Tensor forward(Tensor x) => x.dtype == _weight.dtype
        ? F.layer_norm(x, _shape, _weight, _bias, _eps)
        : F.layer_norm(x, _shape, _weight.to(x.dtype), _bias.to(x.dtype), _eps);
}

/// <summary>A module holding one <c>weight</c> (OpenAI's conv1 and token_embedding).</summary>
internal sealed class WeightOnly : nn.Module
{
    [ComponentName(Name = "weight")] private Parameter _weight;

    public WeightOnly(long[] shape, Device? device) : base(nameof(WeightOnly))
    {
        _weight = new Parameter(torch.empty(shape, device: device));
        RegisterComponents();
    }

    public Parameter Weight => _weight;
}

/// <summary>nn.MultiheadAttention's parameters: packed <c>in_proj_weight</c> [3W, W] (q|k|v rows), <c>in_proj_bias</c>, <c>out_proj</c>.</summary>
internal sealed class ClipAttention : nn.Module
{
    [ComponentName(Name = "in_proj_weight")] private Parameter _inProjWeight;
    [ComponentName(Name = "in_proj_bias")] private Parameter _inProjBias;
    [ComponentName(Name = "out_proj")] private ClipLinear _outProj;

    public ClipAttention(long width, Device? device) : base(nameof(ClipAttention))
    {
        _inProjWeight = new Parameter(torch.empty(3 * width, width, device: device));
        _inProjBias = new Parameter(torch.zeros(3 * width, device: device));
        _outProj = new ClipLinear(width, width, device);
        RegisterComponents();
    }

    public Parameter InProjWeight => _inProjWeight;
    public Parameter InProjBias => _inProjBias;
    public ClipLinear OutProj => _outProj;

    public Tensor InProject(Tensor x) => ReducedPrecision.Linear(x, _inProjWeight, _inProjBias);
}

/// <summary>The MLP (<c>c_fc</c> to hidden, activation, <c>c_proj</c> back).</summary>
internal sealed class ClipMlp : nn.Module
{
    [ComponentName(Name = "c_fc")] private ClipLinear _fc;
    [ComponentName(Name = "c_proj")] private ClipLinear _proj;

    public ClipMlp(long width, long hidden, Device? device) : base(nameof(ClipMlp))
    {
        _fc = new ClipLinear(width, hidden, device);
        _proj = new ClipLinear(hidden, width, device);
        RegisterComponents();
    }

    public ClipLinear Fc => _fc;
    public ClipLinear Proj => _proj;
}

/// <summary>A stack of residual blocks (<c>resblocks.N</c>).</summary>
public sealed class ClipTransformer : nn.Module
{
    [ComponentName(Name = "resblocks")] private ModuleList<ResidualAttentionBlock> _blocks;
    private readonly ResidualAttentionBlock[] _blockArray;

    internal ClipTransformer(long width, int layers, int heads, double mlpRatio, ClipActivation activation, double eps, Device? device)
        : base(nameof(ClipTransformer))
    {
        _blocks = new ModuleList<ResidualAttentionBlock>();
        for (var i = 0; i < layers; i++)
            _blocks.Add(new ResidualAttentionBlock(width, heads, (long)Math.Round(width * mlpRatio), activation, eps, device));
        _blockArray = [.. _blocks];
        RegisterComponents();
    }

    public IReadOnlyList<ResidualAttentionBlock> Blocks => _blockArray;
}

/// <summary>
/// A pre-LN transformer block: x + attn(ln_1(x)), then + mlp(ln_2(x)). Calls the <see cref="IVisionBlockPeft"/> hooks
/// when <see cref="Peft"/> is set (see the interface for where each hook sits).
/// </summary>
public sealed class ResidualAttentionBlock : nn.Module<Tensor, Tensor>
{
    [ComponentName(Name = "attn")] private ClipAttention _attn;
    [ComponentName(Name = "ln_1")] private ClipLayerNorm _ln1;
    [ComponentName(Name = "mlp")] private ClipMlp _mlp;
    [ComponentName(Name = "ln_2")] private ClipLayerNorm _ln2;
    private readonly int _heads;
    private readonly ClipActivation _activation;

    internal ResidualAttentionBlock(long width, int heads, long hidden, ClipActivation activation, double eps, Device? device)
        : base(nameof(ResidualAttentionBlock))
    {
        if (width % heads != 0) throw new DeftException($"CLIP width {width} is not divisible by {heads} heads.");
        _attn = new ClipAttention(width, device);
        _ln1 = new ClipLayerNorm(width, eps, device);
        _mlp = new ClipMlp(width, hidden, device);
        _ln2 = new ClipLayerNorm(width, eps, device);
        _heads = heads;
        _activation = activation;
        RegisterComponents();
    }

    public int Heads => _heads;

    internal ClipAttention Attention => _attn;
    internal ClipMlp Mlp => _mlp;

    /// <summary>
    /// Parameter-efficient hooks for this block, or null for plain CLIP. The hook is called, not owned or registered:
    /// its parameters keep the one name their owner gives them (<c>VisionPeft</c>: <c>lora.N.q_A</c>…).
    /// </summary>
    public IVisionBlockPeft? Peft { get; set; }

    public override Tensor forward(Tensor x) => Forward(x, causal: false);

    /// <summary>One block on x [B, T, W]; <paramref name="causal"/> masks attention to earlier tokens (the text tower).</summary>
    public Tensor Forward(Tensor x, bool causal)
    {
        using var scope = torch.NewDisposeScope();
        // In-place updates only when no graph is recorded: with autograd on, the overwritten tensors may be saved for backward.
        var inPlace = !torch.is_grad_enabled();
        var peft = Peft;
        long batch = x.shape[0], tokens = x.shape[1], width = x.shape[2];

        var h = _ln1.call(x);
        var qkv = _attn.InProject(h);
        if (peft is not null)
        {
            var delta = peft.QkvDelta(h);
            if (delta is not null) qkv = inPlace ? qkv.add_(delta) : qkv.add(delta);
            qkv = peft.AfterQkv(qkv);
        }
        // [B, T, 3W] → 3 × [B, heads, T, headDim] views; no copies before attention.
        var parts = qkv.view(batch, tokens, 3, _heads, width / _heads).permute(2, 0, 3, 1, 4).unbind(0);
        var attended = F.scaled_dot_product_attention(parts[0], parts[1], parts[2], is_casual: causal);
        var attnOut = _attn.OutProj.call(attended.transpose(1, 2).reshape(batch, tokens, width));
        if (peft is not null) attnOut = peft.AfterAttentionOut(attnOut);
        var x1 = x.add(attnOut);

        var m = _mlp.Fc.call(_ln2.call(x1));
        if (peft is not null) m = peft.AfterFc1(m);
        m = ClipActivations.Apply(m, _activation, inPlace);
        m = _mlp.Proj.call(m);
        if (peft is not null)
        {
            m = peft.AfterFc2(m);
            m = peft.MlpBranch(x1, m);
        }
        var result = inPlace ? x1.add_(m) : x1.add(m);
        return result.MoveToOuterDisposeScope();
    }
}

internal static class ClipActivations
{
    private const double QuickGeluScale = 1.702;

    /// <summary>QuickGELU x·σ(1.702x), computed as silu(1.702x)/1.702 (one fused kernel), or exact (erf) GELU.</summary>
    public static Tensor Apply(Tensor h, ClipActivation activation, bool inPlace)
    {
        if (activation == ClipActivation.Gelu) return inPlace ? h.gelu_() : F.gelu(h);
        if (inPlace) return h.mul_(QuickGeluScale).silu_().div_(QuickGeluScale);
        return F.silu(h.mul(QuickGeluScale)).div_(QuickGeluScale);
    }
}

internal static class ReducedPrecision
{
    /// <summary>
    /// x·Wᵀ + b in the weight's dtype, returned in x's: the autocast boundary that lets a float32 residual stream run
    /// its matrix products on bfloat16 weights (same dtypes: the plain product).
    /// </summary>
    public static Tensor Linear(Tensor x, Tensor weight, Tensor? bias)
    {
        if (x.dtype == weight.dtype) return F.linear(x, weight, bias);
        using var reduced = x.to(weight.dtype);
        using var product = F.linear(reduced, weight, bias);
        return product.to(x.dtype);
    }

    /// <summary>The dtype activations of a tower with <paramref name="weights"/> run in: float32 for reduced-precision weights.</summary>
    public static ScalarType StreamDType(ScalarType weights) =>
        weights is ScalarType.BFloat16 or ScalarType.Float16 ? ScalarType.Float32 : weights;

    /// <summary>Reduced-precision results go back to float32 so callers never see bf16 features.</summary>
    public static Tensor ToFloat32(Tensor t) =>
        t.dtype is ScalarType.BFloat16 or ScalarType.Float16 ? t.to(ScalarType.Float32) : t;
}
