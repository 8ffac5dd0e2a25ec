using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
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
}

/// <summary>
/// DeFT phase 1, end to end: the noisy-label detector. <see cref="Detect"/> trains the dual prompts (and PEFT
/// modules) on the given labels and reports, per sample, the probability that its label is right;
/// <see cref="Score"/> applies a trained detector to data with one deterministic pass.
/// </summary>
public static class DeftDetector
{
    /// <summary>The files a detect run writes into its output directory.</summary>
    public static IReadOnlyList<string> RunFiles { get; } =
        [TrainingCheckpoint.FileName, DetectorFile.FileName, DetectionOutputs.SummaryFile, DetectionOutputs.SamplesFile, DetectionOutputs.IssuesFile];

    public static DetectionReport Detect(DetectOptions options, IProgress<DetectProgress>? progress = null, Action<string>? warn = null,
        CancellationToken cancellationToken = default)
    {
        options.Validate();
        if (options.Method != DetectionMethod.Deft) return BaselineDetector.Detect(options, progress, warn, cancellationToken);
        var total = Stopwatch.StartNew();
        var timings = new Dictionary<string, double>();
        var checkpointPath = Path.Combine(options.OutputDirectory, TrainingCheckpoint.FileName);
        using var outputLock = PrepareOutputDirectory(options, warn);

        var clock = Stopwatch.StartNew();
        var (dataset, classes) = OpenDataset(options.Data, options.Format, options.Split, options.ClassesFile);
        var labels = options.Labels is null
            ? LabelAssignment.FromDataset(dataset, $"{options.Data} ({options.Split})")
            : LabelAssignment.FromLabelFile(options.Labels, dataset);
        if (classes.Count < 2) throw new DeftException($"{options.Data}: DeFT needs at least two classes; the data set has {classes.Count}.");

        using var bundle = ClipBundle.Load(options.Model, options.Vocab, new ClipLoadOptions());
        var clip = bundle.Model;
        if (options.Precision == TowerPrecision.Bf16) clip.ToDType(ScalarType.BFloat16, ClipTowers.Vision);
        var normalization = options.ResolveNormalization(bundle.Normalization);
        var augment = options.ResolveAugment();

        // One generator, drawn in a fixed order (prompt contexts, then PEFT modules), so a seed fixes the start.
        using var generator = new Generator((ulong)options.Seed);
        using var prompts = new DualPromptLearner(classes, options.Prompts, new ClipPromptTokenizer(bundle.Tokenizer),
            clip.TokenEmbedding, clip.Config.Text.ContextLength, generator);
        using var peft = VisionPeft.Create(options.Peft, clip.Config.Vision, generator);
        using var net = new DeftNetwork(clip, peft, prompts);
        timings["load_seconds"] = clock.Elapsed.TotalSeconds;

        var coreThreads = torch.get_num_threads();
        try
        {
            return DetectCore(options, progress, warn, cancellationToken, total, timings, clock, dataset, classes, labels, bundle, net,
                normalization, augment, checkpointPath, ThreadPlan.Choose(options.Threads, options.Peft, options.BatchSize, clip.Config.Vision, coreThreads));
        }
        finally
        {
            torch.set_num_threads(coreThreads);
        }
    }

