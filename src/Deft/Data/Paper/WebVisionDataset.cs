namespace Deft.Data.Paper;

/// <summary>Which WebVision 1.0 training lists to read.</summary>
internal enum WebVisionSources
{
    /// <summary><c>info/train_filelist_google.txt</c> only: the "mini-WebVision" convention the literature (and the paper) follow.</summary>
    Google,
    /// <summary>Google and <c>info/train_filelist_flickr.txt</c>, in that order.</summary>
    GoogleAndFlickr,
}

/// <summary>
/// WebVision 1.0 as distributed: <c>info/synsets.txt</c> (<c>wnid names</c>, 1000 lines in ImageNet order; the first
/// synonym names the class), <c>info/train_filelist_google.txt</c> / <c>info/train_filelist_flickr.txt</c>
/// (<c>google/q0001/000000.jpg LABEL</c>, relative to the root) and <c>info/val_filelist.txt</c>
/// (<c>val000001.jpg LABEL</c>, in <c>val_images_256/</c> or <c>val_images/</c>). A class limit N keeps the samples
/// labelled 0..N-1 (the literature's "first 50 classes"). The second test set, the ImageNet validation images of the
/// same classes, is read by <see cref="OpenImageNetVal"/> from <c>ROOT/imagenet/val</c> (or <c>ROOT/imagenet_val</c>):
/// one folder per class named by its index (<c>0</c>, <c>1</c>, ...: the paper's code) or by its wnid (ImageNet's
/// own layout), or a <c>val.txt</c> of <c>file LABEL</c> lines. Only the first listed image is checked up front.
/// </summary>
internal static class WebVisionDataset
{
    internal const string FormatName = "webvision";
    internal const string FlickrFormatName = "webvision-all";
    internal const string ImageNetFormatName = "webvision-imagenet";

    internal static IImageDataset Open(string root, string split, int? classLimit, WebVisionSources sources)
    {
        var formatName = sources == WebVisionSources.Google ? FormatName : FlickrFormatName;
        var (wnids, classes) = ReadSynsets(root, formatName, classLimit);
        var builder = new FileListDataset.Builder();
        if (split == "train")
        {
            var lists = new List<string> { ListFiles.RequireFile(root, formatName, "the Google training list", Path.Combine("info", "train_filelist_google.txt")) };
            if (sources == WebVisionSources.GoogleAndFlickr)
                lists.Add(ListFiles.RequireFile(root, formatName, "the Flickr training list", Path.Combine("info", "train_filelist_flickr.txt")));
            foreach (var list in lists) AddList(builder, list, root, wnids.Count, classes.Length, null);
        }
        else
        {
            var list = ListFiles.RequireFile(root, formatName, "the validation list (the test split)", Path.Combine("info", "val_filelist.txt"));
            AddList(builder, list, root, wnids.Count, classes.Length, ["val_images_256", "val_images"]);
        }
        return builder.Build(classes, formatName, $"No listed image has a label below {classes.Length}.");
    }

