using Deft.Baselines;
using Deft.Detection;

namespace Deft.Methods;

/// <summary>
/// CLIP's zero-shot prior with an estimated label-noise channel (<see cref="NoiseTransition"/>): the zero-shot
/// classifier of <c>label-match</c> (same templates, frozen image features) gives p(c | x); EM fits the class-to-label
/// transition T and one logit factor to the given labels; a label is an issue when the posterior that it is the true
/// class, T[y, y] p(y | x) / Σ_c T[c, y] p(c | x), is below ½. Nothing is trained on the noisy labels, so CLIP's
/// pre-trained alignment is kept whatever structure the noise has; the suggestion is the posterior's argmax.
/// </summary>
public sealed class ClipPosteriorMethod : IDetectionMethod
{
    public DetectionMethod Method => DetectionMethod.ClipPosterior;

    public MethodOutcome Run(MethodContext context, CancellationToken cancellationToken)
    {
        var zeroShot = LabelMatchMethod.ZeroShot(context, cancellationToken);
        cancellationToken.ThrowIfCancellationRequested();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var fit = NoiseTransition.Fit(zeroShot.Logits, context.Labels.Labels);
        context.Timings["noise_fit_seconds"] = clock.Elapsed.TotalSeconds;
        var scores = Scores(fit, context.Labels.Labels);
        var k = context.Classes.Count;
        var settings = new Dictionary<string, object?>
        {
            ["templates"] = zeroShot.Templates,
            ["logit_scale"] = zeroShot.LogitScale,
            ["fitted_logit_factor"] = fit.LogitScale,
            ["em_iterations"] = fit.Iterations,
            ["em_converged"] = fit.Converged,
            ["mean_log_likelihood"] = fit.MeanLogLikelihood,
            ["transition_diagonal"] = Enumerable.Range(0, k).Select(c => Math.Round(fit.Transition[c, c], 4)).ToArray(),
            ["rule"] = "label_quality = posterior that the given label is the true class under CLIP zero-shot p(c|x) and an EM-fitted noise transition; issue when < 0.5",
        };
        if (k <= 20)
            settings["transition"] = Enumerable.Range(0, k).Select(c => Enumerable.Range(0, k).Select(j => Math.Round(fit.Transition[c, j], 4)).ToArray()).ToArray();
        return new MethodOutcome(scores, "posterior", [], settings) { Probabilities = fit.Posterior };
    }

    /// <summary>Label quality = posterior of the given label; issue below ½; suggestion = the posterior's (first) argmax.</summary>
    public static MethodScores Scores(NoiseTransitionFit fit, IReadOnlyList<int> labels)
    {
        var posterior = fit.Posterior;
        var isIssue = new bool[labels.Count];
        for (var i = 0; i < labels.Count; i++) isIssue[i] = !(posterior[i, labels[i]] >= DeftObjective.CleanThreshold);
        return MethodScores.FromProbabilities(posterior, labels, isIssue);
    }
}
