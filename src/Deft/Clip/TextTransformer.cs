using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace Deft.Clip;

/// <summary>
/// CLIP's text tower (open_clip's TextTransformer): token embedding, positional embedding, causal residual blocks,
/// ln_final on the end-of-text token and the projection <c>text_projection</c> [W, E]. Its state-dict names are the
/// ones <see cref="ClipModel"/> lists them under (no prefix), because CLIP lifts these parts into itself. Convert
/// dtypes and devices through the CLIP (<see cref="ClipModel.ToDType"/>, <c>to()</c>), which keeps both registrations
/// on the same tensors.
/// </summary>
public sealed class TextTransformer : nn.Module
{
    [ComponentName(Name = "token_embedding")] private WeightOnly _tokenEmbedding;
    [ComponentName(Name = "positional_embedding")] private Parameter _positionalEmbedding;
    [ComponentName(Name = "transformer")] private ClipTransformer _transformer;
    [ComponentName(Name = "ln_final")] private ClipLayerNorm _lnFinal;
    [ComponentName(Name = "text_projection")] private Parameter _textProjection;
    private readonly ClipTextConfig _config;

    /// <summary>The text tower of <paramref name="clip"/>: its text settings, embedding width, activation and LayerNorm eps.</summary>
    internal TextTransformer(ClipConfig clip, Device? device) : base(nameof(TextTransformer))
    {
        var config = clip.Text;
        _config = config;
        _tokenEmbedding = new WeightOnly([config.VocabSize, config.Width], device);
        _positionalEmbedding = new Parameter(torch.empty(config.ContextLength, config.Width, device: device));
        _transformer = new ClipTransformer(config.Width, config.Layers, config.Heads, config.MlpRatio, clip.Activation, clip.LayerNormEps, device);
        _lnFinal = new ClipLayerNorm(config.Width, clip.LayerNormEps, device);
        _textProjection = new Parameter(torch.empty(config.Width, clip.EmbedDim, device: device));
        RegisterComponents();
    }

    /// <summary>The text settings the tower was built from (context length, vocabulary, width, layers, heads).</summary>
    public ClipTextConfig Config => _config;

    /// <summary>The residual blocks, in order (block i is <c>transformer.resblocks.i</c>).</summary>
    public IReadOnlyList<ResidualAttentionBlock> Blocks => _transformer.Blocks;

    /// <summary>The projection [W, E] applied to ln_final(end-of-text token).</summary>
    public Parameter Projection => _textProjection;

    /// <summary>The positional embedding [context length, W].</summary>
    public Parameter PositionalEmbedding => _positionalEmbedding;

    /// <summary>The dtype of the tower's weights (float32, or bfloat16 after <see cref="ClipModel.ToDType"/>).</summary>
    public ScalarType DType => _textProjection.dtype;

    /// <summary>
    /// Projected text features [N, E], float32, for token ids [N, L] (int64, L ≤ context length, end-of-text = the
    /// largest id of each row, as CLIP's tokenizer produces). Only the first max(EOT)+1 positions are encoded: the
    /// causal mask makes the EOT feature independent of the padding after it.
    /// </summary>
    public Tensor EncodeText(Tensor tokenIds) => EncodeText(tokenIds, cutAtEndOfText: true);

    /// <summary><paramref name="cutAtEndOfText"/> false runs every position (the reference the cut is tested against).</summary>
    internal Tensor EncodeText(Tensor tokenIds, bool cutAtEndOfText)
    {
        CheckTokenIds(tokenIds);
        using var scope = torch.NewDisposeScope();
        var ids = tokenIds.dtype == ScalarType.Int64 ? tokenIds : tokenIds.to(ScalarType.Int64);
        var eot = ids.argmax(-1);
        var length = cutAtEndOfText ? eot.max().item<long>() + 1 : ids.shape[1];
        var embeddings = TokenEmbeddingCore(ids.narrow(1, 0, length));
        return EncodeEmbeddingsCore(embeddings, eot, length).MoveToOuterDisposeScope();
    }

