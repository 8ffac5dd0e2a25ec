using Deft.Baselines;
using Deft.Detection;

namespace Deft.Methods;

/// <summary>
/// Small-loss selection (Co-teaching's criterion, one network): the classifier (<see cref="DetectOptions.Classifier"/>:
/// CoOp prompts, or the official <c>main_small_loss.py</c>'s linear head) trains as DeFT's phase 1 would,
/// but each batch keeps only the (1 − r) fraction with the smallest cross-entropy (<see cref="SmallLoss.Select"/>) and
/// trains on those; r ramps linearly from 0 to <c>--noise-rate</c> over the <c>--warmup</c> epochs
/// (<see cref="SmallLoss.Schedule"/>). The verdict is the kept sets of the last epoch; label quality and the suggested
/// label come from a deterministic pass afterwards (softmax probability of the given label, argmax), so a sample's
/// quality need not agree with its verdict, which was made on an augmented view by the model mid-epoch.
/// </summary>
public sealed class SmallLossMethod : IDetectionMethod
{
    public DetectionMethod Method => DetectionMethod.SmallLoss;

    public MethodOutcome Run(MethodContext context, CancellationToken cancellationToken)
    {
        var o = context.Options;
        var rate = o.NoiseRate ?? throw new DeftException($"{Setting.Method} small-loss needs {Setting.NoiseRate} R.");
        var schedule = SmallLoss.Schedule(rate, o.Warmup, o.Epochs);
        using var classifier = LabelClassifier.Create(context);
        using var source = context.TrainingSource(cancellationToken, classifier.NeedsPreProjectionFeatures);
        var trainer = new BaselineClassifierTrainer(classifier, context.Labels, o, source)
        {
            Select = Selector(schedule),
            Progress = context.Progress,
            Warn = context.Warn,
        };
        var threads = context.WithTrainingThreads(source, () => trainer.Train(o.Epochs, cancellationToken), classifier.TextStepMacs);
        context.Timings["train_seconds"] = trainer.TrainSeconds;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var pass = BaselineClassifierTrainer.Evaluate(classifier, context.Labels, source, context.Progress, cancellationToken);
        context.Timings["eval_seconds"] = clock.Elapsed.TotalSeconds;
        var kept = trainer.LastEpochKept!;
        var scores = new MethodScores(pass.GivenProbability, kept.Select(k => !k).ToArray(), pass.Predicted, pass.PredictedProbability);
        var settings = new Dictionary<string, object?>
        {
            ["train_threads"] = threads,
            ["noise_rate"] = rate,
            ["forget_rate_schedule"] = schedule,
            ["rule"] = "per batch, train on the (1 - forget rate) fraction with the smallest cross-entropy; issues = not kept in the last epoch; label_quality = softmax probability of the given label in a deterministic pass after training",
        };
        return new MethodOutcome(scores, "last-epoch", trainer.Epochs, settings);
    }

    /// <summary>Per batch of epoch e (from 1): keep the samples <see cref="SmallLoss.Select"/> keeps at forget rate schedule[e − 1].</summary>
    public static BatchSelector Selector(double[] schedule) => (epoch, losses, _) => SmallLoss.Select(losses, schedule[epoch - 1]);
}
