using System.Globalization;
using System.Text;
using Deft.Data;

namespace Deft.Adaptation;

/// <summary>One row of a detector's samples.csv.</summary>
/// <param name="Index">The data set index the row describes.</param>
/// <param name="Source">Where the sample came from (<see cref="IImageDataset.GetSource"/> when the detector ran).</param>
/// <param name="GivenLabel">The (possibly noisy) label the detector saw; phase 2 trains on it.</param>
/// <param name="IsLabelIssue">True when the detector flagged the label; false means selected as clean.</param>
/// <param name="Line">The 1-based line of the row in the file, for messages.</param>
/// <param name="SuggestedLabel">The detector's most probable true class (<c>suggested_label</c>); null when the file has no such column or the field is empty.</param>
/// <param name="SuggestedProbability">The detector's probability of <paramref name="SuggestedLabel"/> (<c>suggested_probability</c>); null when absent or empty.</param>
public sealed record SelectionEntry(int Index, string Source, int GivenLabel, bool IsLabelIssue, int Line,
    int? SuggestedLabel = null, double? SuggestedProbability = null)
{
    public bool IsSelected => !IsLabelIssue;
}

/// <summary>A selection file read into memory: its rows in file order.</summary>
public sealed record Selection(string Path, IReadOnlyList<SelectionEntry> Entries)
{
    public int SelectedCount => Entries.Count(e => e.IsSelected);
}

