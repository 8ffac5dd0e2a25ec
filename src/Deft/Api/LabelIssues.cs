using Deft.Baselines;

namespace Deft.Api;

/// <summary>Which samples <see cref="LabelIssues.Find"/> flags (cleanlab's <c>filter_by</c>).</summary>
public enum IssueFilter
{
    /// <summary>
    /// cleanlab's default <c>'prune_by_noise_rate'</c>: for each given class and each other class, as many samples as
    /// the calibrated confident joint estimates were mislabeled that way, those with the largest margin first.
    /// </summary>
    PruneByNoiseRate,
    /// <summary><c>'confident_learning'</c>: the samples counted off the diagonal of the confident joint.</summary>
    ConfidentLearning,
    /// <summary><c>'predicted_neq_given'</c>: the samples whose most probable class is not their given label.</summary>
    PredictedNeqGiven,
}

/// <summary>
/// Finds label issues from a model's predicted class probabilities, with confident learning (Northcutt et al., JAIR
/// 2021) as cleanlab 2.x implements it. Bring out-of-sample probabilities (for example from cross-validation): a
/// model's probabilities on its own training data hide its labels' errors.
/// </summary>
/// <example>
/// <code>
/// int[] issues = LabelIssues.Find(labels, predProbs); // indices, most likely mislabeled first
/// </code>
/// </example>
public static class LabelIssues
{
    /// <summary>
    /// The indices of the samples whose given label is likely wrong, most certain first (lowest probability of the
    /// given label; ties by index). Mirrors cleanlab's
    /// <c>cleanlab.filter.find_label_issues(labels, pred_probs, filter_by=..., frac_noise=..., return_indices_ranked_by='self_confidence')</c>
    /// with <c>min_examples_per_class=1</c>.
    /// </summary>
    /// <param name="labels">The given label of each sample, in 0..K−1.</param>
    /// <param name="predProbs">Predicted probabilities [N, K]; row i is sample i's distribution over the K classes.</param>
    /// <param name="filter">Which samples to flag; cleanlab's default is <see cref="IssueFilter.PruneByNoiseRate"/>.</param>
    /// <param name="fracNoise">The fraction of the estimated number of issues to return, in (0, 1]; 1 returns all.</param>
    /// <exception cref="ArgumentException">The shapes disagree, a label is outside 0..K−1, K &lt; 2, or a probability is not in [0, 1].</exception>
    public static int[] Find(int[] labels, double[,] predProbs, IssueFilter filter = IssueFilter.PruneByNoiseRate, double fracNoise = 1.0) =>
        Run(labels, predProbs, filter, fracNoise).RankedIssues;

    /// <summary>
    /// Per sample, whether its given label is likely wrong: the same samples as <see cref="Find"/> as a mask. Mirrors
    /// <c>cleanlab.filter.find_label_issues(labels, pred_probs, filter_by=..., frac_noise=...)</c>, which returns a mask
    /// when no ranking is asked for.
    /// </summary>
    /// <param name="labels">The given label of each sample, in 0..K−1.</param>
    /// <param name="predProbs">Predicted probabilities [N, K].</param>
    /// <param name="filter">Which samples to flag.</param>
    /// <param name="fracNoise">The fraction of the estimated number of issues to flag, in (0, 1].</param>
    public static bool[] FindMask(int[] labels, double[,] predProbs, IssueFilter filter = IssueFilter.PruneByNoiseRate, double fracNoise = 1.0) =>
        Run(labels, predProbs, filter, fracNoise).IsIssue;

    private static Baselines.LabelIssues Run(int[] labels, double[,] predProbs, IssueFilter filter, double fracNoise)
    {
        LabelQuality.Validate(labels, predProbs);
        return ConfidentLearning.FindLabelIssues(labels, predProbs, filter switch
        {
            IssueFilter.PruneByNoiseRate => ConfidentLearningFilter.PruneByNoiseRate,
            IssueFilter.ConfidentLearning => ConfidentLearningFilter.ConfidentJointOffDiagonal,
            IssueFilter.PredictedNeqGiven => ConfidentLearningFilter.PredictedNeqGiven,
            _ => throw new ArgumentOutOfRangeException(nameof(filter), filter, $"Valid filters: {string.Join(", ", Enum.GetNames<IssueFilter>())}."),
        }, fracNoise);
    }
}
