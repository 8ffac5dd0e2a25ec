using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Deft.Detection;

/// <summary>
/// The loss of one DeFT phase-1 batch and what it decided. Tensors belong to the caller's dispose scope.
/// </summary>
/// <param name="Loss">Scalar: <see cref="ClassificationLoss"/> + <see cref="NegativeLoss"/>; the value to back-propagate.</param>
/// <param name="ClassificationLoss">Scalar cross-entropy (or SCE) of the positive logits (all samples in warm-up, the selected ones after; 0 when none is selected).</param>
/// <param name="NegativeLoss">Scalar: NLL(log p_no, complementary) + NLL(log p_yes, target), both batch means; the target is the given label or, for unselected samples once pseudo-labels apply, the positive prompts' prediction.</param>
/// <param name="CleanProbability">[N] p_yes of the given label (detached).</param>
/// <param name="Selected">[N] bool: CleanProbability &gt; 0.5 (and, under <see cref="EpochRule.RequireTopClass"/>, the given label has the highest p_yes).</param>
/// <param name="SelectedCount">How many samples were selected as clean.</param>
public readonly record struct DeftBatchLoss(
    Tensor Loss, Tensor ClassificationLoss, Tensor NegativeLoss, Tensor CleanProbability, Tensor Selected, long SelectedCount);

/// <summary>
/// The DeFT phase-1 objective (Wei et al., NeurIPS 2024, and the authors' main_phase1.py) as pure tensor functions.
/// For class c, the positive and negative prompts compete: softmax over [pos_c (detached), neg_c] gives p_yes and
/// p_no. A sample is clean when p_yes of its given label exceeds ½.
/// </summary>
public static class DeftObjective
{
    /// <summary>Probabilities are clamped to [this, 1] before the logarithm, as the official code does.</summary>
    public const double ProbabilityFloor = 1e-5;

    /// <summary>A sample counts as clean when p_yes of its given label is above this.</summary>
    public const double CleanThreshold = 0.5;

    /// <summary>
    /// p_yes [N, C]: softmax over (positive logit detached, negative logit) per class, which is
    /// sigmoid(pos − neg). Gradients flow only into the negative logits.
    /// </summary>
    public static Tensor PositiveProbabilities(Tensor posLogits, Tensor negLogits)
    {
        using var scope = NewDisposeScope();
        return sigmoid(posLogits.detach() - negLogits).MoveToOuterDisposeScope();
    }

    /// <summary>SCE's reverse term takes log of the one-hot label clamped to [this, 1] (the official SCELoss).</summary>
    public const double ReverseLabelFloor = 1e-4;

    /// <summary>SCE's reverse term clamps the predicted probabilities to [this, 1] (the official SCELoss).</summary>
    public const double ReverseProbabilityFloor = 1e-7;

    /// <summary>
    /// The loss of one batch of the synthetic-noise script. <paramref name="warmup"/>: epoch ≤ warm-up epochs (counted
    /// from 1). In warm-up every sample trains the positive prompts and its given label is the negative prompts' target;
    /// afterwards only selected samples train the positive prompts, and unselected ones take the positive prompts'
    /// prediction as their target. The official code averages an empty selection into NaN; here the classification
    /// term is simply absent then.
    /// </summary>
    /// <param name="posLogits">[N, C] s·img·posᵀ (gradients into image features and positive prompts).</param>
    /// <param name="negLogits">[N, C] s·img.detach()·negᵀ.</param>
    /// <param name="labels">[N] int64 given labels.</param>
    /// <param name="complementary">[N] int64 labels ≠ the given one (drawn uniformly per visit).</param>
    public static DeftBatchLoss Compute(Tensor posLogits, Tensor negLogits, Tensor labels, Tensor complementary, bool warmup) =>
        Compute(posLogits, negLogits, labels, complementary, EpochRule.Synthetic(warmup));

