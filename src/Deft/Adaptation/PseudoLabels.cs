namespace Deft.Adaptation;

/// <summary>What phase 2 does with the samples the detector flagged (<c>is_label_issue</c> true).</summary>
public enum UnselectedSamples
{
    /// <summary>They take no part in the loss (the paper's phase 2).</summary>
    Drop,
    /// <summary>
    /// Those whose suggested label is confident train with it (semi-supervised, beyond the paper); the rest are
    /// dropped. See <see cref="PseudoLabelOptions"/>.
    /// </summary>
    PseudoLabel,
}

/// <summary>Which flagged samples train with the detector's suggested label, and how much they weigh.</summary>
/// <param name="MinProbability">
/// A flagged sample joins when the detector's probability of its suggested label (samples.csv's
/// <c>suggested_probability</c>) is at least this, and the suggested label differs from the given one.
/// </param>
/// <param name="Weight">
/// The weight of a pseudo-labelled sample's loss (selected samples weigh 1): a batch's loss is the mean of wᵢ ℓᵢ over
/// its training samples, so a pseudo-labelled sample counts as <paramref name="Weight"/> of a kept one.
/// </param>
public sealed record PseudoLabelOptions(double MinProbability = PseudoLabelOptions.DefaultMinProbability, double Weight = 1.0)
{
    /// <summary>
    /// The default confidence bar. On the mini protocol's tuning setting (sym 0.5, clip-posterior) a bar of 0.8 let in
    /// 1,806 flagged samples whose suggestions were 98 % right, more than the kept samples' given labels (93 %); 0.7
    /// let in 2,710 at 95 % (docs/results/phase2.md, section 5).
    /// </summary>
    public const double DefaultMinProbability = 0.8;
}

/// <summary>One flagged sample that trains with its suggested label.</summary>
/// <param name="Index">The data set index.</param>
/// <param name="Label">The suggested label it trains with.</param>
/// <param name="GivenLabel">Its given label, which the detector flagged.</param>
/// <param name="Probability">The detector's probability of <paramref name="Label"/>.</param>
/// <param name="Line">The row's line in the selection file.</param>
public sealed record PseudoLabel(int Index, int Label, int GivenLabel, double Probability, int Line);

/// <summary>
/// Semi-supervised use of the unselected samples: the detector's suggested labels where it is confident. Only the
/// selection file's given and suggested labels and the suggestion's probability are read, never a true label.
/// </summary>
public static class PseudoLabels
{
    /// <summary>
    /// The flagged rows of <paramref name="selection"/> that join: <c>is_label_issue</c> true, a suggested label other
    /// than the given one, and <c>suggested_probability</c> ≥ <see cref="PseudoLabelOptions.MinProbability"/>; in
    /// file order. A flagged row whose suggestion agrees with its given label is left out: the detector's two signals
    /// disagree about it. Throws when the file has no suggestion columns or a suggested label is out of range.
    /// </summary>
    public static IReadOnlyList<PseudoLabel> Choose(Selection selection, PseudoLabelOptions options, int classCount)
    {
        ArgumentNullException.ThrowIfNull(selection);
        ArgumentNullException.ThrowIfNull(options);
        var flagged = selection.Entries.Where(e => e.IsLabelIssue).ToList();
        var without = flagged.FirstOrDefault(e => e.SuggestedLabel is null || e.SuggestedProbability is null);
        if (without is not null)
            throw new DeftException($"{selection.Path} line {without.Line}: index {without.Index} is flagged but has no suggested_label and suggested_probability; " +
                $"{Setting.UnselectedSamples} pseudo-label needs both (samples.csv of deft detect with a method that has class probabilities: every method but small-loss and gmm).");
        var bad = flagged.FirstOrDefault(e => e.SuggestedLabel < 0 || e.SuggestedLabel >= classCount);
        if (bad is not null)
            throw new DeftException($"{selection.Path} line {bad.Line}: suggested_label {bad.SuggestedLabel} must lie in 0..{classCount - 1} (the data set has {classCount} classes).");
        return flagged
            .Where(e => e.SuggestedLabel != e.GivenLabel && e.SuggestedProbability >= options.MinProbability)
            .Select(e => new PseudoLabel(e.Index, e.SuggestedLabel!.Value, e.GivenLabel, e.SuggestedProbability!.Value, e.Line))
            .ToList();
    }

    /// <summary>
    /// The mask with <paramref name="pseudoLabels"/> training: each one that takes part in <paramref name="mask"/>
    /// (within its <see cref="SelectionMask.Indices"/>) becomes a training sample with its suggested label and
    /// <paramref name="weight"/>; selected samples keep their given label and weight 1. At weight 1 the mask keeps
    /// no weights (every loss then applies as it is, robust losses included).
    /// </summary>
    public static SelectionMask Apply(SelectionMask mask, IReadOnlyList<PseudoLabel> pseudoLabels, double weight, int classCount)
    {
        ArgumentNullException.ThrowIfNull(mask);
        var taking = new HashSet<int>(mask.Indices);
        var selected = (bool[])mask.Selected.Clone();
        var labels = (int[])mask.GivenLabels.Clone();
        var weights = mask.Weights is { } w ? (double[])w.Clone() : Enumerable.Repeat(1.0, selected.Length).ToArray();
        var pseudo = mask.PseudoLabelled is { } p ? (bool[])p.Clone() : new bool[selected.Length];
        foreach (var label in pseudoLabels)
        {
            if (!taking.Contains(label.Index) || selected[label.Index]) continue;
            selected[label.Index] = true;
            labels[label.Index] = label.Label;
            weights[label.Index] = weight;
            pseudo[label.Index] = true;
        }
        return mask with
        {
            Selected = selected,
            GivenLabels = labels,
            Weights = weight == 1 && mask.Weights is null ? null : weights,
            PseudoLabelled = pseudo,
            ClassesWithoutSamples = SelectionMask.MissingClasses(selected, labels, classCount),
        };
    }
}
