using System.Diagnostics;
using System.Globalization;
using Deft.Clip;
using Deft.Data;
using Deft.Data.Transforms;
using Deft.Detection;
using Deft.IO;
using Deft.Prompts;
using TorchSharp;
using static TorchSharp.torch;

namespace Deft.Methods;

/// <summary>
/// One detection, whatever the method: takes the output directory, opens the data, its class names and the given
/// labels, loads the CLIP bundle (in the chosen precision), resolves normalization and augmentation, runs the
/// <see cref="IDetectionMethod"/> and hands the result to <see cref="DetectionWriter"/>. DeFT and the baselines differ
/// only in the method object.
/// </summary>
public static class DetectionRun
{
    /// <summary>The method object behind <paramref name="method"/>.</summary>
    public static IDetectionMethod CreateMethod(DetectionMethod method) => method switch
    {
        DetectionMethod.Deft => new DeftMethod(),
        DetectionMethod.LabelMatch => new LabelMatchMethod(),
        DetectionMethod.ClipPosterior => new ClipPosteriorMethod(),
        DetectionMethod.SmallLoss => new SmallLossMethod(),
        DetectionMethod.Gmm => new GmmMethod(),
        DetectionMethod.ConfidentLearning or DetectionMethod.PredictedNeqGiven or DetectionMethod.SelfConfidence => new ConfidentLearningMethod(method),
        _ => throw new ArgumentOutOfRangeException(nameof(method), method, $"Valid methods: {string.Join(", ", DetectionMethods.ValidNames)}."),
    };

    public static DetectionReport Detect(DetectOptions options, IProgress<DetectProgress>? progress = null, Action<string>? warn = null,
        CancellationToken cancellationToken = default)
    {
        options.Validate();
        if (options.Shard is not null)
            throw new DeftException($"{Setting.Shard} {options.Shard}: a shard encodes features only (DeftDetector.EncodeShard); detection needs every sample.");
        var deft = options.Method == DetectionMethod.Deft;
        var total = Stopwatch.StartNew();
        var timings = new Dictionary<string, double>();
        using var outputLock = DetectionWriter.PrepareOutputDirectory(options, warn);

        var clock = Stopwatch.StartNew();
        var (dataset, classes) = DeftDetector.OpenDataset(options.Data, options.Format, options.Split, options.ClassesFile, warn, options.OnBadImage);
        if (dataset is ValidatedDataset { Skipped.Count: > 0 } skipping && options.Labels is not null && !Deft.Noise.LabelFile.IsKeyedByPath(options.Labels))
            warn?.Invoke($"{skipping.Skipped.Count} unreadable image(s) were skipped, so sample indices count the readable images only; " +
                $"a label file keyed by index that was made while they were readable no longer lines up (see {DataIssues.FileName}).");
        var labels = options.Labels is null
            ? LabelAssignment.FromDataset(dataset, $"{options.Data} ({options.Split})")
            : LabelAssignment.FromLabelFile(options.Labels, dataset, options.Data);
        if (classes.Count < 2)
            throw new DeftException($"{options.Data}: {(deft ? "DeFT" : "label-noise detection")} needs at least two classes; the data set has {classes.Count}.");
        using var bundle = ClipBundle.Load(options.Model, options.Vocab, new ClipLoadOptions());
        // auto becomes fp32 or bf16 here, before anything is keyed or written: summary.json, the detector file, the
        // checkpoint and the feature cache see the resolved precision only.
        (options, var precisionNote) = ApplyPrecision(options, bundle);
        var normalization = options.ResolveNormalization(bundle.Normalization);
        var augment = options.ResolveAugment();
        timings["load_seconds"] = clock.Elapsed.TotalSeconds;

        var context = new MethodContext
        {
            Options = options, Bundle = bundle, Dataset = dataset, Classes = classes, Labels = labels, Normalization = normalization,
            Augment = augment, Timings = timings, Progress = progress, Warn = warn, PrecisionNote = precisionNote,
        };
        using var result = Run(context, total, cancellationToken);
        DetectionWriter.Write(options.OutputDirectory, result.Report, result.Detector, dataset, options.ReportTitle);
        return result.Report;
    }

    /// <summary>What <see cref="Run"/> produced: the report, what the method trained (disposed with this) and its probabilities.</summary>
    internal sealed record Result(DetectionReport Report, ITrainedDetector? Detector, double[,]? Probabilities) : IDisposable
    {
        public void Dispose() => Detector?.Dispose();
    }

