using Deft.Clip;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Deft.Peft;

/// <summary>
/// The PEFT modules of one image tower, built from <see cref="PeftOptions"/>: a prompt injector (VPT) and/or one
/// hook per adapted block (LoRA, adapters, SSF). Parameter names are stable and used in detector files and
/// checkpoints: <c>vpt.{layer}</c>, <c>lora.{layer}.q_A</c>, <c>adapter.{layer}.down.weight</c>, <c>ssf.{layer}.qkv_scale</c>…
/// <c>bias</c>, <c>full</c> and <c>none</c> create no modules: they only choose which CLIP parameters train
/// (see <see cref="TrainsClipParameter"/>).
/// </summary>
public sealed class VisionPeft : IDisposable
{
    private readonly Dictionary<int, nn.Module> _blocks = new();
    private readonly List<(string Name, Parameter Parameter)> _parameters = new();
    private readonly List<nn.Module> _owned = new();

    private VisionPeft(PeftOptions options, int layers)
    {
        Options = options;
        Layers = layers;
    }

    public PeftOptions Options { get; }
    public PeftKind Kind => Options.Kind;
    public int Layers { get; }

    /// <summary>VPT's token injector; null for other methods.</summary>
    public VisualPromptTokens? PromptInjector { get; private set; }

    /// <summary>The hook of block <paramref name="layer"/>, or null when the block runs plain CLIP.</summary>
    public IVisionBlockPeft? BlockHook(int layer) => _blocks.GetValueOrDefault(layer) as IVisionBlockPeft;

    /// <summary>The hook modules by block, for registration with the tower.</summary>
    public IReadOnlyDictionary<int, nn.Module> BlockModules => _blocks;

    /// <summary>Parameters this object created (not CLIP's), with their stable names.</summary>
    public IReadOnlyList<(string Name, Parameter Parameter)> Parameters => _parameters;

    public static VisionPeft Create(PeftOptions options, ClipVisionConfig vision, Generator? generator = null)
    {
        options.Validate(vision.Layers);
        var peft = new VisionPeft(options, vision.Layers);
        var (first, count) = options.Kind == PeftKind.VptShallow ? (0, 1) : options.AdaptedBlocks(vision.Layers);
        var adapted = Enumerable.Range(first, count).ToArray();
        var width = vision.Width;
        switch (options.Kind)
        {
            case PeftKind.VptDeep:
            case PeftKind.VptShallow:
                var vpt = new VisualPromptTokens(adapted, options.VptLength, vision.PatchSize, width, generator);
                peft.PromptInjector = vpt;
                peft._owned.Add(vpt);
                foreach (var layer in adapted) peft._parameters.Add(($"vpt.{layer}", vpt.PromptsOf(layer)!));
                break;
            case PeftKind.Lora:
                foreach (var layer in adapted) peft.AddBlock("lora", layer, new LoraBlock(width, options.LoraRank, generator));
                break;
            case PeftKind.Adapter:
            case PeftKind.AdaptFormer:
                var parallel = options.Kind == PeftKind.AdaptFormer;
                foreach (var layer in adapted)
                    peft.AddBlock(parallel ? "adaptformer" : "adapter", layer, new AdapterBlock(width, options.AdapterDim, parallel, generator));
                break;
            case PeftKind.Ssf:
                var hidden = (int)Math.Round(width * vision.MlpRatio);
                foreach (var layer in adapted) peft.AddBlock("ssf", layer, new SsfBlock(width, hidden, generator));
                break;
            case PeftKind.Bias:
            case PeftKind.Full:
            case PeftKind.None:
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(options), $"Unknown PEFT kind {options.Kind}. Valid values: {string.Join(", ", PeftKinds.ValidNames)}.");
        }
        return peft;
    }

    private void AddBlock(string prefix, int layer, nn.Module module)
    {
        _blocks[layer] = module;
        _owned.Add(module);
        foreach (var (name, p) in module.named_parameters())
            _parameters.Add(($"{prefix}.{layer}.{name}", p));
    }

    /// <summary>
    /// Whether the image-tower parameter <paramref name="name"/> (open_clip naming relative to the visual module:
    /// <c>transformer.resblocks.{i}.…</c>, <c>ln_post.bias</c>…) trains under this method. <c>bias</c>: every bias of
    /// the tower (in the adapted blocks when --partial is given); <c>full</c>: every parameter of the adapted blocks.
    /// </summary>
    public bool TrainsClipParameter(string name)
    {
        var block = BlockIndex(name);
        var (first, _) = Options.Kind is PeftKind.Bias or PeftKind.Full ? Options.AdaptedBlocks(Layers) : (0, 0);
        return Options.Kind switch
        {
            PeftKind.Bias => name.EndsWith("bias", StringComparison.Ordinal) && (Options.Partial is null || block >= first),
            PeftKind.Full => block >= first,
            _ => false,
        };
    }

    /// <summary>The block index in <c>…resblocks.{i}.…</c>, or -1 for parameters outside the blocks.</summary>
    public static int BlockIndex(string name)
    {
        const string marker = "resblocks.";
        var at = name.IndexOf(marker, StringComparison.Ordinal);
        if (at < 0) return -1;
        var start = at + marker.Length;
        var end = name.IndexOf('.', start);
        return int.TryParse(end < 0 ? name[start..] : name[start..end], out var i) ? i : -1;
    }

    public void Dispose()
    {
        foreach (var m in _owned) m.Dispose();
        _owned.Clear();
        _blocks.Clear();
        _parameters.Clear();
    }
}
