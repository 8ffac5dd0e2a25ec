using Deft.Data;

namespace Deft.Detection;

/// <summary>
/// Which samples take part in detection and the labels under scrutiny: from a label file (a subset is fine), or the
/// data set's own labels. Position p refers to data-set index <see cref="Indices"/>[p].
/// </summary>
public sealed class LabelAssignment
{
    private readonly Dictionary<int, int> _positionOf;

    public LabelAssignment(IReadOnlyList<int> indices, IReadOnlyList<int> labels, IReadOnlyList<int?> trueLabels, int classCount, string source)
    {
        if (indices.Count != labels.Count || indices.Count != trueLabels.Count)
            throw new ArgumentException($"{indices.Count} indices, {labels.Count} labels and {trueLabels.Count} true labels.");
        if (indices.Count == 0) throw new DeftException($"{source}: no samples to examine.");
        Indices = indices.ToArray();
        Labels = labels.ToArray();
        TrueLabels = trueLabels.ToArray();
        ClassCount = classCount;
        Source = source;
        _positionOf = new Dictionary<int, int>(Indices.Length);
        for (var p = 0; p < Indices.Length; p++)
        {
            if (!_positionOf.TryAdd(Indices[p], p)) throw new DeftException($"{source}: sample {Indices[p]} appears twice.");
            if ((uint)Labels[p] >= (uint)classCount)
                throw new DeftException($"{source}: sample {Indices[p]} has label {Labels[p]}, outside 0..{classCount - 1}.");
        }
    }

    public int[] Indices { get; }
    public int[] Labels { get; }
    public int?[] TrueLabels { get; }
    public int ClassCount { get; }
    /// <summary>Where the labels come from (the label file's path, or the data set's).</summary>
    public string Source { get; }
    public int Count => Indices.Length;

    /// <summary>Ground truth is known for every participating sample (precision/recall/AUROC can be reported).</summary>
    public bool HasTruth => TrueLabels.All(t => t.HasValue);

    /// <summary>Per position: given label equals true label; null without ground truth (live precision/recall).</summary>
    public bool[]? CleanMask() =>
        HasTruth ? Metrics.DetectionMetrics.CleanMask(Labels, TrueLabels.Select(t => t!.Value).ToArray()) : null;

    public int PositionOf(int datasetIndex) => _positionOf.TryGetValue(datasetIndex, out var p) ? p
        : throw new KeyNotFoundException($"Sample {datasetIndex} does not take part in this run.");

    /// <summary>The data set's own labels for every sample; true labels where it ships clean labels beside noisy ones.</summary>
    public static LabelAssignment FromDataset(IImageDataset dataset, string source)
    {
        var n = dataset.Count;
        var labels = new int[n];
        var truth = new int?[n];
        for (var i = 0; i < n; i++)
        {
            labels[i] = dataset.GetLabel(i);
            truth[i] = dataset.GetCleanLabel(i);
        }
        return new LabelAssignment(Enumerable.Range(0, n).ToArray(), labels, truth, dataset.Classes.Count, source);
    }

    /// <summary>
    /// The samples and labels of a label file (<c>index,label[,true_label]</c>, as <c>deft noise</c> writes, or
    /// <c>path,label[,true_label]</c> with paths absolute or relative to <paramref name="dataRoot"/>). Where the file
    /// has no true label for a sample, the data set's clean label (CIFAR-N style) is used if it has one.
    /// </summary>
    public static LabelAssignment FromLabelFile(string path, IImageDataset dataset, string? dataRoot = null)
    {
        var rows = Deft.Noise.LabelFile.Read(path, dataset.Count, dataset.Classes.Count, dataset.Classes, new Deft.Noise.SamplePaths(dataset, dataRoot));
        return new LabelAssignment(
            rows.Select(r => r.Index).ToArray(),
            rows.Select(r => r.Label).ToArray(),
            rows.Select(r => r.TrueLabel ?? dataset.GetCleanLabel(r.Index)).ToArray(),
            dataset.Classes.Count, path);
    }

    /// <summary>A stable fingerprint of the assignment (for caches and resume checks).</summary>
    public string Fingerprint()
    {
        using var sha = System.Security.Cryptography.SHA256.Create();
        var bytes = new byte[Count * 12];
        for (var p = 0; p < Count; p++)
        {
            BitConverter.TryWriteBytes(bytes.AsSpan(p * 12), Indices[p]);
            BitConverter.TryWriteBytes(bytes.AsSpan(p * 12 + 4), Labels[p]);
            BitConverter.TryWriteBytes(bytes.AsSpan(p * 12 + 8), TrueLabels[p] ?? -1);
        }
        return Convert.ToHexString(sha.ComputeHash(bytes))[..16].ToLowerInvariant();
    }
}