    /// <summary>
    /// The in-memory core: runs <see cref="DetectOptions.Method"/> on the context's opened data, labels and model and
    /// builds the report. It writes nothing, except for file runs DeFT's per-epoch checkpoint and the feature cache
    /// (<see cref="MethodContext.InMemory"/>: neither). <paramref name="total"/> times the whole run for summary.json.
    /// </summary>
    internal static Result Run(MethodContext context, Stopwatch total, CancellationToken cancellationToken)
    {
        var (options, dataset, classes, labels) = (context.Options, context.Dataset, context.Classes, context.Labels);
        var method = CreateMethod(options.Method);
        var outcome = method.Run(context, cancellationToken);
        try
        {
            outcome.Scores.CheckCount(labels.Count);
            var scores = IssueDecision.Apply(outcome.Scores, outcome.Probabilities, labels.Labels, options.Issues, options.Method);
            var rows = Verdicts(labels, scores, dataset);
            if (rows.All(r => r.IsLabelIssue))
                context.Warn?.Invoke(options.Method == DetectionMethod.Deft
                    ? "no sample was selected as clean: every label is flagged. The prompts may need more epochs or a higher learning rate."
                    : $"Method {options.Method.ToName()} flagged every label.");
            var config = Config(context);
            foreach (var (key, value) in outcome.Settings) config[key] = value;
            var dataIssues = CollectDataIssues(context, config);
            context.Timings["total_seconds"] = total.Elapsed.TotalSeconds;
            var summary = DetectionSummaryBuilder.Summary(rows, classes, outcome.Selection, outcome.Epochs, context.Timings, config)
                with { Method = options.Method.ToName(), LabelsFingerprint = labels.Fingerprint() };
            var report = new DetectionReport(classes.ToArray(), rows, summary) { PredProbs = ByIndex(outcome.Probabilities, labels), DataIssues = dataIssues };
            return new Result(report, outcome.Detector, outcome.Probabilities);
        }
        catch
        {
            outcome.Detector?.Dispose();
            throw;
        }
    }

    /// <summary>The method's probabilities (rows by position) reordered as <see cref="Verdicts"/> orders the rows: by data-set index.</summary>
    internal static double[,]? ByIndex(double[,]? byPosition, LabelAssignment labels)
    {
        if (byPosition is null) return null;
        var (n, k) = (byPosition.GetLength(0), byPosition.GetLength(1));
        if (n != labels.Count) throw new InvalidOperationException($"{n} probability rows for {labels.Count} samples.");
        var order = Enumerable.Range(0, n).OrderBy(p => labels.Indices[p]).ToArray();
        var result = new double[n, k];
        for (var r = 0; r < n; r++)
            for (var c = 0; c < k; c++)
                result[r, c] = byPosition[order[r], c];
        return result;
    }

