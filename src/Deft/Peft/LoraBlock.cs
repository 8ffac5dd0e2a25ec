using Deft.Clip;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Deft.Peft;

/// <summary>
/// LoRA (Hu et al., 2021) on the query and value projections of one block, as the DeFT code does it:
/// q += ln₁(x)·A_q·B_q / r, v += ln₁(x)·A_v·B_v / r. A [width, r] starts Kaiming-uniform (a = √5, PyTorch's fan-in of
/// a [width, r] tensor is r, so A ~ U(±1/√r)); B [r, width] starts at zero, so the block is unchanged at first.
/// </summary>
public sealed class LoraBlock : nn.Module, IVisionBlockPeft
{
    private readonly Parameter q_A;
    private readonly Parameter q_B;
    private readonly Parameter v_A;
    private readonly Parameter v_B;
    private readonly double _scaling;

    public LoraBlock(int width, int rank, Generator? generator = null) : base(nameof(LoraBlock))
    {
        Rank = rank;
        _scaling = 1.0 / rank;
        q_A = new Parameter(KaimingUniformA(width, rank, generator));
        q_B = new Parameter(zeros(rank, width));
        v_A = new Parameter(KaimingUniformA(width, rank, generator));
        v_B = new Parameter(zeros(rank, width));
        RegisterComponents();
    }

    public int Rank { get; }

    private static Tensor KaimingUniformA(int width, int rank, Generator? generator)
    {
        // kaiming_uniform_(a=√5): gain √(2/(1+5)), bound = gain·√(3/fan_in), fan_in = size(1) = rank.
        var bound = Math.Sqrt(2.0 / 6.0) * Math.Sqrt(3.0 / rank);
        using var u = rand([width, rank], generator: generator);
        return u.mul(2 * bound).sub_(bound);
    }

    public Tensor QkvDelta(Tensor lnX)
    {
        using var scope = NewDisposeScope();
        var dtype = lnX.dtype;
        var q = lnX.matmul(q_A.to(dtype)).matmul(q_B.to(dtype));
        var v = lnX.matmul(v_A.to(dtype)).matmul(v_B.to(dtype));
        var delta = cat([q, zeros_like(q), v], -1).mul_(_scaling);
        return delta.MoveToOuterDisposeScope();
    }
}
