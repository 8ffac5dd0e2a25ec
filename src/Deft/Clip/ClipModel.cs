using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace Deft.Clip;

/// <summary>Which tower(s) an operation applies to.</summary>
[Flags]
public enum ClipTowers { Vision = 1, Text = 2, Both = Vision | Text }

/// <summary>
/// OpenAI's CLIP (ViT image tower + causal text transformer) with OpenAI's state-dict names, so OpenAI/open_clip
/// weights load key for key. Features are projected but not normalised. A tower converted to bfloat16/float16 with
/// <see cref="ToDType"/> takes float32 inputs and returns float32 outputs (the casts happen inside).
/// </summary>
public sealed class ClipModel : nn.Module
{
    [ComponentName(Name = "visual")] private VisionTransformer _visual;
    [ComponentName(Name = "transformer")] private ClipTransformer _transformer;
    [ComponentName(Name = "token_embedding")] private WeightOnly _tokenEmbedding;
    [ComponentName(Name = "positional_embedding")] private Parameter _positionalEmbedding;
    [ComponentName(Name = "ln_final")] private ClipLayerNorm _lnFinal;
    [ComponentName(Name = "text_projection")] private Parameter _textProjection;
    [ComponentName(Name = "logit_scale")] private Parameter _logitScale;
    private readonly ClipConfig _config;

    /// <summary>
    /// A CLIP with OpenAI's initialisation drawn from <paramref name="seed"/> (deterministic for a seed). Loading
    /// weights goes through <see cref="ClipLoader"/>.
    /// </summary>
    public ClipModel(ClipConfig config, long seed = 0, string device = "cpu") : this(config, torch.device(device))
    {
        ClipInitializer.Initialize(this, seed);
    }

    /// <summary>Allocates without initialising (the loader overwrites every parameter).</summary>
    internal ClipModel(ClipConfig config, Device device) : base(nameof(ClipModel))
    {
        _config = config;
        var text = config.Text;
        _visual = new VisionTransformer(config, device);
        _transformer = new ClipTransformer(text.Width, text.Layers, text.Heads, text.MlpRatio, config.Activation, config.LayerNormEps, device);
        _tokenEmbedding = new WeightOnly([text.VocabSize, text.Width], device);
        _positionalEmbedding = new Parameter(torch.empty(text.ContextLength, text.Width, device: device));
        _lnFinal = new ClipLayerNorm(text.Width, config.LayerNormEps, device);
        _textProjection = new Parameter(torch.empty(text.Width, config.EmbedDim, device: device));
        _logitScale = new Parameter(torch.empty(Array.Empty<long>(), device: device));
        RegisterComponents();
    }

    public ClipConfig Config => _config;
    public VisionTransformer Visual => _visual;

    /// <summary>The text tower's residual blocks (<c>transformer.resblocks.N</c>).</summary>
    public IReadOnlyList<ResidualAttentionBlock> TextBlocks => _transformer.Blocks;

    /// <summary>The learnable temperature (a scalar, log scale; callers use exp()). Always float32.</summary>
    public Parameter LogitScale => _logitScale;

    /// <summary>The text tower's weight dtype.</summary>
    public ScalarType TextDType => _textProjection.dtype;

    /// <summary>The device the parameters live on.</summary>
    public Device Device => _logitScale.device;

    /// <summary>Projected image features [B, E] (not normalised) for images [B, 3, R, R] already normalised.</summary>
    public Tensor EncodeImage(Tensor images)
    {
        using var scope = torch.NewDisposeScope();
        var pooled = _visual.EncodePreProjection(images);
        return ToOutput(pooled.matmul(_visual.Proj)).MoveToOuterDisposeScope();
    }

