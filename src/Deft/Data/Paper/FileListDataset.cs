namespace Deft.Data.Paper;

/// <summary>
/// Image files with labels, built by the paper readers from their list files. Images are decoded on demand; an
/// unreadable one throws a <see cref="DeftException"/> naming the file and the list line that names it. Held as
/// parallel arrays because Clothing1M and WebVision list a million images.
/// </summary>
internal sealed class FileListDataset : IImageDataset
{
    private const int NoCleanLabel = -1;

    private readonly string[] _paths;
    private readonly int[] _labels;
    private readonly int[] _cleanLabels;
    private readonly string[] _listFiles;
    private readonly int[] _listFile;
    private readonly int[] _listLine;

    private FileListDataset(Builder b, IReadOnlyList<string> classes)
    {
        _paths = [.. b.Paths];
        _labels = [.. b.Labels];
        _cleanLabels = [.. b.CleanLabels];
        _listFiles = [.. b.ListFiles];
        _listFile = [.. b.ListFile];
        _listLine = [.. b.ListLine];
        Classes = classes;
    }

    public int Count => _paths.Length;
    public IReadOnlyList<string> Classes { get; }
    public int GetLabel(int index) => _labels[CheckIndex(index)];
    public int? GetCleanLabel(int index) => _cleanLabels[CheckIndex(index)] is var c && c == NoCleanLabel ? null : c;
    public string GetSource(int index) => _paths[CheckIndex(index)];

    public RgbImage GetImage(int index)
    {
        CheckIndex(index);
        try
        {
            return ImageDecoder.Decode(_paths[index]);
        }
        catch (DeftException ex) when (_listLine[index] > 0)
        {
            throw new DeftException($"{ex} (listed in {_listFiles[_listFile[index]]} line {_listLine[index]})", ex);
        }
    }

    private int CheckIndex(int index) =>
        (uint)index < (uint)Count ? index : throw new ArgumentOutOfRangeException(nameof(index), index, $"Valid indices: 0..{Count - 1}.");

    /// <summary>Collects samples in index order.</summary>
    internal sealed class Builder
    {
        internal readonly List<string> Paths = [];
        internal readonly List<int> Labels = [];
        internal readonly List<int> CleanLabels = [];
        internal readonly List<string> ListFiles = [];
        internal readonly List<int> ListFile = [];
        internal readonly List<int> ListLine = [];
        private readonly Dictionary<string, int> _listIds = new(StringComparer.Ordinal);

        public int Count => Paths.Count;

        /// <summary>Adds a sample; <paramref name="line"/> 0 means it was found by listing a folder, not read from a list.</summary>
        public void Add(string path, int label, int? cleanLabel, string listFile, int line)
        {
            if (!_listIds.TryGetValue(listFile, out var id))
            {
                id = ListFiles.Count;
                ListFiles.Add(listFile);
                _listIds[listFile] = id;
            }
            Paths.Add(path);
            Labels.Add(label);
            CleanLabels.Add(cleanLabel ?? NoCleanLabel);
            ListFile.Add(id);
            ListLine.Add(line);
        }

        public FileListDataset Build(IReadOnlyList<string> classes, string formatName, string emptyHint)
        {
            if (Paths.Count == 0)
                throw new DeftException($"{Setting.Format} {formatName}: no images found. {emptyHint}");
            return new FileListDataset(this, classes);
        }
    }
}
