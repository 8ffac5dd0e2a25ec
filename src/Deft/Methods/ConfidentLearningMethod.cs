using Deft.Baselines;
using Deft.Detection;
using TorchSharp;

namespace Deft.Methods;

/// <summary>
/// Confident learning and two simpler filters on the same probabilities: out-of-sample P [n, K] from K-fold
/// (<c>--folds</c>, stratified, seeded by <c>--seed</c>) multinomial logistic regression on the frozen CLIP image
/// features (L2-normalised, C = 1), then
/// <list type="bullet">
/// <item><c>confident-learning</c>: cleanlab's <c>find_label_issues(filter_by='prune_by_noise_rate')</c>;</item>
/// <item><c>predicted-neq-given</c>: argmax P[i] ≠ given;</item>
/// <item><c>self-confidence</c>: the k samples of lowest P[i, given] (ties by index), k = the number prune-by-noise-rate
/// flags on the same P (cleanlab's <c>low_self_confidence</c> ranks by the same score; its count is estimated
/// differently, from the confident joint).</item>
/// </list>
/// Label quality is the self-confidence P[i, given] for all three; the suggestion is argmax P[i].
/// </summary>
public sealed class ConfidentLearningMethod : IDetectionMethod
{
    public ConfidentLearningMethod(DetectionMethod method)
    {
        if (!method.UsesCrossValidation())
            throw new ArgumentOutOfRangeException(nameof(method), method, "Valid: confident-learning, predicted-neq-given, self-confidence.");
        Method = method;
    }

    public DetectionMethod Method { get; }

    public MethodOutcome Run(MethodContext context, CancellationToken cancellationToken)
    {
        var o = context.Options;
        var labels = context.Labels;
        if (o.Folds > labels.Count)
            throw new DeftException($"{Setting.Folds} {o.Folds} exceeds the {labels.Count} samples taking part; use at most {labels.Count} folds.");
        using var source = context.FrozenFeatures(cancellationToken);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        context.Progress?.Report(new DetectProgress("cross-validation", 0, 0, 0, 1, double.NaN, double.NaN, null, null, 0));
        var outOfSample = LogisticRegression.CrossValidatedProbabilities(source.Features, labels.Labels, labels.ClassCount, o.Folds, unchecked((int)o.Seed));
        context.Progress?.Report(new DetectProgress("cross-validation", 0, 0, 1, 1, double.NaN, double.NaN, null, null, 0));
        context.Timings["cross_validation_seconds"] = clock.Elapsed.TotalSeconds;
        var (scores, pruneCount) = Score(Method, outOfSample.Probabilities, labels.Labels);
        var settings = new Dictionary<string, object?>
        {
            ["folds"] = o.Folds,
            ["classifier"] = "multinomial logistic regression (L2, C = 1, L-BFGS) on L2-normalised frozen image features",
            ["fold_models_converged"] = outOfSample.FoldModels.Count(m => m.Converged),
            ["prune_by_noise_rate_issues"] = pruneCount,
            ["rule"] = Method switch
            {
                DetectionMethod.ConfidentLearning => "cleanlab find_label_issues(filter_by='prune_by_noise_rate') on out-of-sample probabilities",
                DetectionMethod.PredictedNeqGiven => "argmax of the out-of-sample probabilities differs from the given label",
                _ => "the k samples of lowest self-confidence P[i, given], k = the prune-by-noise-rate count",
            },
        };
        return new MethodOutcome(scores, "out-of-sample", [], settings) { Probabilities = outOfSample.Probabilities };
    }

    /// <summary>Verdicts of <paramref name="method"/> on out-of-sample probabilities, and the prune-by-noise-rate count.</summary>
    public static (MethodScores Scores, int PruneByNoiseRateCount) Score(DetectionMethod method, double[,] probabilities, int[] labels)
    {
        var pruned = ConfidentLearning.FindLabelIssues(labels, probabilities, ConfidentLearningFilter.PruneByNoiseRate);
        var pruneCount = pruned.RankedIssues.Length;
        bool[] issues;
        switch (method)
        {
            case DetectionMethod.ConfidentLearning:
                issues = pruned.IsIssue;
                break;
            case DetectionMethod.PredictedNeqGiven:
                issues = ConfidentLearning.PredictedNeqGiven(labels, probabilities);
                break;
            case DetectionMethod.SelfConfidence:
                issues = new bool[labels.Length];
                foreach (var i in ConfidentLearning.RankBySelfConfidence(labels, probabilities).Take(pruneCount)) issues[i] = true;
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(method), method, "Valid: confident-learning, predicted-neq-given, self-confidence.");
        }
        return (MethodScores.FromProbabilities(probabilities, labels, issues), pruneCount);
    }
}
