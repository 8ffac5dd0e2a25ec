namespace Deft.Data.Paper;

/// <summary>
/// Clothing1M as distributed: <c>noisy_label_kv.txt</c> and <c>clean_label_kv.txt</c> (<c>images/0/23/x.jpg LABEL</c>
/// per line, labels 0..13), <c>noisy_train_key_list.txt</c> and <c>clean_test_key_list.txt</c> (one image key per
/// line), optionally <c>category_names_eng.txt</c>; the annotation files may sit in the root or in
/// <c>annotations/</c>. The training split is the noisy training list: its label is the noisy one and, for the
/// images that also have one, <see cref="IImageDataset.GetCleanLabel"/> is the clean one. The test split is the clean
/// test list with its clean labels. Images live at <c>ROOT/images/...</c> as extracted, or at <c>ROOT/0/...</c> with
/// the <c>images/</c> prefix dropped (the layout the paper's code and DivideMix use); the first key decides which.
/// Only that key is checked up front (a million stat calls would dominate opening); a missing image is reported when
/// it is decoded, naming its list line.
/// </summary>
internal static class Clothing1MDataset
{
    internal const string FormatName = "clothing1m";
    private const string ImagesPrefix = "images/";

    /// <summary>The 14 classes in label order (category_names_eng.txt of the release).</summary>
    internal static readonly string[] ClassNames =
        ["T-Shirt", "Shirt", "Knitwear", "Chiffon", "Sweater", "Hoodie", "Windbreaker", "Jacket", "Downcoat", "Suit", "Shawl", "Dress", "Vest", "Underwear"];

    internal static IImageDataset Open(string root, string split)
    {
        var annotationDir = File.Exists(Path.Combine(root, "clean_label_kv.txt")) || !Directory.Exists(Path.Combine(root, "annotations"))
            ? root : Path.Combine(root, "annotations");
        var classes = ReadClassNames(annotationDir);
        var clean = ReadLabels(ListFiles.RequireFile(annotationDir, FormatName, "the clean labels", "clean_label_kv.txt"), classes.Count);

        var builder = new FileListDataset.Builder();
        if (split == "train")
        {
            var noisy = ReadLabels(ListFiles.RequireFile(annotationDir, FormatName, "the noisy labels", "noisy_label_kv.txt"), classes.Count);
            var keys = ListFiles.RequireFile(annotationDir, FormatName, "the noisy training list", "noisy_train_key_list.txt");
            AddKeys(builder, root, keys, noisy, "noisy_label_kv.txt", clean);
        }
        else
        {
            var keys = ListFiles.RequireFile(annotationDir, FormatName, "the clean test list", "clean_test_key_list.txt");
            AddKeys(builder, root, keys, clean, "clean_label_kv.txt", null);
        }
        return builder.Build(classes, FormatName, "The key list is empty; restore it from the release.");
    }

    private static void AddKeys(FileListDataset.Builder builder, string root, string keyFile,
        Dictionary<string, int> labels, string labelFileName, Dictionary<string, int>? clean)
    {
        bool? stripPrefix = null;
        foreach (var line in ListFiles.ReadLines(keyFile))
        {
            ListFiles.ExpectFields(keyFile, line, 1, "one image key per line");
            var key = line.Fields[0];
            if (!labels.TryGetValue(key, out var label))
                throw new DeftException($"{keyFile} line {line.Number}: key {key} has no label in {labelFileName}. The files come from different releases; restore them.");
            stripPrefix ??= ChooseLayout(root, keyFile, line.Number, key);
            var relative = stripPrefix.Value && key.StartsWith(ImagesPrefix, StringComparison.Ordinal) ? key[ImagesPrefix.Length..] : key;
            builder.Add(Path.Combine(root, relative), label, clean is not null && clean.TryGetValue(key, out var c) ? c : null, keyFile, line.Number);
        }
    }

    private static bool ChooseLayout(string root, string keyFile, int line, string key)
    {
        var asListed = Path.Combine(root, key);
        if (File.Exists(asListed)) return false;
        if (key.StartsWith(ImagesPrefix, StringComparison.Ordinal))
        {
            var stripped = Path.Combine(root, key[ImagesPrefix.Length..]);
            if (File.Exists(stripped)) return true;
            throw new DeftException(
                $"{keyFile} line {line}: image {key} not found as {asListed} nor as {stripped}. Extract the images/*.tar archives " +
                $"into ROOT/images (or ROOT) and point {Setting.Data} at ROOT.");
        }
        throw new DeftException($"{keyFile} line {line}: image {asListed} not found. Point {Setting.Data} at the folder holding images/.");
    }

    private static Dictionary<string, int> ReadLabels(string file, int classCount)
    {
        var map = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var line in ListFiles.ReadLines(file))
        {
            ListFiles.ExpectFields(file, line, 2, "image key, label");
            var label = ListFiles.ParseInt(file, line, line.Fields[1], "label", 0, classCount - 1);
            if (!map.TryAdd(line.Fields[0], label))
                throw new DeftException($"{file} line {line.Number}: key {line.Fields[0]} repeats. Restore the file.");
        }
        return map;
    }

    private static IReadOnlyList<string> ReadClassNames(string annotationDir)
    {
        var file = Path.Combine(annotationDir, "category_names_eng.txt");
        if (!File.Exists(file)) return ClassNames;
        var names = ListFiles.ReadLines(file).Select(l => l.Text).ToList();
        if (names.Count != ClassNames.Length)
            throw new DeftException($"{file} names {names.Count} classes; Clothing1M has {ClassNames.Length}. Restore the file or delete it (the built-in names are used then).");
        return names;
    }
}
