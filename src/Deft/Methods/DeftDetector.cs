using System.Diagnostics;
using Deft.Clip;
using Deft.Data;
using Deft.Data.Transforms;
using Deft.Detection;
using Deft.IO;
using Deft.Peft;
using Deft.Prompts;
using TorchSharp;
using static TorchSharp.torch;

namespace Deft.Methods;

/// <summary>Options of <see cref="DeftDetector.Score"/>: a trained detector applied to (new) data.</summary>
public sealed record ScoreOptions
{
    /// <summary>The detect run's output directory (holds detector.safetensors).</summary>
    public required string RunDirectory { get; init; }
    public required string Data { get; init; }
    public required string Format { get; init; }
    public string Split { get; init; } = "train";
    public string? Labels { get; init; }
    public string? ClassesFile { get; init; }
    /// <summary>Overrides the model spec stored in the detector (the weights moved).</summary>
    public string? Model { get; init; }
    public string? Vocab { get; init; }
    public int BatchSize { get; init; } = 64;
    /// <summary>Intra-op threads; null: <see cref="ThreadPlan.Choose"/>.</summary>
    public int? Threads { get; init; }
    /// <summary>Where samples.csv, label_issues.csv and summary.json go; null: RUN/score.</summary>
    public string? OutputDirectory { get; init; }
    public int? Workers { get; init; }
    /// <summary>What to do with an image that cannot be read: skip it (the default; listed in data_issues.csv) or fail.</summary>
    public BadImagePolicy OnBadImage { get; init; } = BadImagePolicy.Skip;
    /// <summary>How label issues are decided from the scores (as in detect: the agreeing-label rule is on by default).</summary>
    public IssueSettings Issues { get; init; } = new();
}

/// <summary>
/// DeFT phase 1, end to end: the noisy-label detector. <see cref="Detect"/> runs the chosen method (DeFT trains the
/// dual prompts and PEFT modules on the given labels) through <see cref="DetectionRun"/> and reports, per sample, the
/// probability that its label is right; <see cref="Score"/> applies a trained detector to data with one deterministic pass.
/// </summary>
public static class DeftDetector
{
    /// <summary>The files a detect run writes into its output directory.</summary>
    public static IReadOnlyList<string> RunFiles => DetectionWriter.RunFiles;

    public static DetectionReport Detect(DetectOptions options, IProgress<DetectProgress>? progress = null, Action<string>? warn = null,
        CancellationToken cancellationToken = default) => DetectionRun.Detect(options, progress, warn, cancellationToken);

    /// <summary>
    /// Encodes shard <see cref="DetectOptions.Shard"/> of the frozen image features a run with these options reads
    /// (methods without training, or <c>--peft none</c>) into the feature cache's shard folder, and detects nothing.
    /// Once every shard is written, <see cref="FeatureShards.MergeIntoCache"/> builds the cache entry that
    /// <see cref="Detect"/> then loads instead of encoding.
    /// </summary>
    public static FeatureShardResult EncodeShard(DetectOptions options, IProgress<DetectProgress>? progress = null, Action<string>? warn = null,
        CancellationToken cancellationToken = default) => DetectionRun.EncodeShard(options, progress, warn, cancellationToken);

