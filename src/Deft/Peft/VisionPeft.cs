using System.Globalization;
using Deft.Clip;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Deft.Peft;

/// <summary>
/// The PEFT modules of one image tower, built from <see cref="PeftOptions"/>: a prompt injector (VPT) and/or one
/// hook per adapted block (LoRA, adapters, SSF; several kinds on one block are combined). A module whose state-dict
/// names are the parameters' only names, used in detector files and checkpoints: <c>vpt.{layer}</c>,
/// <c>lora.{layer}.q_A</c>, <c>adapter.{layer}.down.weight</c>, <c>ssf.{layer}.qkv_scale</c>… (one
/// <see cref="ModuleDict{T}"/> per kind, keyed by block). <see cref="Attach"/> hands the hooks to CLIP's blocks
/// without registering them there, so CLIP's state dict stays CLIP's.
/// <c>bias</c>, <c>full</c> and <c>none</c> create no modules: they only choose which CLIP parameters train
/// (<see cref="TrainsClipParameter"/>; <see cref="Attach"/> sets requires_grad accordingly).
/// </summary>
public sealed class VisionPeft : nn.Module
{
    private readonly Dictionary<int, IVisionBlockPeft> _blocks = new();
    private ClipModel? _attachedTo;

    private VisionPeft(PeftOptions options, int layers) : base(nameof(VisionPeft))
    {
        Options = options;
        Layers = layers;
    }

    public PeftOptions Options { get; }
    public int Layers { get; }

    /// <summary>VPT's token injector (state-dict name <c>vpt</c>); null without VPT.</summary>
    public VisualPromptTokens? PromptInjector { get; private set; }

    /// <summary>The hook of block <paramref name="layer"/>, or null when the block runs plain CLIP.</summary>
    public IVisionBlockPeft? BlockHook(int layer) => _blocks.GetValueOrDefault(layer);

    /// <summary>The parameters of the PEFT modules (not CLIP's) under their state-dict names.</summary>
    public IReadOnlyList<(string Name, Parameter Parameter)> Parameters => named_parameters().ToList();

    public static VisionPeft Create(PeftOptions options, ClipVisionConfig vision, Generator? generator = null)
    {
        options.Validate(vision.Layers);
        var peft = new VisionPeft(options, vision.Layers);
        var (first, count) = options.AdaptedBlocks(vision.Layers);
        var adapted = Enumerable.Range(first, count).ToArray();
        var width = vision.Width;
        var parts = new Dictionary<int, List<IVisionBlockPeft>>();
        void AddKind(string name, Func<int, nn.Module> build)
        {
            var modules = adapted.Select(layer => (layer, module: build(layer))).ToArray();
            foreach (var (layer, module) in modules)
            {
                if (!parts.TryGetValue(layer, out var list)) parts[layer] = list = new();
                list.Add((IVisionBlockPeft)module);
            }
            peft.register_module(name, nn.ModuleDict(modules.Select(m => (m.layer.ToString(CultureInfo.InvariantCulture), m.module)).ToArray()));
        }
        // Creation order is fixed (VPT, LoRA, adapters, SSF) so a seed gives the same initial values whatever the
        // order on the command line.
        foreach (var kind in Enum.GetValues<PeftKind>().Where(options.Has))
        {
            switch (kind)
            {
                case PeftKind.VptDeep:
                case PeftKind.VptShallow:
                    var layers = kind == PeftKind.VptShallow ? [0] : adapted;
                    var vpt = new VisualPromptTokens(layers, options.VptLength, vision.PatchSize, width, generator);
                    peft.PromptInjector = vpt;
                    peft.register_module("vpt", vpt);
                    break;
                case PeftKind.Lora:
                    AddKind("lora", _ => new LoraBlock(width, options.LoraRank, generator));
                    break;
                case PeftKind.Adapter:
                case PeftKind.AdaptFormer:
                    var parallel = kind == PeftKind.AdaptFormer;
                    AddKind(parallel ? "adaptformer" : "adapter", _ => new AdapterBlock(width, options.AdapterDim, parallel, generator));
                    break;
                case PeftKind.Ssf:
                    var hidden = (int)Math.Round(width * vision.MlpRatio);
                    AddKind("ssf", _ => new SsfBlock(width, hidden, generator));
                    break;
                case PeftKind.Bias:
                case PeftKind.Full:
                case PeftKind.None:
                    break;
                default:
                    throw new ArgumentOutOfRangeException(nameof(options), $"Unknown PEFT kind {kind}. Valid values: {string.Join(", ", PeftKinds.ValidNames)}.");
            }
        }
        foreach (var (layer, hooks) in parts)
            peft._blocks[layer] = hooks.Count == 1 ? hooks[0] : new CompositeBlockPeft(hooks);
        peft.RegisterComponents();
        return peft;
    }

    /// <summary>
    /// Whether the image-tower parameter <paramref name="name"/> (relative to the visual module:
    /// <c>transformer.resblocks.{i}.…</c>, <c>ln_post.bias</c>…) trains. <c>bias</c>: every bias of the tower (only the
    /// adapted blocks' when --partial is given); <c>full</c>: every parameter of the adapted blocks.
    /// </summary>
    public bool TrainsClipParameter(string name)
    {
        if (!Options.Has(PeftKind.Bias) && !Options.Has(PeftKind.Full)) return false;
        var block = BlockIndex(name);
        var (first, _) = Options.AdaptedBlocks(Layers);
        if (Options.Has(PeftKind.Full) && block >= first) return true;
        return Options.Has(PeftKind.Bias) && name.EndsWith("bias", StringComparison.Ordinal) && (Options.Partial is null || block >= first);
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

    /// <summary>
    /// Freezes CLIP, installs the hooks in its image tower and makes the chosen CLIP parameters trainable (bias/full).
    /// Returns those CLIP parameters with names <c>clip.visual.…</c>.
    /// </summary>
    public IReadOnlyList<(string Name, Parameter Parameter)> Attach(ClipModel clip)
    {
        if (_attachedTo is not null) throw new InvalidOperationException("These PEFT modules are already attached to a model.");
        if (clip.Visual.Blocks.Count != Layers)
            throw new DeftException($"The PEFT modules were built for {Layers} image blocks; this model has {clip.Visual.Blocks.Count}.");
        clip.FreezeAll();
        clip.Visual.PromptInjector = PromptInjector;
        for (var i = 0; i < Layers; i++) clip.Visual.Blocks[i].Peft = BlockHook(i);
        _attachedTo = clip;
        var trained = new List<(string, Parameter)>();
        foreach (var (name, p) in clip.NamedClipParameters())
        {
            if (!name.StartsWith("visual.", StringComparison.Ordinal) || !TrainsClipParameter(name["visual.".Length..])) continue;
            p.requires_grad = true;
            trained.Add(($"clip.{name}", p));
        }
        return trained;
    }

    /// <summary>Removes the hooks from the model they were attached to (the modules stay usable).</summary>
    public void Detach()
    {
        if (_attachedTo is null) return;
        _attachedTo.Visual.PromptInjector = null;
        foreach (var block in _attachedTo.Visual.Blocks) block.Peft = null;
        _attachedTo.FreezeAll();
        _attachedTo = null;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            Detach();
            _blocks.Clear();
        }
        base.Dispose(disposing);
    }
}
