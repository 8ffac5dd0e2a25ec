using Deft.Clip;
using Deft.Data;
using Deft.Data.Transforms;
using Deft.Detection;
using TorchSharp;

namespace Deft.Methods;

/// <summary>
/// A noisy-label detector: DeFT's dual prompts (<see cref="DeftMethod"/>) or a baseline. Given the opened data, labels and CLIP model it decides,
/// per participating sample, the label quality, whether the label is an issue and a suggested label;
/// <see cref="DetectionRun"/> turns that into the report and files, the same for every method.
/// </summary>
public interface IDetectionMethod
{
    DetectionMethod Method { get; }

    MethodOutcome Run(MethodContext context, CancellationToken cancellationToken);
}

/// <summary>Per-sample results by assignment position (see <see cref="LabelAssignment"/>).</summary>
/// <param name="LabelQuality">In [0, 1]; low means likely mislabeled.</param>
/// <param name="IsIssue">The method's verdict (not necessarily LabelQuality ≤ ½: each method has its own rule).</param>
/// <param name="Suggested">The method's predicted class.</param>
/// <param name="SuggestedProbability">Its probability under the method's classifier.</param>
public sealed record MethodScores(double[] LabelQuality, bool[] IsIssue, int[] Suggested, double[] SuggestedProbability)
{
    public int Count => LabelQuality.Length;

    /// <summary>Label quality P[i, given], suggested argmax P[i] (first maximum) and its probability.</summary>
    public static MethodScores FromProbabilities(double[,] probabilities, IReadOnlyList<int> labels, bool[] isIssue)
    {
        var (n, k) = (probabilities.GetLength(0), probabilities.GetLength(1));
        if (labels.Count != n || isIssue.Length != n)
            throw new ArgumentException($"{n} probability rows, {labels.Count} labels and {isIssue.Length} verdicts.");
        var quality = new double[n];
        var suggested = new int[n];
        var top = new double[n];
        for (var i = 0; i < n; i++)
        {
            var best = 0;
            for (var j = 1; j < k; j++) if (probabilities[i, j] > probabilities[i, best]) best = j;
            quality[i] = probabilities[i, labels[i]];
            suggested[i] = best;
            top[i] = probabilities[i, best];
        }
        return new MethodScores(quality, isIssue, suggested, top);
    }

    internal void CheckCount(int expected)
    {
        if (LabelQuality.Length != expected || IsIssue.Length != expected || Suggested.Length != expected || SuggestedProbability.Length != expected)
            throw new InvalidOperationException($"A method returned {LabelQuality.Length}/{IsIssue.Length}/{Suggested.Length}/{SuggestedProbability.Length} results for {expected} samples.");
        for (var i = 0; i < expected; i++)
            if (!(LabelQuality[i] >= 0 && LabelQuality[i] <= 1))
                throw new InvalidOperationException($"Label quality {LabelQuality[i]} of sample at position {i} is outside [0, 1].");
    }
}

/// <summary>What a method reports besides the scores.</summary>
/// <param name="Selection">How the final verdicts were reached (summary.json's "selection").</param>
/// <param name="Epochs">Training epochs (empty for methods that do not train).</param>
/// <param name="Settings">Method-specific settings and fit statistics for summary.json's config.</param>
public sealed record MethodOutcome(MethodScores Scores, string Selection, IReadOnlyList<EpochRecord> Epochs, IReadOnlyDictionary<string, object?> Settings)
{
    /// <summary>What the method trained that can be applied to new data (saved as the detector file); null: nothing. The runner disposes it.</summary>
    public ITrainedDetector? Detector { get; init; }

    /// <summary>The method's class probabilities [N, K] by assignment position, where it has them (the report's pred_probs); null: none.</summary>
    public double[,]? Probabilities { get; init; }
}