    /// <summary>
    /// Applies the detector saved in <see cref="ScoreOptions.RunDirectory"/> to data: one deterministic pass (eval
    /// transform), p_clean of each sample's given label, suggested labels. Writes the same CSV/JSON files as detect.
    /// </summary>
    public static DetectionReport Score(ScoreOptions options, IProgress<DetectProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        var total = Stopwatch.StartNew();
        using var outputLock = OutputDirectory.Lock(options.OutputDirectory ?? Path.Combine(options.RunDirectory, "score"));
        var detectorPath = Path.Combine(options.RunDirectory, DetectorFile.FileName);
        if (!File.Exists(detectorPath))
        {
            // Methods other than deft train nothing that could be applied to new data; say so rather than "not finished".
            var method = DetectionOutputs.ReadMethod(options.RunDirectory);
            if (method is not null && method != DetectionMethod.Deft.ToName())
                throw new DeftException($"{options.RunDirectory} was made by {Setting.Method} {method}, which keeps no trained detector: `deft score` applies to {Setting.Method} deft runs. Run `deft detect` on the new data instead (clip-posterior needs no training).");
            throw new DeftException($"{options.RunDirectory}: no {DetectorFile.FileName}; pass the output directory of a finished `deft detect` run with {Setting.Method} deft.");
        }
        var config = DetectorFile.ReadConfig(detectorPath);
        var (dataset, _) = OpenDataset(options.Data, options.Format, options.Split, options.ClassesFile, onBadImage: options.OnBadImage);
        if (dataset.Classes.Count != config.Classes.Count)
            throw new DeftException($"{options.Data} has {dataset.Classes.Count} classes; the detector was trained on {config.Classes.Count} ({string.Join(", ", config.Classes.Take(5))}{(config.Classes.Count > 5 ? ", …" : "")}).");
        var labels = options.Labels is null
            ? LabelAssignment.FromDataset(dataset, $"{options.Data} ({options.Split})")
            : LabelAssignment.FromLabelFile(options.Labels, dataset, options.Data);

        using var bundle = ClipBundle.Load(options.Model ?? config.Model, options.Vocab ?? config.Vocab, new ClipLoadOptions());
        var clip = bundle.Model;
        if (config.Preprocess.Precision == TowerPrecision.Bf16) clip.ToDType(ScalarType.BFloat16, ClipTowers.Vision);
        using var prompts = new DualPromptLearner(config.Classes, config.Prompts, new ClipPromptTokenizer(bundle.Tokenizer),
            clip.TokenEmbedding, clip.Config.Text.ContextLength);
        using var peft = VisionPeft.Create(config.Peft, clip.Config.Vision);
        using var net = new DeftNetwork(clip, peft, prompts);
        DetectorFile.LoadInto(detectorPath, net.Trainables);

        var pipeline = Pipelines(options.Format, config.Preprocess.Augment ?? AugmentPreset.None, bundle.Resolution, config.Normalization).Eval;
        using var source = new ImageTrainingSource(dataset, labels, pipeline, pipeline, options.BatchSize, config.Seed, options.Workers);
        var clock = Stopwatch.StartNew();
        var coreThreads = torch.get_num_threads();
        PassScores scores;
        var keepProbabilities = (long)labels.Count * labels.ClassCount <= DeftMethod.MaxKeptProbabilities;
        try
        {
            torch.set_num_threads(ThreadPlan.Choose(options.Threads, config.Peft, options.BatchSize, clip.Config.Vision, coreThreads).Images);
            scores = DeftTrainer.Evaluate(net, labels, source, progress, cancellationToken, config.Variant, keepProbabilities);
        }
        finally
        {
            torch.set_num_threads(coreThreads);
        }
        var probabilities = DeftMethod.ToProbabilities(scores);
        var decided = IssueDecision.Apply(DeftMethod.ToMethodScores(scores), probabilities, labels.Labels, options.Issues, DetectionMethod.Deft);
        var rows = DetectionRun.Verdicts(labels, decided, dataset);
        var timings = new Dictionary<string, double> { ["eval_seconds"] = clock.Elapsed.TotalSeconds, ["total_seconds"] = total.Elapsed.TotalSeconds };
        // The settings records under the names (and by the serialization) of detect's summary.json config.
        var data = new DataSettings
        {
            Model = options.Model ?? config.Model, Data = options.Data, Format = options.Format, Split = options.Split,
            Labels = options.Labels, ClassesFile = options.ClassesFile, Vocab = options.Vocab ?? config.Vocab,
        };
        var tree = new System.Text.Json.Nodes.JsonObject
        {
            ["data"] = System.Text.Json.JsonSerializer.SerializeToNode(data, DetectionSettingsJson.Options),
            ["peft"] = System.Text.Json.JsonSerializer.SerializeToNode(config.Peft, DetectionSettingsJson.Options),
            ["prompts"] = System.Text.Json.JsonSerializer.SerializeToNode(config.Prompts, DetectionSettingsJson.Options),
            ["issues"] = System.Text.Json.JsonSerializer.SerializeToNode(options.Issues, DetectionSettingsJson.Options),
        };
        var settings = new Dictionary<string, object?> { ["detector"] = Path.GetFullPath(detectorPath) };
        foreach (var (key, value) in DetectionSettingsJson.Flatten(tree)) settings[key] = DetectionSettingsJson.ToValue(value);
        settings["n_ctx"] = prompts.NumContext; // as the detector built its prompts (ctx_init may set the count)
        settings["batch"] = options.BatchSize;
        var summary = DetectionSummaryBuilder.Summary(rows, config.Classes, "eval", [], timings, settings) with { LabelsFingerprint = labels.Fingerprint() };
        var report = new DetectionReport(config.Classes, rows, summary) { PredProbs = DetectionRun.ByIndex(probabilities, labels), DataIssues = DataIssues.OfFiles(dataset) };
        DetectionWriter.Write(options.OutputDirectory ?? Path.Combine(options.RunDirectory, "score"), report, null, dataset, "Deft label-quality scores");
        return report;
    }

