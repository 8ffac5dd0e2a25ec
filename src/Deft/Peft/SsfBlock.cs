using Deft.Clip;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Deft.Peft;

/// <summary>
/// Scale-and-shift features (Lian et al., 2022) for one block: y = x·γ + β after the packed qkv projection, the
/// attention output projection, and both MLP linears. γ ~ N(1, 0.02), β ~ N(0, 0.02), as in the official code.
/// </summary>
public sealed class SsfBlock : nn.Module, IVisionBlockPeft
{
    private readonly Parameter qkv_scale, qkv_shift, attn_out_scale, attn_out_shift, fc1_scale, fc1_shift, fc2_scale, fc2_shift;

    public SsfBlock(int width, int mlpHidden, Generator? generator = null) : base(nameof(SsfBlock))
    {
        (qkv_scale, qkv_shift) = Pair(3 * width, generator);
        (attn_out_scale, attn_out_shift) = Pair(width, generator);
        (fc1_scale, fc1_shift) = Pair(mlpHidden, generator);
        (fc2_scale, fc2_shift) = Pair(width, generator);
        RegisterComponents();
    }

    private static (Parameter Scale, Parameter Shift) Pair(int features, Generator? generator)
    {
        using var s = randn([features], generator: generator);
        using var b = randn([features], generator: generator);
        return (new Parameter(s.mul(0.02).add_(1.0)), new Parameter(b.mul(0.02)));
    }

    private static Tensor Apply(Tensor x, Parameter scale, Parameter shift)
    {
        using var scope = NewDisposeScope();
        return torch.addcmul(shift.to(x.dtype), x, scale.to(x.dtype), 1).MoveToOuterDisposeScope();
    }

    public Tensor AfterQkv(Tensor qkv) => Apply(qkv, qkv_scale, qkv_shift);
    public Tensor AfterAttentionOut(Tensor attnOut) => Apply(attnOut, attn_out_scale, attn_out_shift);
    public Tensor AfterFc1(Tensor h) => Apply(h, fc1_scale, fc1_shift);
    public Tensor AfterFc2(Tensor h) => Apply(h, fc2_scale, fc2_shift);
}