    /// <summary>
    /// The run's data issues: the data set's skipped files and empty classes, then the near-duplicates and outliers the
    /// frozen features showed (when the method computed them); their counts go into summary.json's config.
    /// </summary>
    private static IReadOnlyList<DataIssue> CollectDataIssues(MethodContext context, Dictionary<string, object?> config)
    {
        var issues = DataIssues.OfFiles(context.Dataset).Concat(context.FeatureIssues ?? []).ToList();
        config["on_bad_image"] = context.Options.OnBadImage.ToString().ToLowerInvariant();
        config["data_issues"] = DataIssues.Counts(issues);
        config["data_issues_from_features"] = context.FeatureIssues is null
            ? (context.Options.FeatureIssues is null ? "off" : "not looked for: this method computes no frozen image features")
            : FormattableString.Invariant($"near-duplicates at cosine >= {context.Options.FeatureIssues!.DuplicateThreshold}, outliers at {context.Options.FeatureIssues.OutlierZ} MADs (k = {context.Options.FeatureIssues.Neighbours})");
        return issues;
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
    /// Frozen-tower image features of the participating samples through the feature cache, keyed by content: the
    /// weights' and every participating image's (or container's) bytes; see <see cref="FeatureCache"/>.
    /// </summary>
    internal static CachedTrainingSource CachedSource(DetectOptions options, ClipBundle bundle, IImageDataset dataset, LabelAssignment labels,
        ImagePipeline evalPipeline, ref string? note, CancellationToken cancellationToken, Action<string>? warn = null, bool cache = true,
        IProgress<DetectProgress>? progress = null, bool preProjection = false)
    {
        var encoding = EncodingProgress(progress);
        Tensor Compute() => ImageFeatures.Compute(bundle.Model, dataset, labels.Indices, evalPipeline, EncodingBatch(options), cancellationToken, encoding, preProjection);
        if (!cache)
        {
            note = "computed in memory (no feature cache)";
            return new CachedTrainingSource(Compute(), labels, dataset, evalPipeline, options.BatchSize, options.Seed);
        }
        var key = CacheIdentity(options, bundle, dataset, labels, evalPipeline).CacheKey(FeatureCache.DataIdentity(dataset, labels.Indices, options.Data));
        // Pre-projection features (the linear-head baselines') are an entry of their own.
        if (preProjection) key = FeatureCache.Key(key, "pre-projection");
        var (features, fromCache, path) = FeatureCache.GetOrCompute(options.CacheDirectory ?? FeatureCache.DefaultDirectory(), key, labels.Count,
            Compute, warn);
        note = (fromCache ? "loaded from " : "computed and stored in ") + path;
        return new CachedTrainingSource(features, labels, dataset, evalPipeline, options.BatchSize, options.Seed);
    }

    /// <summary>Resolves <see cref="TowerPrecision.Auto"/> for this model and run and puts the image tower in that precision.</summary>
    private static (DetectOptions Options, string? Note) ApplyPrecision(DetectOptions options, ClipBundle bundle)
    {
        var (precision, note) = TowerPrecisions.Resolve(options.Precision, bundle.Model, options.Peft, options.BatchSize,
            ThreadPlan.Choose(options.Threads, options.Peft, options.BatchSize, bundle.Model.Config.Vision, torch.get_num_threads()).Images,
            options.CacheDirectory);
        if (precision == TowerPrecision.Bf16) bundle.Model.ToDType(ScalarType.BFloat16, ClipTowers.Vision);
        return (options with { Precision = precision }, note);
    }

    /// <summary>What the cache entry of these inputs is computed from (the key's parts but the per-sample digests).</summary>
    internal static FeatureSetIdentity CacheIdentity(DetectOptions options, ClipBundle bundle, IImageDataset dataset, LabelAssignment labels, ImagePipeline evalPipeline) =>
        FeatureSetIdentity.Of(FeatureSetIdentity.CachePurpose, bundle.Loaded, options.Data, options.Format, options.Split, dataset, labels.Indices,
            evalPipeline.ToString(), options.Precision.ToString());

    /// <summary>
    /// Encodes shard <see cref="DetectOptions.Shard"/> of the frozen image features the method would read from the
    /// cache — the same samples, transform, precision and encoding batches — and writes it to the cache's shard folder;
    /// no detection runs (it needs every sample). <c>FeatureShards.MergeIntoCache</c> turns a complete set into the
    /// cache entry a whole run then loads.
    /// </summary>
    public static FeatureShardResult EncodeShard(DetectOptions options, IProgress<DetectProgress>? progress = null, Action<string>? warn = null,
        CancellationToken cancellationToken = default)
    {
        if (options.Shard is not { } shard) throw new ArgumentException("The options name no shard.", nameof(options));
        options.Validate();
        var (dataset, _) = DeftDetector.OpenDataset(options.Data, options.Format, options.Split, options.ClassesFile, warn, options.OnBadImage);
        var labels = options.Labels is null
            ? LabelAssignment.FromDataset(dataset, $"{options.Data} ({options.Split})")
            : LabelAssignment.FromLabelFile(options.Labels, dataset, options.Data);
        using var bundle = ClipBundle.Load(options.Model, options.Vocab, new ClipLoadOptions());
        // As a whole run resolves auto, so the shard is keyed by the precision that run would use.
        (options, _) = ApplyPrecision(options, bundle);
        var normalization = options.ResolveNormalization(bundle.Normalization);
        var augment = options.ResolveAugment();
        // The transform the method's frozen features go through (DeftMethod: DeftDetector.Pipelines; the others: EvalFor).
        var evalPipeline = options.Method == DetectionMethod.Deft
            ? DeftDetector.Pipelines(options.Format, augment, bundle.Resolution, normalization).Eval
            : ImagePipeline.EvalFor(augment, bundle.Resolution, normalization);
        var batch = EncodingBatch(options);
        var (start, length) = shard.Range(labels.Count, batch);
        var positions = Enumerable.Range(start, length).ToArray();
        var indices = positions.Select(p => labels.Indices[p]).ToArray();
        var identity = CacheIdentity(options, bundle, dataset, labels, evalPipeline);
        var coreThreads = torch.get_num_threads();
        try
        {
            // DeftMethod encodes with its image-pass thread count; the other methods with the process's.
            if (options.Method == DetectionMethod.Deft)
                torch.set_num_threads(ThreadPlan.Choose(options.Threads, options.Peft, options.BatchSize, bundle.Model.Config.Vision, coreThreads).Images);
            using var features = ImageFeatures.Compute(bundle.Model, dataset, indices, evalPipeline, batch, cancellationToken, EncodingProgress(progress));
            var ids = new SampleIds(indices, indices.Select(dataset.GetSource).ToArray(), positions.Select(p => labels.Labels[p]).ToArray(),
                positions.Select(p => labels.TrueLabels[p]).ToArray());
            var path = FeatureShards.CachePath(options.CacheDirectory ?? FeatureCache.DefaultDirectory(), identity, shard);
            FeatureShards.Write(path, identity, shard, labels.Count, start, batch, features, ids, FeatureCache.SampleDigests(dataset, indices));
            return new FeatureShardResult(path, shard, start, length, labels.Count);
        }
        finally
        {
            torch.set_num_threads(coreThreads);
        }
    }

    /// <summary>The batch the frozen tower encodes the samples in (shard boundaries are whole batches of it).</summary>
    internal static int EncodingBatch(DetectOptions options) => Math.Max(options.BatchSize, 64);

    /// <summary>Phase <see cref="EncodePhase"/>, counted in images (Step/Steps): the frozen tower's pass over the samples.</summary>
    public const string EncodePhase = "encode";

    private static IProgress<(int Done, int Total)>? EncodingProgress(IProgress<DetectProgress>? progress) =>
        progress is null ? null : new ImageCountProgress(p => progress.Report(new DetectProgress(EncodePhase, 0, 0, p.Done, p.Total, double.NaN, double.NaN, null, null, 0)));

    private sealed class ImageCountProgress(Action<(int Done, int Total)> report) : IProgress<(int Done, int Total)>
    {
        public void Report((int Done, int Total) value) => report(value);
    }

    /// <summary>
    /// summary.json's "config": the settings tree's leaves (<see cref="DetectionSettingsJson"/>) that the method reads —
    /// the model, data, labels and preprocessing every method records; the training methods add the schedule, prompts
    /// and PEFT (the baselines share DeFT's) — with what the run resolved (labels source, normalization, augmentation)
    /// and where the image features came from.
    /// </summary>
    internal static Dictionary<string, object?> Config(MethodContext context)
    {
        var (o, bundle, classes, labels, normalization) = (context.Options, context.Bundle, context.Classes, context.Labels, context.Normalization);
        var settings = DetectionSettingsJson.Flatten(DetectionSettingsJson.Serialize(o));
        var config = new Dictionary<string, object?>();
        void Add(params string[] keys)
        {
            foreach (var key in keys) config[key] = DetectionSettingsJson.ToValue(settings[key]);
        }
        Add("model");
        config["tokenizer"] = bundle.TokenizerSource;
        config["resolution"] = bundle.Resolution;
        Add("data", "format", "split");
        config["labels"] = o.Labels ?? labels.Source;
        config["classes"] = classes.Count;
        Add("batch", "seed", "dtype");
        if (context.PrecisionNote is { } note) config["dtype_choice"] = note;
        config["mean"] = new[] { normalization.Mean.R, normalization.Mean.G, normalization.Mean.B };
        config["std"] = new[] { normalization.Std.R, normalization.Std.G, normalization.Std.B };
        config["threads"] = torch.get_num_threads();
        Add("filter_by", "num_to_remove", "frac_noise", "flag_agreeing");
        var imageFeatures = context.UsedFeatureCache ? context.FeatureCacheNote : "computed every step through the adapted tower";
        if (!o.Method.Trains())
        {
            config["image_features"] = imageFeatures;
            Add("method");
            return config;
        }
        Add("peft", "partial", "vpt_len", "lora_rank", "adapter_dim", "n_ctx", "class_token_position", "class_specific_contexts", "ctx_init",
            "epochs", "warmup", "lr", "momentum", "weight_decay");
        config["augment"] = context.UsedFeatureCache ? "none (frozen tower: features computed once with the eval transform)" : context.Augment.ToString().ToLowerInvariant();
        if (o.Method == DetectionMethod.Deft) Add("selection");
        Add("variant");
        config["lr_schedule"] = o.Variant.ConstantLearningRate() ? "constant" : "cosine";
        config["image_features"] = imageFeatures;
        if (o.Method != DetectionMethod.Deft)
        {
            config["classifier"] = o.Classifier.ToName();
            config["classifier_detail"] = o.Classifier == BaselineClassifier.LinearHead
                ? "linear head (nn.Linear default init) on ln_post(class token), the unnormalised pre-projection image feature, cross-entropy on the given labels (the official baselines)"
                : "CoOp: the positive prompts only, cross-entropy on the given labels";
            Add("method");
        }
        return config;
    }
}
