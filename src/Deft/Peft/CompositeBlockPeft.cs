using Deft.Clip;
using TorchSharp;
using static TorchSharp.torch;

namespace Deft.Peft;

/// <summary>
/// Several block hooks on one block (e.g. LoRA and SSF), applied in order: qkv deltas add up, the other hooks
/// chain (each MLP branch receives the previous one's result). Not a module: the hooks belong to
/// <see cref="VisionPeft"/>, which names their parameters once.
/// </summary>
public sealed class CompositeBlockPeft : IVisionBlockPeft
{
    private readonly IVisionBlockPeft[] _hooks;

    public CompositeBlockPeft(IReadOnlyList<IVisionBlockPeft> hooks) => _hooks = hooks.ToArray();

    public Tensor? QkvDelta(Tensor lnX)
    {
        Tensor? sum = null;
        foreach (var hook in _hooks)
        {
            var d = hook.QkvDelta(lnX);
            if (d is null) continue;
            if (sum is null) sum = d;
            else { var s = sum.add(d); sum.Dispose(); d.Dispose(); sum = s; }
        }
        return sum;
    }

    public Tensor AfterQkv(Tensor qkv) => Chain(qkv, (h, t) => h.AfterQkv(t));
    public Tensor AfterAttentionOut(Tensor attnOut) => Chain(attnOut, (h, t) => h.AfterAttentionOut(t));
    public Tensor AfterFc1(Tensor h) => Chain(h, (k, t) => k.AfterFc1(t));
    public Tensor AfterFc2(Tensor h) => Chain(h, (k, t) => k.AfterFc2(t));
    public Tensor MlpBranch(Tensor x, Tensor mlpOut) => Chain(mlpOut, (h, t) => h.MlpBranch(x, t));

    private Tensor Chain(Tensor input, Func<IVisionBlockPeft, Tensor, Tensor> step)
    {
        var t = input;
        foreach (var hook in _hooks) t = step(hook, t);
        return t;
    }
}
