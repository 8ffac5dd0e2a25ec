using System.Globalization;
using System.Text;
using Deft.IO;

namespace Deft.Noise;

/// <summary>One row of a label file: the label given to sample <see cref="Index"/>, and its true label when the file has one.</summary>
public readonly record struct LabelRow(int Index, int Label, int? TrueLabel);

/// <summary>
/// Label files: what <c>deft noise</c> writes and what <c>--labels</c> / <c>--mode file</c> read.
/// <list type="bullet">
/// <item>CSV: <c>index,label[,true_label]</c>, the header optional; rows may cover a subset of the samples, in any
/// order; an empty true_label field means unknown; blank lines are skipped.</item>
/// <item>CSV by path: <c>path,label[,true_label]</c>, the header optional (a first field that is not an integer starts
/// the path form); a path is absolute or relative to the data root and must name one of the data set's samples
/// (<see cref="SamplePaths"/>); paths may be double-quoted.</item>
/// <item>One label per line: line n (1-based, blank lines at the end ignored) is the label of sample n−1.</item>
/// </list>
/// Labels are class ids, or class names when the caller passes the class list. Fields are not quoted, so a class
/// name used in a CSV cannot contain a comma. Lines may end in LF or CRLF; a UTF-8 BOM is ignored.
/// </summary>
public static class LabelFile
{
    public const string Header = "index,label,true_label";

    /// <summary>Writes one row per sample, atomically: header <see cref="Header"/>, then <c>i,labels[i],trueLabels[i]</c>.</summary>
    public static void Write(string path, IReadOnlyList<int> labels, IReadOnlyList<int>? trueLabels = null) =>
        Write(path, null, labels, trueLabels);

    /// <summary>
    /// Writes the labels of a subset: row k is <c>indices[k],labels[k],trueLabels[k]</c> (data-set indices; with
    /// <paramref name="indices"/> null, row k is sample k).
    /// </summary>
    public static void Write(string path, IReadOnlyList<int>? indices, IReadOnlyList<int> labels, IReadOnlyList<int>? trueLabels = null)
    {
        if (trueLabels is not null && trueLabels.Count != labels.Count)
            throw new ArgumentException($"{labels.Count} labels but {trueLabels.Count} true labels.", nameof(trueLabels));
        if (indices is not null && indices.Count != labels.Count)
            throw new ArgumentException($"{labels.Count} labels but {indices.Count} indices.", nameof(indices));
        var text = new StringBuilder(labels.Count * 12 + Header.Length + 1);
        text.Append(Header).Append('\n');
        for (var i = 0; i < labels.Count; i++)
        {
            text.Append((indices?[i] ?? i).ToString(CultureInfo.InvariantCulture)).Append(',')
                .Append(labels[i].ToString(CultureInfo.InvariantCulture)).Append(',');
            if (trueLabels is not null) text.Append(trueLabels[i].ToString(CultureInfo.InvariantCulture));
            text.Append('\n');
        }
        AtomicFile.WriteAllText(path, text.ToString());
    }