/// <summary>What a selection means for one data set: which samples take part, which of them train, with which label.</summary>
/// <param name="Indices">The data set indices that take part, ascending (a detector run on a subset lists only those).</param>
/// <param name="Selected">Per data set index: takes part and was selected as clean.</param>
/// <param name="GivenLabels">Per data set index: the label to train on (samples.csv's given_label, or the label file's).</param>
/// <param name="ClassesWithoutSamples">Class ids of which no selected sample remains.</param>
/// <param name="Weights">Per data set index: the weight of the sample's loss in its batch's weighted mean; null: every sample weighs 1.</param>
/// <param name="PseudoLabelled">Per data set index: trains with the detector's suggested label (see <see cref="PseudoLabels"/>); null: none does.</param>
public sealed record SelectionMask(int[] Indices, bool[] Selected, int[] GivenLabels, IReadOnlyList<int> ClassesWithoutSamples,
    double[]? Weights = null, bool[]? PseudoLabelled = null)
{
    public int SelectedCount => Selected.Count(s => s);

    /// <summary>Samples that train with a suggested label instead of their given one.</summary>
    public int PseudoLabelledCount => PseudoLabelled?.Count(s => s) ?? 0;

    /// <summary>Every sample selected, with the data set's own labels (training on all noisy labels).</summary>
    public static SelectionMask All(IImageDataset data)
    {
        var labels = new int[data.Count];
        for (var i = 0; i < labels.Length; i++) labels[i] = data.GetLabel(i);
        return AllOf(Enumerable.Range(0, data.Count).ToArray(), labels, data);
    }

    /// <summary>
    /// Every sample of a label file (<c>index,label[,true_label]</c>, as <c>deft noise</c> writes) selected with the
    /// file's label: training on all noisy labels of a synthetic-noise run.
    /// </summary>
    public static SelectionMask FromLabelFile(string path, IImageDataset data)
    {
        // Paths resolve as absolute or by their ending (the data root is not known here).
        var rows = Deft.Noise.LabelFile.Read(path, data.Count, data.Classes.Count, data.Classes, new Deft.Noise.SamplePaths(data, null));
        var labels = new int[data.Count];
        foreach (var r in rows) labels[r.Index] = r.Label;
        return AllOf(rows.Select(r => r.Index).Order().ToArray(), labels, data);
    }

    private static SelectionMask AllOf(int[] indices, int[] labels, IImageDataset data)
    {
        var selected = new bool[data.Count];
        foreach (var i in indices) selected[i] = true;
        return new SelectionMask(indices, selected, labels, MissingClasses(selected, labels, data.Classes.Count));
    }

    /// <summary>The first <paramref name="count"/> participating samples only (quick runs).</summary>
    public SelectionMask Limit(int count, int classCount)
    {
        if (count >= Indices.Length) return this;
        var kept = Indices.Take(count).ToArray();
        var selected = new bool[Selected.Length];
        foreach (var i in kept) selected[i] = Selected[i];
        return this with { Indices = kept, Selected = selected, ClassesWithoutSamples = MissingClasses(selected, GivenLabels, classCount) };
    }

    /// <summary>
    /// Splits the selected samples into those that train and a held-out validation part: per given label, a seeded
    /// shuffle of the class's selected samples and the first round(<paramref name="fraction"/> · n) of them (at least
    /// one of a class with two or more), so every class is validated in proportion. The held-out samples leave
    /// <see cref="Indices"/> (no batch visits them); unselected samples stay as they were. Only training samples are
    /// ever held out, so the validation part never touches a test set.
    /// </summary>
    /// <returns>The training mask and the held-out data set indices, ascending.</returns>
    public (SelectionMask Train, int[] Holdout) HoldOut(double fraction, long seed, int classCount)
    {
        if (!(fraction > 0 && fraction < 1)) throw new ArgumentOutOfRangeException(nameof(fraction), fraction, "The held-out fraction must lie in (0, 1).");
        var random = new Random(unchecked((int)(seed ^ (seed >> 32)) ^ 0x5EED));
        var held = new List<int>();
        foreach (var group in Indices.Where(i => Selected[i]).GroupBy(i => GivenLabels[i]).OrderBy(g => g.Key))
        {
            var members = group.ToArray();
            random.Shuffle(members);
            var take = (int)Math.Round(fraction * members.Length, MidpointRounding.AwayFromZero);
            if (take == 0 && members.Length >= 2) take = 1;
            if (take >= members.Length) take = members.Length - 1; // a class keeps at least one training sample
            held.AddRange(members.Take(take));
        }
        var heldSet = held.ToHashSet();
        var selected = (bool[])Selected.Clone();
        foreach (var i in held) selected[i] = false;
        var indices = Indices.Where(i => !heldSet.Contains(i)).ToArray();
        return (this with { Indices = indices, Selected = selected, ClassesWithoutSamples = MissingClasses(selected, GivenLabels, classCount) }, held.Order().ToArray());
    }

    internal static IReadOnlyList<int> MissingClasses(bool[] selected, int[] labels, int classCount)
    {
        var seen = new bool[classCount];
        for (var i = 0; i < selected.Length; i++)
            if (selected[i] && (uint)labels[i] < (uint)classCount) seen[labels[i]] = true;
        return Enumerable.Range(0, classCount).Where(k => !seen[k]).ToArray();
    }
}

/// <summary>
/// Reads the detector's <c>samples.csv</c> (RFC 4180: a header row, comma-separated, fields with commas, quotes or
/// line breaks quoted). Required columns: <c>index</c>, <c>source</c>, <c>given_label</c>, <c>is_label_issue</c>;
/// <c>suggested_label</c> and <c>suggested_probability</c> are read when present (pseudo-labels); others
/// (label_quality, true_label…) are ignored, in any order. True labels are never read.
/// </summary>
public static class SelectionFile
{
    public static readonly string[] RequiredColumns = ["index", "source", "given_label", "is_label_issue"];

    public static Selection Read(string path)
    {
        if (!File.Exists(path)) throw new DeftException($"Selection file not found: {path}");
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new DeftException($"Cannot read {path}: {ex.Message}", ex);
        }
        var rows = ParseCsv(text, path);
        if (rows.Count == 0) throw new DeftException($"{path} is empty; expected a header with the columns {string.Join(", ", RequiredColumns)}.");

