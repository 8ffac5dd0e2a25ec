using TorchSharp;
using static TorchSharp.torch;

namespace Deft.Clip;

/// <summary>
/// Per-block hooks of the image tower that parameter-efficient fine-tuning fills (LoRA, SSF, adapters). A block
/// without an attached hook runs the plain CLIP computation. Attach with <see cref="ResidualAttentionBlock.Peft"/>;
/// the block calls the hook but does not register it, so its parameters have one name, the one their owner gives
/// them (<c>Deft.Peft.VisionPeft</c>), and CLIP's state dict, <see cref="ClipModel.FreezeAll"/> and
/// <see cref="ClipLoader.LoadStateDict"/> see only CLIP's own weights.
/// <para>
/// With W the tower width, T the tokens (1 + patches [+ VPT prompts]) and x [B, T, W] the block input, the block computes
/// (every hook returns a tensor of its argument's shape, or the argument itself when it does nothing):
/// <code>
/// h      = ln_1(x)                                              [B, T, W]
/// qkv    = h·in_proj_weightᵀ + in_proj_bias                     [B, T, 3W], last dim = q | k | v
/// qkv    = qkv + QkvDelta(h)            (skipped when null)
/// qkv    = AfterQkv(qkv)
/// a      = softmax(q·kᵀ/√d)·v per head, heads merged           [B, T, W]
/// o      = AfterAttentionOut(out_proj(a))
/// x1     = x + o
/// f      = AfterFc1(c_fc(ln_2(x1)))                             [B, T, 4W], before the activation
/// m      = AfterFc2(c_proj(act(f)))                             [B, T, W]
/// out    = x1 + MlpBranch(x1, m)
/// </code>
/// </para>
/// <para>
/// Tensors are in the residual stream's dtype: float32, also after <see cref="ClipModel.ToDType"/> to bfloat16, where
/// only the tower's own matrix products run in bfloat16 (autocast's split), so PEFT parameters meet float32. Hooks run inside the
/// block's dispose scope: tensors they create there are freed when the block returns, except what the block returns,
/// so a hook must not keep references to them. Hooks must not modify their arguments in place; with gradients
/// disabled the block itself updates its own intermediates in place (including the tensor returned by AfterFc1,
/// through the activation, and x1 after MlpBranch).
/// </para>
/// </summary>
public interface IVisionBlockPeft
{
    /// <summary>Additive delta for the packed q|k|v projection, given ln_1(x) [B,T,W]; null for none. LoRA: [B,T,3W] with zeros in k.</summary>
    Tensor? QkvDelta(Tensor lnX) => null;

    /// <summary>Applied to the packed qkv projection [B,T,3W] (after the delta). SSF scales and shifts here.</summary>
    Tensor AfterQkv(Tensor qkv) => qkv;

    /// <summary>Applied to the attention output projection out_proj(attention) [B,T,W], before the residual add.</summary>
    Tensor AfterAttentionOut(Tensor attnOut) => attnOut;

    /// <summary>Applied to the first MLP linear c_fc(ln_2(x1)) [B,T,4W], before the activation.</summary>
    Tensor AfterFc1(Tensor h) => h;

    /// <summary>Applied to the second MLP linear c_proj(act(…)) [B,T,W].</summary>
    Tensor AfterFc2(Tensor h) => h;

    /// <summary>
    /// Combines the MLP branch with adapters: receives the residual input x1 (the block's input plus the attention
    /// branch, i.e. the input of ln_2) and the MLP output (after <see cref="AfterFc2"/>); returns the branch that is
    /// added to x1. Adapter: mlpOut + adapter(mlpOut); AdaptFormer: mlpOut + s·adapter(x1).
    /// </summary>
    Tensor MlpBranch(Tensor x, Tensor mlpOut) => mlpOut;
}

/// <summary>
/// Token injection before vision blocks (VPT). Attach with <see cref="VisionTransformer.PromptInjector"/> (called, not
/// registered). <see cref="BeforeBlock"/> is called before every block
/// <c>layer</c> = 0 … layers−1 with the token sequence x [B, T, W] entering it (after ln_pre for layer 0)
/// and the original sequence length (class token + patches); it returns the sequence the block runs on, [B, T', W].
/// VPT-deep drops tokens beyond the original length and appends this layer's prompts; VPT-shallow
/// appends prompts only before layer 0 and returns x unchanged afterwards. The class token must stay at index 0:
/// ln_post reads token 0 after the last block. x must not be modified in place.
/// </summary>
public interface IVisionPromptInjector
{
    Tensor BeforeBlock(int layer, Tensor x, int originalLength);
}
