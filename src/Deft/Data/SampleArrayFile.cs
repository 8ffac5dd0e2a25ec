using System.Globalization;
using System.Text;
using Deft.IO;
using Parquet;
using Parquet.Schema;

namespace Deft.Data;

/// <summary>
/// Who the rows of a per-sample array are: the data-set index, where the image comes from (its path, or
/// "file#record" for container formats), its given label and, where known, its true label. Row r of the array
/// belongs to sample <see cref="Indices"/>[r].
/// </summary>
public sealed record SampleIds(IReadOnlyList<int> Indices, IReadOnlyList<string> Paths, IReadOnlyList<int> GivenLabels, IReadOnlyList<int?>? TrueLabels = null)
{
    /// <summary>Rows.</summary>
    public int Count => Indices.Count;

    /// <summary>Some sample has a known true label (the true_label column is written).</summary>
    public bool HasTruth => TrueLabels is not null && TrueLabels.Any(t => t.HasValue);

    /// <summary>The ids of <paramref name="indices"/> (default: every sample) of <paramref name="data"/>, with its own labels.</summary>
    public static SampleIds Of(IImageDataset data, IReadOnlyList<int>? indices = null)
    {
        ArgumentNullException.ThrowIfNull(data);
        var rows = indices ?? Enumerable.Range(0, data.Count).ToArray();
        return new SampleIds(rows.ToArray(), rows.Select(data.GetSource).ToArray(), rows.Select(data.GetLabel).ToArray(),
            rows.Select(data.GetCleanLabel).ToArray());
    }

    internal void Check(int rows)
    {
        if (Paths.Count != Count || GivenLabels.Count != Count || (TrueLabels is not null && TrueLabels.Count != Count))
            throw new ArgumentException($"Sample ids disagree: {Count} indices, {Paths.Count} paths, {GivenLabels.Count} labels, {TrueLabels?.Count} true labels.");
        if (rows != Count) throw new ArgumentException($"{rows} array rows for {Count} sample ids.");
    }
}

/// <summary>Which files <see cref="SampleArrayFile.Write"/> writes.</summary>
public enum SampleArrayFormat
{
    /// <summary><c>NAME.npy</c> (float32, C order) and <c>NAME.ids.csv</c> (index,path,given_label[,true_label]).</summary>
    Npy,
    /// <summary><c>NAME.parquet</c>: one row per sample, the ids then one float column per array column.</summary>
    Parquet,
    /// <summary>Both.</summary>
    Both,
}

/// <summary>A per-sample table read back from Parquet: the ids, the array's column names and its values [rows, columns] row-major.</summary>
public sealed record SampleTable(SampleIds Ids, IReadOnlyList<string> Columns, float[] Values, IReadOnlyDictionary<string, string> Metadata);

/// <summary>
/// Per-sample arrays (pred_probs, image features) keyed by sample, in the formats numpy and pandas read:
/// <c>NAME.npy</c> with <c>NAME.ids.csv</c> beside it (row r of one is row r of the other), and <c>NAME.parquet</c>
/// (columns index, path, given_label[, true_label], then one float32 column per class or feature). Every file is
/// written atomically.
/// </summary>
public static class SampleArrayFile
{
    /// <summary>What follows NAME in the ids file beside <c>NAME.npy</c>.</summary>
    public const string IdsSuffix = ".ids.csv";

    /// <summary>The id columns of the ids CSV and of the Parquet table, before the array's own columns.</summary>
    public static IReadOnlyList<string> IdColumns { get; } = ["index", "path", "given_label", "true_label"];

    /// <summary>
    /// Writes <paramref name="values"/> ([ids.Count, columns.Count] row-major) as <c>STEM.npy</c> + <c>STEM.ids.csv</c>
    /// and/or <c>STEM.parquet</c>, where <paramref name="stem"/> is a path without extension. Returns the paths written.
    /// </summary>
    /// <param name="metadata">Key-value pairs stored in the Parquet footer (what the array is, the class names, the model).</param>
    public static IReadOnlyList<string> Write(string stem, SampleIds ids, ReadOnlySpan<float> values, IReadOnlyList<string> columns,
        SampleArrayFormat format, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(ids);
        ArgumentNullException.ThrowIfNull(columns);
        ids.Check(columns.Count == 0 ? 0 : values.Length / columns.Count);
        if ((long)ids.Count * columns.Count != values.Length)
            throw new ArgumentException($"{values.Length} values for {ids.Count} rows × {columns.Count} columns.", nameof(values));
        var written = new List<string>();
        if (format is SampleArrayFormat.Npy or SampleArrayFormat.Both)
        {
            NpyFile.Write(stem + ".npy", values, ids.Count, columns.Count);
            WriteIds(stem + IdsSuffix, ids);
            written.Add(stem + ".npy");
            written.Add(stem + IdsSuffix);
        }
        if (format is SampleArrayFormat.Parquet or SampleArrayFormat.Both)
        {
            WriteParquet(stem + ".parquet", ids, values, columns, metadata);
            written.Add(stem + ".parquet");
        }
        return written;
    }

