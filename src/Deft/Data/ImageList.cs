namespace Deft.Data;

/// <summary>
/// Images already in memory as a data set: image i has label <c>labels[i]</c>, an index into <c>classes</c>. For
/// calling the library with your own images rather than a folder or file on disk.
/// </summary>
public sealed class ImageList : IImageDataset
{
    private readonly IReadOnlyList<RgbImage> _images;
    private readonly int[] _labels;

    /// <summary>Wraps the images (not copied), their labels and the class names the labels index.</summary>
    /// <exception cref="ArgumentException">The counts differ or a label is outside 0..classes−1.</exception>
    public ImageList(IReadOnlyList<RgbImage> images, IReadOnlyList<int> labels, IReadOnlyList<string> classes)
    {
        if (images.Count != labels.Count) throw new ArgumentException($"{images.Count} images but {labels.Count} labels.", nameof(labels));
        for (var i = 0; i < labels.Count; i++)
            if ((uint)labels[i] >= (uint)classes.Count)
                throw new ArgumentException($"Label {labels[i]} of image {i} is outside 0..{classes.Count - 1}.", nameof(labels));
        _images = images;
        _labels = labels.ToArray();
        Classes = classes.ToArray();
    }

    /// <inheritdoc/>
    public int Count => _images.Count;

    /// <inheritdoc/>
    public IReadOnlyList<string> Classes { get; }

    /// <inheritdoc/>
    public int GetLabel(int index) => _labels[index];

    /// <inheritdoc/>
    public RgbImage GetImage(int index) => _images[index];

    /// <inheritdoc/>
    public string GetSource(int index) => $"memory#{index}";
}
