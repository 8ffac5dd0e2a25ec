using Deft.Baselines;
using Deft.Detection;

namespace Deft.Methods;

/// <summary>
/// Turns a method's scores into the report's verdicts under <see cref="IssueSettings"/>: the method's own rule or a
/// cleanlab filter on its class probabilities, then cleanlab's rule that a sample whose suggested label is its given
/// label is not an issue, then the fraction or number to flag. Label quality and suggestions are left as they are.
/// </summary>
internal static class IssueDecision
{
    public static MethodScores Apply(MethodScores scores, double[,]? probabilities, IReadOnlyList<int> labels, IssueSettings settings,
        DetectionMethod method)
    {
        settings.Validate();
        var n = scores.Count;
        if (labels.Count != n) throw new ArgumentException($"{labels.Count} labels for {n} scores.", nameof(labels));
        bool[] issue;
        if (settings.FilterBy == IssueFilterRule.Method)
        {
            issue = (bool[])scores.IsIssue.Clone();
        }
        else
        {
            if (probabilities is null)
                throw new DeftException(
                    $"{Setting.FilterBy} {settings.FilterBy.ToName()} needs class probabilities (pred_probs), and {Setting.Method} {method.ToName()} gives none. Use {Setting.FilterBy} {IssueFilterRule.Method.ToName()}, or a method with class probabilities (clip-posterior, label-match, confident-learning, deft).");
            var filter = settings.FilterBy switch
            {
                IssueFilterRule.PruneByNoiseRate => ConfidentLearningFilter.PruneByNoiseRate,
                IssueFilterRule.PruneByClass => ConfidentLearningFilter.PruneByClass,
                IssueFilterRule.Both => ConfidentLearningFilter.Both,
                IssueFilterRule.ConfidentLearning => ConfidentLearningFilter.ConfidentJointOffDiagonal,
                IssueFilterRule.PredictedNeqGiven => ConfidentLearningFilter.PredictedNeqGiven,
                _ => throw new ArgumentOutOfRangeException(nameof(settings), settings.FilterBy, "Unknown filter."),
            };
            issue = ConfidentLearning.FindLabelIssues(labels.ToArray(), probabilities, filter, settings.FracNoise).IsIssue;
        }

        bool MayFlag(int i) => settings.FlagAgreeing || scores.Suggested[i] != labels[i];
        for (var i = 0; i < n; i++) issue[i] &= MayFlag(i);

        if (settings.NumToRemove is { } count)
        {
            var chosen = MostCertainFirst(scores.LabelQuality, Enumerable.Range(0, n).Where(MayFlag)).Take(count).ToHashSet();
            for (var i = 0; i < n; i++) issue[i] = chosen.Contains(i);
        }
        else if (settings.FilterBy == IssueFilterRule.Method && settings.FracNoise < 1)
        {
            // The cleanlab filters scale their prune counts themselves; the method's own verdicts keep their most certain part.
            var flagged = MostCertainFirst(scores.LabelQuality, Enumerable.Range(0, n).Where(i => issue[i])).ToArray();
            var keep = (int)(settings.FracNoise * flagged.Length);
            foreach (var i in flagged.Skip(keep)) issue[i] = false;
        }
        return scores with { IsIssue = issue };
    }

    /// <summary>Lowest label quality first, ties by position.</summary>
    private static IEnumerable<int> MostCertainFirst(double[] quality, IEnumerable<int> positions) =>
        positions.OrderBy(i => quality[i]).ThenBy(i => i);
}
