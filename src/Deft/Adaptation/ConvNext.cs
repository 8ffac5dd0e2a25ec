using System.Text.Json.Nodes;
using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using F = TorchSharp.torch.nn.functional;

namespace Deft.Adaptation;

/// <summary>
/// A ConvNeXt's shape (timm's <c>ConvNeXt</c> with its defaults: patch stem 4×4/4, 7×7 depthwise convolutions, MLP
/// ratio 4, layer scale, pool → norm → linear head): blocks and channels per stage, and the input resolution.
/// </summary>
public sealed record ConvNextConfig(IReadOnlyList<int> Depths, IReadOnlyList<int> Dims, int ImageSize = 224)
{
    /// <summary>The stem's patch size and the factor every later stage downsamples by.</summary>
    public const int StemStride = 4;

    /// <summary>timm's convnext_tiny (ConvNeXt-T): depths 3, 3, 9, 3 and dims 96, 192, 384, 768.</summary>
    public static ConvNextConfig Tiny { get; } = new([3, 3, 9, 3], [96, 192, 384, 768]);

    /// <summary>A toy ConvNeXt for tests: depths 1, 1, 2, 1, dims 8, 16, 24, 32, at 32 px (the smallest input the four stages keep).</summary>
    public static ConvNextConfig Toy { get; } = new([1, 1, 2, 1], [8, 16, 24, 32], 32);

    public static IReadOnlyList<string> PresetNames { get; } = ["convnext_tiny", "convnext-t", "convnext-toy"];

    public static ConvNextConfig? FromPreset(string name) => name.ToLowerInvariant().Replace('_', '-') switch
    {
        "convnext-tiny" or "convnext-t" => Tiny,
        "convnext-toy" => Toy,
        _ => null,
    };

    /// <summary>Total downsampling: the stem's 4 and 2 per later stage.</summary>
    public int Reduction => StemStride << (Dims.Count - 1);

    public int FeatureWidth => Dims[^1];

    public void Validate()
    {
        if (Depths.Count != 4 || Dims.Count != 4 || Depths.Any(d => d < 1) || Dims.Any(d => d < 1))
            throw new DeftException($"A ConvNeXt needs four stages of at least one block and one channel; got depths [{string.Join(", ", Depths)}], dims [{string.Join(", ", Dims)}].");
        if (ImageSize < Reduction)
            throw new DeftException($"ConvNeXt downsamples by {Reduction}: its input must be at least {Reduction} px, got {ImageSize}.");
    }
}

/// <summary>timm's <c>LayerNorm2d</c>: layer normalisation over the channels of an NCHW tensor (eps 1e-6); keys weight, bias.</summary>
internal sealed class LayerNorm2d : Module<Tensor, Tensor>
{
    private const double Eps = 1e-6;
    [ComponentName(Name = "weight")] private readonly Parameter _weight;
    [ComponentName(Name = "bias")] private readonly Parameter _bias;
    private readonly long[] _shape;

