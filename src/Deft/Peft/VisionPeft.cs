using Deft.Clip;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Deft.Peft;

/// <summary>
/// The PEFT modules of one image tower, built from <see cref="PeftOptions"/>: a prompt injector (VPT) and/or one
/// hook per adapted block (LoRA, adapters, SSF; several kinds on one block are combined). Parameter names are stable
/// and used in detector files and checkpoints: <c>vpt.{layer}</c>, <c>lora.{layer}.q_A</c>,
/// <c>adapter.{layer}.down.weight</c>, <c>ssf.{layer}.qkv_scale</c>…
/// <c>bias</c>, <c>full</c> and <c>none</c> create no modules: they only choose which CLIP parameters train
/// (<see cref="TrainsClipParameter"/>; <see cref="Attach"/> sets requires_grad accordingly).
/// </summary>
public sealed class VisionPeft : IDisposable
{
    private readonly Dictionary<int, List<(string Name, nn.Module Module)>> _blockParts = new();
    private readonly Dictionary<int, nn.Module> _blocks = new();
    private readonly List<(string Name, Parameter Parameter)> _parameters = new();
    private readonly List<nn.Module> _owned = new();
    private ClipModel? _attachedTo;

    private VisionPeft(PeftOptions options, int layers)
    {
        Options = options;
        Layers = layers;
    }

    public PeftOptions Options { get; }
    public int Layers { get; }

    /// <summary>VPT's token injector; null without VPT.</summary>
    public VisualPromptTokens? PromptInjector { get; private set; }

    /// <summary>The hook of block <paramref name="layer"/>, or null when the block runs plain CLIP.</summary>
    public IVisionBlockPeft? BlockHook(int layer) => _blocks.GetValueOrDefault(layer) as IVisionBlockPeft;

    /// <summary>Parameters this object created (not CLIP's), with their stable names.</summary>
    public IReadOnlyList<(string Name, Parameter Parameter)> Parameters => _parameters;

    public static VisionPeft Create(PeftOptions options, ClipVisionConfig vision, Generator? generator = null)
    {
        options.Validate(vision.Layers);
        var peft = new VisionPeft(options, vision.Layers);
        var (first, count) = options.AdaptedBlocks(vision.Layers);
        var adapted = Enumerable.Range(first, count).ToArray();
        var width = vision.Width;
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
                    peft._owned.Add(vpt);
                    foreach (var layer in layers) peft._parameters.Add(($"vpt.{layer}", vpt.PromptsOf(layer)!));
                    break;
                case PeftKind.Lora:
                    foreach (var layer in adapted) peft.AddBlock("lora", layer, new LoraBlock(width, options.LoraRank, generator));
                    break;
                case PeftKind.Adapter:
                case PeftKind.AdaptFormer:
                    var parallel = kind == PeftKind.AdaptFormer;
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
                    throw new ArgumentOutOfRangeException(nameof(options), $"Unknown PEFT kind {kind}. Valid values: {string.Join(", ", PeftKinds.ValidNames)}.");
            }
        }
        foreach (var (layer, parts) in peft._blockParts)
        {
            if (parts.Count == 1) { peft._blocks[layer] = parts[0].Module; continue; }
            var composite = new CompositeBlockPeft(parts);
            peft._blocks[layer] = composite;
            peft._owned.Add(composite);
        }
        return peft;
    }

    private void AddBlock(string prefix, int layer, nn.Module module)
    {
        if (!_blockParts.TryGetValue(layer, out var parts)) _blockParts[layer] = parts = new();
        parts.Add((prefix, module));
        _owned.Add(module);
        foreach (var (name, p) in module.named_parameters())
            _parameters.Add(($"{prefix}.{layer}.{name}", p));
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

    public void Dispose()
    {
        Detach();
        foreach (var m in _owned) m.Dispose();
        _owned.Clear();
        _blocks.Clear();
        _blockParts.Clear();
        _parameters.Clear();
    }
}
