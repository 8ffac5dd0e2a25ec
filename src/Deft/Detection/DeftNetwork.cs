using Deft.Clip;
using Deft.Peft;
using Deft.Prompts;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Deft.Detection;

/// <summary>
/// The phase-1 network: CLIP (frozen) with PEFT hooks in its image tower and the dual prompt learner on its text
/// tower. Trainable: the prompt contexts, the PEFT modules and, for bias/full, the chosen image-tower parameters.
/// </summary>
public sealed class DeftNetwork : IDisposable
{
    private readonly List<(string Name, Parameter Parameter)> _trainables = new();
    private readonly Tensor _eotBoth;
    private readonly SharedPrefixTextEncoder? _sharedPrefix;

    /// <summary>Attaches <paramref name="peft"/> to <paramref name="clip"/>; the network owns neither.</summary>
    public DeftNetwork(ClipModel clip, VisionPeft peft, DualPromptLearner prompts)
    {
        if (prompts.Width != clip.Config.Text.Width)
            throw new DeftException($"The prompt contexts are {prompts.Width} wide; this model's text tower is {clip.Config.Text.Width}.");
        Clip = clip;
        Peft = peft;
        Prompts = prompts;
        var clipTrained = peft.Attach(clip);
        _trainables.AddRange(prompts.Trainables);
        _trainables.AddRange(peft.Parameters);
        _trainables.AddRange(clipTrained);
        foreach (var (_, p) in _trainables) p.requires_grad = true;
        _eotBoth = cat([prompts.EotIndex, prompts.EotIndex]);
        if (SharedPrefixTextEncoder.Applies(prompts, clip)) _sharedPrefix = new SharedPrefixTextEncoder(clip, prompts);
    }

    public ClipModel Clip { get; }
    public VisionPeft Peft { get; }
    public DualPromptLearner Prompts { get; }
    public int Classes => Prompts.ClassNames.Count;

    /// <summary>Whether <see cref="TextFeatures"/> may use the shared-prefix encoder (benchmarks compare both).</summary>
    public bool UseSharedPrefix { get; set; } = true;

    /// <summary>Everything the optimizer updates, with stable names (checkpoint and detector-file keys).</summary>
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
        var features = Clip.EncodeTextEmbeddings(both, _eotBoth);
        var c = Classes;
        return (features.narrow(0, 0, c).MoveToOuterDisposeScope(), features.narrow(0, c, c).MoveToOuterDisposeScope());
    }

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

    public void Dispose()
    {
        Peft.Detach();
        _eotBoth.Dispose();
        _sharedPrefix?.Dispose();
    }
}
