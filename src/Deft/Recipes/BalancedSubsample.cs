using Deft.Data;
using Deft.Noise;

namespace Deft.Recipes;

/// <summary>A class-balanced draw: the data-set indices taken, ascending, and how many each class got.</summary>
public sealed record SubsampleDraw(IReadOnlyList<int> Indices, IReadOnlyList<int> PerClass, int Requested);

/// <summary>
/// The class-balanced training draw of the official Clothing1M loader (DivideMix's, which DeFT reuses): shuffle every
/// sample, then walk the shuffled list taking a sample while its class holds fewer than size / C and fewer than
/// size are taken. A class with too few samples leaves the draw short; nothing is drawn twice.
/// </summary>
public static class BalancedSubsample
{
    public static SubsampleDraw Draw(IReadOnlyList<int> labels, int classCount, int size, ulong seed)
    {
        ArgumentNullException.ThrowIfNull(labels);
        if (classCount < 1) throw new ArgumentOutOfRangeException(nameof(classCount), classCount, "At least one class is needed.");
        if (size < 1) throw new DeftException($"{Setting.SubsampleSize} must be ≥ 1, got {size}.");
        if (size > labels.Count) throw new DeftException($"{Setting.SubsampleSize} {size} exceeds the {labels.Count} samples of the split; pass at most {labels.Count}.");
        var order = new SeededRandom(seed).SampleWithoutReplacement(labels.Count, labels.Count);
        var perClassCap = (double)size / classCount;
        var perClass = new int[classCount];
        var taken = new List<int>(size);
        foreach (var index in order)
        {
            if (taken.Count == size) break;
            var label = labels[index];
            if ((uint)label >= (uint)classCount)
                throw new DeftException($"Sample {index} has label {label}, outside 0..{classCount - 1}.");
            if (perClass[label] >= perClassCap) continue;
            perClass[label]++;
            taken.Add(index);
        }
        taken.Sort();
        return new SubsampleDraw(taken, perClass, size);
    }

    /// <summary>Draws from <paramref name="dataset"/>'s given labels and writes the draw as a label file (index,label; the true label left to the data set).</summary>
    public static SubsampleDraw Write(IImageDataset dataset, int size, ulong seed, string path)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        var labels = new int[dataset.Count];
        for (var i = 0; i < labels.Length; i++) labels[i] = dataset.GetLabel(i);
        var draw = Draw(labels, dataset.Classes.Count, size, seed);
        var directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (directory is not null) Directory.CreateDirectory(directory);
        LabelFile.Write(path, indices: draw.Indices, labels: draw.Indices.Select(i => labels[i]).ToArray(), trueLabels: null);
        return draw;
    }
}
