namespace Deft.Data;

public static partial class DatasetFactory
{
    private static readonly string[] FormatNames = ["idx", "cifar10", "cifar100", "folder", "csv", .. Paper.PaperDatasets.FormatNames];
    private static readonly string[] SplitNames = ["train", "test"];

    /// <summary>The reader for <paramref name="options"/>, without any validation pass.</summary>
    internal static IImageDataset OpenReader(DatasetOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var format = (options.Format ?? "").Trim().ToLowerInvariant();
        if (!FormatNames.Contains(format))
            throw new DeftException($"Unknown data format '{options.Format}'. Valid formats: {string.Join(", ", FormatNames)}.");
        var split = (options.Split ?? "").Trim().ToLowerInvariant();
        if (!SplitNames.Contains(split))
            throw new DeftException($"Unknown split '{options.Split}'. Valid splits: {string.Join(", ", SplitNames)}.");
        if (string.IsNullOrWhiteSpace(options.Path))
            throw new DeftException($"No data path given. Pass {Setting.Data} PATH.");

        var path = System.IO.Path.GetFullPath(options.Path);
        var wantsFile = format == "csv";
        if (wantsFile ? !File.Exists(path) : !Directory.Exists(path))
        {
            var what = wantsFile ? "manifest file" : "directory";
            if (!wantsFile && File.Exists(path))
                throw new DeftException($"Data {what} not found: {path}. It is a file; {Setting.Format} {format} expects the directory holding the data set.");
            if (wantsFile && Directory.Exists(path))
                throw new DeftException($"Data {what} not found: {path}. It is a directory; {Setting.Format} csv expects the manifest file (.csv or .tsv).");
            throw new DeftException($"Data {what} not found: {path}.");
        }

        if (Paper.PaperDatasets.Handles(format)) return Paper.PaperDatasets.Open(format, path, split, options.ClassesFile);

        IReadOnlyList<string>? classes = null;
        if (options.ClassesFile is not null)
        {
            if (format is not ("csv" or "idx"))
                throw new DeftException($"{Setting.ClassesFile} applies to the csv and idx formats only; {format} takes its class names from the data set.");
            classes = ReadClassesFile(options.ClassesFile);
        }

        var tolerateMissing = options.OnBadImage == BadImagePolicy.Skip;
        return format switch
        {
            "idx" => IdxDataset.Open(path, split, classes),
            "cifar10" => CifarDataset.Open(path, split, CifarVariant.Cifar10),
            "cifar100" => CifarDataset.Open(path, split, CifarVariant.Cifar100),
            "folder" => ImageFolderDataset.Open(path, split),
            "csv" => ManifestDataset.Open(path, classes, tolerateMissing, options.Warn),
            _ => throw new InvalidOperationException(format),
        };
    }

    /// <summary>One class name per line; blank lines are ignored; names must be unique.</summary>
    internal static IReadOnlyList<string> ReadClassesFile(string path)
    {
        var full = System.IO.Path.GetFullPath(path);
        if (!File.Exists(full))
            throw new DeftException($"Class list not found: {full}. Pass a text file with one class name per line.");
        var names = new List<string>();
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        var lineNo = 0;
        foreach (var raw in Deft.IO.StrictText.ReadAllLines(full))
        {
            lineNo++;
            var name = raw.Trim();
            if (name.Length == 0) continue;
            Deft.IO.StrictText.CheckField(name, full, lineNo, "class name");
            if (seen.TryGetValue(name, out var first))
                throw new DeftException($"{full} line {lineNo}: class name '{TextClip.Clip(name, 60)}' repeats line {first}. Class names must be unique.");
            seen[name] = lineNo;
            names.Add(name);
        }
        if (names.Count == 0)
            throw new DeftException($"Class list {full} holds no names. Write one class name per line.");
        return names;
    }
}