    public LayerNorm2d(int channels) : base(nameof(LayerNorm2d))
    {
        _weight = new Parameter(torch.ones(channels));
        _bias = new Parameter(torch.zeros(channels));
        _shape = [channels];
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        return F.layer_norm(x.permute(0, 2, 3, 1), _shape, _weight, _bias, Eps).permute(0, 3, 1, 2).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// timm's <c>ConvNeXtBlock</c> (conv_mlp off): depthwise 7×7 → channels-last LayerNorm → Linear 4C → GELU (erf) →
/// Linear C → layer scale <c>gamma</c> → residual. Keys conv_dw, norm, mlp.fc1, mlp.fc2, gamma.
/// </summary>
internal sealed class ConvNextBlock : Module<Tensor, Tensor>
{
    public const double LayerScaleInit = 1e-6;
    [ComponentName(Name = "conv_dw")] private readonly Conv2d _convDw;
    [ComponentName(Name = "norm")] private readonly LayerNorm _norm;
    [ComponentName(Name = "mlp")] private readonly TimmMlp _mlp;
    [ComponentName(Name = "gamma")] private readonly Parameter _gamma;

    public ConvNextBlock(int channels) : base(nameof(ConvNextBlock))
    {
        _convDw = Conv2d(channels, channels, kernel_size: 7, padding: 3, groups: channels);
        _norm = LayerNorm(channels, 1e-6);
        _mlp = new TimmMlp(channels, 4 * channels);
        _gamma = new Parameter(torch.full(channels, LayerScaleInit));
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var y = _convDw.forward(x).permute(0, 2, 3, 1);
        // The scale is per channel, so applying it channels-last is the same product timm takes after permuting back.
        y = _mlp.forward(_norm.forward(y)).mul(_gamma).permute(0, 3, 1, 2);
        return y.add(x).MoveToOuterDisposeScope();
    }
}

/// <summary>timm's <c>ConvNeXtStage</c>: downsample (LayerNorm2d + 2×2/2 convolution; none in stage 0) then the blocks.</summary>
internal sealed class ConvNextStage : Module<Tensor, Tensor>
{
    [ComponentName(Name = "downsample")] private readonly Sequential? _downsample;
    [ComponentName(Name = "blocks")] private readonly ModuleList<ConvNextBlock> _blocks;

    public ConvNextStage(int inChannels, int outChannels, int depth, bool downsample) : base(nameof(ConvNextStage))
    {
        _downsample = downsample ? Sequential(new LayerNorm2d(inChannels), Conv2d(inChannels, outChannels, kernel_size: 2, stride: 2)) : null;
        _blocks = new ModuleList<ConvNextBlock>();
        for (var i = 0; i < depth; i++) _blocks.Add(new ConvNextBlock(outChannels));
        RegisterComponents();
    }

    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var x = _downsample is null ? input.alias() : _downsample.forward(input);
        foreach (var block in _blocks) x = block.forward(x);
        return x.MoveToOuterDisposeScope();
    }
}

/// <summary>timm's <c>NormMlpClassifierHead</c> without a hidden layer: global average pool → LayerNorm → Linear (keys norm, fc).</summary>
internal sealed class ConvNextHead : Module<Tensor, Tensor>
{
    [ComponentName(Name = "norm")] private readonly LayerNorm _norm;
    [ComponentName(Name = "fc")] private readonly Linear _fc;

