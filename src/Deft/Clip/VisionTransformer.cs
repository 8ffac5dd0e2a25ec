using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Deft.Clip;

/// <summary>
/// CLIP's image tower (OpenAI's VisionTransformer): patch embedding (conv1, no bias), class token, positional
/// embedding, ln_pre, residual blocks, ln_post on the class token and the projection <c>proj</c> [W, E].
/// </summary>
public sealed class VisionTransformer : nn.Module
{
    [ComponentName(Name = "conv1")] private WeightOnly _conv1;
    [ComponentName(Name = "class_embedding")] private Parameter _classEmbedding;
    [ComponentName(Name = "positional_embedding")] private Parameter _positionalEmbedding;
    [ComponentName(Name = "ln_pre")] private ClipLayerNorm _lnPre;
    [ComponentName(Name = "transformer")] private ClipTransformer _transformer;
    [ComponentName(Name = "ln_post")] private ClipLayerNorm _lnPost;
    [ComponentName(Name = "proj")] private Parameter _proj;
    private readonly ClipVisionConfig _config;

    /// <summary>The image tower of <paramref name="clip"/>: its vision settings, embedding width, activation and LayerNorm eps.</summary>
    internal VisionTransformer(ClipConfig clip, Device? device)
        : base(nameof(VisionTransformer))
    {
        var config = clip.Vision;
        var embedDim = clip.EmbedDim;
        var activation = clip.Activation;
        var eps = clip.LayerNormEps;
        _config = config;
        long w = config.Width;
        _conv1 = new WeightOnly([w, 3, config.PatchSize, config.PatchSize], device);
        _classEmbedding = new Parameter(torch.empty(w, device: device));
        _positionalEmbedding = new Parameter(torch.empty(config.SequenceLength, w, device: device));
        _lnPre = new ClipLayerNorm(w, eps, device);
        _transformer = new ClipTransformer(w, config.Layers, config.Heads, config.MlpRatio, activation, eps, device);
        _lnPost = new ClipLayerNorm(w, eps, device);
        _proj = new Parameter(torch.empty(w, embedDim, device: device));
        RegisterComponents();
    }

    public ClipVisionConfig Config => _config;

    /// <summary>The residual blocks, in order (block i is <c>transformer.resblocks.i</c>).</summary>
    public IReadOnlyList<ResidualAttentionBlock> Blocks => _transformer.Blocks;

    /// <summary>The projection [W, E] applied to ln_post(class token).</summary>
    public Parameter Proj => _proj;

    /// <summary>The dtype of the tower's weights (float32, or bfloat16 after <see cref="ClipModel.ToDType"/>).</summary>
    public ScalarType DType => _proj.dtype;

    /// <summary>
    /// Token injection (VPT) called before every block, or null. Called, not owned or registered (its tokens are named
    /// by their owner, <c>VisionPeft</c>: <c>vpt.N</c>).
    /// </summary>
    public IVisionPromptInjector? PromptInjector { get; set; }

    /// <summary>ln_post of the class token after all blocks: [B, W] in the stream's dtype (float32 for a bfloat16 tower).</summary>
    public Tensor EncodePreProjection(Tensor images)
    {
        var r = _config.ImageSize;
        if (images.dim() != 4 || images.shape[1] != 3 || images.shape[2] != r || images.shape[3] != r)
            throw new DeftException($"CLIP image tower expects images [B, 3, {r}, {r}]; got [{string.Join(", ", images.shape)}].");
        using var scope = torch.NewDisposeScope();
        var x = EmbedTokens(images);

        var injector = PromptInjector;
        var originalLength = (int)x.shape[1];
        var blocks = _transformer.Blocks;
        for (var i = 0; i < blocks.Count; i++)
        {
            var blockInput = injector is null ? x : injector.BeforeBlock(i, x, originalLength);
            var next = blocks[i].Forward(blockInput, causal: false);
            // x is this method's own tensor; dropping it early keeps one activation alive instead of all layers'
            // (autograd holds what it needs natively). The injector's result is left to the scope.
            x.Dispose();
            x = next;
        }
        var pooled = _lnPost.call(x.select(1, 0));
        return pooled.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The sequence entering block 0: ln_pre(class token | patches + positions), [B, T, W] in the stream's dtype. With
    /// bfloat16 weights the residual stream stays float32 and only the matrix products run in bfloat16 (autocast's
    /// split): rounding the stream itself to bfloat16 after every block cost PEFT gradients up to 1% of cosine.
    /// </summary>
    internal Tensor EmbedTokens(Tensor images)
    {
        long batch = images.shape[0], width = _config.Width;
        var stream = ReducedPrecision.StreamDType(DType);
        var input = images.dtype == DType ? images : images.to(DType);
        var patches = F.conv2d(input, _conv1.Weight, strides: [_config.PatchSize, _config.PatchSize]);
        var tokens = patches.flatten(2).transpose(1, 2).to(stream);
        var cls = _classEmbedding.to(stream).view(1, 1, width).expand(batch, 1, width);
        var x = torch.cat([cls, tokens], 1).add_(_positionalEmbedding.to(stream));
        return _lnPre.call(x);
    }

    internal WeightOnly Conv1 => _conv1;
    internal Parameter ClassEmbedding => _classEmbedding;
    internal Parameter PositionalEmbedding => _positionalEmbedding;
}
