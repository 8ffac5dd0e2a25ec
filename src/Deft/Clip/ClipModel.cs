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
    // open_clip's CLIP builds the text tower as a module and then lifts its parts into itself (self.transformer =
    // text.transformer, ...), so the keys stay OpenAI's: token_embedding.weight, not text.token_embedding.weight. These
    // fields are those lifted parts, the very objects the text tower owns; only registration and to() read them.
    [ComponentName(Name = "visual")] private VisionTransformer _visual;
    [ComponentName(Name = "transformer")] private ClipTransformer _transformer;
    [ComponentName(Name = "token_embedding")] private WeightOnly _tokenEmbedding;
    [ComponentName(Name = "positional_embedding")] private Parameter _positionalEmbedding;
    [ComponentName(Name = "ln_final")] private ClipLayerNorm _lnFinal;
    [ComponentName(Name = "text_projection")] private Parameter _textProjection;
    [ComponentName(Name = "logit_scale")] private Parameter _logitScale;
    private readonly TextTransformer _text;
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
        _visual = new VisionTransformer(config, device);
        var text = new TextTransformer(config, device);
        _transformer = text.Transformer;
        _tokenEmbedding = text.TokenEmbeddingModule;
        _positionalEmbedding = text.PositionalEmbedding;
        _lnFinal = text.LnFinal;
        _textProjection = text.Projection;
        _logitScale = new Parameter(torch.empty(Array.Empty<long>(), device: device));
        RegisterComponents();
        // Set after registration: RegisterComponents registers every module-valued field, and the tower's weights
        // must not be listed a second time under text.*.
        _text = text;
    }

    public ClipConfig Config => _config;
    public VisionTransformer Visual => _visual;

    /// <summary>The text tower (its weights are registered here under OpenAI's unprefixed names).</summary>
    public TextTransformer Text => _text;

    /// <summary>The text tower's residual blocks (<c>transformer.resblocks.N</c>).</summary>
    public IReadOnlyList<ResidualAttentionBlock> TextBlocks => _text.Blocks;

    /// <summary>The learnable temperature (a scalar, log scale; callers use exp()). Always float32.</summary>
    public Parameter LogitScale => _logitScale;

    /// <summary>The text tower's weight dtype.</summary>
    public ScalarType TextDType => _text.DType;

    /// <summary>The device the parameters live on.</summary>
    public Device Device => _logitScale.device;

    /// <summary>Projected image features [B, E] (not normalised) for images [B, 3, R, R] already normalised.</summary>
    public Tensor EncodeImage(Tensor images)
    {
        using var scope = torch.NewDisposeScope();
        var pooled = _visual.EncodePreProjection(images);
        var projection = _visual.Proj;
        var projected = pooled.dtype == projection.dtype ? pooled.matmul(projection) : pooled.to(projection.dtype).matmul(projection);
        return ReducedPrecision.ToFloat32(projected).MoveToOuterDisposeScope();
    }

    /// <summary>ln_post(class token) [B, W]: the image feature before the projection.</summary>
    public Tensor EncodeImagePreProjection(Tensor images)
    {
        using var scope = torch.NewDisposeScope();
        return ReducedPrecision.ToFloat32(_visual.EncodePreProjection(images)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Projected text features [N, E] for token ids [N, L] (int64, L ≤ context length, end-of-text = the largest id
    /// of each row, as CLIP's tokenizer produces). Only the first max(EOT)+1 positions are encoded: the causal mask
    /// makes the EOT feature independent of the padding after it.
    /// </summary>
    public Tensor EncodeText(Tensor tokenIds) => _text.EncodeText(tokenIds);

    /// <summary><paramref name="cutAtEndOfText"/> false runs every position (the reference the cut is tested against).</summary>
    internal Tensor EncodeText(Tensor tokenIds, bool cutAtEndOfText) => _text.EncodeText(tokenIds, cutAtEndOfText);

    /// <summary>Token embeddings [N, L, W] (before the positional embedding is added), float32.</summary>
    public Tensor TokenEmbedding(Tensor tokenIds) => _text.TokenEmbedding(tokenIds);

    /// <summary>
    /// Text features [N, E] from token embeddings [N, L, W] (L ≤ context length; positional_embedding[:L] is added
    /// here) and the end-of-text position of each row [N] (int64). Positions after max(eotIndex) are not computed.
    /// Differentiable with respect to <paramref name="embeddings"/> (the prompt learner's context vectors).
    /// </summary>
    public Tensor EncodeTextEmbeddings(Tensor embeddings, Tensor eotIndex) => _text.EncodeTextEmbeddings(embeddings, eotIndex);

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
            _text.ConvertTo(dtype);
            LiftTextParameters();
        }
        return this;
    }

    /// <summary>Registers the text tower's current direct parameters (conversion replaces those objects).</summary>
    private void LiftTextParameters()
    {
        _positionalEmbedding = _text.PositionalEmbedding;
        ConditionallyRegisterParameter("positional_embedding", _positionalEmbedding);
        _textProjection = _text.Projection;
        ConditionallyRegisterParameter("text_projection", _textProjection);
    }

    // TorchSharp's to() replaces the Parameter objects held in this module's fields (the lifted text parameters
    // among them); the text tower takes the replacements so both registrations stay the same objects.
    protected override nn.Module _to(ScalarType dtype, bool non_blocking)
    {
        base._to(dtype, non_blocking);
        _text.Adopt(_positionalEmbedding, _textProjection);
        return this;
    }

    protected override nn.Module _to(DeviceType deviceType, int deviceIndex, bool non_blocking)
    {
        base._to(deviceType, deviceIndex, non_blocking);
        _text.Adopt(_positionalEmbedding, _textProjection);
        return this;
    }

    protected override nn.Module _to(Device device, ScalarType dtype, bool non_blocking)
    {
        base._to(device, dtype, non_blocking);
        _text.Adopt(_positionalEmbedding, _textProjection);
        return this;
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        // The tower's parts were disposed with CLIP's registration above; this releases the tower module itself.
        if (disposing) _text.Dispose();
    }

    internal WeightOnly TokenEmbeddingModule => _text.TokenEmbeddingModule;
    internal Parameter PositionalEmbedding => _text.PositionalEmbedding;
    internal Parameter TextProjection => _text.Projection;
}