    public ConvNextHead(int width, int classCount) : base(nameof(ConvNextHead))
    {
        _norm = LayerNorm(width, 1e-6);
        _fc = Linear(width, classCount);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        return _fc.forward(_norm.forward(x.mean([2, 3]))).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// timm's ConvNeXt with its state-dict keys: stem.0 (4×4/4 convolution), stem.1 (LayerNorm2d),
/// stages.N.downsample.0/.1 (N ≥ 1), stages.N.blocks.M.{conv_dw, norm, mlp.fc1, mlp.fc2, gamma}, head.norm, head.fc.
/// </summary>
internal sealed class TimmConvNext : Module<Tensor, Tensor>
{
    [ComponentName(Name = "stem")] private readonly Sequential _stem;
    [ComponentName(Name = "stages")] private readonly ModuleList<ConvNextStage> _stages;
    [ComponentName(Name = "head")] private readonly ConvNextHead _head;

    public TimmConvNext(ConvNextConfig config, int classCount) : base(nameof(TimmConvNext))
    {
        config.Validate();
        _stem = Sequential(Conv2d(3, config.Dims[0], kernel_size: ConvNextConfig.StemStride, stride: ConvNextConfig.StemStride), new LayerNorm2d(config.Dims[0]));
        _stages = new ModuleList<ConvNextStage>();
        for (var i = 0; i < config.Dims.Count; i++)
            _stages.Add(new ConvNextStage(i == 0 ? config.Dims[0] : config.Dims[i - 1], config.Dims[i], config.Depths[i], downsample: i > 0));
        _head = new ConvNextHead(config.FeatureWidth, classCount);
        RegisterComponents();
    }

    public override Tensor forward(Tensor images)
    {
        using var scope = NewDisposeScope();
        var x = _stem.forward(images);
        foreach (var stage in _stages) x = stage.forward(x);
        return _head.forward(x).MoveToOuterDisposeScope();
    }
}

/// <summary>A timm ConvNeXt classifier; every parameter trains (the official code's AdamW over model.parameters()).</summary>
internal sealed class ConvNextClassifier : IAdaptNetwork
{
    private readonly TimmConvNext _model;
    private readonly List<(string, Parameter)> _trainables;

    public ConvNextClassifier(ConvNextConfig config, int classCount, Generator? generator)
    {
        Config = config;
        ClassCount = classCount;
        _model = new TimmConvNext(config, classCount);
        Initialize(generator);
        _trainables = _model.named_parameters().Select(p => (p.name, p.parameter)).ToList();
        foreach (var (_, p) in _trainables) p.requires_grad = true;
    }

    public ConvNextConfig Config { get; }
    public BackboneKind Kind => BackboneKind.ConvNext;
    public int ClassCount { get; }
    public int Resolution => Config.ImageSize;
    public Device Device => _trainables[0].Item2.device;
    public bool BatchDependent => false;
    public IReadOnlyList<(string Name, Parameter Parameter)> Trainables => _trainables;
    public IReadOnlyList<(string Name, Tensor Tensor)> TrainingBuffers => [];

    public IEnumerable<(string Name, Tensor Tensor)> SavedState() => _model.state_dict().Select(kv => (kv.Key, kv.Value));

    public Tensor Logits(Tensor images) => _model.forward(images);

    // Layer norm only and no drop path (timm's default drop_path_rate 0, which the official code keeps): both modes compute the same function.
    public void SetTraining(bool training)
    {
        if (training) _model.train(); else _model.eval();
    }

    public JsonObject Architecture() => new()
    {
        ["depths"] = AdaptNetworkHelpers.IntArray(Config.Depths),
        ["dims"] = AdaptNetworkHelpers.IntArray(Config.Dims),
        ["image_size"] = Config.ImageSize,
    };

    public static ConvNextConfig ConfigFrom(JsonObject arch, string source)
    {
        int[] Ints(string key) => arch[key]?.AsArray().Select(n => n!.GetValue<int>()).ToArray()
            ?? throw new DeftException($"{source}: architecture field '{key}' is missing.");
        return new ConvNextConfig(Ints("depths"), Ints("dims"), arch["image_size"]?.GetValue<int>() ?? 224);
    }

    /// <summary>
    /// timm's <c>_init_weights</c>: convolutions and linear layers trunc_normal(0.02) with zero bias (the head too, at
    /// head_init_scale 1), layer norms 1/0, layer scale 1e-6.
    /// </summary>
    private void Initialize(Generator? generator)
    {
        using var noGrad = torch.no_grad();
        foreach (var (name, p) in _model.named_parameters())
        {
            if (name.EndsWith(".gamma", StringComparison.Ordinal)) p.fill_(ConvNextBlock.LayerScaleInit);
            else if (name.EndsWith(".weight", StringComparison.Ordinal) && p.dim() >= 2) AdaptNetworkHelpers.TruncatedNormal(p, 0.02, generator);
            else if (name.EndsWith(".weight", StringComparison.Ordinal)) p.fill_(1);
            else p.zero_();
        }
    }

    /// <summary>Copies a state dict's tensors into the model (pre-trained weights; a head of another size is skipped).</summary>
    internal void LoadTensors(IReadOnlyDictionary<string, Tensor> tensors, Func<string, bool> include) =>
        SavedStateIO.CopyAvailable(SavedState(), tensors, include);

    public void Dispose() => _model.Dispose();

    public override string ToString() =>
        $"ConvNeXt (timm layout) depths [{string.Join(", ", Config.Depths)}], dims [{string.Join(", ", Config.Dims)}], {Config.ImageSize}px";
}
