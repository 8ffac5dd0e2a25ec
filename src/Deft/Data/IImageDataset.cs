namespace Deft.Data;

/// <summary>
/// An indexed, labelled image collection. Index i is stable: label files, noise files and reports refer to samples
/// by it. Implementations are thread-safe for concurrent <see cref="GetImage"/> calls (the loader decodes in parallel).
/// </summary>
public interface IImageDataset
{
    /// <summary>Number of samples.</summary>
    int Count { get; }

    /// <summary>Class names; label ids index this list.</summary>
    IReadOnlyList<string> Classes { get; }

    /// <summary>The label stored with the data set (given label; for real-world-noise sets the noisy one).</summary>
    int GetLabel(int index);

    /// <summary>The true label where the data set ships one beside a noisy label (CIFAR-N, manifests), else null.</summary>
    int? GetCleanLabel(int index) => null;

    /// <summary>Decodes sample <paramref name="index"/> to RGB (grayscale and palette expanded, EXIF orientation applied).</summary>
    RgbImage GetImage(int index);

    /// <summary>
    /// The pixels as the data set stores them, for instance-dependent noise (Xia et al. use the raw vector): IDX gives
    /// the H·W gray bytes, CIFAR the 3·32·32 channel-planar bytes. The default is the decoded image, channel-planar.
    /// </summary>
    byte[] GetRawPixels(int index)
    {
        var img = GetImage(index);
        var plane = img.Width * img.Height;
        var raw = new byte[plane * 3];
        for (var p = 0; p < plane; p++)
            for (var c = 0; c < 3; c++)
                raw[c * plane + p] = img.Pixels[p * 3 + c];
        return raw;
    }

    /// <summary>Where the sample comes from, for messages and reports: a file path, or "file#record".</summary>
    string GetSource(int index);
}
