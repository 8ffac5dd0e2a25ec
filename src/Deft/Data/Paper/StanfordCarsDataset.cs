using System.Globalization;

namespace Deft.Data.Paper;

/// <summary>
/// Stanford Cars, in either of the layouts it circulates in (the path may be the folder itself or its parent
/// holding <c>stanford_cars/</c>, torchvision's layout):
/// <list type="bullet">
/// <item>The devkit: <c>cars_meta.mat</c> (<c>class_names</c>, a 1×196 cell of strings),
/// <c>cars_train_annos.mat</c> and <c>cars_test_annos_withlabels.mat</c> (struct arrays <c>annotations</c> with fields
/// <c>bbox_x1 bbox_y1 bbox_x2 bbox_y2 class fname</c>, classes from 1), in the root or in <c>devkit/</c>.</item>
/// <item>The common CSV re-distribution: <c>names.csv</c> (one class name per line) with <c>anno_train.csv</c> /
/// <c>anno_test.csv</c> (<c>fname,x1,y1,x2,y2,class</c>, classes from 1; a header line is skipped).</item>
/// </list>
/// Images are looked up by file name in the first of <c>cars_SPLIT/</c>, <c>cars_SPLIT/cars_SPLIT/</c>,
/// <c>car_data/car_data/SPLIT/</c>, <c>car_data/SPLIT/</c>, <c>SPLIT/</c> that exists, including its class sub-folders.
/// Samples follow the annotation order.
/// </summary>
internal static class StanfordCarsDataset
{
    internal const string FormatName = "stanford-cars";

    internal static IImageDataset Open(string path, string split)
    {
        var root = LooksLikeCarsRoot(path) || !Directory.Exists(Path.Combine(path, "stanford_cars")) ? path : Path.Combine(path, "stanford_cars");
        var meta = ListFiles.FindFile(root, "cars_meta.mat", Path.Combine("devkit", "cars_meta.mat"));
        var names = ListFiles.FindFile(root, "names.csv");
        if (meta is null && names is null)
            throw new DeftException(
                $"{root} holds neither the devkit's cars_meta.mat (in the root or devkit/) nor a names.csv, for {Setting.Format} {FormatName}. " +
                $"Point {Setting.Data} at the Stanford Cars root (see docs/reproduce.md for the layouts).");

        IReadOnlyList<string> classes;
        List<(string File, int Label, string Where, string Origin, int Line)> rows;
        if (meta is not null)
        {
            classes = ReadMeta(meta);
            var annos = split == "train"
                ? ListFiles.RequireFile(root, FormatName, "the training annotations", "cars_train_annos.mat", Path.Combine("devkit", "cars_train_annos.mat"))
                : ListFiles.FindFile(root, "cars_test_annos_withlabels.mat", Path.Combine("devkit", "cars_test_annos_withlabels.mat"))
                  ?? throw new DeftException(
                      $"{root} lacks cars_test_annos_withlabels.mat (in the root or devkit/). The devkit's cars_test_annos.mat has no labels; " +
                      "the labelled file is distributed separately with the data set. Put it beside cars_meta.mat.");
            rows = ReadMatAnnotations(annos, classes.Count);
        }
        else
        {
            classes = ReadNames(names!);
            var annos = ListFiles.RequireFile(root, FormatName, $"the {split} annotations", $"anno_{split}.csv");
            rows = ReadCsvAnnotations(annos, classes.Count);
        }

        var images = ImageIndex(root, split);
        var builder = new FileListDataset.Builder();
        foreach (var row in rows)
        {
            if (!images.TryGetValue(row.File, out var image))
                throw new DeftException($"{row.Origin} {row.Where}: image {row.File} not found under {images.Root}. Restore the {split} images.");
            builder.Add(image, row.Label, null, row.Origin, row.Line);
        }
        return builder.Build(ListFiles.Disambiguate(classes, [.. Enumerable.Range(1, classes.Count).Select(i => i.ToString(CultureInfo.InvariantCulture))]),
            FormatName, "The annotation file lists no image.");
    }

    private static bool LooksLikeCarsRoot(string path) =>
        new[] { "cars_meta.mat", Path.Combine("devkit", "cars_meta.mat"), "names.csv" }.Any(f => File.Exists(Path.Combine(path, f)));

    private static IReadOnlyList<string> ReadMeta(string file)
    {
        var vars = MatFile.Read(file);
        if (!vars.TryGetValue("class_names", out var value) || value is not MatCell cell)
            throw new DeftException($"{file} has no 'class_names' cell array (variables: {string.Join(", ", vars.Keys)}). Restore the devkit's cars_meta.mat.");
        var names = new string[cell.Items.Length];
        for (var i = 0; i < names.Length; i++)
            names[i] = cell.Items[i] is MatChar c && c.Text.Trim().Length > 0 ? c.Text.Trim()
                : throw new DeftException($"{file}: class_names{{{i + 1}}} is not a non-empty string. Restore the devkit's cars_meta.mat.");
        if (names.Length == 0) throw new DeftException($"{file}: class_names is empty. Restore the devkit's cars_meta.mat.");
        return names;
    }

