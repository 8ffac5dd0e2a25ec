using Deft.Data;
using Deft.Data.Transforms;
using Deft.Detection;
using Deft.Training;

namespace Deft.Methods;

/// <summary>
/// The official phase-1 loop's test figure: after every epoch, top-1 accuracy of the positive prompts on a labelled
/// test set (eval transform; frozen-tower features computed once). It reads the network only, so training, the
/// selection and every other output are the same with or without it.
/// </summary>
internal sealed class PromptTestEvaluation : IDisposable
{
    private readonly LabelAssignment _labels;
    private readonly TrainingSource _source;

    private PromptTestEvaluation(LabelAssignment labels, TrainingSource source) => (_labels, _source) = (labels, source);

    /// <summary>The evaluation of <see cref="DetectOptions.TestData"/>, or null when none is given.</summary>
    public static PromptTestEvaluation? Open(MethodContext context, ImagePipeline evalPipeline, CancellationToken cancellationToken)
    {
        var options = context.Options;
        if (options.TestData is null) return null;
        var split = options.TestSplit ?? "test";
        var (dataset, _) = DeftDetector.OpenDataset(options.TestData, options.Format, split, options.ClassesFile, context.Warn, options.OnBadImage);
        if (dataset.Classes.Count != context.Labels.ClassCount)
            throw new DeftException($"{options.TestData} ({split}) has {dataset.Classes.Count} classes; the training data has {context.Labels.ClassCount}. " +
                $"{Setting.TestData} must be labelled with the same classes.");
        var labels = LabelAssignment.FromDataset(dataset, $"{options.TestData} ({split})");
        TrainingSource source;
        if (options.Peft.AdaptsImageTower)
        {
            source = new ImageTrainingSource(dataset, labels, evalPipeline, evalPipeline, options.BatchSize, options.Seed, options.Workers);
        }
        else
        {
            string? note = null;
            var testOptions = options with { DataSettings = options.DataSettings with { Data = options.TestData, Split = split, Labels = null } };
            source = DetectionRun.CachedSource(testOptions, context.Bundle, dataset, labels, evalPipeline, ref note, cancellationToken, context.Warn,
                cache: !context.InMemory);
        }
        return new PromptTestEvaluation(labels, source);
    }

    /// <summary>Scores the test set with the current prompts and stores the accuracy in the state's last epoch record.</summary>
    public void Record(DeftNetwork net, TrainingState state, DeftVariant variant, IProgress<DetectProgress>? progress, CancellationToken cancellationToken)
    {
        var scores = DeftTrainer.Evaluate(net, _labels, _source, Relabel(progress), cancellationToken, variant);
        var correct = 0;
        for (var p = 0; p < _labels.Count; p++)
            if (scores.Predicted[p] == _labels.Labels[p]) correct++;
        state.Epochs[^1] = state.Epochs[^1] with { TestAccuracy = (double)correct / _labels.Count };
    }

    /// <summary>The evaluation pass reports as phase "test", so progress displays do not call it the final eval pass.</summary>
    private static IProgress<DetectProgress>? Relabel(IProgress<DetectProgress>? progress) =>
        progress is null ? null : new Progress(p => progress.Report(p with { Phase = "test" }));

    private sealed class Progress(Action<DetectProgress> report) : IProgress<DetectProgress>
    {
        public void Report(DetectProgress value) => report(value);
    }

    public void Dispose() => _source.Dispose();
}
