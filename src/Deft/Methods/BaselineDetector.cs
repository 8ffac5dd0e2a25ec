using System.Diagnostics;
using Deft.Clip;
using Deft.Data;
using Deft.Data.Transforms;
using Deft.Detection;
using TorchSharp;
using static TorchSharp.torch;

namespace Deft.Methods;

/// <summary>
/// Runs a baseline detector (<see cref="DetectOptions.Method"/> ≠ deft) with DeFT's data, label and model handling
/// and writes the same samples.csv, label_issues.csv and summary.json (with "method" set). Baselines write no
/// checkpoint or detector file, so <c>--resume</c> and <c>deft score</c> do not apply to them.
/// </summary>
public static class BaselineDetector
{
    public static IDetectionMethod Create(DetectionMethod method) => method switch
    {
        DetectionMethod.LabelMatch => new LabelMatchMethod(),
        DetectionMethod.ClipPosterior => new ClipPosteriorMethod(),
        DetectionMethod.SmallLoss => new SmallLossMethod(),
        DetectionMethod.Gmm => new GmmMethod(),
        DetectionMethod.ConfidentLearning or DetectionMethod.PredictedNeqGiven or DetectionMethod.SelfConfidence => new ConfidentLearningMethod(method),
        _ => throw new ArgumentOutOfRangeException(nameof(method), method,
            $"No baseline for '{method}'. Baselines: {string.Join(", ", DetectionMethods.ValidNames.Skip(1))}; deft runs through DeftDetector.Detect."),
    };

    public static DetectionReport Detect(DetectOptions options, IProgress<DetectProgress>? progress = null, Action<string>? warn = null,
        CancellationToken cancellationToken = default)
    {
        options.Validate();
        var method = Create(options.Method);
        var total = Stopwatch.StartNew();
        var timings = new Dictionary<string, double>();
        using var outputLock = DeftDetector.PrepareOutputDirectory(options, warn);

        var clock = Stopwatch.StartNew();
        var (dataset, classes) = DeftDetector.OpenDataset(options.Data, options.Format, options.Split, options.ClassesFile);
        var labels = options.Labels is null
            ? LabelAssignment.FromDataset(dataset, $"{options.Data} ({options.Split})")
            : LabelAssignment.FromLabelFile(options.Labels, dataset);
        if (classes.Count < 2) throw new DeftException($"{options.Data}: label-noise detection needs at least two classes; the data set has {classes.Count}.");
        using var bundle = ClipBundle.Load(options.Model, options.Vocab, new ClipLoadOptions());
        if (options.Precision == TowerPrecision.Bf16) bundle.Model.ToDType(ScalarType.BFloat16, ClipTowers.Vision);
        var normalization = options.ResolveNormalization(bundle.Normalization);
        var augment = options.ResolveAugment();
        timings["load_seconds"] = clock.Elapsed.TotalSeconds;

        var context = new MethodContext
        {
            Options = options, Bundle = bundle, Dataset = dataset, Classes = classes, Labels = labels, Normalization = normalization,
            Augment = augment, Timings = timings, Progress = progress, Warn = warn,
        };
        var outcome = method.Run(context, cancellationToken);
        outcome.Scores.CheckCount(labels.Count);

        var rows = Verdicts(labels, outcome.Scores, dataset);
        if (rows.All(r => r.IsLabelIssue))
            warn?.Invoke($"--method {options.Method.ToName()} flagged every label.");
        var config = Config(options, bundle, classes, labels, normalization, augment, context);
        config["method"] = options.Method.ToName();
        foreach (var (key, value) in outcome.Settings) config[key] = value;
        timings["total_seconds"] = total.Elapsed.TotalSeconds;
        var summary = DetectionSummaryBuilder.Summary(rows, classes, outcome.Selection, outcome.Epochs, timings, config)
            with { Method = options.Method.ToName(), LabelsFingerprint = labels.Fingerprint() };
        var report = new DetectionReport(classes.ToArray(), rows, summary);
        DetectionOutputs.Write(options.OutputDirectory, report);
        return report;
    }

    /// <summary>The report rows in data-set index order.</summary>
    public static IReadOnlyList<SampleVerdict> Verdicts(LabelAssignment labels, MethodScores scores, IImageDataset dataset)
    {
        scores.CheckCount(labels.Count);
        var rows = new SampleVerdict[labels.Count];
        for (var p = 0; p < labels.Count; p++)
        {
            var index = labels.Indices[p];
            rows[p] = new SampleVerdict(index, dataset.GetSource(index), labels.Labels[p], scores.LabelQuality[p], scores.IsIssue[p],
                scores.Suggested[p], scores.SuggestedProbability[p], labels.TrueLabels[p]);
        }
        return rows.OrderBy(r => r.Index).ToArray();
    }

    /// <summary>
    /// The training baselines record DeFT's settings (they share its schedule, prompts and PEFT); the others only the
    /// model, data and preprocessing.
    /// </summary>
    private static Dictionary<string, object?> Config(DetectOptions o, ClipBundle bundle, IReadOnlyList<string> classes, LabelAssignment labels,
        Normalization normalization, AugmentPreset augment, MethodContext context)
    {
        var imageFeatures = context.UsedFeatureCache ? context.FeatureCacheNote : "computed every step through the adapted tower";
        if (o.Method.Trains())
        {
            var full = new Dictionary<string, object?>(DeftDetector.Config(o, bundle, classes, labels, normalization, augment,
                context.UsedFeatureCache, context.FeatureCacheNote));
            full.Remove("selection");
            full["classifier"] = "CoOp: the positive prompts only, cross-entropy on the given labels";
            return full;
        }
        var config = DeftDetector.CommonConfig(o, bundle, classes, labels, normalization);
        config["image_features"] = imageFeatures;
        return config;
    }
}
