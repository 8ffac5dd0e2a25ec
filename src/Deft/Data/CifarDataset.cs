namespace Deft.Data;

internal enum CifarVariant { Cifar10, Cifar100 }

/// <summary>
/// The binary versions of CIFAR-10 (<c>data_batch_1..5.bin</c> / <c>test_batch.bin</c>, records of 1 label byte +
/// 3072 channel-planar bytes, names from <c>batches.meta.txt</c>) and CIFAR-100 (<c>train.bin</c> / <c>test.bin</c>,
/// records of coarse label, fine label, 3072 bytes; the fine label is used, names from <c>fine_label_names.txt</c>).
/// The path may be the extracted folder itself or its parent (holding <c>cifar-10-batches-bin</c> /
/// <c>cifar-100-binary</c>). All records are loaded into memory when opened.
/// </summary>
internal sealed class CifarDataset : IInMemoryDataset
{
    private const int Side = 32;
    private const int PixelBytes = 3 * Side * Side;

    private readonly List<(string File, byte[] Bytes)> _files;
    private readonly (int File, int Record)[] _where;
    private readonly byte[] _labels;
    private readonly int _recordSize;
    private readonly int _labelOffset;

    private CifarDataset(List<(string, byte[])> files, (int, int)[] where, byte[] labels, int recordSize, int labelOffset, IReadOnlyList<string> classes)
    {
        _files = files;
        _where = where;
        _labels = labels;
        _recordSize = recordSize;
        _labelOffset = labelOffset;
        Classes = classes;
    }

    public int Count => _where.Length;
    public IReadOnlyList<string> Classes { get; }
    public int ImageWidth => Side;
    public int ImageHeight => Side;

    public int GetLabel(int index) => _labels[CheckIndex(index)];

    public RgbImage GetImage(int index)
    {
        var raw = PixelSpan(index);
        const int plane = Side * Side;
        var rgb = new byte[PixelBytes];
        for (var p = 0; p < plane; p++)
        {
            rgb[p * 3] = raw[p];
            rgb[p * 3 + 1] = raw[plane + p];
            rgb[p * 3 + 2] = raw[2 * plane + p];
        }
        return new RgbImage(Side, Side, rgb);
    }

    /// <summary>The 3072 channel-planar bytes (R plane, G plane, B plane) as stored.</summary>
    public byte[] GetRawPixels(int index) => PixelSpan(index).ToArray();

    public string GetSource(int index)
    {
        var (file, record) = _where[CheckIndex(index)];
        return $"{_files[file].File}#{record}";
    }

    private ReadOnlySpan<byte> PixelSpan(int index)
    {
        var (file, record) = _where[CheckIndex(index)];
        return _files[file].Bytes.AsSpan(record * _recordSize + _labelOffset + 1, PixelBytes);
    }

    private int CheckIndex(int index) =>
        (uint)index < (uint)Count ? index : throw new ArgumentOutOfRangeException(nameof(index), index, $"Valid indices: 0..{Count - 1}.");

    internal static CifarDataset Open(string path, string split, CifarVariant variant)
    {
        var (subfolder, metaName, trainFiles, testFiles, labelOffset, expectedClasses) = variant switch
        {
            CifarVariant.Cifar10 => ("cifar-10-batches-bin", "batches.meta.txt",
                new[] { "data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin" },
                new[] { "test_batch.bin" }, 0, 10),
            _ => ("cifar-100-binary", "fine_label_names.txt", new[] { "train.bin" }, new[] { "test.bin" }, 1, 100),
        };
        var formatName = variant == CifarVariant.Cifar10 ? "cifar10" : "cifar100";
        var fileNames = split == "train" ? trainFiles : testFiles;

        var dir = path;
        if (!File.Exists(System.IO.Path.Combine(dir, fileNames[0])) && Directory.Exists(System.IO.Path.Combine(dir, subfolder)))
            dir = System.IO.Path.Combine(dir, subfolder);

        var missing = fileNames.Where(f => !File.Exists(System.IO.Path.Combine(dir, f))).ToList();
        if (missing.Count > 0)
            throw new DeftException(
                $"{dir} lacks {string.Join(", ", missing)} for {Setting.Format} {formatName} {Setting.Split} {split}. Point {Setting.Data} at the " +
                $"binary version's folder ({subfolder}) or its parent.");

        var metaFile = System.IO.Path.Combine(dir, metaName);
        if (!File.Exists(metaFile))
            throw new DeftException($"{dir} lacks {metaName}, which names the classes. Restore it from the {subfolder} archive.");
        var classes = File.ReadAllLines(metaFile).Select(l => l.Trim()).Where(l => l.Length > 0).ToArray();
        if (classes.Length != expectedClasses)
            throw new DeftException($"{metaFile} names {classes.Length} classes; {formatName} has {expectedClasses}. Restore the file from the {subfolder} archive.");

        var recordSize = labelOffset + 1 + PixelBytes;
        var files = new List<(string, byte[])>();
        var where = new List<(int, int)>();
        var labels = new List<byte>();
        foreach (var name in fileNames)
        {
            var file = System.IO.Path.Combine(dir, name);
            var bytes = BinaryFiles.ReadMaybeGzipped(file);
            if (bytes.Length == 0 || bytes.Length % recordSize != 0)
                throw new DeftException(
                    $"{file}: {bytes.Length} bytes is not a whole number of {recordSize}-byte {formatName} records " +
                    $"(record {bytes.Length / recordSize} is cut short). The file is truncated or not the binary version; download it again.");
            var records = bytes.Length / recordSize;
            for (var r = 0; r < records; r++)
            {
                var label = bytes[r * recordSize + labelOffset];
                if (label >= classes.Length)
                    throw new DeftException($"{file} record {r}: {(labelOffset == 1 ? "fine " : "")}label {label} is outside 0..{classes.Length - 1}. The file is damaged; download it again.");
                where.Add((files.Count, r));
                labels.Add(label);
            }
            files.Add((file, bytes));
        }
        return new CifarDataset(files, [.. where], [.. labels], recordSize, labelOffset, classes);
    }
}