    private static DetectionReport DetectCore(DetectOptions options, IProgress<DetectProgress>? progress, Action<string>? warn,
        CancellationToken cancellationToken, Stopwatch total, Dictionary<string, double> timings, Stopwatch clock, IImageDataset dataset,
        IReadOnlyList<string> classes, LabelAssignment labels, ClipBundle bundle, DeftNetwork net, Normalization normalization,
        AugmentPreset augment, string checkpointPath, ThreadPlan threads)
    {
        var dir = options.OutputDirectory;
        var resolution = bundle.Resolution;
        clock.Restart();
        torch.set_num_threads(threads.Images);
        var (trainPipeline, evalPipeline) = Pipelines(options.Format, augment, resolution, normalization);
        var cached = !options.Peft.AdaptsImageTower;
        string? cacheNote = null;
        using TrainingSource source = cached
            ? CachedSource(options, bundle, dataset, labels, evalPipeline, ref cacheNote, cancellationToken, warn)
            : new ImageTrainingSource(dataset, labels, trainPipeline, evalPipeline, options.BatchSize, options.Seed, options.Workers);
        if (cached) timings["feature_cache_seconds"] = clock.Elapsed.TotalSeconds;

        var config = Config(options, bundle, classes, labels, normalization, augment, cached, cacheNote);
        var fingerprint = Fingerprint(options, labels, normalization, augment);
        using var sgd = new MomentumSgd(net.Trainables.Select(t => (Tensor)t.Parameter).ToArray(),
            options.LearningRate, options.Momentum, options.WeightDecay);
        var trainer = new DeftTrainer(net, labels, options, source, sgd)
        {
            Progress = TestHooks.Active ? new PausingProgress(progress) : progress,
            Warn = warn,
            EpochCompleted = state => TrainingCheckpoint.Save(checkpointPath, state, net.Trainables, sgd, fingerprint),
        };
        if (options.Resume && File.Exists(checkpointPath))
        {
            TrainingCheckpoint.Load(checkpointPath, trainer.State, net.Trainables, sgd, fingerprint, labels.Count);
            warn?.Invoke($"resuming from {checkpointPath} after epoch {trainer.State.CompletedEpochs} of {options.Epochs}.");
        }
        // The checkpoint is the state now; outputs of an earlier (interrupted or finished) pass must not look current.
        if (options.Resume) OutputDirectory.Remove(dir, FinalOutputs);

        config["threads"] = threads.Images;
        config["train_threads"] = threads.Training;
        try
        {
            torch.set_num_threads(threads.Training);
            trainer.Train(cancellationToken);
        }
        catch (NonFiniteLossException ex)
        {
            var last = trainer.State.CompletedEpochs > 0
                ? $"The last good checkpoint is {checkpointPath} (after epoch {trainer.State.CompletedEpochs}); continue from it with --resume."
                : "No checkpoint was written yet.";
            throw new DeftException($"{ex.Message} {last}", ex);
        }
        torch.set_num_threads(threads.Images);
        timings["train_seconds"] = trainer.State.TrainSeconds;

        PassScores scores;
        if (options.Selection == SelectionSource.Eval)
        {
            clock.Restart();
            scores = DeftTrainer.Evaluate(net, labels, source, progress, cancellationToken, options.Variant);
            timings["eval_seconds"] = clock.Elapsed.TotalSeconds;
        }
        else
        {
            scores = trainer.State.LastEpochScores ?? throw new InvalidOperationException("Training finished without scores.");
        }

        var rows = DetectionSummaryBuilder.Verdicts(labels, scores, dataset);
        if (rows.All(r => r.IsLabelIssue))
            warn?.Invoke("no sample was selected as clean: every label is flagged. The prompts may need more epochs or a higher --lr.");
        timings["total_seconds"] = total.Elapsed.TotalSeconds;
        var summary = DetectionSummaryBuilder.Summary(rows, classes, options.Selection.ToName(), trainer.State.Epochs, timings, config)
            with { LabelsFingerprint = labels.Fingerprint() };
        var report = new DetectionReport(classes.ToArray(), rows, summary);
        TestHooks.PauseBefore("detector");
        DetectorFile.Save(Path.Combine(dir, DetectorFile.FileName), DetectorConfig.From(options, classes, normalization), net.Trainables);
        TestHooks.PauseBefore("outputs");
        DetectionOutputs.Write(dir, report);
        return report;
    }