/// <summary>Everything a method may use: the options, the opened data and labels, the model, and the detector's sources.</summary>
public sealed class MethodContext
{
    public required DetectOptions Options { get; init; }
    public required ClipBundle Bundle { get; init; }
    public required IImageDataset Dataset { get; init; }
    public required IReadOnlyList<string> Classes { get; init; }
    public required LabelAssignment Labels { get; init; }
    public required Normalization Normalization { get; init; }
    public required AugmentPreset Augment { get; init; }
    /// <summary>Stage timings for summary.json (seconds).</summary>
    public required Dictionary<string, double> Timings { get; init; }
    public IProgress<DetectProgress>? Progress { get; init; }
    public Action<string>? Warn { get; init; }
    /// <summary>What dtype auto chose and why (summary.json's <c>config.dtype_choice</c>); null when the precision was explicit.</summary>
    public string? PrecisionNote { get; init; }
    /// <summary>An in-memory run writes nothing: frozen-tower features skip the on-disk cache and DeFT keeps no checkpoint.</summary>
    public bool InMemory { get; init; }
    /// <summary>
    /// Frozen-tower image features [N, E] by assignment position that the caller computed (the in-memory API's
    /// features path); used instead of encoding <see cref="Dataset"/>, which then has no images. Not owned.
    /// </summary>
    public torch.Tensor? GivenFeatures { get; init; }
    /// <summary>Where DeFT keeps its per-epoch checkpoint; null for in-memory runs (no checkpoint, no resume).</summary>
    public string? CheckpointPath => InMemory ? null : Path.Combine(Options.OutputDirectory, TrainingCheckpoint.FileName);

    /// <summary>Whether the image side came from cached frozen-tower features (set by the source helpers).</summary>
    public bool UsedFeatureCache { get; private set; }
    /// <summary>Where the cached features came from (set by the source helpers).</summary>
    public string? FeatureCacheNote { get; private set; }

    public ImagePipeline EvalPipeline => ImagePipeline.EvalFor(Augment, Bundle.Resolution, Normalization);

    /// <summary>
    /// Frozen-tower image features of every participating sample (eval transform), through the detector's feature
    /// cache: the same entry <c>--method deft --peft none</c> uses. The caller owns the source.
    /// </summary>
    public CachedTrainingSource FrozenFeatures(CancellationToken cancellationToken) => FrozenFeatures(EvalPipeline, cancellationToken);

