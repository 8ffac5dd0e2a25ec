using TorchSharp;
using static TorchSharp.torch;

namespace Deft.Clip;

/// <summary>
/// Per-block hooks of the image tower that parameter-efficient fine-tuning fills (LoRA, SSF, adapters). A block
/// without an attached hook runs the plain CLIP computation. Every method receives tensors of shape
/// [batch, tokens, features] and returns a tensor of the same shape (or the input itself when it does nothing).
/// Implementations are TorchSharp modules so their parameters are registered and trained.
/// </summary>
public interface IVisionBlockPeft
{
    /// <summary>Additive delta for the packed q|k|v projection, given ln_1(x); null for none. LoRA: [B,T,3W] with zeros in k.</summary>
    Tensor? QkvDelta(Tensor lnX) => null;

    /// <summary>Applied to the packed qkv projection (after the delta). SSF scales and shifts here.</summary>
    Tensor AfterQkv(Tensor qkv) => qkv;

    /// <summary>Applied to the attention output projection.</summary>
    Tensor AfterAttentionOut(Tensor attnOut) => attnOut;

    /// <summary>Applied to the first MLP linear (c_fc) before the activation.</summary>
    Tensor AfterFc1(Tensor h) => h;

    /// <summary>Applied to the second MLP linear (c_proj).</summary>
    Tensor AfterFc2(Tensor h) => h;

    /// <summary>
    /// Combines the MLP branch with adapters: receives the residual input x (before ln_2) and the MLP output; returns the
    /// branch added to x. Adapter: mlpOut + adapter(mlpOut); AdaptFormer: mlpOut + s·adapter(x).
    /// </summary>
    Tensor MlpBranch(Tensor x, Tensor mlpOut) => mlpOut;
}

/// <summary>
/// Token injection before vision blocks (VPT). <see cref="BeforeBlock"/> receives the token sequence [B, T, W] entering
/// block <paramref name="layer"/> and the original sequence length (class token + patches); VPT-deep drops tokens
/// beyond it and appends this layer's prompts; VPT-shallow appends prompts only before layer 0.
/// </summary>
public interface IVisionPromptInjector
{
    Tensor BeforeBlock(int layer, Tensor x, int originalLength);
}
