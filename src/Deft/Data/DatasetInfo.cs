namespace Deft.Data;

/// <summary>One class of a data set and how many samples carry its label.</summary>
public sealed record ClassCount(int Id, string Name, int Count);

/// <summary>The range of image sizes in a data set; <see cref="Uniform"/> when every image has the same size.</summary>
public sealed record ImageSizeRange(int MinWidth, int MinHeight, int MaxWidth, int MaxHeight)
{
    public bool Uniform => MinWidth == MaxWidth && MinHeight == MaxHeight;

    /// <summary>"28x28", or "mixed (width 20..640, height 18..480)"; "none" for an empty data set.</summary>
    public string Description =>
        MaxWidth == 0 ? "none"
        : Uniform ? $"{MinWidth}x{MinHeight}"
        : $"mixed (width {MinWidth}..{MaxWidth}, height {MinHeight}..{MaxHeight})";
}

/// <summary>A summary of one split of a data set (<c>deft data info</c>).</summary>
/// <param name="Format">The format name it was opened with.</param>
/// <param name="Path">The full path of the data set.</param>
/// <param name="Split">The split.</param>
/// <param name="Count">Samples, after skipping unreadable ones.</param>
/// <param name="Classes">Every class, by id, with its sample count (given labels).</param>
/// <param name="ImageSize">Image sizes after EXIF orientation.</param>
/// <param name="Skipped">Samples left out under <see cref="BadImagePolicy.Skip"/>.</param>
public sealed record DatasetInfo(
    string Format,
    string Path,
    string Split,
    int Count,
    IReadOnlyList<ClassCount> Classes,
    ImageSizeRange ImageSize,
    IReadOnlyList<SkippedSample> Skipped)
{
    public int NumClasses => Classes.Count;

    /// <summary>The skipped files and empty classes as data issues (<see cref="DataIssues.OfFiles"/>).</summary>
    public IReadOnlyList<DataIssue> Issues { get; init; } = [];

    /// <summary>
    /// Opens the data set, runs the validation pass with the options' policy (<see cref="DatasetValidator.Scan"/>:
    /// every file-based image is decoded once; idx and cifar read sizes from their headers) and summarises it.
    /// </summary>
    public static DatasetInfo Collect(DatasetOptions options, CancellationToken cancellationToken = default)
    {
        var dataset = DatasetValidator.Scan(DatasetFactory.Open(options), options.OnBadImage, cancellationToken);
        return Describe(dataset, options.Format.Trim().ToLowerInvariant(), System.IO.Path.GetFullPath(options.Path), options.Split.Trim().ToLowerInvariant());
    }

    internal static DatasetInfo Describe(ValidatedDataset dataset, string format, string path, string split)
    {
        var counts = new int[dataset.Classes.Count];
        for (var i = 0; i < dataset.Count; i++) counts[dataset.GetLabel(i)]++;
        int minW = int.MaxValue, minH = int.MaxValue, maxW = 0, maxH = 0;
        for (var i = 0; i < dataset.Count; i++)
        {
            var (w, h) = dataset.GetImageSize(i);
            minW = Math.Min(minW, w);
            minH = Math.Min(minH, h);
            maxW = Math.Max(maxW, w);
            maxH = Math.Max(maxH, h);
        }
        var size = dataset.Count == 0 ? new ImageSizeRange(0, 0, 0, 0) : new ImageSizeRange(minW, minH, maxW, maxH);
        var classes = dataset.Classes.Select((name, id) => new ClassCount(id, name, counts[id])).ToList();
        return new DatasetInfo(format, path, split, dataset.Count, classes, size, dataset.Skipped) { Issues = DataIssues.OfFiles(dataset) };
    }
}
