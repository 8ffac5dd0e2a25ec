using System.Text.Json.Nodes;
using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Deft.Adaptation;

/// <summary>
/// A bottleneck ResNet's shape: blocks per stage and the bottleneck width per group (torchvision's
/// <c>width_per_group</c>; the inner width of a stage with p planes is p·w/64). The stem (64 channels) and the stage
/// planes (64, 128, 256, 512; outputs ×4) are fixed, as in torchvision.
/// </summary>
public sealed record ResNetConfig(IReadOnlyList<int> Layers, int WidthPerGroup = 64, int ImageSize = 224)
{
    public const int Expansion = 4;

    public static ResNetConfig ResNet50 { get; } = new([3, 4, 6, 3]);

    /// <summary>One bottleneck per stage, inner width 8: the layout of ResNet-50 at a few percent of its cost (tests).</summary>
    public static ResNetConfig Tiny { get; } = new([1, 1, 1, 1], 8, 32);

    public static IReadOnlyList<string> PresetNames { get; } = ["resnet50", "resnet-tiny"];

    public static ResNetConfig? FromPreset(string name) => name.ToLowerInvariant() switch
    {
        "resnet50" or "resnet-50" => ResNet50,
        "resnet-tiny" or "resnet_tiny" => Tiny,
        _ => null,
    };

    public int FeatureWidth => 512 * Expansion;

    public void Validate()
    {
        if (Layers.Count != 4 || Layers.Any(l => l < 1))
            throw new DeftException($"A ResNet needs four stages of at least one block; got [{string.Join(", ", Layers)}].");
        if (WidthPerGroup < 1) throw new DeftException($"ResNet width per group must be ≥ 1; got {WidthPerGroup}.");
    }
}

/// <summary>
/// torchvision's bottleneck block (1×1 reduce, 3×3 with the stride, 1×1 expand ×4, identity or 1×1 downsample).
/// Field names give torchvision's keys: conv1, bn1, conv2, bn2, conv3, bn3, downsample.0/.1.
/// </summary>
internal sealed class ResNetBottleneck : Module<Tensor, Tensor>
{
    [ComponentName(Name = "conv1")] private readonly Conv2d _conv1;
    [ComponentName(Name = "bn1")] private readonly BatchNorm2d _bn1;
    [ComponentName(Name = "conv2")] private readonly Conv2d _conv2;
    [ComponentName(Name = "bn2")] private readonly BatchNorm2d _bn2;
    [ComponentName(Name = "conv3")] private readonly Conv2d _conv3;
    [ComponentName(Name = "bn3")] private readonly BatchNorm2d _bn3;
    [ComponentName(Name = "downsample")] private readonly Module<Tensor, Tensor>? _downsample;

    public ResNetBottleneck(int inPlanes, int planes, int stride, Module<Tensor, Tensor>? downsample, int groups, int baseWidth)
        : base(nameof(ResNetBottleneck))
    {
        var width = (int)(planes * (baseWidth / 64.0)) * groups;
        _conv1 = Conv2d(inPlanes, width, kernel_size: 1, bias: false);
        _bn1 = BatchNorm2d(width);
        _conv2 = Conv2d(width, width, kernel_size: 3, stride: stride, padding: 1, groups: groups, bias: false);
        _bn2 = BatchNorm2d(width);
        _conv3 = Conv2d(width, planes * ResNetConfig.Expansion, kernel_size: 1, bias: false);
        _bn3 = BatchNorm2d(planes * ResNetConfig.Expansion);
        _downsample = downsample;
        RegisterComponents();
    }

    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var x = functional.relu(_bn1.forward(_conv1.forward(input)));
        x = functional.relu(_bn2.forward(_conv2.forward(x)));
        x = _bn3.forward(_conv3.forward(x));
        var identity = _downsample is null ? input : _downsample.forward(input);
        return x.add_(identity).relu_().MoveToOuterDisposeScope();
    }
}