    /// <summary>
    /// Reads a label file for a data set of <paramref name="datasetCount"/> samples and <paramref name="classCount"/>
    /// classes. Rows come back in file order. Errors (<see cref="DeftException"/>) name <c>file:line</c>: malformed
    /// lines, indices that are not integers, outside 0..N−1 or repeated, labels outside 0..C−1 or unknown names.
    /// </summary>
    /// <param name="classNames">When given, a label that is not an integer is looked up by class name (exact match first, then ignoring case).</param>
    /// <param name="samplePaths">Resolves the path form's paths to indices; null: only the index form is accepted.</param>
    public static IReadOnlyList<LabelRow> Read(string path, int datasetCount, int classCount, IReadOnlyList<string>? classNames = null,
        SamplePaths? samplePaths = null)
    {
        if (!File.Exists(path)) throw new DeftException($"Label file '{path}' does not exist.");
        if (classNames is not null && classNames.Count != classCount)
            throw new ArgumentException($"{classNames.Count} class names for {classCount} classes.", nameof(classNames));
        var lines = StrictText.ReadAllLines(path);
        var last = lines.Length;
        while (last > 0 && string.IsNullOrWhiteSpace(lines[last - 1])) last--;
        var first = 0;
        while (first < last && string.IsNullOrWhiteSpace(lines[first])) first++;
        if (first == last) throw new DeftException($"{path}: the label file is empty.");
        var parser = new LabelParser(path, classCount, classNames);
        if (!lines[first].Contains(',') && lines[first].Contains(';'))
            throw new DeftException($"{path}:{first + 1}: the file looks ';'-separated ('{TextClip.Clip(lines[first].Trim(), 60)}'). " +
                "Deft's label files are comma-separated: 'index,label[,true_label]' per line (or one label per line).");
        if (!lines[first].Contains(',') && lines[first].Contains('\t'))
            throw new DeftException($"{path}:{first + 1}: the file looks tab-separated ('{TextClip.Clip(lines[first].Trim(), 60)}'). " +
                "Deft's label files are comma-separated: 'index,label[,true_label]' per line (or one label per line).");
        if (lines[first].Contains(',') && StartsPathForm(lines[first]))
            return ReadByPath(path, lines, first, last, parser, samplePaths);
        return lines[first].Contains(',')
            ? ReadCsv(path, lines, first, last, datasetCount, parser)
            : ReadOnePerLine(path, lines, first, last, datasetCount, parser);
    }

    /// <summary>Throws naming the first sample the rows do not cover (for callers that need every sample labelled).</summary>
    public static void RequireComplete(IReadOnlyList<LabelRow> rows, int datasetCount, string path)
    {
        var seen = new bool[datasetCount];
        foreach (var row in rows) seen[row.Index] = true;
        var missing = Array.IndexOf(seen, false);
        if (missing >= 0)
        {
            var count = seen.Count(s => !s);
            throw new DeftException(
                $"{path}: {count} of {datasetCount} samples have no label, the first being index {missing}. " +
                "This command needs a label for every sample.");
        }
    }

    private static List<LabelRow> ReadCsv(string path, string[] lines, int first, int last, int datasetCount, LabelParser parser)
    {
        var rows = new List<LabelRow>();
        var firstLineOfIndex = new Dictionary<int, int>();
        var start = first;
        var headerFields = Split(lines[first]);
        var columns = 3;
        if (!int.TryParse(headerFields[0], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out _))
        {
            var header = string.Join(",", headerFields).ToLowerInvariant();
            if (header is not ("index,label" or "index,label,true_label"))
                throw new DeftException(
                    $"{path}:{first + 1}: unexpected header '{TextClip.Clip(lines[first].Trim(), 80)}'. Expected 'index,label' or '{Header}' (or no header), or 'path,label[,true_label]' to name samples by path.");
            columns = headerFields.Length;
            start = first + 1;
        }
        for (var i = start; i < last; i++)
        {
            if (string.IsNullOrWhiteSpace(lines[i])) continue; // rows carry their index, so blank lines mean nothing
            var lineNo = i + 1;
            var fields = Split(lines[i]);
            if (fields.Length < 2 || fields.Length > columns)
                throw new DeftException(
                    $"{path}:{lineNo}: expected {(columns == 2 ? "2 fields 'index,label'" : "2 or 3 fields 'index,label[,true_label]'")}, got {fields.Length}: '{TextClip.Clip(lines[i].Trim(), 80)}'.");
            if (!int.TryParse(fields[0], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var index))
                throw new DeftException($"{path}:{lineNo}: index '{TextClip.Clip(fields[0], 40)}' is not an integer.");
            if (index < 0 || index >= datasetCount)
                throw new DeftException($"{path}:{lineNo}: index {index} is outside the data set (0..{datasetCount - 1}, {datasetCount} samples).");
            if (firstLineOfIndex.TryGetValue(index, out var earlier))
                throw new DeftException($"{path}:{lineNo}: index {index} appears twice (first on line {earlier}).");
            firstLineOfIndex[index] = lineNo;
            var label = parser.Parse(fields[1], lineNo, "label");
            int? trueLabel = fields.Length == 3 && fields[2].Length > 0 ? parser.Parse(fields[2], lineNo, "true_label") : null;
            rows.Add(new LabelRow(index, label, trueLabel));
        }
        return rows;
    }