        var header = rows[0].Fields.Select(f => f.Trim().TrimStart('\uFEFF').ToLowerInvariant()).ToArray();
        var column = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var c = 0; c < header.Length; c++) column.TryAdd(header[c], c);
        var missing = RequiredColumns.Where(r => !column.ContainsKey(r)).ToList();
        if (missing.Count > 0)
            throw new DeftException($"{path} line 1: missing column(s) {string.Join(", ", missing)}. A selection file is the detector's samples.csv " +
                $"with at least {string.Join(", ", RequiredColumns)}; this header has: {string.Join(", ", header)}.");

        var entries = new List<SelectionEntry>(rows.Count - 1);
        var seen = new Dictionary<int, int>();
        foreach (var (fields, line) in rows.Skip(1))
        {
            if (fields.Length == 1 && fields[0].Length == 0) continue; // blank line
            if (fields.Length < header.Length)
                throw new DeftException($"{path} line {line}: {fields.Length} field(s), the header has {header.Length}.");
            string Field(string name) => fields[column[name]].Trim();
            var index = ParseInt(Field("index"), "index", path, line);
            if (index < 0) throw new DeftException($"{path} line {line}: index {index} is negative.");
            if (seen.TryGetValue(index, out var first))
                throw new DeftException($"{path} line {line}: index {index} appears twice (first on line {first}).");
            seen[index] = line;
            var given = ParseInt(Field("given_label"), "given_label", path, line);
            var issue = ParseBool(Field("is_label_issue"), path, line);
            // Optional: the detector's suggestion, which the pseudo-labelling of unselected samples reads.
            int? suggested = column.ContainsKey("suggested_label") && Field("suggested_label").Length > 0
                ? ParseInt(Field("suggested_label"), "suggested_label", path, line) : null;
            double? probability = column.ContainsKey("suggested_probability") && Field("suggested_probability").Length > 0
                ? ParseProbability(Field("suggested_probability"), "suggested_probability", path, line) : null;
            entries.Add(new SelectionEntry(index, fields[column["source"]], given, issue, line, suggested, probability));
        }
        return new Selection(path, entries);
    }

    /// <summary>
    /// Checks that the selection describes <paramref name="data"/>: every index in range and its source the data
    /// set's (see <see cref="SourcesMatch"/>), labels valid. Mismatches throw a <see cref="DeftException"/> naming the
    /// first few. A file may list a subset (the detector ran on a label file's samples): only those take part.
    /// </summary>
    public static SelectionMask Apply(Selection selection, IImageDataset data)
    {
        var path = selection.Path;
        var k = data.Classes.Count;
        var outOfRange = selection.Entries.Where(e => e.Index >= data.Count).ToList();
        if (outOfRange.Count > 0)
            throw new DeftException($"{path}: {outOfRange.Count} row(s) name samples the data set does not have (it has {data.Count}, indices 0..{data.Count - 1}): " +
                string.Join("; ", outOfRange.Take(5).Select(e => $"line {e.Line}: index {e.Index}")) +
                ". The selection was made for another data set or split; run detect on this one.");

        var mismatches = new List<string>();
        var mismatchCount = 0;
        foreach (var e in selection.Entries)
        {
            var actual = data.GetSource(e.Index);
            if (SourcesMatch(e.Source, actual)) continue;
            mismatchCount++;
            if (mismatches.Count < 5) mismatches.Add($"line {e.Line}: index {e.Index} is '{e.Source}' in the file but '{actual}' in the data set");
        }
        if (mismatchCount > 0)
            throw new DeftException($"{path}: {mismatchCount} of {selection.Entries.Count} sample(s) do not match the data set: {string.Join("; ", mismatches)}" +
                (mismatchCount > mismatches.Count ? $"; … and {mismatchCount - mismatches.Count} more" : "") +
                ". The selection was made for another data set (or another order); run detect on this one.");

        var badLabels = selection.Entries.Where(e => e.GivenLabel < 0 || e.GivenLabel >= k).ToList();
        if (badLabels.Count > 0)
            throw new DeftException($"{path}: given_label must lie in 0..{k - 1} (the data set has {k} classes): " +
                string.Join("; ", badLabels.Take(5).Select(e => $"line {e.Line}: {e.GivenLabel}")) + ".");

        var selected = new bool[data.Count];
        var labels = new int[data.Count];
        foreach (var e in selection.Entries)
        {
            selected[e.Index] = e.IsSelected;
            labels[e.Index] = e.GivenLabel;
        }
        var indices = selection.Entries.Select(e => e.Index).Order().ToArray();
        return new SelectionMask(indices, selected, labels, SelectionMask.MissingClasses(selected, labels, k));
    }

    /// <summary>
    /// Whether a recorded source names the same sample as the data set's. Equal strings match; so do sources whose
    /// last two path components agree (a data set moved or opened through another path: "cat/001.png",
    /// "fashion-mnist/train-images-idx3-ubyte#17"), or whose last component agrees when it carries a record number
    /// ("train-images-idx3-ubyte#17").
    /// </summary>
    public static bool SourcesMatch(string recorded, string actual)
    {
        if (string.Equals(recorded, actual, StringComparison.Ordinal)) return true;
        var a = Components(recorded);
        var b = Components(actual);
        if (a.Length == 0 || b.Length == 0 || !string.Equals(a[^1], b[^1], StringComparison.Ordinal)) return false;
        if (a[^1].Contains('#')) return true;
        return a.Length >= 2 && b.Length >= 2 && string.Equals(a[^2], b[^2], StringComparison.Ordinal);
    }

    private static string[] Components(string source) =>
        source.Replace('\\', '/').Split('/', StringSplitOptions.RemoveEmptyEntries);

    private static int ParseInt(string s, string column, string path, int line) =>
        int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v)
            ? v
            : throw new DeftException($"{path} line {line}: {column} '{s}' is not an integer.");

    private static double ParseProbability(string s, string column, string path, int line) =>
        double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && v >= 0 && v <= 1
            ? v
            : throw new DeftException($"{path} line {line}: {column} '{s}' is not a probability in [0, 1].");

    private static bool ParseBool(string s, string path, int line) => s.ToLowerInvariant() switch
    {
        "true" or "1" or "yes" => true,
        "false" or "0" or "no" => false,
        _ => throw new DeftException($"{path} line {line}: is_label_issue '{s}' is not a boolean (true/false, 1/0)."),
    };

    /// <summary>RFC 4180 records with the line each starts on; quoted fields may span lines.</summary>
    internal static List<(string[] Fields, int Line)> ParseCsv(string text, string path)
    {
        var rows = new List<(string[], int)>();
        var fields = new List<string>();
        var field = new StringBuilder();
        var line = 1;
        var rowLine = 1;
        var inQuotes = false;
        var quotedField = false;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (inQuotes)
            {
                if (c == '"')
                {
                    if (i + 1 < text.Length && text[i + 1] == '"') { field.Append('"'); i++; }
                    else inQuotes = false;
                }
                else
                {
                    if (c == '\n') line++;
                    field.Append(c);
                }
                continue;
            }
            switch (c)
            {
                case '"' when field.Length == 0 && !quotedField:
                    inQuotes = quotedField = true;
                    break;
                case '"':
                    throw new DeftException($"{path} line {line}: a quote inside an unquoted field; quote the whole field and double inner quotes (\"\").");
                case ',':
                    fields.Add(field.ToString());
                    field.Clear();
                    quotedField = false;
                    break;
                case '\r':
                    break;
                case '\n':
                    fields.Add(field.ToString());
                    rows.Add((fields.ToArray(), rowLine));
                    fields.Clear();
                    field.Clear();
                    quotedField = false;
                    line++;
                    rowLine = line;
                    break;
                default:
                    if (quotedField) throw new DeftException($"{path} line {line}: text after a closing quote.");
                    field.Append(c);
                    break;
            }
        }
        if (inQuotes) throw new DeftException($"{path} line {rowLine}: a quoted field is not closed.");
        if (field.Length > 0 || fields.Count > 0 || quotedField)
        {
            fields.Add(field.ToString());
            rows.Add((fields.ToArray(), rowLine));
        }
        return rows;
    }
}
