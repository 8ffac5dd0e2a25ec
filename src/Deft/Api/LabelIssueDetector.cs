using System.Diagnostics;
using Deft.Clip;
using Deft.Data;
using Deft.Detection;
using Deft.Methods;

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
        var options = (config ?? new DetectionConfig()).ToOptions();
        options.Validate();
        if (labels.Length != images.Count)
            throw new ArgumentException($"{labels.Length} labels for {images.Count} images.", nameof(labels));
        var classes = images.Classes;
        if (classes.Count < 2) throw new DeftException($"Label-noise detection needs at least two classes; the images have {classes.Count}.");
        var total = Stopwatch.StartNew();
        var assignment = new LabelAssignment(Enumerable.Range(0, labels.Length).ToArray(), labels, new int?[labels.Length], classes.Count, "labels");
        var context = new MethodContext
        {
            Options = options, Bundle = clip, Dataset = images, Classes = classes, Labels = assignment, Normalization = clip.Normalization,
            Augment = options.ResolveAugment(), Timings = [], Progress = progress, Warn = warn, InMemory = true,
        };
        using var result = DetectionRun.Run(context, total, cancellationToken);
        // Positions are sample indices here (every image takes part, in order), so the method's rows are by index.
        return new LabelIssueReport(result.Report, result.Probabilities, images);
    }
}