    /// <summary>Headers of the path form (the first field), as the csv manifest names its path column.</summary>
    private static readonly HashSet<string> PathHeaders = new(StringComparer.OrdinalIgnoreCase)
        { "path", "file", "filename", "file_name", "filepath", "file_path", "image", "image_path", "source" };

    /// <summary>
    /// The path form: a path header, or a first field that looks like a path (a separator, an extension or a
    /// container's '#'). Any other first field is the index form's (an index, or its header, checked there).
    /// </summary>
    /// <summary>Whether the label file names its samples by path (then skipped images do not shift its rows).</summary>
    public static bool IsKeyedByPath(string path)
    {
        var line = File.ReadLines(path).FirstOrDefault(l => !string.IsNullOrWhiteSpace(l));
        return line is not null && line.Contains(',') && StartsPathForm(line);
    }

    private static bool StartsPathForm(string line)
    {
        var first = (Deft.Data.ManifestDataset.SplitFields(line, ',') ?? [line])[0].Trim();
        if (PathHeaders.Contains(first)) return true;
        return !double.TryParse(first, NumberStyles.Float, CultureInfo.InvariantCulture, out _)
            && first.IndexOfAny(['/', '\\', '.', '#']) >= 0;
    }

    private static List<LabelRow> ReadByPath(string path, string[] lines, int first, int last, LabelParser parser, SamplePaths? samples)
    {
        if (samples is null)
            throw new DeftException($"{path}:{first + 1}: this label file names samples by path ('{TextClip.Clip(lines[first].Trim(), 60)}'), " +
                "which this command cannot match to its data; write 'index,label[,true_label]' rows instead.");
        var rows = new List<LabelRow>();
        var firstLineOfIndex = new Dictionary<int, int>();
        var start = first;
        var headerFields = Deft.Data.ManifestDataset.SplitFields(lines[first], ',') ?? [];
        var columns = 3;
        if (headerFields.Count > 0 && PathHeaders.Contains(headerFields[0].Trim()))
        {
            var rest = string.Join(",", headerFields.Skip(1).Select(f => f.Trim())).ToLowerInvariant();
            if (rest is not ("label" or "label,true_label"))
                throw new DeftException(
                    $"{path}:{first + 1}: unexpected header '{TextClip.Clip(lines[first].Trim(), 80)}'. Expected '{headerFields[0].Trim()},label' or '{headerFields[0].Trim()},label,true_label' (or no header).");
            columns = headerFields.Count;
            start = first + 1;
        }
        for (var i = start; i < last; i++)
        {
            if (string.IsNullOrWhiteSpace(lines[i])) continue;
            var lineNo = i + 1;
            var fields = Deft.Data.ManifestDataset.SplitFields(lines[i], ',')
                ?? throw new DeftException($"{path}:{lineNo}: a quoted field is not closed. Close the quote (\"...\").");
            if (fields.Count < 2 || fields.Count > columns)
                throw new DeftException(
                    $"{path}:{lineNo}: expected {(columns == 2 ? "2 fields 'path,label'" : "2 or 3 fields 'path,label[,true_label]'")}, got {fields.Count}: '{TextClip.Clip(lines[i].Trim(), 80)}'.");
            var samplePath = fields[0].Trim();
            if (samplePath.Length == 0) throw new DeftException($"{path}:{lineNo}: the path is empty.");
            StrictText.CheckField(samplePath, path, lineNo, "path");
            var found = samples.Find(samplePath, out var ambiguous);
            if (ambiguous is { } two)
                throw new DeftException($"{path}:{lineNo}: '{TextClip.Clip(samplePath, 120)}' ends the paths of several samples ({two.First}, {two.Second}); " +
                    $"give it relative to the data root ({samples.Root}) or absolute.");
            if (found is not { } index)
                throw new DeftException($"{path}:{lineNo}: '{TextClip.Clip(samplePath, 120)}' is not a sample of the data set " +
                    $"(paths are absolute or relative to the data root, {samples.Root}).");
            if (firstLineOfIndex.TryGetValue(index, out var earlier))
                throw new DeftException($"{path}:{lineNo}: '{TextClip.Clip(samplePath, 120)}' names the same sample as line {earlier}.");
            firstLineOfIndex[index] = lineNo;
            var label = parser.Parse(fields[1].Trim(), lineNo, "label");
            int? trueLabel = fields.Count == 3 && fields[2].Trim().Length > 0 ? parser.Parse(fields[2].Trim(), lineNo, "true_label") : null;
            rows.Add(new LabelRow(index, label, trueLabel));
        }
        return rows;
    }

