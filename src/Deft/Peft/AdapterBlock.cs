using Deft.Clip;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Deft.Peft;

/// <summary>
/// Bottleneck adapters on the MLP branch of one block: LN → down → ReLU → up, the up projection zero-initialised and
/// the down projection Kaiming-normal (a = √5), as in the official DeFT code.
/// <list type="bullet">
/// <item><b>Adapter</b> (sequential): branch = mlp(x) + adapter(mlp(x)). The official DeFT code <i>replaces</i> the MLP
/// output with adapter(mlp(x)), which zeroes the MLP at initialisation; Deft adds it, so training starts from
/// the pre-trained tower (Houlsby et al.'s residual adapter).</item>
/// <item><b>AdaptFormer</b> (parallel): branch = mlp(x) + s·adapter(x), x the block's residual stream before ln₂, s a
/// learnable scale starting at 1.</item>
/// </list>
/// </summary>
public sealed class AdapterBlock : nn.Module, IVisionBlockPeft
{
    private readonly LayerNorm ln;
    private readonly Linear down;
    private readonly Linear up;
    private readonly Parameter? scale;

    public AdapterBlock(int width, int bottleneck, bool parallel, Generator? generator = null) : base(nameof(AdapterBlock))
    {
        Parallel = parallel;
        ln = nn.LayerNorm(width);
        down = nn.Linear(width, bottleneck);
        up = nn.Linear(bottleneck, width);
        using (no_grad())
        {
            // kaiming_normal_(a=√5, fan_in): std = √(2/(1+5)) / √width.
            var std = Math.Sqrt(2.0 / 6.0) / Math.Sqrt(width);
            using var w = randn([bottleneck, width], generator: generator);
            down.weight!.copy_(w.mul_(std));
            down.bias!.zero_();
            up.weight!.zero_();
            up.bias!.zero_();
        }
        if (parallel) scale = new Parameter(ones(1));
        RegisterComponents();
    }

    public bool Parallel { get; }

    private Tensor Bottleneck(Tensor x)
    {
        var h = ln.call(x.to(ScalarType.Float32));
        h = nn.functional.relu(down.call(h));
        return up.call(h);
    }

    public Tensor MlpBranch(Tensor x, Tensor mlpOut)
    {
        using var scope = NewDisposeScope();
        var result = Parallel
            ? mlpOut + (Bottleneck(x) * scale!).to(mlpOut.dtype)
            : mlpOut + Bottleneck(mlpOut).to(mlpOut.dtype);
        return result.MoveToOuterDisposeScope();
    }
}