    /// <summary>Token embeddings [N, L, W] (before the positional embedding is added), float32.</summary>
    public Tensor TokenEmbedding(Tensor tokenIds)
    {
        CheckTokenIds(tokenIds);
        using var scope = torch.NewDisposeScope();
        var ids = tokenIds.dtype == ScalarType.Int64 ? tokenIds : tokenIds.to(ScalarType.Int64);
        return ReducedPrecision.ToFloat32(TokenEmbeddingCore(ids)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Text features [N, E], float32, from token embeddings [N, L, W] (L ≤ context length; positional_embedding[:L]
    /// is added here) and the end-of-text position of each row [N] (int64). Positions after max(eotIndex) are not
    /// computed. Differentiable with respect to <paramref name="embeddings"/> (the prompt learner's context vectors).
    /// </summary>
    public Tensor EncodeTextEmbeddings(Tensor embeddings, Tensor eotIndex)
    {
        if (embeddings.dim() != 3 || embeddings.shape[1] > _config.ContextLength || embeddings.shape[2] != _config.Width)
            throw new DeftException($"Text embeddings must be [N, L ≤ {_config.ContextLength}, {_config.Width}]; got [{string.Join(", ", embeddings.shape)}].");
        if (eotIndex.dim() != 1 || eotIndex.shape[0] != embeddings.shape[0])
            throw new DeftException($"eotIndex must be [N] = [{embeddings.shape[0]}]; got [{string.Join(", ", eotIndex.shape)}].");
        using var scope = torch.NewDisposeScope();
        var eot = eotIndex.dtype == ScalarType.Int64 ? eotIndex : eotIndex.to(ScalarType.Int64);
        var min = eot.min().item<long>();
        var length = eot.max().item<long>() + 1;
        if (min < 0 || length > embeddings.shape[1])
            throw new DeftException($"eotIndex values must lie in [0, {embeddings.shape[1]}); got {min}..{length - 1}.");
        return EncodeEmbeddingsCore(embeddings, eot, length).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Converts the weights to <paramref name="dtype"/>. The blocks, embedding and norm convert in place (they are
    /// the same module objects CLIP registers); the two direct parameters are replaced, so CLIP re-lifts them.
    /// </summary>
    internal void ConvertTo(ScalarType dtype)
    {
        _transformer.to(dtype);
        _tokenEmbedding.to(dtype);
        _lnFinal.to(dtype);
        _positionalEmbedding = ReplaceParameter("positional_embedding", _positionalEmbedding, dtype);
        _textProjection = ReplaceParameter("text_projection", _textProjection, dtype);
    }

    /// <summary>Takes the direct parameters CLIP now holds (after TorchSharp's <c>to()</c> replaced CLIP's copies of them).</summary>
    internal void Adopt(Parameter positionalEmbedding, Parameter textProjection)
    {
        _positionalEmbedding = positionalEmbedding;
        ConditionallyRegisterParameter("positional_embedding", positionalEmbedding);
        _textProjection = textProjection;
        ConditionallyRegisterParameter("text_projection", textProjection);
    }

    private Parameter ReplaceParameter(string name, Parameter old, ScalarType dtype)
    {
        if (old.dtype == dtype) return old;
        var replacement = new Parameter(old.detach().to(dtype), old.requires_grad);
        ConditionallyRegisterParameter(name, replacement);
        old.Dispose();
        return replacement;
    }

    private Tensor TokenEmbeddingCore(Tensor ids)
    {
        long n = ids.shape[0], length = ids.shape[1];
        return _tokenEmbedding.Weight.index_select(0, ids.reshape(-1)).view(n, length, _config.Width);
    }

    private Tensor EncodeEmbeddingsCore(Tensor embeddings, Tensor eot, long length)
    {
        var dtype = DType;
        var input = embeddings.narrow(1, 0, length);
        if (input.dtype != dtype) input = input.to(dtype);
        var x = input.add(_positionalEmbedding.narrow(0, 0, length));
        foreach (var block in _transformer.Blocks)
        {
            var next = block.Forward(x, causal: true);
            x.Dispose();
            x = next;
        }
        long n = x.shape[0], width = x.shape[2];
        // ln_final is per token, so normalising only the gathered EOT tokens gives the same result.
        var pooled = x.gather(1, eot.view(n, 1, 1).expand(n, 1, width)).squeeze(1);
        return ReducedPrecision.ToFloat32(_lnFinal.call(pooled).matmul(_textProjection));
    }

    private void CheckTokenIds(Tensor tokenIds)
    {
        if (tokenIds.dim() != 2 || tokenIds.shape[1] > _config.ContextLength || tokenIds.shape[1] == 0)
            throw new DeftException($"Token ids must be [N, L ≤ {_config.ContextLength}]; got [{string.Join(", ", tokenIds.shape)}].");
        if (tokenIds.is_floating_point())
            throw new DeftException($"Token ids must be integers (int64); got {tokenIds.dtype}.");
    }

    internal WeightOnly TokenEmbeddingModule => _tokenEmbedding;
    internal ClipTransformer Transformer => _transformer;
    internal ClipLayerNorm LnFinal => _lnFinal;
}
