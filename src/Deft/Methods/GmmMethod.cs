using Deft.Baselines;
using Deft.Detection;

namespace Deft.Methods;

/// <summary>
/// DivideMix's clean/noisy split as a detector: the classifier (<see cref="DetectOptions.Classifier"/>: CoOp prompts, or
/// the official <c>main_baseline.py</c>'s linear head) trains on every sample (cross-entropy on the given
/// labels) for the <c>--warmup</c> epochs, at the learning rates DeFT's schedule over <c>--epochs</c> gives those
/// epochs; then a deterministic pass yields per-sample losses, a two-component Gaussian mixture is fitted to them
/// (<see cref="LossGmm"/>, DivideMix's settings), and a sample is clean when the posterior of the low-loss component
/// exceeds ½. Label quality is that posterior; the suggestion is the classifier's argmax.
/// With <see cref="DetectOptions.GmmRefit"/> it runs as the official <c>main_baseline.py</c>: through all
/// <c>--epochs</c>, refitting the mixture before every epoch after warm-up and training that epoch on the samples the
/// fit calls clean; the verdicts are those of the last fit (made before the last epoch, as the official loop reports).
/// </summary>
public sealed class GmmMethod : IDetectionMethod
{
    public DetectionMethod Method => DetectionMethod.Gmm;

    public MethodOutcome Run(MethodContext context, CancellationToken cancellationToken)
    {
        var o = context.Options;
        using var classifier = LabelClassifier.Create(context);
        using var source = context.TrainingSource(cancellationToken, classifier.NeedsPreProjectionFeatures);
        var trainer = new BaselineClassifierTrainer(classifier, context.Labels, o, source)
        {
            Progress = context.Progress,
            Warn = context.Warn,
        };
        var clock = new System.Diagnostics.Stopwatch();
        ClassifierPass Pass()
        {
            clock.Start();
            try { return BaselineClassifierTrainer.Evaluate(classifier, context.Labels, source, context.Progress, cancellationToken); }
            finally { clock.Stop(); }
        }
        (MethodScores Scores, LossGmmResult Fit)? last = null;
        var refits = 0;
        var threads = context.WithTrainingThreads(source, () =>
        {
            if (!o.GmmRefit)
            {
                trainer.Train(o.Warmup, cancellationToken);
                return;
            }
            trainer.Train(1, o.Warmup, o.Epochs, cancellationToken);
            for (var epoch = o.Warmup + 1; epoch <= o.Epochs; epoch++)
            {
                last = Split(Pass(), unchecked((int)o.Seed));
                refits++;
                var clean = last.Value.Scores.IsIssue.Select(issue => !issue).ToArray();
                trainer.Select = (_, losses, positions) => positions.Select(p => clean[p]).ToArray();
                trainer.Train(epoch, epoch, o.Epochs, cancellationToken);
            }
        }, classifier.TextStepMacs);
        context.Timings["train_seconds"] = trainer.TrainSeconds;
        // Without refits (or when warm-up fills every epoch) the fit is made once, after the trained epochs.
        var (scores, fit) = last ?? Split(Pass(), unchecked((int)o.Seed));
        context.Timings["eval_seconds"] = clock.Elapsed.TotalSeconds;
        var settings = new Dictionary<string, object?>
        {
            ["train_threads"] = threads,
            ["warmup_epochs"] = o.Warmup,
            ["gmm_refit"] = o.GmmRefit,
            ["gmm_fits"] = Math.Max(1, refits),
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