    private static List<(string, int, string, string, int)> ReadMatAnnotations(string file, int classCount)
    {
        var vars = MatFile.Read(file);
        if (!vars.TryGetValue("annotations", out var value) || value is not MatStruct annotations)
            throw new DeftException($"{file} has no 'annotations' struct array (variables: {string.Join(", ", vars.Keys)}). Restore the devkit file.");
        if (!annotations.FieldNames.Contains("fname"))
            throw new DeftException($"{file}: 'annotations' has no fname field (fields: {string.Join(", ", annotations.FieldNames)}). Restore the devkit file.");
        if (!annotations.FieldNames.Contains("class"))
            throw new DeftException(
                $"{file}: 'annotations' has no class field, so it carries no labels. For the test split use cars_test_annos_withlabels.mat, " +
                "distributed separately from the devkit.");
        var rows = new List<(string, int, string, string, int)>();
        for (var i = 0; i < annotations.Elements.Length; i++)
        {
            var where = $"annotations({i + 1})";
            var element = annotations.Elements[i];
            var fname = element["fname"] is MatChar c && c.Text.Trim().Length > 0 ? Path.GetFileName(c.Text.Trim())
                : throw new DeftException($"{file} {where}: fname is not a file name. Restore the file.");
            var label = element["class"] is MatNumeric n && n.Values.Length == 1 ? n.Values[0] : double.NaN;
            if (double.IsNaN(label) || label != Math.Floor(label) || label < 1 || label > classCount)
                throw new DeftException($"{file} {where}: class must be one integer in 1..{classCount}. Restore the file.");
            rows.Add((fname, (int)label - 1, where, file, 0));
        }
        return rows;
    }

    private static IReadOnlyList<string> ReadNames(string file)
    {
        var names = new List<string>();
        foreach (var raw in File.ReadLines(file))
        {
            var name = raw.Trim().Trim('"');
            if (name.Length > 0) names.Add(name);
        }
        if (names.Count == 0) throw new DeftException($"{file} names no class. Write one class name per line, in class-id order.");
        return names;
    }

    private static List<(string, int, string, string, int)> ReadCsvAnnotations(string file, int classCount)
    {
        var rows = new List<(string, int, string, string, int)>();
        var lineNo = 0;
        var first = true;
        foreach (var raw in File.ReadLines(file))
        {
            lineNo++;
            if (raw.Trim().Length == 0) continue;
            var fields = raw.Split(',').Select(f => f.Trim().Trim('"')).ToArray();
            var isHeader = first && (fields.Length < 6 || !int.TryParse(fields[5], NumberStyles.None, CultureInfo.InvariantCulture, out _));
            first = false;
            if (isHeader && fields.Length >= 2) continue;
            var line = new ListLine(lineNo, fields, raw.Trim());
            if (fields.Length != 6)
                throw new DeftException($"{file} line {lineNo}: expected 6 comma-separated fields (fname,x1,y1,x2,y2,class), found {fields.Length}: '{ListFiles.Shorten(raw.Trim())}'. Fix or delete the line.");
            if (fields[0].Length == 0) throw new DeftException($"{file} line {lineNo}: the file name is empty. Fix or delete the line.");
            var label = ListFiles.ParseInt(file, line, fields[5], "class", 1, classCount);
            rows.Add((Path.GetFileName(fields[0]), label - 1, $"line {lineNo}", file, lineNo));
        }
        return rows;
    }

    private sealed class Index(string root, Dictionary<string, string> files)
    {
        public string Root => root;
        public bool TryGetValue(string name, out string path) => files.TryGetValue(name, out path!);
    }

    private static Index ImageIndex(string root, string split)
    {
        var candidates = new[]
        {
            $"cars_{split}", Path.Combine($"cars_{split}", $"cars_{split}"), Path.Combine("car_data", "car_data", split), Path.Combine("car_data", split), split,
        }.Select(c => Path.Combine(root, c)).ToList();
        var dir = candidates.FirstOrDefault(Directory.Exists)
            ?? throw new DeftException($"{root} has no {split} image folder: looked for {string.Join(", ", candidates)}. Extract the {split} images there.");
        var files = new Dictionary<string, string>(StringComparer.Ordinal);
        var options = new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = FileAttributes.Hidden | FileAttributes.System };
        foreach (var f in Directory.EnumerateFiles(dir, "*", options).Where(f => ImageDecoder.Extensions.Contains(Path.GetExtension(f))).Order(StringComparer.Ordinal))
        {
            if (!files.TryAdd(Path.GetFileName(f), f))
                throw new DeftException($"{dir} holds two images named {Path.GetFileName(f)} ({files[Path.GetFileName(f)]} and {f}); annotations name images by file name only. Remove the duplicate.");
        }
        return new Index(dir, files);
    }
}