    /// <summary>The loss of one batch under the epoch's <paramref name="rule"/> (see <see cref="EpochRule"/>).</summary>
    public static DeftBatchLoss Compute(Tensor posLogits, Tensor negLogits, Tensor labels, Tensor complementary, EpochRule rule)
    {
        if (posLogits.ndim != 2 || !posLogits.shape.SequenceEqual(negLogits.shape))
            throw new ArgumentException($"Expected positive and negative logits of the same shape [N, C], got [{string.Join(", ", posLogits.shape)}] and [{string.Join(", ", negLogits.shape)}].");
        var n = posLogits.shape[0];
        if (labels.shape.Length != 1 || labels.shape[0] != n || complementary.shape.Length != 1 || complementary.shape[0] != n)
            throw new ArgumentException($"Expected {n} labels and {n} complementary labels, got [{string.Join(", ", labels.shape)}] and [{string.Join(", ", complementary.shape)}].");

        using var scope = NewDisposeScope();
        // log p_no and log p_yes only at the gathered classes: sigmoid(±(pos − neg)), clamped like the official code.
        var margin = posLogits.detach() - negLogits;                                    // [N, C]
        var labelColumn = labels.unsqueeze(1);
        var marginAtLabel = margin.gather(1, labelColumn).squeeze(1);                   // [N]
        var pClean = sigmoid(marginAtLabel).detach();
        var selected = Select(pClean, rule.RequireTopClass ? sigmoid(margin.detach()) : null, labels);
        var selectedCount = selected.sum().item<long>();

        var pNoAtComplementary = sigmoid(-margin.gather(1, complementary.unsqueeze(1)).squeeze(1));
        var lossNo = -pNoAtComplementary.clamp(ProbabilityFloor, 1.0).log().mean();

        Tensor classification;
        if (rule.ClassifyAll)
        {
            classification = rule.SymmetricCrossEntropy ? SymmetricCrossEntropy(posLogits, labels) : F.cross_entropy(posLogits, labels);
        }
        else if (selectedCount > 0)
        {
            var rows = selected.nonzero().squeeze(1);
            var pos = posLogits.index_select(0, rows);
            var y = labels.index_select(0, rows);
            classification = rule.SymmetricCrossEntropy ? SymmetricCrossEntropy(pos, y) : F.cross_entropy(pos, y);
        }
        else
        {
            classification = zeros(1, dtype: posLogits.dtype, device: posLogits.device).squeeze();
        }
        var yesTarget = rule.PseudoLabels ? where(selected, labels, posLogits.detach().argmax(1)) : labels;
        var pYesAtTarget = sigmoid(margin.gather(1, yesTarget.unsqueeze(1)).squeeze(1));
        var lossYes = -pYesAtTarget.clamp(ProbabilityFloor, 1.0).log().mean();
        var negative = lossNo + lossYes;
        var loss = classification + negative;

        return new DeftBatchLoss(
            loss.MoveToOuterDisposeScope(),
            classification.MoveToOuterDisposeScope(),
            negative.MoveToOuterDisposeScope(),
            pClean.MoveToOuterDisposeScope(),
            selected.MoveToOuterDisposeScope(),
            selectedCount);
    }

    /// <summary>
    /// [N] bool: p_clean &gt; ½, and, when <paramref name="pYes"/> [N, C] is given, the given label is the first class
    /// with the highest p_yes (the real-noise script's <c>p_yes.max(1)</c>).
    /// </summary>
    public static Tensor Select(Tensor pClean, Tensor? pYes, Tensor labels)
    {
        using var scope = NewDisposeScope();
        var selected = pClean.gt(CleanThreshold);
        if (pYes is not null) selected = selected.logical_and(pYes.argmax(1).eq(labels));
        return selected.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Batch mean of SCE with α = β = 1, as the official SCELoss: CE(logits, y) + Σ_k −clamp(softmax_k, 1e-7, 1)·
    /// log clamp(onehot_k, 1e-4, 1), i.e. CE + 4·ln10·Σ_{k≠y} p_k.
    /// </summary>
    public static Tensor SymmetricCrossEntropy(Tensor logits, Tensor labels)
    {
        using var scope = NewDisposeScope();
        var ce = F.cross_entropy(logits, labels, reduction: nn.Reduction.None);
        var p = logits.softmax(1).clamp(ReverseProbabilityFloor, 1.0);
        var logOneHot = F.one_hot(labels, logits.shape[1]).to(logits.dtype).clamp(ReverseLabelFloor, 1.0).log();
        var rce = -(p * logOneHot).sum(1);
        return (ce + rce).mean().MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Positive and negative logits from features: s·normalize(img)·normalize(pos)ᵀ and the same with the image
    /// features detached for the negative prompts, s = exp(logitScale). Text features [C, D], image [N, D].
    /// </summary>
    public static (Tensor Pos, Tensor Neg) Logits(Tensor imageFeatures, Tensor posTextFeatures, Tensor negTextFeatures, Tensor logitScale)
    {
        using var scope = NewDisposeScope();
        var img = F.normalize(imageFeatures, dim: -1);
        var pos = F.normalize(posTextFeatures, dim: -1);
        var neg = F.normalize(negTextFeatures, dim: -1);
        var s = logitScale.detach().exp();
        var posLogits = img.matmul(pos.t()) * s;
        var negLogits = img.detach().matmul(neg.t()) * s;
        return (posLogits.MoveToOuterDisposeScope(), negLogits.MoveToOuterDisposeScope());
    }
}