    /// <summary>Forwards training progress and honours <see cref="TestHooks"/>' <c>train:E:S</c> stages.</summary>
    private sealed class PausingProgress(IProgress<DetectProgress>? inner) : IProgress<DetectProgress>
    {
        public void Report(DetectProgress value)
        {
            inner?.Report(value);
            if (value.Phase == "train") TestHooks.PauseBefore(FormattableString.Invariant($"train:{value.Epoch}:{value.Step}"));
        }
    }

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
            throw new DeftException(method is not null && method != DetectionMethod.Deft.ToName()
                ? $"{options.RunDirectory} was made by --method {method}, which keeps no trained detector: `deft score` applies to --method deft runs. Run `deft detect` on the new data instead (clip-posterior needs no training)."
                : $"{options.RunDirectory}: no {DetectorFile.FileName}; pass the output directory of a finished `deft detect --method deft` run.");
        }
        var config = DetectorFile.ReadConfig(detectorPath);
        var (dataset, _) = OpenDataset(options.Data, options.Format, options.Split, options.ClassesFile);
        if (dataset.Classes.Count != config.Classes.Count)
            throw new DeftException($"{options.Data} has {dataset.Classes.Count} classes; the detector was trained on {config.Classes.Count} ({string.Join(", ", config.Classes.Take(5))}{(config.Classes.Count > 5 ? ", …" : "")}).");
        var labels = options.Labels is null
            ? LabelAssignment.FromDataset(dataset, $"{options.Data} ({options.Split})")
            : LabelAssignment.FromLabelFile(options.Labels, dataset);

        using var bundle = ClipBundle.Load(options.Model ?? config.Model, options.Vocab ?? config.Vocab, new ClipLoadOptions());
        var clip = bundle.Model;
        if (config.TowerPrecision == TowerPrecision.Bf16) clip.ToDType(ScalarType.BFloat16, ClipTowers.Vision);
        using var prompts = new DualPromptLearner(config.Classes, config.PromptOptions, new ClipPromptTokenizer(bundle.Tokenizer),
            clip.TokenEmbedding, clip.Config.Text.ContextLength);
        using var peft = VisionPeft.Create(config.PeftOptions, clip.Config.Vision);
        using var net = new DeftNetwork(clip, peft, prompts);
        DetectorFile.LoadInto(detectorPath, net.Trainables);

        var pipeline = Pipelines(options.Format, AugmentPreset.None, bundle.Resolution, config.Normalization).Eval;
        using var source = new ImageTrainingSource(dataset, labels, pipeline, pipeline, options.BatchSize, config.Seed, options.Workers);
        var clock = Stopwatch.StartNew();
        var coreThreads = torch.get_num_threads();
        PassScores scores;
        try
        {
            torch.set_num_threads(ThreadPlan.Choose(options.Threads, config.PeftOptions, options.BatchSize, clip.Config.Vision, coreThreads).Images);
            scores = DeftTrainer.Evaluate(net, labels, source, progress, cancellationToken, config.DeftVariant);
        }
        finally
        {
            torch.set_num_threads(coreThreads);
        }
        var rows = DetectionSummaryBuilder.Verdicts(labels, scores, dataset);
        var timings = new Dictionary<string, double> { ["eval_seconds"] = clock.Elapsed.TotalSeconds, ["total_seconds"] = total.Elapsed.TotalSeconds };
        var settings = new Dictionary<string, object?>
        {
            ["detector"] = Path.GetFullPath(detectorPath), ["model"] = options.Model ?? config.Model, ["data"] = options.Data,
            ["format"] = options.Format, ["split"] = options.Split, ["labels"] = options.Labels, ["peft"] = config.Peft,
            ["n_ctx"] = prompts.NumContext, ["batch"] = options.BatchSize,
        };
        var summary = DetectionSummaryBuilder.Summary(rows, config.Classes, "eval", [], timings, settings) with { LabelsFingerprint = labels.Fingerprint() };
        var report = new DetectionReport(config.Classes, rows, summary);
        DetectionOutputs.Write(options.OutputDirectory ?? Path.Combine(options.RunDirectory, "score"), report);
        return report;
    }

    /// <summary>
    /// Opens the data and decides the class names the prompts use: <c>--classes</c> is the data layer's label mapping
    /// for idx and csv; for the formats that name their classes themselves it renames them for the prompts, and its
    /// count must match.
    /// </summary>
    public static (IImageDataset Dataset, IReadOnlyList<string> Classes) OpenDataset(string data, string format, string split, string? classesFile)
    {
        // idx and csv map labels through the names file; the WebVision formats read --classes as a class count.
        var mapsLabels = format.Trim().ToLowerInvariant() is "idx" or "csv" || Deft.Data.Paper.PaperDatasets.TakesClassCount(format);
        var dataset = DatasetFactory.Open(new DatasetOptions(data, format, split, ClassesFile: mapsLabels ? classesFile : null));
        if (classesFile is null || mapsLabels) return (dataset, dataset.Classes);
        var names = DatasetFactory.ReadClassesFile(classesFile);
        if (names.Count != dataset.Classes.Count)
            throw new DeftException($"{classesFile} lists {names.Count} class names but {data} has {dataset.Classes.Count} classes; give exactly one name per class, in label order.");
        return (dataset, names);
    }

    /// <summary>
    /// The training and evaluation transforms. CIFAR follows the official DeFT loaders: random crop 32 with padding 4,
    /// torchvision's default (bilinear) resize to the model resolution, flip; evaluation is the same resize. Other
    /// data use the chosen preset for training and CLIP's evaluation transform (bicubic, center crop).
    /// </summary>
    internal static (ImagePipeline Train, ImagePipeline Eval) Pipelines(string format, AugmentPreset augment, int resolution, Normalization normalization)
    {
        if (format.Trim().ToLowerInvariant() is "cifar10" or "cifar100")
        {
            var resize = new ResizeTo(resolution, resolution, ResampleFilter.Bilinear);
            var eval = new ImagePipeline([resize], normalization);
            var train = augment == AugmentPreset.Cifar
                ? new ImagePipeline([new RandomCropWithPadding(32, 4), resize, new RandomHorizontalFlip()], normalization)
                : augment == AugmentPreset.None ? eval : ImagePipeline.ForTraining(augment, resolution, normalization);
            return (train, eval);
        }
        return (ImagePipeline.ForTraining(augment, resolution, normalization), ImagePipeline.Eval(resolution, normalization));
    }

    /// <summary>
    /// What <c>--force</c> removes besides <see cref="RunFiles"/>: the HTML report and <c>deft score</c>'s default
    /// output folder (scores of the detector being replaced).
    /// </summary>
    private static readonly string[] ForceAlsoRemoves = [Reporting.DetectionHtmlReport.FileName, "score/"];

    /// <summary>The outputs a finished run leaves; a resumed run removes them before it trains so none outlives the checkpoint it continues.</summary>
    private static readonly string[] FinalOutputs =
        [DetectorFile.FileName, DetectionOutputs.SamplesFile, DetectionOutputs.IssuesFile, DetectionOutputs.SummaryFile, Reporting.DetectionHtmlReport.FileName];

    /// <summary>
    /// Takes the output directory's lock (<see cref="OutputDirectory.Lock"/>: a second run into it fails naming the
    /// first's pid; leftover temporary files are removed) and refuses a directory holding another run unless --resume
    /// or --force; --force removes everything a detect run writes there first. The caller disposes the lock.
    /// </summary>
    internal static IDisposable PrepareOutputDirectory(DetectOptions options, Action<string>? warn = null)
    {
        var dir = options.OutputDirectory;
        var held = OutputDirectory.Lock(dir, warn);
        try
        {
            var existing = RunFiles.Append(Reporting.DetectionHtmlReport.FileName).Where(f => File.Exists(Path.Combine(dir, f))).ToList();
            if (existing.Count > 0 && !options.Resume && !options.Force)
                throw new DeftException($"{dir} already holds a run ({string.Join(", ", existing)}). Pass --resume to continue it, --force to replace it, or choose another --out.");
            if (options.Force) OutputDirectory.Remove(dir, RunFiles.Concat(ForceAlsoRemoves));
            return held;
        }
        catch
        {
            held.Dispose();
            throw;
        }
    }

    internal static CachedTrainingSource CachedSource(DetectOptions options, ClipBundle bundle, IImageDataset dataset, LabelAssignment labels,
        ImagePipeline evalPipeline, ref string? note, CancellationToken cancellationToken, Action<string>? warn = null)
    {
        // Content, not names: the weights' and every participating image's (or container's) bytes; see FeatureCache.
        var key = FeatureCache.Key(
            FeatureCache.KeyVersion, FeatureCache.ModelIdentity(bundle.Loaded), FeatureCache.DataIdentity(dataset, labels.Indices, options.Data),
            options.Format.ToLowerInvariant(), options.Split.ToLowerInvariant(), dataset.Count.ToString(CultureInfo.InvariantCulture),
            FeatureCache.Key(string.Join(",", labels.Indices)), evalPipeline.ToString(), options.Precision.ToString());
        var (features, fromCache, path) = FeatureCache.GetOrCompute(options.CacheDirectory ?? FeatureCache.DefaultDirectory(), key, labels.Count,
            () => ImageFeatures.Compute(bundle.Model, dataset, labels.Indices, evalPipeline, Math.Max(options.BatchSize, 64), cancellationToken), warn);
        note = (fromCache ? "loaded from " : "computed and stored in ") + path;
        return new CachedTrainingSource(features, labels, dataset, evalPipeline, options.BatchSize, options.Seed);
    }

    /// <summary>The settings every detection method records: model, data, labels, preprocessing, seed.</summary>
    internal static Dictionary<string, object?> CommonConfig(DetectOptions o, ClipBundle bundle, IReadOnlyList<string> classes,
        LabelAssignment labels, Normalization normalization) => new()
    {
        ["model"] = o.Model,
        ["tokenizer"] = bundle.TokenizerSource,
        ["resolution"] = bundle.Resolution,
        ["data"] = o.Data,
        ["format"] = o.Format,
        ["split"] = o.Split,
        ["labels"] = o.Labels ?? labels.Source,
        ["classes"] = classes.Count,
        ["batch"] = o.BatchSize,
        ["seed"] = o.Seed,
        ["dtype"] = o.Precision == TowerPrecision.Bf16 ? "bf16" : "fp32",
        ["mean"] = new[] { normalization.Mean.R, normalization.Mean.G, normalization.Mean.B },
        ["std"] = new[] { normalization.Std.R, normalization.Std.G, normalization.Std.B },
        ["threads"] = torch.get_num_threads(),
    };

    internal static Dictionary<string, object?> Config(DetectOptions o, ClipBundle bundle, IReadOnlyList<string> classes, LabelAssignment labels,
        Normalization normalization, AugmentPreset augment, bool cached, string? cacheNote)
    {
        var config = CommonConfig(o, bundle, classes, labels, normalization);
        foreach (var (key, value) in TrainingConfig(o, augment, cached, cacheNote)) config[key] = value;
        return config;
    }

    private static Dictionary<string, object?> TrainingConfig(DetectOptions o, AugmentPreset augment, bool cached, string? cacheNote) => new()
    {
        ["peft"] = o.Peft.Name,
        ["partial"] = o.Peft.Partial,
        ["vpt_len"] = o.Peft.VptLength,
        ["lora_rank"] = o.Peft.LoraRank,
        ["adapter_dim"] = o.Peft.AdapterDim,
        ["n_ctx"] = o.Prompts.ContextLength,
        ["class_token_position"] = o.Prompts.Position.ToName(),
        ["class_specific_contexts"] = o.Prompts.ClassSpecific,
        ["ctx_init"] = o.Prompts.InitWords,
        ["epochs"] = o.Epochs,
        ["warmup"] = o.Warmup,
        ["lr"] = o.LearningRate,
        ["momentum"] = o.Momentum,
        ["weight_decay"] = o.WeightDecay,
        ["augment"] = cached ? "none (frozen tower: features computed once with the eval transform)" : augment.ToString().ToLowerInvariant(),
        ["selection"] = o.Selection.ToName(),
        ["variant"] = o.Variant.ToName(),
        ["lr_schedule"] = o.Variant.ConstantLearningRate() ? "constant" : "cosine",
        ["image_features"] = cached ? cacheNote : "computed every step through the adapted tower",
    };

    /// <summary>The settings a resumed run must share with the run that wrote the checkpoint.</summary>
    private static string Fingerprint(DetectOptions o, LabelAssignment labels, Normalization normalization, AugmentPreset augment) =>
        JsonSerializer.Serialize(new SortedDictionary<string, string?>
        {
            ["model"] = o.Model,
            ["data"] = Path.GetFullPath(o.Data),
            ["format"] = o.Format.ToLowerInvariant(),
            ["split"] = o.Split.ToLowerInvariant(),
            ["labels"] = labels.Fingerprint(),
            ["peft"] = $"{o.Peft.Name} partial={o.Peft.Partial} vpt={o.Peft.VptLength} rank={o.Peft.LoraRank} adapter={o.Peft.AdapterDim}",
            ["prompts"] = $"{o.Prompts.ContextLength} {o.Prompts.Position.ToName()} csc={o.Prompts.ClassSpecific} init={o.Prompts.InitWords}",
            ["schedule"] = FormattableString.Invariant($"epochs={o.Epochs} warmup={o.Warmup} batch={o.BatchSize} lr={o.LearningRate} momentum={o.Momentum} wd={o.WeightDecay}"),
            ["seed"] = o.Seed.ToString(CultureInfo.InvariantCulture),
            ["dtype"] = o.Precision.ToString(),
            ["preprocess"] = $"{normalization} {augment}",
            // Absent for the synthetic variant, so checkpoints written before variants existed still resume.
            ["variant"] = o.Variant == DeftVariant.Synthetic ? null : o.Variant.ToName(),
        });
}
