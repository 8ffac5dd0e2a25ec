using System.Text.Json.Nodes;
using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Deft.Adaptation;

/// <summary>A timm VisionTransformer's shape (class-token pooling, pre-norm blocks, exact GELU, LayerNorm eps 1e-6).</summary>
public sealed record VitConfig(int ImageSize, int PatchSize, int Width, int Depth, int Heads, double MlpRatio = 4.0)
{
    /// <summary>timm's vit_base_patch16_224.</summary>
    public static VitConfig B16 { get; } = new(224, 16, 768, 12, 12);

    /// <summary>32 px, patch 8, width 128, 2 blocks, 2 heads of 64 (tests).</summary>
    public static VitConfig Tiny { get; } = new(32, 8, 128, 2, 2);

    public static IReadOnlyList<string> PresetNames { get; } = ["vit_base_patch16_224", "vit-b-16", "vit-tiny"];

    public static VitConfig? FromPreset(string name) => name.ToLowerInvariant().Replace('/', '-') switch
    {
        "vit_base_patch16_224" or "vit-b-16" or "vit_b_16" => B16,
        "vit-tiny" or "vit_tiny" => Tiny,
        _ => null,
    };

    public int Grid => ImageSize / PatchSize;
    public int Hidden => (int)Math.Round(Width * MlpRatio);

    public void Validate()
    {
        if (ImageSize < 1 || PatchSize < 1 || ImageSize % PatchSize != 0)
            throw new DeftException($"ViT image size {ImageSize} must be a positive multiple of the patch size {PatchSize}.");
        if (Width < 1 || Depth < 1 || Heads < 1 || Width % Heads != 0)
            throw new DeftException($"ViT width {Width} must be divisible by its {Heads} heads, with depth ≥ 1 (got {Depth}).");
    }
}

internal sealed class TimmPatchEmbed : Module<Tensor, Tensor>
{
    [ComponentName(Name = "proj")] private readonly Conv2d _proj;

    public TimmPatchEmbed(int patch, int width) : base(nameof(TimmPatchEmbed))
    {
        _proj = Conv2d(3, width, kernel_size: patch, stride: patch);
        RegisterComponents();
    }

    public Conv2d Proj => _proj;

    /// <summary>[B, 3, H, W] → [B, patches, width].</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        return _proj.forward(x).flatten(2).transpose(1, 2).MoveToOuterDisposeScope();
    }
}

internal sealed class TimmAttention : Module<Tensor, Tensor>
{
    [ComponentName(Name = "qkv")] private readonly Linear _qkv;
    [ComponentName(Name = "proj")] private readonly Linear _proj;
    private readonly int _heads;

    public TimmAttention(int width, int heads) : base(nameof(TimmAttention))
    {
        _qkv = Linear(width, 3 * width);
        _proj = Linear(width, width);
        _heads = heads;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], t = x.shape[1], w = x.shape[2];
        var parts = _qkv.forward(x).view(b, t, 3, _heads, w / _heads).permute(2, 0, 3, 1, 4).unbind(0);
        var attended = functional.scaled_dot_product_attention(parts[0], parts[1], parts[2]);
        return _proj.forward(attended.transpose(1, 2).reshape(b, t, w)).MoveToOuterDisposeScope();
    }
}

internal sealed class TimmMlp : Module<Tensor, Tensor>
{
    [ComponentName(Name = "fc1")] private readonly Linear _fc1;
    [ComponentName(Name = "fc2")] private readonly Linear _fc2;

    public TimmMlp(int width, int hidden) : base(nameof(TimmMlp))
    {
        _fc1 = Linear(width, hidden);
        _fc2 = Linear(hidden, width);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        return _fc2.forward(functional.gelu(_fc1.forward(x))).MoveToOuterDisposeScope();
    }
}

internal sealed class TimmBlock : Module<Tensor, Tensor>
{
    private const double Eps = 1e-6;
    [ComponentName(Name = "norm1")] private readonly LayerNorm _norm1;
    [ComponentName(Name = "attn")] private readonly TimmAttention _attn;
    [ComponentName(Name = "norm2")] private readonly LayerNorm _norm2;
    [ComponentName(Name = "mlp")] private readonly TimmMlp _mlp;