    /// <summary>As <see cref="FrozenFeatures(CancellationToken)"/> with the given evaluation transform (DeFT's CIFAR resize).</summary>
    internal CachedTrainingSource FrozenFeatures(ImagePipeline evalPipeline, CancellationToken cancellationToken)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        if (GivenFeatures is not null)
        {
            UsedFeatureCache = true;
            FeatureCacheNote = "given by the caller (precomputed)";
            FindFeatureIssues(GivenFeatures, cancellationToken);
            return new CachedTrainingSource(GivenFeatures.clone(), Labels, Dataset, evalPipeline, Options.BatchSize, Options.Seed);
        }
        string? note = null;
        var source = DetectionRun.CachedSource(Options, Bundle, Dataset, Labels, evalPipeline, ref note, cancellationToken, Warn, cache: !InMemory, progress: Progress);
        Timings["feature_cache_seconds"] = clock.Elapsed.TotalSeconds;
        UsedFeatureCache = true;
        FeatureCacheNote = note;
        try
        {
            FindFeatureIssues(source.Features, cancellationToken);
        }
        catch
        {
            source.Dispose();
            throw;
        }
        return source;
    }

    /// <summary>
    /// Frozen-tower ln_post(class token) features [N, W] of every participating sample (eval transform), the input of
    /// the official baselines' linear head, through the feature cache (an entry of their own). Near-duplicates and
    /// outliers are looked for on their projection, the features every other method sees. The caller owns the source.
    /// </summary>
    internal CachedTrainingSource FrozenPreProjectionFeatures(CancellationToken cancellationToken)
    {
        if (GivenFeatures is not null)
            throw new DeftException($"{Setting.Classifier} linear-head trains on the image tower's features before CLIP's projection, which projected features given by the caller do not contain; pass the images, or use {Setting.Classifier} prompts.");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        string? note = null;
        var source = DetectionRun.CachedSource(Options, Bundle, Dataset, Labels, EvalPipeline, ref note, cancellationToken, Warn, cache: !InMemory,
            progress: Progress, preProjection: true);
        Timings["feature_cache_seconds"] = clock.Elapsed.TotalSeconds;
        UsedFeatureCache = true;
        FeatureCacheNote = note + " (ln_post(class token), before the projection)";
        try
        {
            if (FeatureIssues is null && Options.FeatureIssues is not null)
            {
                using var noGrad = torch.no_grad();
                using var projected = source.Features.matmul(Bundle.Model.Visual.Proj.detach().to(torch.ScalarType.Float32).cpu());
                FindFeatureIssues(projected, cancellationToken);
            }
        }
        catch
        {
            source.Dispose();
            throw;
        }
        return source;
    }

    /// <summary>Near-duplicates and outliers found on the frozen features (once per run); null until then or when not asked for.</summary>
    public IReadOnlyList<DataIssue>? FeatureIssues { get; private set; }

    /// <summary>
    /// Looks for near-duplicates and outliers on the first frozen features the method asks for (every later call finds
    /// the same features): similarity to the class prompts of the zero-shot templates (<see cref="DetectOptions.Templates"/>).
    /// </summary>
    private void FindFeatureIssues(torch.Tensor features, CancellationToken cancellationToken)
    {
        if (FeatureIssues is not null || Options.FeatureIssues is null) return;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        using var noGrad = torch.no_grad();
        using var classifier = ZeroShotClassifier.Create(Bundle.Model, Bundle.Tokenizer, Classes, PromptTemplates.Resolve(Options.Templates));
        var indices = Labels.Indices;
        FeatureIssues = Data.FeatureIssues.Find(features, Labels.Labels, classifier.ClassEmbeddings, Options.FeatureIssues,
            r => indices[r], r => Dataset.GetSource(indices[r]), cancellationToken);
        Timings["data_issues_seconds"] = clock.Elapsed.TotalSeconds;
    }

    /// <summary>
    /// Runs <paramref name="train"/> with DeFT's intra-op thread choice (<see cref="DetectOptions.Threads"/>, else one
    /// thread on cached features unless the step's text pass, <paramref name="textStepMacs"/> multiply-accumulates, is
    /// heavy (<see cref="ThreadPlan"/>), and all cores through the image tower) and restores the previous count; returns
    /// the count used.
    /// </summary>
    public int WithTrainingThreads(TrainingSource source, Action train, double textStepMacs = 0)
    {
        var coreThreads = torch.get_num_threads();
        var trainThreads = Options.Threads ?? (source is CachedTrainingSource && textStepMacs < ThreadPlan.HeavyBatchMacs ? 1 : coreThreads);
        try
        {
            torch.set_num_threads(trainThreads);
            train();
        }
        finally
        {
            torch.set_num_threads(coreThreads);
        }
        return trainThreads;
    }

    /// <summary>
    /// The training source DeFT would use with these options: cached features when the PEFT options leave the image
    /// tower frozen, else images streamed through it (augmented for training). The caller owns the source.
    /// </summary>
    /// <param name="preProjection">Frozen tower: cache ln_post(class token) [N, W] instead of the projected features (the linear head's input).</param>
    public TrainingSource TrainingSource(CancellationToken cancellationToken, bool preProjection = false) =>
        Options.Peft.AdaptsImageTower
            ? new ImageTrainingSource(Dataset, Labels, ImagePipeline.ForTraining(Augment, Bundle.Resolution, Normalization), EvalPipeline,
                Options.BatchSize, Options.Seed, Options.Workers)
            : preProjection ? FrozenPreProjectionFeatures(cancellationToken) : FrozenFeatures(cancellationToken);
}