    /// <summary>ln_post(class token) [B, W]: the image feature before the projection.</summary>
    public Tensor EncodeImagePreProjection(Tensor images)
    {
        using var scope = torch.NewDisposeScope();
        return ToOutput(_visual.EncodePreProjection(images)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Projected text features [N, E] for token ids [N, L] (int64, L ≤ context length, end-of-text = the largest id
    /// of each row, as CLIP's tokenizer produces). Only the first max(EOT)+1 positions are encoded: the causal mask
    /// makes the EOT feature independent of the padding after it.
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
        return EncodeTextEmbeddingsCore(embeddings, eot, length).MoveToOuterDisposeScope();
    }

    /// <summary>Token embeddings [N, L, W] (before the positional embedding is added), float32.</summary>
    public Tensor TokenEmbedding(Tensor tokenIds)
    {
        CheckTokenIds(tokenIds);
        using var scope = torch.NewDisposeScope();
        var ids = tokenIds.dtype == ScalarType.Int64 ? tokenIds : tokenIds.to(ScalarType.Int64);
        return ToOutput(TokenEmbeddingCore(ids)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Text features [N, E] from token embeddings [N, L, W] (L ≤ context length; positional_embedding[:L] is added
    /// here) and the end-of-text position of each row [N] (int64). Positions after max(eotIndex) are not computed.
    /// Differentiable with respect to <paramref name="embeddings"/> (the prompt learner's context vectors).
    /// </summary>
    public Tensor EncodeTextEmbeddings(Tensor embeddings, Tensor eotIndex)
    {
        var text = _config.Text;
        if (embeddings.dim() != 3 || embeddings.shape[1] > text.ContextLength || embeddings.shape[2] != text.Width)
            throw new DeftException($"Text embeddings must be [N, L ≤ {text.ContextLength}, {text.Width}]; got [{string.Join(", ", embeddings.shape)}].");
        if (eotIndex.dim() != 1 || eotIndex.shape[0] != embeddings.shape[0])
            throw new DeftException($"eotIndex must be [N] = [{embeddings.shape[0]}]; got [{string.Join(", ", eotIndex.shape)}].");
        using var scope = torch.NewDisposeScope();
        var eot = eotIndex.dtype == ScalarType.Int64 ? eotIndex : eotIndex.to(ScalarType.Int64);
        var min = eot.min().item<long>();
        var length = eot.max().item<long>() + 1;
        if (min < 0 || length > embeddings.shape[1])
            throw new DeftException($"eotIndex values must lie in [0, {embeddings.shape[1]}); got {min}..{length - 1}.");
        return EncodeTextEmbeddingsCore(embeddings, eot, length).MoveToOuterDisposeScope();
    }

    /// <summary>CLIP's logits: exp(logit_scale) · normalised images · normalised textsᵀ, [B, N].</summary>
    public Tensor Logits(Tensor imageFeatures, Tensor textFeatures)
    {
        using var scope = torch.NewDisposeScope();
        var img = imageFeatures / imageFeatures.norm(1, keepdim: true);
        var txt = textFeatures / textFeatures.norm(1, keepdim: true);
        return (_logitScale.exp() * img.matmul(txt.t())).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// CLIP's own parameters with their state-dict names. Attached PEFT and prompt hooks are not registered in the
    /// model, so this is every parameter of it.
    /// </summary>
    public IEnumerable<(string Name, Parameter Parameter)> NamedClipParameters() => named_parameters();

    /// <summary>Stops gradients for every CLIP parameter (attached PEFT/prompt hooks are not CLIP's and keep theirs).</summary>
    public void FreezeAll() => SetRequiresGrad(false, ClipTowers.Both);

    /// <summary>Sets requires_grad on CLIP's own parameters of the given tower(s); logit_scale counts as text.</summary>
    public void SetRequiresGrad(bool requiresGrad, ClipTowers towers)
    {
        foreach (var (name, p) in NamedClipParameters())
        {
            var tower = name.StartsWith("visual.", StringComparison.Ordinal) ? ClipTowers.Vision : ClipTowers.Text;
            if ((towers & tower) != 0) p.requires_grad = requiresGrad;
        }
    }

    /// <summary>
    /// Converts the given tower(s)' weights to <paramref name="dtype"/> (bfloat16 for
    /// the fast frozen path). logit_scale stays float32. Inputs are cast to the tower's dtype and outputs back to
    /// float32 inside the encode methods.
    /// </summary>
    public ClipModel ToDType(ScalarType dtype, ClipTowers towers = ClipTowers.Both)
    {
        if (dtype is not (ScalarType.Float32 or ScalarType.BFloat16 or ScalarType.Float16 or ScalarType.Float64))
            throw new DeftException($"CLIP weights must be a floating-point dtype; got {dtype}. Valid: Float32, BFloat16, Float16, Float64.");
        using var noGrad = torch.no_grad();
        if ((towers & ClipTowers.Vision) != 0) _visual.to(dtype);
        if ((towers & ClipTowers.Text) != 0)
        {
            _transformer.to(dtype);
            _tokenEmbedding.to(dtype);
            _lnFinal.to(dtype);
            _positionalEmbedding = ReplaceParameter("positional_embedding", _positionalEmbedding, dtype);
            _textProjection = ReplaceParameter("text_projection", _textProjection, dtype);
        }
        return this;
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
        return _tokenEmbedding.Weight.index_select(0, ids.reshape(-1)).view(n, length, _config.Text.Width);
    }

    private Tensor EncodeTextEmbeddingsCore(Tensor embeddings, Tensor eot, long length)
    {
        var dtype = TextDType;
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
        return ToOutput(_lnFinal.call(pooled).matmul(_textProjection));
    }

    private void CheckTokenIds(Tensor tokenIds)
    {
        if (tokenIds.dim() != 2 || tokenIds.shape[1] > _config.Text.ContextLength || tokenIds.shape[1] == 0)
            throw new DeftException($"Token ids must be [N, L ≤ {_config.Text.ContextLength}]; got [{string.Join(", ", tokenIds.shape)}].");
        if (tokenIds.is_floating_point())
            throw new DeftException($"Token ids must be integers (int64); got {tokenIds.dtype}.");
    }

    /// <summary>Reduced-precision results go back to float32 so callers never see bf16 features.</summary>
    private static Tensor ToOutput(Tensor t) =>
        t.dtype is ScalarType.BFloat16 or ScalarType.Float16 ? t.to(ScalarType.Float32) : t;

    internal WeightOnly TokenEmbeddingModule => _tokenEmbedding;
    internal Parameter PositionalEmbedding => _positionalEmbedding;
    internal Parameter TextProjection => _textProjection;
    internal ClipTransformer TextTransformer => _transformer;
}