    /// <summary>
    /// Opens the data and decides the class names the prompts use: <c>--classes</c> is the data layer's label mapping
    /// for idx and csv; for the formats that name their classes themselves it renames them for the prompts, and its
    /// count must match.
    /// </summary>
    public static (IImageDataset Dataset, IReadOnlyList<string> Classes) OpenDataset(string data, string format, string split, string? classesFile,
        Action<string>? warn = null, BadImagePolicy onBadImage = BadImagePolicy.Skip)
    {
        // idx and csv map labels through the names file; the WebVision formats read --classes as a class count.
        var mapsLabels = format.Trim().ToLowerInvariant() is "idx" or "csv" || Deft.Data.Paper.PaperDatasets.TakesClassCount(format);
        var dataset = DatasetFactory.Open(new DatasetOptions(data, format, split, onBadImage, mapsLabels ? classesFile : null, warn));
        if (classesFile is null || mapsLabels) return (dataset, dataset.Classes);
        var names = DatasetFactory.ReadClassesFile(classesFile);
        if (names.Count != dataset.Classes.Count)
            throw new DeftException($"{classesFile} lists {names.Count} class names but {data} has {dataset.Classes.Count} classes; give exactly one name per class, in label order.");
        return (dataset, names);
    }

    /// <summary>
    /// The training and evaluation transforms. CIFAR follows the official DeFT loaders: random crop 32 with padding 4,
    /// torchvision's default (bilinear) resize to the model resolution, flip; evaluation is the same resize. Other
    /// data use the chosen preset for training and CLIP's evaluation transform (bicubic, center crop), or the official
    /// loaders' own for the <c>official-*</c> presets (<see cref="ImagePipeline.EvalFor"/>).
    /// </summary>
    internal static (ImagePipeline Train, ImagePipeline Eval) Pipelines(string format, AugmentPreset augment, int resolution, Normalization normalization)
    {
        if (format.Trim().ToLowerInvariant() is "cifar10" or "cifar100" && !augment.IsOfficialLoader())
        {
            var resize = new ResizeTo(resolution, resolution, ResampleFilter.Bilinear);
            var eval = new ImagePipeline([resize], normalization);
            var train = augment == AugmentPreset.Cifar
                ? new ImagePipeline([new RandomCropWithPadding(32, 4), resize, new RandomHorizontalFlip()], normalization)
                : augment == AugmentPreset.None ? eval : ImagePipeline.ForTraining(augment, resolution, normalization);
            return (train, eval);
        }
        return (ImagePipeline.ForTraining(augment, resolution, normalization), ImagePipeline.EvalFor(augment, resolution, normalization));
    }
}