    /// <summary>The file names <see cref="Write"/> may produce for <paramref name="name"/> (for cleaning an output folder).</summary>
    public static IReadOnlyList<string> FileNames(string name) => [name + ".npy", name + IdsSuffix, name + ".parquet"];

    /// <summary>
    /// Parquet column names for class probabilities: the class names, unless one is empty, repeats or is an id column's
    /// name; then <c>class_0</c>..<c>class_K-1</c> for all, so the columns are always unique.
    /// </summary>
    public static IReadOnlyList<string> ClassColumns(IReadOnlyList<string> classes)
    {
        ArgumentNullException.ThrowIfNull(classes);
        var usable = classes.All(c => c.Trim().Length > 0 && !IdColumns.Contains(c, StringComparer.OrdinalIgnoreCase))
            && classes.Distinct(StringComparer.OrdinalIgnoreCase).Count() == classes.Count;
        return usable ? classes.ToArray() : classes.Select((_, i) => "class_" + i.ToString(CultureInfo.InvariantCulture)).ToArray();
    }

    /// <summary>Feature column names: <c>feature_0</c>..<c>feature_{width-1}</c>.</summary>
    public static IReadOnlyList<string> FeatureColumns(int width) =>
        Enumerable.Range(0, width).Select(i => "feature_" + i.ToString(CultureInfo.InvariantCulture)).ToArray();

    /// <summary>Writes the ids CSV: header <c>index,path,given_label[,true_label]</c> (true_label when any is known; empty where unknown).</summary>
    public static void WriteIds(string path, SampleIds ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        ids.Check(ids.Count);
        var truth = ids.HasTruth;
        var sb = new StringBuilder();
        sb.AppendJoin(',', IdColumns.Take(truth ? 4 : 3)).Append('\n');
        for (var r = 0; r < ids.Count; r++)
        {
            sb.Append(ids.Indices[r].ToString(CultureInfo.InvariantCulture)).Append(',')
              .Append(CsvField(ids.Paths[r])).Append(',')
              .Append(ids.GivenLabels[r].ToString(CultureInfo.InvariantCulture));
            if (truth) sb.Append(',').Append(ids.TrueLabels![r]?.ToString(CultureInfo.InvariantCulture) ?? "");
            sb.Append('\n');
        }
        AtomicFile.WriteAllText(path, sb.ToString());
    }

    /// <summary>Writes the Parquet table (one row group; snappy-compressed; <paramref name="metadata"/> in the footer).</summary>
    public static void WriteParquet(string path, SampleIds ids, ReadOnlySpan<float> values, IReadOnlyList<string> columns,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(ids);
        ArgumentNullException.ThrowIfNull(columns);
        var k = columns.Count;
        if ((long)ids.Count * k != values.Length)
            throw new ArgumentException($"{values.Length} values for {ids.Count} rows × {k} columns.", nameof(values));
        ids.Check(ids.Count);
        var truth = ids.HasTruth;
        var clash = columns.FirstOrDefault(c => IdColumns.Contains(c, StringComparer.OrdinalIgnoreCase));
        if (clash is not null) throw new ArgumentException($"Column '{clash}' has an id column's name.", nameof(columns));
        var repeated = columns.GroupBy(c => c, StringComparer.OrdinalIgnoreCase).FirstOrDefault(g => g.Count() > 1);
        if (repeated is not null) throw new ArgumentException($"Column '{repeated.Key}' appears twice.", nameof(columns));

        var index = new DataField<int>("index");
        var source = new DataField<string>("path");
        var given = new DataField<int>("given_label");
        var trueLabel = new DataField<int?>("true_label");
        var valueFields = columns.Select(c => new DataField<float>(c)).ToArray();
        var fields = new List<Field> { index, source, given };
        if (truth) fields.Add(trueLabel);
        fields.AddRange(valueFields);

        // Columns are written one at a time, so each is copied out of the row-major block.
        var n = ids.Count;
        var byColumn = new float[k][];
        for (var c = 0; c < k; c++)
        {
            var column = byColumn[c] = new float[n];
            for (var r = 0; r < n; r++) column[r] = values[r * k + c];
        }
        AtomicFile.Write(path, tmp => WriteParquetAsync(tmp, new ParquetSchema(fields), ids, truth, byColumn, metadata).GetAwaiter().GetResult());
    }