    internal static IImageDataset OpenImageNetVal(string root, string split, int? classLimit)
    {
        if (split != "test")
            throw new DeftException($"{Setting.Format} {ImageNetFormatName} is a test set only (ImageNet validation images of WebVision's classes). Pass {Setting.Split} test; the training split is {Setting.Format} {FormatName}.");
        var (wnids, classes) = ReadSynsets(root, ImageNetFormatName, classLimit);
        var valDir = new[] { Path.Combine(root, "imagenet", "val"), Path.Combine(root, "imagenet_val") }.FirstOrDefault(Directory.Exists)
            ?? throw new DeftException(
                $"{root} has no ImageNet validation folder for {Setting.Format} {ImageNetFormatName}: looked for {Path.Combine(root, "imagenet", "val")} and " +
                $"{Path.Combine(root, "imagenet_val")}. Put (or symlink) the ILSVRC2012 validation images there, one folder per class.");

        var builder = new FileListDataset.Builder();
        var listFile = Path.Combine(valDir, "val.txt");
        if (File.Exists(listFile))
        {
            AddList(builder, listFile, valDir, wnids.Count, classes.Length, null);
            return builder.Build(classes, ImageNetFormatName, $"{listFile} lists no image with a label below {classes.Length}.");
        }
        for (var c = 0; c < classes.Length; c++)
        {
            var dir = new[] { Path.Combine(valDir, c.ToString(System.Globalization.CultureInfo.InvariantCulture)), Path.Combine(valDir, wnids[c]) }
                .FirstOrDefault(Directory.Exists)
                ?? throw new DeftException(
                    $"{valDir} has no folder for class {c} ({wnids[c]}, {classes[c]}): expected {Path.Combine(valDir, c.ToString(System.Globalization.CultureInfo.InvariantCulture))} " +
                    $"or {Path.Combine(valDir, wnids[c])}. Sort the validation images into one folder per class.");
            var files = Directory.EnumerateFiles(dir)
                .Where(f => ImageDecoder.Extensions.Contains(Path.GetExtension(f)) && !Path.GetFileName(f).StartsWith('.'))
                .Order(StringComparer.Ordinal).ToList();
            if (files.Count == 0) throw new DeftException($"Class folder {dir} holds no images. Restore its validation images.");
            foreach (var f in files) builder.Add(f, c, null, dir, 0);
        }
        return builder.Build(classes, ImageNetFormatName, "");
    }

    /// <summary>The wnids of all classes and the names of the first <paramref name="classLimit"/> (all when null).</summary>
    private static (List<string> Wnids, string[] Classes) ReadSynsets(string root, string formatName, int? classLimit)
    {
        var file = ListFiles.RequireFile(root, formatName, "the class list", Path.Combine("info", "synsets.txt"));
        var wnids = new List<string>();
        var names = new List<string>();
        foreach (var line in ListFiles.ReadLines(file))
        {
            ListFiles.ExpectFields(file, line, 2, "wnid followed by the class names", orMore: true);
            wnids.Add(line.Fields[0]);
            names.Add(line.Text[line.Fields[0].Length..].Split(',')[0].Trim());
        }
        if (wnids.Count == 0) throw new DeftException($"{file} lists no classes. Restore it from the WebVision info archive.");
        var limit = classLimit ?? wnids.Count;
        if (limit < 1 || limit > wnids.Count)
            throw new DeftException($"{Setting.ClassCount} {limit}: WebVision has {wnids.Count} classes ({file}); pass 1..{wnids.Count} (the literature uses 50).");
        var kept = Enumerable.Range(0, limit).ToList();
        return (wnids, ListFiles.Disambiguate([.. kept.Select(i => names[i])], [.. kept.Select(i => wnids[i])]));
    }

    private static void AddList(FileListDataset.Builder builder, string list, string root, int allClasses, int keptClasses, string[]? imageDirs)
    {
        string? imageDir = null;
        foreach (var line in ListFiles.ReadLines(list))
        {
            ListFiles.ExpectFields(list, line, 2, "relative image path, label");
            var label = ListFiles.ParseInt(list, line, line.Fields[1], "label", 0, allClasses - 1);
            if (label >= keptClasses) continue;
            if (imageDir is null)
            {
                var dirs = imageDirs is null ? [root] : imageDirs.Select(d => Path.Combine(root, d)).ToArray();
                imageDir = dirs.FirstOrDefault(d => File.Exists(Path.Combine(d, line.Fields[0])))
                    ?? throw new DeftException(
                        $"{list} line {line.Number}: image {line.Fields[0]} not found in {string.Join(" nor ", dirs)}. " +
                        $"Extract the image archives under the WebVision root and point {Setting.Data} at it.");
            }
            builder.Add(Path.Combine(imageDir, line.Fields[0]), label, null, list, line.Number);
        }
    }
}