    private static List<LabelRow> ReadOnePerLine(string path, string[] lines, int first, int last, int datasetCount, LabelParser parser)
    {
        if (first > 0)
            throw new DeftException($"{path}:1: empty line; a one-label-per-line file gives sample n−1's label on line n, so blank lines are not allowed.");
        if (last > datasetCount)
            throw new DeftException($"{path}:{datasetCount + 1}: the file has {last} labels but the data set has {datasetCount} samples.");
        var rows = new List<LabelRow>(last);
        for (var i = 0; i < last; i++)
        {
            var field = lines[i].Trim();
            if (field.Length == 0)
                throw new DeftException($"{path}:{i + 1}: empty line; a one-label-per-line file gives sample n−1's label on line n, so blank lines are not allowed.");
            rows.Add(new LabelRow(i, parser.Parse(field, i + 1, "label"), null));
        }
        return rows;
    }

    private static string[] Split(string line) => line.Split(',').Select(f => f.Trim()).ToArray();

    private sealed class LabelParser(string path, int classCount, IReadOnlyList<string>? classNames)
    {
        private readonly Dictionary<string, int>? _exact = classNames?
            .Select((name, id) => (name, id)).GroupBy(x => x.name, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.First().id, StringComparer.Ordinal);
        private readonly Dictionary<string, int>? _ignoreCase = classNames?
            .Select((name, id) => (name, id)).GroupBy(x => x.name, StringComparer.OrdinalIgnoreCase)
            .ToDictionary(g => g.Key, g => g.First().id, StringComparer.OrdinalIgnoreCase);

        public int Parse(string field, int lineNo, string what)
        {
            if (int.TryParse(field, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var id))
            {
                if (id < 0 || id >= classCount)
                    throw new DeftException($"{path}:{lineNo}: {what} {id} is outside the class ids 0..{classCount - 1}.");
                return id;
            }
            if (field.Length == 0)
                throw new DeftException($"{path}:{lineNo}: {what} is empty.");
            StrictText.CheckField(field, path, lineNo, what);
            if (_exact is null || _ignoreCase is null)
                throw new DeftException($"{path}:{lineNo}: {what} '{TextClip.Clip(field, 60)}' is not a class id (an integer 0..{classCount - 1}).");
            if (_exact.TryGetValue(field, out id) || _ignoreCase.TryGetValue(field, out id))
                return id;
            var some = string.Join(", ", classNames!.Take(10)) + (classNames!.Count > 10 ? ", ..." : "");
            throw new DeftException($"{path}:{lineNo}: {what} '{TextClip.Clip(field, 60)}' is neither a class id (0..{classCount - 1}) nor a class name ({some}).");
        }
    }
}