/// <summary>
/// A ResNet from the TorchVision package (its <c>Modules.ResNet</c> container: conv1, bn1, layer1..4, fc) built with
/// torchvision's bottleneck, so the state dict has torchvision's (and timm's) keys. Everything trains, as the
/// official phase-2 code does; batch normalisation makes the outputs batch-dependent in training mode.
/// </summary>
internal sealed class ResNetClassifier : IAdaptNetwork
{
    private readonly TorchSharp.Modules.ResNet _model;
    private readonly List<(string, Parameter)> _trainables;
    private readonly List<(string, Tensor)> _buffers;

    public ResNetClassifier(ResNetConfig config, int classCount, Generator? generator)
    {
        config.Validate();
        Config = config;
        ClassCount = classCount;
        _model = new TorchSharp.Modules.ResNet("ResNet",
            (inPlanes, planes, stride, downsample, groups, baseWidth, _, _) => new ResNetBottleneck(inPlanes, planes, stride, downsample, groups, baseWidth),
            ResNetConfig.Expansion, config.Layers.ToArray(), classCount, width_per_group: config.WidthPerGroup);
        Initialize(generator);
        _trainables = _model.named_parameters().Select(p => (p.name, p.parameter)).ToList();
        foreach (var (_, p) in _trainables) p.requires_grad = true;
        _buffers = _model.named_buffers().Select(b => (b.name, b.buffer)).ToList();
    }

    public ResNetConfig Config { get; }
    public BackboneKind Kind => BackboneKind.ResNet;
    public int ClassCount { get; }
    public int Resolution => Config.ImageSize;
    public Device Device => _trainables[0].Item2.device;
    public bool BatchDependent => true;
    public IReadOnlyList<(string Name, Parameter Parameter)> Trainables => _trainables;
    public IReadOnlyList<(string Name, Tensor Tensor)> TrainingBuffers => _buffers;

    /// <summary>The module's full state dict (parameters and batch-norm buffers) with torchvision's key names.</summary>
    public IEnumerable<(string Name, Tensor Tensor)> SavedState() => _model.state_dict().Select(kv => (kv.Key, kv.Value));

    public Tensor Logits(Tensor images) => _model.forward(images);

    public void SetTraining(bool training)
    {
        if (training) _model.train(); else _model.eval();
    }

    public JsonObject Architecture() => new()
    {
        ["layers"] = AdaptNetworkHelpers.IntArray(Config.Layers),
        ["width_per_group"] = Config.WidthPerGroup,
        ["image_size"] = Config.ImageSize,
    };

    public static ResNetConfig ConfigFrom(JsonObject arch, string source)
    {
        var layers = arch["layers"]?.AsArray().Select(n => n!.GetValue<int>()).ToArray()
            ?? throw new DeftException($"{source}: architecture field 'layers' is missing.");
        return new ResNetConfig(layers, arch["width_per_group"]?.GetValue<int>() ?? 64, arch["image_size"]?.GetValue<int>() ?? 224);
    }

    /// <summary>
    /// torchvision's initialisation from a seeded generator: convolutions kaiming_normal (fan_out, ReLU), batch norm
    /// weight 1 / bias 0, and nn.Linear's default for fc.
    /// </summary>
    private void Initialize(Generator? generator)
    {
        using var noGrad = torch.no_grad();
        foreach (var (name, p) in _model.named_parameters())
        {
            if (name.StartsWith("fc.", StringComparison.Ordinal)) continue;
            if (p.dim() == 4)
            {
                var fanOut = p.shape[0] * p.shape[2] * p.shape[3];
                AdaptNetworkHelpers.Normal(p, Math.Sqrt(2.0 / fanOut), generator);
            }
            else if (name.EndsWith(".weight", StringComparison.Ordinal)) p.fill_(1);
            else p.zero_();
        }
        var fc = _model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        AdaptNetworkHelpers.LinearDefaultInit(fc["fc.weight"], fc["fc.bias"], generator);
    }

    /// <summary>Copies a state dict's tensors into the model (pre-trained weights; a head of another size is skipped).</summary>
    internal void LoadTensors(IReadOnlyDictionary<string, Tensor> tensors, Func<string, bool> include) =>
        SavedStateIO.CopyAvailable(SavedState(), tensors, include);

    public void Dispose() => _model.Dispose();

    public override string ToString() =>
        $"ResNet (torchvision layout) [{string.Join(", ", Config.Layers)}], width/group {Config.WidthPerGroup}, {Config.ImageSize}px";
}
