using System.Globalization;
using System.Text;

namespace Deft.Data;

/// <summary>
/// A CSV or TSV manifest: <c>path,label[,clean_label]</c> per line, further columns ignored with a warning. Tab-separated for <c>.tsv</c>/<c>.tab</c>,
/// comma-separated for <c>.csv</c>; other extensions: tab when the first line holds one, else comma. Fields may be
/// double-quoted ("" inside quotes is a quote). Blank lines and lines starting with '#' are ignored. The first line is
/// a header, and skipped, when its first field is a column name such as <c>path</c>/<c>file</c>/<c>image</c> or its
/// second is <c>label</c>/<c>class</c>/<c>target</c>. Relative paths are relative to the manifest's directory.
/// With a header, the clean label is the first column after the label named like one (<c>clean_label</c>,
/// <c>true_label</c>, ...; <see cref="CleanHeaders"/>) and every other column is extra; without one, the third column
/// is the clean label and the fourth onwards are extra. Lines may have fewer columns than the widest (the header, or
/// else the first line) but not more.
/// <para>
/// Labels: with a class list, a label is a class name, or else an id 0..K-1. Without one, either every label is an id
/// (K = largest id + 1, names "0".."K-1") or every label is a name (classes = the sorted distinct names of both
/// label columns); a mix is an error. The optional third column is the clean label (<see cref="GetCleanLabel"/>),
/// read the same way; an empty cell means unknown.
/// </para>
/// A manifest is one split: <c>--split</c> does not change what is read (write one manifest per split).
/// </summary>
internal sealed class ManifestDataset : IImageDataset
{
    private static readonly HashSet<string> PathHeaders = new(StringComparer.OrdinalIgnoreCase)
        { "path", "file", "filename", "file_name", "filepath", "file_path", "image", "image_path", "img", "img_path" };
    private static readonly HashSet<string> LabelHeaders = new(StringComparer.OrdinalIgnoreCase)
        { "label", "labels", "class", "class_name", "target", "noisy_label", "given_label", "y" };

    /// <summary>Header names of the clean-label column.</summary>
    internal static readonly HashSet<string> CleanHeaders = new(StringComparer.OrdinalIgnoreCase)
        { "clean_label", "clean", "clean_class", "true_label", "true", "true_class", "truth", "ground_truth", "gt", "label_clean", "y_true" };

    private readonly string _manifest;
    private readonly Row[] _rows;
    private readonly int[] _labels;
    private readonly int?[] _cleanLabels;

    private sealed record Row(int Line, string Path, string Label, string? Clean);

    private ManifestDataset(string manifest, Row[] rows, int[] labels, int?[] cleanLabels, IReadOnlyList<string> classes)
    {
        _manifest = manifest;
        _rows = rows;
        _labels = labels;
        _cleanLabels = cleanLabels;
        Classes = classes;
    }

    public int Count => _rows.Length;
    public IReadOnlyList<string> Classes { get; }
    public int GetLabel(int index) => _labels[index];
    public int? GetCleanLabel(int index) => _cleanLabels[index];
    public string GetSource(int index) => _rows[index].Path;

    public RgbImage GetImage(int index)
    {
        try
        {
            return ImageDecoder.Decode(_rows[index].Path);
        }
        catch (DeftException ex)
        {
            throw new DeftException($"{ex} (listed in {_manifest} line {_rows[index].Line})", ex);
        }
    }

