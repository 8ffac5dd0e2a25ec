namespace Deft.Data;

/// <summary>
/// One sub-folder per class (torchvision's ImageFolder layout). Class ids follow the ordinal order of the folder
/// names; within a class, image files (.jpg .jpeg .png .bmp .webp .gif, any case, nested folders included) follow
/// the ordinal order of their paths relative to the class folder; hidden entries (".name") are ignored.
/// <para>
/// Splits: when <c>ROOT/train</c> and <c>ROOT/test</c> both exist, each split reads its own folder and the class list
/// always comes from <c>ROOT/train</c> (so ids agree between splits; a class may be absent from test, but test may
/// not add one). Otherwise ROOT itself serves every split.
/// </para>
/// Images are decoded on demand (<see cref="ImageDecoder"/>).
/// </summary>
internal sealed class ImageFolderDataset : IImageDataset
{
    private readonly string[] _files;
    private readonly int[] _labels;
    private readonly string _splitDirectory;

    private ImageFolderDataset(string[] files, int[] labels, IReadOnlyList<string> classes, string splitDirectory)
    {
        _files = files;
        _labels = labels;
        Classes = classes;
        _splitDirectory = splitDirectory;
    }

    /// <summary>The folder of class <paramref name="label"/> in this split (it may not exist: a class absent from test).</summary>
    internal string ClassDirectory(int label) => System.IO.Path.Combine(_splitDirectory, Classes[label]);

    public int Count => _files.Length;
    public IReadOnlyList<string> Classes { get; }
    public int GetLabel(int index) => _labels[index];
    public RgbImage GetImage(int index) => ImageDecoder.Decode(_files[index]);
    public string GetSource(int index) => _files[index];

    internal static ImageFolderDataset Open(string root, string split)
    {
        var trainDir = System.IO.Path.Combine(root, "train");
        var testDir = System.IO.Path.Combine(root, "test");
        var hasSplits = Directory.Exists(trainDir) && Directory.Exists(testDir);
        var splitDir = hasSplits ? System.IO.Path.Combine(root, split) : root;

        var classes = ClassFolders(hasSplits ? trainDir : root);
        if (classes.Length == 0)
            throw new DeftException(
                $"No class folders in {(hasSplits ? trainDir : root)}. {Setting.Format} folder expects one sub-folder per class holding its images" +
                $" (optionally under train/ and test/).");
        var present = ClassFolders(splitDir);
        var unknown = present.Except(classes, StringComparer.Ordinal).ToList();
        if (unknown.Count > 0)
            throw new DeftException(
                $"{System.IO.Path.Combine(splitDir, unknown[0])} is a class folder that {trainDir} lacks. " +
                "Class ids come from train/; add the class there or remove the folder.");

        var files = new List<string>();
        var labels = new List<int>();
        for (var label = 0; label < classes.Length; label++)
        {
            var classDir = System.IO.Path.Combine(splitDir, classes[label]);
            if (!Directory.Exists(classDir)) continue;
            // An empty class folder keeps its class (the ids of the others stay put); it is reported as a data issue
            // (DataIssues.OfFiles), not an error.
            var images = ImageFiles(classDir);
            files.AddRange(images);
            labels.AddRange(Enumerable.Repeat(label, images.Count));
        }
        if (files.Count == 0 && present.Length > 0)
            throw new DeftException(
                $"No images in the class folders of {splitDir} ({string.Join(" ", ImageDecoder.Extensions.Order(StringComparer.Ordinal))}). " +
                "Add images to the class folders.");
        return new ImageFolderDataset([.. files], [.. labels], classes, splitDir);
    }

    private static string[] ClassFolders(string dir) =>
        [.. new DirectoryInfo(dir).EnumerateDirectories()
            .Where(d => !d.Name.StartsWith('.'))
            .Select(d => d.Name)
            .Order(StringComparer.Ordinal)];

    /// <summary>
    /// Image files under <paramref name="classDir"/>, nested folders included. Symbolic links to folders are followed
    /// once: a folder whose real path was already visited (a link back to an ancestor, or two links to one folder) is
    /// skipped, so a link loop cannot multiply the samples.
    /// </summary>
    private static List<string> ImageFiles(string classDir)
    {
        var files = new List<string>();
        var visited = new HashSet<string>(StringComparer.Ordinal);
        var pending = new Stack<string>();
        pending.Push(classDir);
        while (pending.Count > 0)
        {
            var dir = pending.Pop();
            if (!visited.Add(RealPath(dir))) continue;
            var info = new DirectoryInfo(dir);
            foreach (var entry in info.EnumerateFileSystemInfos("*", new EnumerationOptions { AttributesToSkip = FileAttributes.Hidden | FileAttributes.System }))
            {
                if (entry.Name.StartsWith('.')) continue;
                if (entry is DirectoryInfo sub) pending.Push(sub.FullName);
                else if (ImageDecoder.Extensions.Contains(entry.Extension)) files.Add(entry.FullName);
            }
        }
        return [.. files.OrderBy(f => System.IO.Path.GetRelativePath(classDir, f), StringComparer.Ordinal)];
    }

    /// <summary>The path with every symbolic link along it resolved (as realpath(3) does, in managed code).</summary>
    internal static string RealPath(string path)
    {
        var full = System.IO.Path.GetFullPath(path);
        var root = System.IO.Path.GetPathRoot(full) ?? "/";
        var parts = new Queue<string>(full[root.Length..].Split(System.IO.Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries));
        var current = root;
        var hops = 0;
        while (parts.Count > 0)
        {
            var next = System.IO.Path.Combine(current, parts.Dequeue());
            var info = new DirectoryInfo(next);
            if (info.LinkTarget is { } target && hops++ < 64)
            {
                var resolved = System.IO.Path.GetFullPath(target, current);
                var rroot = System.IO.Path.GetPathRoot(resolved) ?? "/";
                var rest = parts.ToArray();
                parts = new Queue<string>(resolved[rroot.Length..].Split(System.IO.Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries).Concat(rest));
                current = rroot;
                continue;
            }
            current = next;
        }
        return current;
    }
}
