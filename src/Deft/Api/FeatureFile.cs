using Deft.Data;

namespace Deft.Api;

/// <summary>
/// Image features (<see cref="LabelIssueDetector.EncodeImages"/>, <c>deft embed</c>) saved with who each row is, for
/// numpy and pandas: <c>NAME.npy</c> (float32 [N, E], C order) with <c>NAME.ids.csv</c>
/// (<c>index,path,given_label[,true_label]</c>, row r = row r of the array), or <c>NAME.parquet</c> (one row per
/// sample: index, path, given_label[, true_label], feature_0..feature_{E-1}). Files are written atomically.
/// </summary>
/// <example>
/// <code>
/// float[,] features = LabelIssueDetector.EncodeImages(clip, images);
/// FeatureFile.Write("out/features.npy", features, images);      // numpy.load("out/features.npy")
/// FeatureFile.Write("out/features.parquet", features, images);  // pandas.read_parquet(...)
/// </code>
/// </example>
public static class FeatureFile
{
    /// <summary>The extensions <c>Write</c> understands, with the format each selects.</summary>
    public static IReadOnlyDictionary<string, SampleArrayFormat> Extensions { get; } = new Dictionary<string, SampleArrayFormat>(StringComparer.OrdinalIgnoreCase)
    {
        [".npy"] = SampleArrayFormat.Npy,
        [".parquet"] = SampleArrayFormat.Parquet,
    };

    /// <summary>
    /// Writes <paramref name="features"/> (row r = sample <paramref name="indices"/>[r] of <paramref name="images"/>;
    /// default: every sample in order) to <paramref name="path"/>, whose extension (.npy or .parquet) picks the format.
    /// Returns the paths written.
    /// </summary>
    /// <param name="path">The output file: <c>.npy</c> (an ids CSV is written beside it) or <c>.parquet</c>.</param>
    /// <param name="features">[N, E] features.</param>
    /// <param name="images">The data set the rows come from (paths and labels).</param>
    /// <param name="indices">The data-set index of each row; null: 0..N−1.</param>
    /// <exception cref="ArgumentException">The extension is neither, or the row count differs from the indices'.</exception>
    public static IReadOnlyList<string> Write(string path, float[,] features, IImageDataset images, IReadOnlyList<int>? indices = null)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(features);
        return Write(path, features, SampleIds.Of(images, indices ?? Enumerable.Range(0, features.GetLength(0)).ToArray()));
    }

    /// <summary>As <see cref="Write(string, float[,], IImageDataset, IReadOnlyList{int}?)"/> with the row ids given directly.</summary>
    /// <param name="path">The output file: <c>.npy</c> (an ids CSV is written beside it) or <c>.parquet</c>.</param>
    /// <param name="features">[N, E] features.</param>
    /// <param name="ids">Who each row is.</param>
    /// <param name="metadata">Key-value pairs for the Parquet footer (the model, say).</param>
    public static IReadOnlyList<string> Write(string path, float[,] features, SampleIds ids, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(features);
        ArgumentNullException.ThrowIfNull(ids);
        var flat = new float[features.Length];
        Buffer.BlockCopy(features, 0, flat, 0, flat.Length * sizeof(float));
        return Write(path, flat, features.GetLength(1), ids, metadata);
    }

    /// <summary>As above with the features row-major in <paramref name="values"/>, <paramref name="width"/> per row.</summary>
    /// <param name="path">The output file: <c>.npy</c> (an ids CSV is written beside it) or <c>.parquet</c>.</param>
    /// <param name="values">[N·E] features, row-major.</param>
    /// <param name="width">E, the features per row.</param>
    /// <param name="ids">Who each row is.</param>
    /// <param name="metadata">Key-value pairs for the Parquet footer (the model, say).</param>
    public static IReadOnlyList<string> Write(string path, ReadOnlySpan<float> values, int width, SampleIds ids, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(ids);
        if (!Extensions.TryGetValue(Path.GetExtension(path), out var format))
            throw new ArgumentException($"{path}: features are written as .npy (with an ids CSV beside it) or .parquet.", nameof(path));
        var stem = Path.Combine(Path.GetDirectoryName(path) ?? "", Path.GetFileNameWithoutExtension(path));
        var meta = new Dictionary<string, string> { ["deft.array"] = "image_features" };
        if (metadata is not null) foreach (var (key, value) in metadata) meta[key] = value;
        return SampleArrayFile.Write(stem, ids, values, SampleArrayFile.FeatureColumns(width), format, meta);
    }
}
