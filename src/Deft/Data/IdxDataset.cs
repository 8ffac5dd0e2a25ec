using System.Buffers.Binary;

namespace Deft.Data;

/// <summary>
/// MNIST-style IDX files (MNIST, Fashion-MNIST), gzipped or not: <c>train-images-idx3-ubyte[.gz]</c> +
/// <c>train-labels-idx1-ubyte[.gz]</c> for the train split, <c>t10k-*</c> for test (the <c>.idx3-ubyte</c> spelling
/// is accepted too). Both files are loaded into memory when opened.
/// <para>
/// Class names: an explicit list (<c>--classes</c>) wins; otherwise a directory path with "fashion" in it (any
/// component, case-insensitive) gets the Fashion-MNIST names; one with "mnist" gets the digits "0".."9"; anything
/// else gets "0".."K-1" with K = largest label + 1.
/// </para>
/// </summary>
internal sealed class IdxDataset : IInMemoryDataset
{
    internal static readonly string[] FashionMnistClasses =
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    private const int ImagesMagicDims = 3;
    private const int LabelsMagicDims = 1;
    private const byte UnsignedByteType = 0x08;

    private readonly byte[] _pixels;
    private readonly int _pixelOffset;
    private readonly byte[] _labels;
    private readonly int _labelOffset;
    private readonly string _imagesFile;

    private IdxDataset(string imagesFile, byte[] pixels, int pixelOffset, byte[] labels, int labelOffset, int count, int height, int width, IReadOnlyList<string> classes)
    {
        _imagesFile = imagesFile;
        _pixels = pixels;
        _pixelOffset = pixelOffset;
        _labels = labels;
        _labelOffset = labelOffset;
        Count = count;
        ImageHeight = height;
        ImageWidth = width;
        Classes = classes;
    }

    public int Count { get; }
    public IReadOnlyList<string> Classes { get; }
    public int ImageWidth { get; }
    public int ImageHeight { get; }

    public int GetLabel(int index) => _labels[_labelOffset + CheckIndex(index)];

    public RgbImage GetImage(int index)
    {
        var plane = ImageWidth * ImageHeight;
        var start = _pixelOffset + CheckIndex(index) * plane;
        var rgb = new byte[plane * 3];
        for (var p = 0; p < plane; p++)
        {
            var v = _pixels[start + p];
            rgb[p * 3] = v;
            rgb[p * 3 + 1] = v;
            rgb[p * 3 + 2] = v;
        }
        return new RgbImage(ImageWidth, ImageHeight, rgb);
    }

    /// <summary>The H·W gray bytes as stored.</summary>
    public byte[] GetRawPixels(int index)
    {
        var plane = ImageWidth * ImageHeight;
        return _pixels.AsSpan(_pixelOffset + CheckIndex(index) * plane, plane).ToArray();
    }

    public string GetSource(int index) => $"{_imagesFile}#{CheckIndex(index)}";

    private int CheckIndex(int index) =>
        (uint)index < (uint)Count ? index : throw new ArgumentOutOfRangeException(nameof(index), index, $"Valid indices: 0..{Count - 1}.");