    internal static ManifestDataset Open(string manifest, IReadOnlyList<string>? classes, bool tolerateMissingFiles, Action<string>? warn = null)
    {
        var baseDir = System.IO.Path.GetDirectoryName(manifest)!;
        var lines = Deft.IO.StrictText.ReadAllLines(manifest);
        var delimiter = DelimiterFor(manifest, lines);
        var delimiterName = delimiter == '\t' ? "tab" : "comma";

        var rows = new List<Row>();
        var lineOfPath = new Dictionary<string, int>(StringComparer.Ordinal);
        var first = true;
        var width = 3;
        var cleanColumn = 2;
        var columnNames = new List<string>();
        var extraFrom = 0; // the first line with an extra column, for the warning
        for (var i = 0; i < lines.Length; i++)
        {
            var lineNo = i + 1;
            var text = lines[i];
            if (string.IsNullOrWhiteSpace(text) || text.TrimStart().StartsWith('#')) continue;
            var fields = SplitFields(text, delimiter)
                ?? throw new DeftException($"{manifest} line {lineNo}: a quoted field is not closed. Close the quote (\"...\").");
            if (first)
            {
                first = false;
                if (PathHeaders.Contains(fields[0].Trim()) || (fields.Count > 1 && LabelHeaders.Contains(fields[1].Trim())))
                {
                    columnNames = [.. fields.Select(f => f.Trim())];
                    width = Math.Max(2, fields.Count);
                    cleanColumn = columnNames.Count > 2 ? columnNames.FindIndex(2, n => CleanHeaders.Contains(n)) : -1;
                    continue;
                }
                width = Math.Max(3, fields.Count);
            }
            if (fields.Count < 2 || fields.Count > width)
                throw new DeftException(
                    $"{manifest} line {lineNo}: expected {(width <= 3 ? "2 or 3" : $"2 to {width}")} {delimiterName}-separated fields (path, label[, clean_label]{(width > 3 ? ", ..." : "")}), found {fields.Count}. " +
                    "Fix the line; quote paths that contain the separator.");
            if (extraFrom == 0 && Enumerable.Range(2, Math.Max(0, fields.Count - 2)).Any(c => c != cleanColumn)) extraFrom = lineNo;
            var path = fields[0].Trim();
            var label = fields[1].Trim();
            var clean = cleanColumn >= 0 && fields.Count > cleanColumn && fields[cleanColumn].Trim().Length > 0 ? fields[cleanColumn].Trim() : null;
            if (path.Length == 0)
                throw new DeftException($"{manifest} line {lineNo}: the path field is empty. Fill it in or delete the line.");
            if (label.Length == 0)
                throw new DeftException($"{manifest} line {lineNo}: the label field is empty. Fill it in or delete the line.");
            Deft.IO.StrictText.CheckField(path, manifest, lineNo, "path");
            Deft.IO.StrictText.CheckField(label, manifest, lineNo, "label");
            if (clean is not null) Deft.IO.StrictText.CheckField(clean, manifest, lineNo, "clean label");
            var full = System.IO.Path.GetFullPath(System.IO.Path.Combine(baseDir, path));
            if (lineOfPath.TryGetValue(full, out var earlier))
                throw new DeftException($"{manifest} line {lineNo}: {TextClip.Clip(path, 120)} is listed twice (lines {earlier} and {lineNo}). " +
                    "List each image once; one image cannot carry two labels.");
            lineOfPath[full] = lineNo;
            if (!tolerateMissingFiles && !File.Exists(full))
                throw new DeftException(
                    $"{manifest} line {lineNo}: image file not found: {full}. Fix the path (relative paths start at the manifest's folder), " +
                    $"or pass {Setting.OnBadImage} skip to leave missing images out.");
            rows.Add(new Row(lineNo, full, label, clean));
        }
        if (rows.Count == 0)
            throw new DeftException($"{manifest} lists no images. Write one 'path{(delimiter == '\t' ? "\\t" : ",")}label' line per image.");
        if (extraFrom > 0 && warn is not null) warn(ExtraColumnsWarning(manifest, columnNames, width, cleanColumn, extraFrom));

        var names = classes ?? InferClasses(manifest, rows);
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var c = 0; c < names.Count; c++) index[names[c]] = c;
        var labels = new int[rows.Count];
        var cleanLabels = new int?[rows.Count];
        for (var r = 0; r < rows.Count; r++)
        {
            labels[r] = Resolve(manifest, rows[r].Line, rows[r].Label, "label", names, index, classes is not null);
            if (rows[r].Clean is { } clean)
                cleanLabels[r] = Resolve(manifest, rows[r].Line, clean, "clean label", names, index, classes is not null);
        }
        return new ManifestDataset(manifest, [.. rows], labels, cleanLabels, names);
    }

    /// <summary>Which columns are ignored, by header name where there is one.</summary>
    private static string ExtraColumnsWarning(string manifest, List<string> header, int width, int cleanColumn, int firstLine)
    {
        var used = cleanColumn < 0 ? new[] { 0, 1 } : [0, 1, cleanColumn];
        var ignored = Enumerable.Range(0, width).Where(c => !used.Contains(c))
            .Select(c => c < header.Count && header[c].Length > 0 ? $"'{TextClip.Clip(header[c], 40)}'" : (c + 1).ToString(CultureInfo.InvariantCulture)).ToList();
        var meaning = header.Count > 0
            ? $"path, label{(cleanColumn >= 0 ? $", clean label ('{header[cleanColumn]}')" : "")} are read"
            : "path, label, clean_label are read";
        return $"{manifest}: ignoring {(ignored.Count == 1 ? "column" : "columns")} {string.Join(", ", ignored)} (from line {firstLine}); {meaning}. " +
            $"A clean-label column is recognised by its header ({string.Join(", ", CleanHeaders.Take(4))}, ...).";
    }

    private static IReadOnlyList<string> InferClasses(string manifest, List<Row> rows)
    {
        var values = rows.SelectMany(r => r.Clean is null ? new[] { (r.Line, Text: r.Label) } : [(r.Line, r.Label), (r.Line, r.Clean)]).ToList();
        var firstId = values.FirstOrDefault(v => IsId(v.Text));
        var firstName = values.FirstOrDefault(v => !IsId(v.Text));
        if (firstId.Text is not null && firstName.Text is not null)
            throw new DeftException(
                $"{manifest} mixes class ids and class names (line {firstId.Line} has '{TextClip.Clip(firstId.Text, 60)}', line {firstName.Line} has '{TextClip.Clip(firstName.Text, 60)}'). " +
                $"Use one kind throughout, or pass {Setting.ClassesFile} FILE so names and ids can be matched.");
        if (firstName.Text is not null)
            return [.. values.Select(v => v.Text).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)];
        var max = values.Max(v => long.Parse(v.Text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture));
        var negative = values.FirstOrDefault(v => v.Text.StartsWith('-'));
        if (negative.Text is not null)
            throw new DeftException($"{manifest} line {negative.Line}: label id {negative.Text} is out of range; ids start at 0.");
        if (max >= 1_000_000)
        {
            var at = values.First(v => long.Parse(v.Text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture) == max);
            throw new DeftException($"{manifest} line {at.Line}: label id {at.Text} is out of range (the class count is inferred as largest id + 1). Fix the label or pass {Setting.ClassesFile} FILE.");
        }
        return [.. Enumerable.Range(0, (int)max + 1).Select(i => i.ToString(CultureInfo.InvariantCulture))];
    }

    private static bool IsId(string text) =>
        long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out _);

    private static int Resolve(string manifest, int line, string text, string what, IReadOnlyList<string> names,
        Dictionary<string, int> index, bool explicitClasses)
    {
        if (index.TryGetValue(text, out var id)) return id;
        if (IsId(text))
        {
            var value = long.Parse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
            if (value >= 0 && value < names.Count) return (int)value;
            throw new DeftException(
                $"{manifest} line {line}: {what} id {text} is out of range 0..{names.Count - 1} ({names.Count} classes). Fix the label" +
                (explicitClasses ? " or the class-name list." : "."));
        }
        var shown = string.Join(", ", names.Take(20)) + (names.Count > 20 ? $", ... ({names.Count} in all)" : "");
        throw new DeftException(
            $"{manifest} line {line}: unknown {what} '{TextClip.Clip(text, 60)}'. Valid class names: {shown}." +
            (explicitClasses ? " Fix the label or add the class to the class-name list." : ""));
    }

    private static char DelimiterFor(string manifest, string[] lines)
    {
        var ext = System.IO.Path.GetExtension(manifest).ToLowerInvariant();
        if (ext is ".tsv" or ".tab") return '\t';
        if (ext == ".csv") return ',';
        var firstLine = lines.FirstOrDefault(l => !string.IsNullOrWhiteSpace(l) && !l.TrimStart().StartsWith('#')) ?? "";
        return firstLine.Contains('\t') ? '\t' : ',';
    }

    /// <summary>Splits one line; null when a quoted field is left open.</summary>
    internal static List<string>? SplitFields(string line, char delimiter)
    {
        var fields = new List<string>();
        var field = new StringBuilder();
        var inQuotes = false;
        var wasQuoted = false;
        for (var i = 0; i < line.Length; i++)
        {
            var ch = line[i];
            if (inQuotes)
            {
                if (ch == '"')
                {
                    if (i + 1 < line.Length && line[i + 1] == '"') { field.Append('"'); i++; }
                    else inQuotes = false;
                }
                else field.Append(ch);
            }
            else if (ch == '"' && field.ToString().Trim().Length == 0 && !wasQuoted)
            {
                field.Clear();
                inQuotes = true;
                wasQuoted = true;
            }
            else if (ch == delimiter)
            {
                fields.Add(field.ToString());
                field.Clear();
                wasQuoted = false;
            }
            else field.Append(ch);
        }
        if (inQuotes) return null;
        fields.Add(field.ToString());
        return fields;
    }
}