    private static async Task WriteParquetAsync(string path, ParquetSchema schema, SampleIds ids, bool truth, float[][] byColumn,
        IReadOnlyDictionary<string, string>? metadata)
    {
        await using var stream = File.Create(path);
        await using var writer = await ParquetWriter.CreateAsync(schema, stream);
        if (metadata is not null) writer.CustomMetadata = metadata.ToDictionary(p => p.Key, p => p.Value);
        using var group = writer.CreateRowGroup();
        var fields = schema.GetDataFields();
        var f = 0;
        await group.WriteAsync(fields[f++], (ReadOnlyMemory<int>)ids.Indices.ToArray());
        await group.WriteAsync(fields[f++], ids.Paths.ToArray());
        await group.WriteAsync(fields[f++], (ReadOnlyMemory<int>)ids.GivenLabels.ToArray());
        if (truth) await group.WriteAsync(fields[f++], (ReadOnlyMemory<int?>)ids.TrueLabels!.ToArray());
        foreach (var column in byColumn) await group.WriteAsync(fields[f++], (ReadOnlyMemory<float>)column);
    }

    /// <summary>
    /// Reads a table <see cref="WriteParquet"/> wrote (or any Parquet file with its id columns, then float columns):
    /// the ids, the other columns' names, their values row-major and the footer's metadata.
    /// </summary>
    public static SampleTable ReadParquet(string path)
    {
        if (!File.Exists(path)) throw new DeftException($"{path}: no such Parquet file.");
        return ReadParquetAsync(path).GetAwaiter().GetResult();
    }

    private static async Task<SampleTable> ReadParquetAsync(string path)
    {
        await using var stream = File.OpenRead(path);
        await using var reader = await ParquetReader.CreateAsync(stream);
        var fields = reader.Schema.GetDataFields();
        DataField Field(string name) => fields.FirstOrDefault(f => f.Name == name)
            ?? throw new DeftException($"{path}: no '{name}' column; expected {string.Join(", ", IdColumns.Take(3))}, then the value columns.");
        var valueFields = fields.Where(f => !IdColumns.Contains(f.Name)).ToArray();
        var indices = new List<int>();
        var paths = new List<string>();
        var given = new List<int>();
        var truth = new List<int?>();
        var hasTruth = fields.Any(f => f.Name == "true_label");
        var columns = valueFields.Select(_ => new List<float>()).ToArray();
        for (var g = 0; g < reader.RowGroupCount; g++)
        {
            using var group = reader.OpenRowGroupReader(g);
            var n = checked((int)group.RowCount);
            var ints = new int[n];
            await group.ReadAsync(Field("index"), ints.AsMemory());
            indices.AddRange(ints);
            var strings = new string?[n];
            await group.ReadAsync(Field("path"), strings.AsMemory());
            paths.AddRange(strings.Select(s => s ?? ""));
            ints = new int[n];
            await group.ReadAsync(Field("given_label"), ints.AsMemory());
            given.AddRange(ints);
            if (hasTruth)
            {
                var optional = new int?[n];
                await group.ReadAsync(Field("true_label"), optional.AsMemory());
                truth.AddRange(optional);
            }
            for (var c = 0; c < valueFields.Length; c++)
            {
                var floats = new float[n];
                await group.ReadAsync(valueFields[c], floats.AsMemory());
                columns[c].AddRange(floats);
            }
        }
        var rows = indices.Count;
        var values = new float[(long)rows * valueFields.Length];
        for (var c = 0; c < valueFields.Length; c++)
            for (var r = 0; r < rows; r++)
                values[(long)r * valueFields.Length + c] = columns[c][r];
        var ids = new SampleIds(indices, paths, given, hasTruth ? truth : null);
        return new SampleTable(ids, valueFields.Select(f => f.Name).ToArray(), values, reader.CustomMetadata.ToDictionary(p => p.Key, p => p.Value));
    }

    /// <summary>RFC 4180 quoting where a field holds a comma, quote or line break.</summary>
    private static string CsvField(string field) =>
        field.IndexOfAny([',', '"', '\n', '\r']) >= 0 ? "\"" + field.Replace("\"", "\"\"") + "\"" : field;
}