    internal static IdxDataset Open(string directory, string split, IReadOnlyList<string>? classes)
    {
        var prefix = split == "train" ? "train" : "t10k";
        var imagesFile = FindFile(directory, prefix, "images", "idx3");
        var labelsFile = FindFile(directory, prefix, "labels", "idx1");

        var images = BinaryFiles.ReadMaybeGzipped(imagesFile);
        var imageDims = ReadHeader(images, imagesFile, ImagesMagicDims);
        var labels = BinaryFiles.ReadMaybeGzipped(labelsFile);
        var labelDims = ReadHeader(labels, labelsFile, LabelsMagicDims);

        int count = imageDims[0], height = imageDims[1], width = imageDims[2];
        if (height <= 0 || width <= 0)
            throw new DeftException($"{imagesFile}: the header gives an empty image size {width}x{height}. The file is damaged; download it again.");
        var pixelOffset = 4 + 4 * ImagesMagicDims;
        var expectedPixels = (long)count * height * width;
        if (images.Length - pixelOffset != expectedPixels)
            throw new DeftException(
                $"{imagesFile}: the header promises {count} images of {width}x{height} ({expectedPixels} bytes) but the file holds " +
                $"{images.Length - pixelOffset} bytes of pixels; it is {(images.Length - pixelOffset < expectedPixels ? "truncated" : "longer than declared")}. Download it again.");
        var labelOffset = 4 + 4 * LabelsMagicDims;
        if (labelDims[0] != count)
            throw new DeftException($"{labelsFile} holds {labelDims[0]} labels but {imagesFile} holds {count} images. Use the files of one release together.");
        if (labels.Length - labelOffset != count)
            throw new DeftException($"{labelsFile}: the header promises {count} labels but the file holds {labels.Length - labelOffset}; it is damaged. Download it again.");

        var maxLabel = -1;
        var maxAt = 0;
        for (var i = 0; i < count; i++)
        {
            if (labels[labelOffset + i] > maxLabel) { maxLabel = labels[labelOffset + i]; maxAt = i; }
        }
        var names = classes ?? DefaultClassNames(directory, maxLabel);
        if (maxLabel >= names.Count)
        {
            var origin = classes is not null ? "the class-name list" : $"the class names chosen for {directory} ({string.Join(", ", names)})";
            throw new DeftException(
                $"{labelsFile} record {maxAt}: label {maxLabel} is outside 0..{names.Count - 1} allowed by {origin}. " +
                $"Pass {Setting.ClassesFile} FILE with one name per class.");
        }
        return new IdxDataset(imagesFile, images, pixelOffset, labels, labelOffset, count, height, width, names);
    }

    private static IReadOnlyList<string> DefaultClassNames(string directory, int maxLabel)
    {
        var parts = directory.Split(System.IO.Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries);
        if (parts.Any(p => p.Contains("fashion", StringComparison.OrdinalIgnoreCase))) return FashionMnistClasses;
        var k = parts.Any(p => p.Contains("mnist", StringComparison.OrdinalIgnoreCase)) ? Math.Max(10, maxLabel + 1) : maxLabel + 1;
        return Enumerable.Range(0, Math.Max(k, 1)).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();
    }

    private static string FindFile(string directory, string prefix, string kind, string idxType)
    {
        string[] stems = [$"{prefix}-{kind}-{idxType}-ubyte", $"{prefix}-{kind}.{idxType}-ubyte"];
        foreach (var stem in stems)
        {
            foreach (var name in new[] { stem + ".gz", stem })
            {
                var candidate = System.IO.Path.Combine(directory, name);
                if (File.Exists(candidate)) return candidate;
            }
        }
        throw new DeftException(
            $"No IDX {kind} file for this split in {directory}: expected {stems[0]} or {stems[0]}.gz. " +
            $"Point {Setting.Data} at the directory holding the MNIST/Fashion-MNIST files (train-* for {Setting.Split} train, t10k-* for {Setting.Split} test).");
    }

    /// <summary>Checks the magic (0, 0, unsigned-byte type, dimension count) and returns the big-endian dimensions.</summary>
    private static int[] ReadHeader(byte[] bytes, string file, int expectedDims)
    {
        var headerLength = 4 + 4 * expectedDims;
        if (bytes.Length < 4)
            throw new DeftException($"{file} is too short ({bytes.Length} bytes) to be an IDX file. Download it again.");
        if (bytes[0] != 0 || bytes[1] != 0 || bytes[2] != UnsignedByteType || bytes[3] != expectedDims)
            throw new DeftException(
                $"{file} is not an IDX file of unsigned bytes with {expectedDims} dimension(s) (magic {Convert.ToHexString(bytes, 0, 4)}, " +
                $"expected 000008{expectedDims:X2}). Check that images and labels files are the right ones.");
        if (bytes.Length < headerLength)
            throw new DeftException($"{file} is too short ({bytes.Length} bytes) to hold its IDX header. Download it again.");
        var dims = new int[expectedDims];
        for (var d = 0; d < expectedDims; d++)
        {
            dims[d] = BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(4 + 4 * d, 4));
            if (dims[d] < 0)
                throw new DeftException($"{file}: dimension {d} is negative ({dims[d]}). The file is damaged; download it again.");
        }
        return dims;
    }
}
