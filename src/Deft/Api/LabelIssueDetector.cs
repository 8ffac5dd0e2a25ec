using System.Diagnostics;
using Deft.Clip;
using Deft.Data;
using Deft.Detection;
using Deft.Data.Transforms;
using Deft.Methods;
using Deft.Peft;
using TorchSharp;

namespace Deft.Api;

/// <summary>
/// Label-issue detection with a CLIP model on images in memory: no file paths, nothing written. The same runner as
/// <c>deft detect</c>, so the same seed and settings give the same per-sample results; only the on-disk feature cache
/// and DeFT's per-epoch checkpoint are left out.
/// </summary>
/// <example>
/// <code>
/// using var clip = ClipBundle.Load("random:tiny");
/// var report = LabelIssueDetector.Find(clip, images, labels);
/// report.Save("out"); report.WriteHtml("out/report.html");
/// </code>
/// </example>
public static class LabelIssueDetector
{
    /// <summary>
    /// Runs <see cref="DetectionConfig.Method"/> (default: CLIP's zero-shot posterior under an EM-fitted label-noise
    /// transition) on <paramref name="images"/> with the given <paramref name="labels"/>, which override the data
    /// set's own; the class names are <see cref="IImageDataset.Classes"/>.
    /// </summary>
    /// <param name="clip">A loaded CLIP model and tokenizer (<see cref="ClipBundle.Load"/>); not modified except by PEFT-adapting methods' training, which adds modules around it.</param>
    /// <param name="images">The images; <see cref="ImageList"/> wraps images already in memory.</param>
    /// <param name="labels">The given label of every image, in 0..classes−1.</param>
    /// <param name="config">The method and its settings; null: <see cref="DetectionConfig"/>'s defaults.</param>
    /// <param name="progress">Training and inference progress, if wanted.</param>
    /// <param name="warn">Receives warnings (for example, every label flagged).</param>
    /// <param name="cancellationToken">Stops the run between batches.</param>
    /// <exception cref="ArgumentException">The label count differs from the image count.</exception>
    /// <exception cref="DeftException">The data or settings cannot be used (fewer than two classes, a label out of range, invalid settings).</exception>
    public static LabelIssueReport Find(ClipBundle clip, IImageDataset images, int[] labels, DetectionConfig? config = null,
        IProgress<DetectProgress>? progress = null, Action<string>? warn = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(clip);
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(labels);
        if (labels.Length != images.Count)
            throw new ArgumentException($"{labels.Length} labels for {images.Count} images.", nameof(labels));
        return Run(clip, images, labels, null, config, progress, warn, cancellationToken);
    }

    /// <summary>
    /// As <see cref="Find(ClipBundle, IImageDataset, int[], DetectionConfig?, IProgress{DetectProgress}?, Action{string}?, CancellationToken)"/>
    /// on image features computed beforehand (<see cref="EncodeImages"/>, or CLIP's projected image features from
    /// elsewhere, one row per sample): every method that keeps the image tower frozen gives the same results as on the
    /// images themselves, without encoding them again. Methods that adapt the image tower (PEFT) need the images.
    /// </summary>
    /// <param name="clip">The CLIP model the features come from (its text tower and logit scale are used).</param>
    /// <param name="imageFeatures">[N, E] projected image features (not necessarily normalised), E = the model's embedding width.</param>
    /// <param name="labels">The given label of every row, in 0..classes−1.</param>
    /// <param name="classes">The class names the labels index (the text prompts are built from them).</param>
    /// <param name="config">The method and its settings; null: <see cref="DetectionConfig"/>'s defaults.</param>
    /// <param name="progress">Training and inference progress, if wanted.</param>
    /// <param name="warn">Receives warnings.</param>
    /// <param name="cancellationToken">Stops the run between batches.</param>
    /// <exception cref="ArgumentException">The label count differs from the row count, the width from the model's, or a label is out of range.</exception>
    /// <exception cref="DeftException">The settings adapt the image tower, or cannot be used.</exception>
    public static LabelIssueReport Find(ClipBundle clip, float[,] imageFeatures, int[] labels, IReadOnlyList<string> classes,
        DetectionConfig? config = null, IProgress<DetectProgress>? progress = null, Action<string>? warn = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(clip);
        ArgumentNullException.ThrowIfNull(imageFeatures);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(classes);
        var (n, width) = (imageFeatures.GetLength(0), imageFeatures.GetLength(1));
        if (labels.Length != n) throw new ArgumentException($"{labels.Length} labels for {n} feature rows.", nameof(labels));
        if (width != clip.Model.Config.EmbedDim)
            throw new ArgumentException($"The features are {width} wide; this model's image features are {clip.Model.Config.EmbedDim} wide.", nameof(imageFeatures));
        var peft = (config ?? new DetectionConfig()).Peft;
        if (peft.AdaptsImageTower)
            throw new DeftException($"{Setting.Peft} {peft.Name} adapts the image tower and needs the images; precomputed features keep it frozen (use {PeftKind.None.ToName()}, or pass the images).");
        var rows = new FeatureRows(labels, classes);
        using var features = torch.tensor(imageFeatures);
        return Run(clip, rows, labels, features, config, progress, warn, cancellationToken);
    }

