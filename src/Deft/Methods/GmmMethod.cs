using Deft.Baselines;
using Deft.Detection;

namespace Deft.Methods;

/// <summary>
/// DivideMix's clean/noisy split as a detector: the CoOp classifier trains on every sample (cross-entropy on the given
/// labels) for the <c>--warmup</c> epochs, at the learning rates DeFT's schedule over <c>--epochs</c> gives those
/// epochs; then a deterministic pass yields per-sample losses, a two-component Gaussian mixture is fitted to them
/// (<see cref="LossGmm"/>, DivideMix's settings), and a sample is clean when the posterior of the low-loss component
/// exceeds ½. Label quality is that posterior; the suggestion is the classifier's argmax.
/// </summary>
public sealed class GmmMethod : IDetectionMethod
{
    public DetectionMethod Method => DetectionMethod.Gmm;

    public MethodOutcome Run(MethodContext context, CancellationToken cancellationToken)
    {
        var o = context.Options;
        using var classifier = new PromptClassifier(context);
        using var source = context.TrainingSource(cancellationToken);
        var trainer = new PromptClassifierTrainer(classifier.Network, context.Labels, o, source, classifier.Optimizer)
        {
            Progress = context.Progress,
            Warn = context.Warn,
        };
        var threads = context.WithTrainingThreads(source, () => trainer.Train(o.Warmup, cancellationToken));
        context.Timings["train_seconds"] = trainer.TrainSeconds;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var pass = PromptClassifierTrainer.Evaluate(classifier.Network, context.Labels, source, context.Progress, cancellationToken);
        context.Timings["eval_seconds"] = clock.Elapsed.TotalSeconds;
        var (scores, fit) = Split(pass, unchecked((int)o.Seed));
        var settings = new Dictionary<string, object?>
        {
            ["train_threads"] = threads,
            ["warmup_epochs"] = o.Warmup,
            ["gmm_means"] = fit.Means,
            ["gmm_variances"] = fit.Variances,
            ["gmm_weights"] = fit.Weights,
            ["gmm_iterations"] = fit.Iterations,
            ["gmm_converged"] = fit.Converged,
            ["rule"] = "two-component GMM on min-max normalised per-sample cross-entropy after warm-up (DivideMix: max_iter 10, tol 1e-2, reg_covar 5e-4); clean when the low-loss component's posterior > 0.5; label_quality = that posterior",
        };
        return new MethodOutcome(scores, "eval", trainer.Epochs, settings);
    }

    /// <summary>The mixture split of a pass's losses: verdicts and label quality from the fit, suggestions from the pass.</summary>
    public static (MethodScores Scores, LossGmmResult Fit) Split(ClassifierPass pass, int seed)
    {
        if (pass.Loss.Length < 2) throw new DeftException($"{Setting.Method} gmm needs at least 2 samples to fit its mixture; got {pass.Loss.Length}.");
        var fit = LossGmm.Fit(pass.Loss, new GmmOptions(Seed: seed));
        var quality = fit.CleanPosterior.Select(p => Math.Clamp(p, 0, 1)).ToArray();
        return (new MethodScores(quality, fit.IsClean.Select(c => !c).ToArray(), pass.Predicted, pass.PredictedProbability), fit);
    }
}
