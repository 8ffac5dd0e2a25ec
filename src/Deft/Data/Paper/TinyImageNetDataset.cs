namespace Deft.Data.Paper;

/// <summary>
/// Tiny-ImageNet (<c>tiny-imagenet-200</c>) as distributed: <c>wnids.txt</c> lists the 200 classes, <c>words.txt</c>
/// names them (<c>wnid TAB synonyms</c>; the first synonym is used), <c>train/WNID/images/*.JPEG</c> is the training
/// split and <c>val/val_annotations.txt</c> (<c>file TAB wnid TAB x1 TAB y1 TAB x2 TAB y2</c>) with <c>val/images/</c>
/// is the test split (the official test images carry no labels). Class ids follow the sorted wnids, as the paper's
/// code (and torchvision's ImageFolder) number them. The path may be the folder itself or its parent.
/// </summary>
internal static class TinyImageNetDataset
{
    internal const string FormatName = "tiny-imagenet";

    internal static IImageDataset Open(string path, string split)
    {
        var root = File.Exists(Path.Combine(path, "wnids.txt")) || !Directory.Exists(Path.Combine(path, "tiny-imagenet-200"))
            ? path : Path.Combine(path, "tiny-imagenet-200");
        var wnidsFile = ListFiles.RequireFile(root, FormatName, "the class list", "wnids.txt");
        var wordsFile = ListFiles.RequireFile(root, FormatName, "the class names", "words.txt");

        var wnids = new List<string>();
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var line in ListFiles.ReadLines(wnidsFile))
        {
            ListFiles.ExpectFields(wnidsFile, line, 1, "one wnid per line");
            if (!seen.TryAdd(line.Fields[0], line.Number))
                throw new DeftException($"{wnidsFile} line {line.Number}: wnid {line.Fields[0]} repeats line {seen[line.Fields[0]]}. Restore the file.");
            wnids.Add(line.Fields[0]);
        }
        if (wnids.Count == 0) throw new DeftException($"{wnidsFile} lists no classes. Restore the file from the tiny-imagenet-200 archive.");
        wnids.Sort(StringComparer.Ordinal);
        var classOf = wnids.Select((w, i) => (w, i)).ToDictionary(p => p.w, p => p.i, StringComparer.Ordinal);

        var names = new string?[wnids.Count];
        var lineNo = 0;
        foreach (var raw in File.ReadLines(wordsFile))
        {
            lineNo++;
            if (raw.Trim().Length == 0) continue;
            var parts = raw.Split('\t', 2);
            if (parts.Length != 2)
                throw new DeftException($"{wordsFile} line {lineNo}: expected 'wnid<TAB>names', found '{ListFiles.Shorten(raw)}'. Restore the file.");
            if (classOf.TryGetValue(parts[0].Trim(), out var id))
                names[id] = parts[1].Split(',')[0].Trim();
        }
        var unnamed = Enumerable.Range(0, wnids.Count).Where(i => string.IsNullOrEmpty(names[i])).Select(i => wnids[i]).ToList();
        if (unnamed.Count > 0)
            throw new DeftException($"{wordsFile} names no class for {string.Join(", ", unnamed.Take(5))}{(unnamed.Count > 5 ? $" and {unnamed.Count - 5} more" : "")}. Restore the file.");
        var classes = ListFiles.Disambiguate(names!, wnids);

        var builder = new FileListDataset.Builder();
        if (split == "train")
        {
            foreach (var wnid in wnids)
            {
                var dir = Path.Combine(root, "train", wnid, "images");
                if (!Directory.Exists(dir))
                    throw new DeftException($"Training folder {dir} is missing ({wnid} is listed in {wnidsFile}). Restore it from the archive.");
                var files = Directory.EnumerateFiles(dir)
                    .Where(f => ImageDecoder.Extensions.Contains(Path.GetExtension(f)) && !Path.GetFileName(f).StartsWith('.'))
                    .Order(StringComparer.Ordinal).ToList();
                if (files.Count == 0) throw new DeftException($"Training folder {dir} holds no images. Restore it from the archive.");
                foreach (var f in files) builder.Add(f, classOf[wnid], null, dir, 0);
            }
        }
        else
        {
            var annotations = ListFiles.RequireFile(root, FormatName, "the validation labels (the test split)", Path.Combine("val", "val_annotations.txt"));
            var imageDir = Path.Combine(root, "val", "images");
            foreach (var line in ListFiles.ReadLines(annotations))
            {
                ListFiles.ExpectFields(annotations, line, 2, "file, wnid, x1, y1, x2, y2 separated by tabs", orMore: true);
                var (file, wnid) = (line.Fields[0], line.Fields[1]);
                if (!classOf.TryGetValue(wnid, out var label))
                    throw new DeftException($"{annotations} line {line.Number}: wnid {wnid} is not in {wnidsFile}. The files come from different releases; restore them.");
                var image = Path.Combine(imageDir, file);
                if (!File.Exists(image))
                    throw new DeftException($"{annotations} line {line.Number}: image {image} not found. Restore val/images from the archive.");
                builder.Add(image, label, null, annotations, line.Number);
            }
        }
        return builder.Build(classes, FormatName, $"Check {root}.");
    }
}