    /// <summary>
    /// CLIP's projected image features [N, E] of <paramref name="images"/> with the evaluation transform the detector
    /// uses (the model's resolution and normalization), for <see cref="Find(ClipBundle, float[,], int[], IReadOnlyList{string}, DetectionConfig?, IProgress{DetectProgress}?, Action{string}?, CancellationToken)"/>:
    /// encode once, then run several methods or label sets.
    /// </summary>
    /// <param name="clip">A loaded CLIP model.</param>
    /// <param name="images">The images.</param>
    /// <param name="batchSize">Images per forward pass. The default is the detector's, so its results on these features equal
    /// its results on the images bit for bit; another size changes the rounding of the products only.</param>
    /// <param name="cancellationToken">Stops between batches.</param>
    public static float[,] EncodeImages(ClipBundle clip, IImageDataset images, int batchSize = 64, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(clip);
        ArgumentNullException.ThrowIfNull(images);
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), $"Batch size must be ≥ 1, got {batchSize}.");
        var pipeline = ImagePipeline.Eval(clip.Resolution, clip.Normalization);
        using var features = ImageFeatures.Compute(clip.Model, images, Enumerable.Range(0, images.Count).ToArray(), pipeline, batchSize, cancellationToken);
        var (n, width) = ((int)features.shape[0], (int)features.shape[1]);
        var values = features.data<float>().ToArray();
        var result = new float[n, width];
        Buffer.BlockCopy(values, 0, result, 0, values.Length * sizeof(float));
        return result;
    }

    private static LabelIssueReport Run(ClipBundle clip, IImageDataset images, int[] labels, torch.Tensor? givenFeatures, DetectionConfig? config,
        IProgress<DetectProgress>? progress, Action<string>? warn, CancellationToken cancellationToken)
    {
        var options = (config ?? new DetectionConfig()).ToOptions();
        options.Validate();
        var classes = images.Classes;
        if (classes.Count < 2) throw new DeftException($"Label-noise detection needs at least two classes; the images have {classes.Count}.");
        var total = Stopwatch.StartNew();
        var assignment = new LabelAssignment(Enumerable.Range(0, labels.Length).ToArray(), labels, new int?[labels.Length], classes.Count, "labels");
        var context = new MethodContext
        {
            Options = options, Bundle = clip, Dataset = images, Classes = classes, Labels = assignment, Normalization = clip.Normalization,
            Augment = options.ResolveAugment(), Timings = [], Progress = progress, Warn = warn, InMemory = true, GivenFeatures = givenFeatures,
        };
        using var result = DetectionRun.Run(context, total, cancellationToken);
        // Positions are sample indices here (every image takes part, in order), so the method's rows are by index.
        return new LabelIssueReport(result.Report, result.Probabilities, givenFeatures is null ? images : null);
    }

    /// <summary>Samples known only by their features and labels: no images to read (thumbnails and PEFT need images).</summary>
    private sealed class FeatureRows : IImageDataset
    {
        private readonly int[] _labels;

        public FeatureRows(int[] labels, IReadOnlyList<string> classes)
        {
            for (var i = 0; i < labels.Length; i++)
                if ((uint)labels[i] >= (uint)classes.Count)
                    throw new ArgumentException($"Label {labels[i]} of row {i} is outside 0..{classes.Count - 1}.", nameof(labels));
            _labels = labels;
            Classes = classes.ToArray();
        }

        public int Count => _labels.Length;
        public IReadOnlyList<string> Classes { get; }
        public int GetLabel(int index) => _labels[index];
        public RgbImage GetImage(int index) => throw new InvalidOperationException($"Sample {index} was given as features only; it has no image.");
        public string GetSource(int index) => $"features#{index}";
    }
}
