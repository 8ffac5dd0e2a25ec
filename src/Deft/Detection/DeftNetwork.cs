using Deft.Clip;
using Deft.Peft;
using Deft.Prompts;
using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace Deft.Detection;

/// <summary>
/// The phase-1 network: CLIP (frozen) with PEFT hooks in its image tower and the dual prompt learner on its text
/// tower. Trainable: the prompt contexts, the PEFT modules and, for bias/full, the chosen image-tower parameters.
/// A module whose state dict names every weight once: <c>prompts.pos_ctx</c>, <c>peft.lora.3.q_A</c>,
/// <c>clip.visual.transformer.resblocks.3.attn.in_proj_bias</c>…; detector files and checkpoints use these names.
/// </summary>
public sealed class DeftNetwork : nn.Module
{
    // Registration order is the order of Trainables (prompts, PEFT, CLIP), as before the network was a module.
    [ComponentName(Name = PromptsName)] private readonly DualPromptLearner _prompts;
    [ComponentName(Name = PeftName)] private readonly VisionPeft _peft;
    [ComponentName(Name = ClipName)] private readonly ClipModel _clip;
    private readonly IReadOnlyList<(string Name, Parameter Parameter)> _trainables;
    private readonly SharedPrefixTextEncoder? _sharedPrefix;

    private const string PromptsName = "prompts", PeftName = "peft", ClipName = "clip";

    /// <summary>Attaches <paramref name="peft"/> to <paramref name="clip"/>; the network owns neither (nor the prompts).</summary>
    public DeftNetwork(ClipModel clip, VisionPeft peft, DualPromptLearner prompts) : base(nameof(DeftNetwork))
    {
        if (prompts.Width != clip.Config.Text.Width)
            throw new DeftException($"The prompt contexts are {prompts.Width} wide; this model's text tower is {clip.Config.Text.Width}.");
        _clip = clip;
        _peft = peft;
        _prompts = prompts;
        peft.Attach(clip);
        foreach (var (_, p) in prompts.named_parameters()) p.requires_grad = true;
        foreach (var (_, p) in peft.named_parameters()) p.requires_grad = true;
        if (SharedPrefixTextEncoder.Applies(prompts, clip)) _sharedPrefix = new SharedPrefixTextEncoder(clip, prompts);
        RegisterComponents();
        _trainables = named_parameters().Where(p => p.parameter.requires_grad).ToArray();
    }

    /// <summary>
    /// The name a trainable had before the network was a module (<c>pos_ctx</c>, <c>lora.3.q_A</c>; CLIP's kept
    /// theirs), so detector files and checkpoints written then still load; null when the name did not change.
    /// </summary>
    public static string? LegacyName(string name) =>
        name.StartsWith(PromptsName + ".", StringComparison.Ordinal) ? name[(PromptsName.Length + 1)..]
        : name.StartsWith(PeftName + ".", StringComparison.Ordinal) ? name[(PeftName.Length + 1)..]
        : null;

    public ClipModel Clip => _clip;
    public VisionPeft Peft => _peft;
    public DualPromptLearner Prompts => _prompts;
    public int Classes => Prompts.ClassNames.Count;

    /// <summary>Whether <see cref="TextFeatures"/> may use the shared-prefix encoder (benchmarks compare both).</summary>
    public bool UseSharedPrefix { get; set; } = true;

    /// <summary>Everything the optimizer updates, under its state-dict name (checkpoint and detector-file keys).</summary>
    public IReadOnlyList<(string Name, Parameter Parameter)> Trainables => _trainables;

    /// <summary>Projected image features [B, E] (not normalised) through the adapted image tower.</summary>
    public Tensor ImageFeatures(Tensor images) => Clip.EncodeImage(images);

    /// <summary>
    /// Positive and negative text features [C, E] (not normalised). With a shared context and the name at the end the
    /// classes' common leading tokens are encoded once (<see cref="SharedPrefixTextEncoder"/>); otherwise both prompt
    /// sets go through the text tower in one batch, cut to the longest prompt.
    /// </summary>
    public (Tensor Pos, Tensor Neg) TextFeatures()
    {
        if (_sharedPrefix is not null && UseSharedPrefix) return _sharedPrefix.Encode(Prompts.PositiveContext, Prompts.NegativeContext);
        using var scope = NewDisposeScope();
        var both = cat([Prompts.Assemble(Prompts.PositiveContext), Prompts.Assemble(Prompts.NegativeContext)], 0);
        var features = Clip.EncodeTextEmbeddings(both, cat([Prompts.EotIndex, Prompts.EotIndex]));
        var c = Classes;
        return (features.narrow(0, 0, c).MoveToOuterDisposeScope(), features.narrow(0, c, c).MoveToOuterDisposeScope());
    }

    /// <summary>Token positions one <see cref="TextFeatures"/> call runs through the text tower (its cost, for <see cref="ThreadPlan"/>).</summary>
    public long TextTokensPerStep => _sharedPrefix is not null && UseSharedPrefix ? _sharedPrefix.TokensPerCall : 2L * Classes * Prompts.MaxLength;

    /// <summary>Token positions one <see cref="PositiveTextFeatures"/> call runs through the text tower.</summary>
    public long PositiveTextTokensPerStep => (long)Classes * Prompts.MaxLength;

    /// <summary>
    /// The positive prompts' text features [C, E] alone (not normalised): the plain CoOp classifier the small-loss and
    /// gmm baselines train, at half the text-tower cost of <see cref="TextFeatures"/>.
    /// </summary>
    public Tensor PositiveTextFeatures()
    {
        using var scope = NewDisposeScope();
        return Clip.EncodeTextEmbeddings(Prompts.Assemble(Prompts.PositiveContext), Prompts.EotIndex).MoveToOuterDisposeScope();
    }

    /// <summary>Positive and negative logits [B, C] for image features [B, E].</summary>
    public (Tensor Pos, Tensor Neg) Logits(Tensor imageFeatures, Tensor posText, Tensor negText) =>
        DeftObjective.Logits(imageFeatures, posText, negText, Clip.LogitScale);

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            Peft.Detach();
            _sharedPrefix?.Dispose();
            // The parts belong to the caller: unregister them so the base class does not dispose them.
            foreach (var name in new[] { PromptsName, PeftName, ClipName }) register_module(name, null!);
        }
        base.Dispose(disposing);
    }
}