    public TimmBlock(int width, int heads, int hidden) : base(nameof(TimmBlock))
    {
        _norm1 = LayerNorm(width, Eps);
        _attn = new TimmAttention(width, heads);
        _norm2 = LayerNorm(width, Eps);
        _mlp = new TimmMlp(width, hidden);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var x1 = x.add(_attn.forward(_norm1.forward(x)));
        return x1.add(_mlp.forward(_norm2.forward(x1))).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// timm's VisionTransformer (class token, learned absolute positions, pre-norm blocks, final norm, linear head on the
/// class token) with timm's state-dict keys: cls_token, pos_embed, patch_embed.proj.*, blocks.N.norm1/attn.qkv/
/// attn.proj/norm2/mlp.fc1/mlp.fc2, norm, head.
/// </summary>
internal sealed class TimmVisionTransformer : Module<Tensor, Tensor>
{
    [ComponentName(Name = "cls_token")] private readonly Parameter _clsToken;
    [ComponentName(Name = "pos_embed")] private readonly Parameter _posEmbed;
    [ComponentName(Name = "patch_embed")] private readonly TimmPatchEmbed _patchEmbed;
    [ComponentName(Name = "blocks")] private readonly ModuleList<TimmBlock> _blocks;
    [ComponentName(Name = "norm")] private readonly LayerNorm _norm;
    [ComponentName(Name = "head")] private readonly Linear _head;

    public TimmVisionTransformer(VitConfig config, int classCount) : base(nameof(TimmVisionTransformer))
    {
        config.Validate();
        _clsToken = new Parameter(torch.zeros(1, 1, config.Width));
        _posEmbed = new Parameter(torch.zeros(1, config.Grid * config.Grid + 1, config.Width));
        _patchEmbed = new TimmPatchEmbed(config.PatchSize, config.Width);
        _blocks = new ModuleList<TimmBlock>();
        for (var i = 0; i < config.Depth; i++) _blocks.Add(new TimmBlock(config.Width, config.Heads, config.Hidden));
        _norm = LayerNorm(config.Width, 1e-6);
        _head = Linear(config.Width, classCount);
        RegisterComponents();
    }

    public override Tensor forward(Tensor images)
    {
        using var scope = NewDisposeScope();
        var tokens = _patchEmbed.forward(images);
        var b = tokens.shape[0];
        var x = torch.cat([_clsToken.expand(b, -1, -1), tokens], 1).add(_posEmbed);
        foreach (var block in _blocks)
        {
            var next = block.forward(x);
            x.Dispose();
            x = next;
        }
        var pooled = _norm.forward(x.select(1, 0));
        return _head.forward(pooled).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// A timm ViT classifier; every parameter trains (the official code's SGD, or AdamW for MAE, over model.parameters()).
/// <see cref="BackboneKind.Mae"/> is the same network with MAE's settings (timm's vit_base_patch16_224.mae).
/// </summary>
internal sealed class VitClassifier : IAdaptNetwork
{
    private readonly TimmVisionTransformer _model;
    private readonly List<(string, Parameter)> _trainables;

    public VitClassifier(VitConfig config, int classCount, Generator? generator, BackboneKind kind = BackboneKind.Vit)
    {
        if (kind.Layout() != BackboneKind.Vit) throw new ArgumentOutOfRangeException(nameof(kind), kind, "A ViT is a vit or mae backbone.");
        Kind = kind;
        Config = config;
        ClassCount = classCount;
        _model = new TimmVisionTransformer(config, classCount);
        Initialize(generator);
        _trainables = _model.named_parameters().Select(p => (p.name, p.parameter)).ToList();
        foreach (var (_, p) in _trainables) p.requires_grad = true;
    }

    public VitConfig Config { get; }
    public BackboneKind Kind { get; }
    public int ClassCount { get; }
    public int Resolution => Config.ImageSize;
    public Device Device => _trainables[0].Item2.device;
    public bool BatchDependent => false;
    public IReadOnlyList<(string Name, Parameter Parameter)> Trainables => _trainables;
    public IReadOnlyList<(string Name, Tensor Tensor)> TrainingBuffers => [];

    public IEnumerable<(string Name, Tensor Tensor)> SavedState() => _model.state_dict().Select(kv => (kv.Key, kv.Value));

    public Tensor Logits(Tensor images) => _model.forward(images);

    // No dropout or batch statistics (timm's defaults for the augreg ViTs): both modes compute the same function.
    public void SetTraining(bool training)
    {
        if (training) _model.train(); else _model.eval();
    }

    public JsonObject Architecture() => new()
    {
        ["image_size"] = Config.ImageSize,
        ["patch_size"] = Config.PatchSize,
        ["width"] = Config.Width,
        ["depth"] = Config.Depth,
        ["heads"] = Config.Heads,
        ["mlp_ratio"] = Config.MlpRatio,
    };

    public static VitConfig ConfigFrom(JsonObject arch, string source)
    {
        int Int(string key) => arch[key]?.GetValue<int>() ?? throw new DeftException($"{source}: architecture field '{key}' is missing.");
        return new VitConfig(Int("image_size"), Int("patch_size"), Int("width"), Int("depth"), Int("heads"), arch["mlp_ratio"]?.GetValue<double>() ?? 4.0);
    }

    /// <summary>
    /// timm's default (<c>init_weights_vit_timm</c>): linear layers trunc_normal(0.02) with zero bias (the head too),
    /// pos_embed trunc_normal(0.02), cls_token normal(1e-6), LayerNorm 1/0, the patch convolution PyTorch's default.
    /// </summary>
    private void Initialize(Generator? generator)
    {
        using var noGrad = torch.no_grad();
        var parameters = _model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        foreach (var (name, p) in parameters)
        {
            if (name == "cls_token") AdaptNetworkHelpers.Normal(p, 1e-6, generator);
            else if (name == "pos_embed") AdaptNetworkHelpers.TruncatedNormal(p, 0.02, generator);
            else if (name.StartsWith("patch_embed.", StringComparison.Ordinal)) continue;
            else if (name.EndsWith(".weight", StringComparison.Ordinal) && p.dim() == 2) AdaptNetworkHelpers.TruncatedNormal(p, 0.02, generator);
            else if (name.EndsWith(".weight", StringComparison.Ordinal)) p.fill_(1);
            else p.zero_();
        }
        AdaptNetworkHelpers.LinearDefaultInit(parameters["patch_embed.proj.weight"], parameters["patch_embed.proj.bias"], generator);
    }

    /// <summary>Copies a state dict's tensors into the model (pre-trained weights; a head of another size is skipped).</summary>
    internal void LoadTensors(IReadOnlyDictionary<string, Tensor> tensors, Func<string, bool> include) =>
        SavedStateIO.CopyAvailable(SavedState(), tensors, include);

    public void Dispose() => _model.Dispose();

    public override string ToString() =>
        $"{(Kind == BackboneKind.Mae ? "MAE " : "")}ViT (timm layout) {Config.ImageSize}px/{Config.PatchSize}, width {Config.Width}×{Config.Depth}, {Config.Heads} heads";
}
