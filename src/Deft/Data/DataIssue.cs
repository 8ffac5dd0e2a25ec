using System.Globalization;
using System.Text;
using Deft.IO;

namespace Deft.Data;

/// <summary>What is wrong with a sample or a class, besides its label (cleanlab Datalab's issue types).</summary>
public enum DataIssueKind
{
    /// <summary>The image file exists but cannot be decoded (corrupt, truncated, not an image). Skipped.</summary>
    Unreadable,
    /// <summary>The image file is empty (zero bytes). Skipped.</summary>
    EmptyFile,
    /// <summary>The image file named by a manifest does not exist. Skipped.</summary>
    MissingFile,
    /// <summary>A class without any (readable) image. It keeps its label id.</summary>
    EmptyClass,
    /// <summary>Another sample with the same label has nearly the same CLIP image features.</summary>
    NearDuplicate,
    /// <summary>Another sample with a different label has nearly the same CLIP image features: at least one label is wrong.</summary>
    ConflictingDuplicate,
    /// <summary>Unlike every class prompt and unlike its nearest neighbours in CLIP's image-feature space.</summary>
    Outlier,
}

/// <summary>
/// One data issue (one row of <c>data_issues.csv</c>).
/// <para>
/// <see cref="Score"/> follows cleanlab's convention for quality scores, as label quality does: in [0, 1], lower means a
/// more certain or more severe issue. Unreadable, empty and missing files and empty classes score 0. A (conflicting)
/// duplicate scores 1 − cosine similarity to <see cref="RelatedIndex"/> (0: identical features). An outlier scores the
/// normal tail probability 1 − Φ(z) of z, the smaller of its two robust z-scores (distance to its nearest neighbours,
/// distance to the closest class prompt; median and MAD over the data set): 0.5 is typical, 0.0013 is three MADs out on both.
/// </para>
/// </summary>
/// <param name="Kind">What is wrong.</param>
/// <param name="Index">The sample's index in the run (the numbering of readable images); null for skipped files and classes.</param>
/// <param name="Source">The file (or "file#record") the issue concerns; an empty class: its folder or name.</param>
/// <param name="Score">In [0, 1]; lower = more severe (see above).</param>
/// <param name="Detail">A one-line explanation: the decoding error, the similarity, the z-scores.</param>
public sealed record DataIssue(DataIssueKind Kind, int? Index, string Source, double Score, string Detail)
{
    /// <summary>The sample's given label (a class id for <see cref="DataIssueKind.EmptyClass"/>); null where unknown.</summary>
    public int? Label { get; init; }

    /// <summary>The other sample of a duplicate pair; null otherwise.</summary>
    public int? RelatedIndex { get; init; }

    /// <summary>The source of <see cref="RelatedIndex"/>.</summary>
    public string? RelatedSource { get; init; }

    /// <summary>Whether the sample or class is left out of the run (unreadable and missing files).</summary>
    public bool Skipped => Kind is DataIssueKind.Unreadable or DataIssueKind.EmptyFile or DataIssueKind.MissingFile;
}

/// <summary>The file-level data issues of an opened data set, and <c>data_issues.csv</c>.</summary>
public static class DataIssues
{
    /// <summary>The file a run writes its data issues to.</summary>
    public const string FileName = "data_issues.csv";

    /// <summary>data_issues.csv's columns.</summary>
    public static readonly string[] CsvHeader = ["kind", "index", "path", "label", "score", "related_index", "related_path", "detail"];

    /// <summary>The snake_case name of a kind, as data_issues.csv and the report write it.</summary>
    public static string Name(DataIssueKind kind) => kind switch
    {
        DataIssueKind.Unreadable => "unreadable",
        DataIssueKind.EmptyFile => "empty_file",
        DataIssueKind.MissingFile => "missing_file",
        DataIssueKind.EmptyClass => "empty_class",
        DataIssueKind.NearDuplicate => "near_duplicate",
        DataIssueKind.ConflictingDuplicate => "conflicting_duplicate",
        DataIssueKind.Outlier => "outlier",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };

    /// <summary>
    /// The samples <paramref name="dataset"/> skipped (when it is a <see cref="ValidatedDataset"/>) as unreadable,
    /// empty or missing files, then every class with no sample. Counting labels reads no image.
    /// </summary>
    public static IReadOnlyList<DataIssue> OfFiles(IImageDataset dataset)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        var issues = new List<DataIssue>();
        if (dataset is ValidatedDataset validated)
            issues.AddRange(validated.Skipped.Select(OfSkipped));
        var counts = new int[dataset.Classes.Count];
        for (var i = 0; i < dataset.Count; i++)
        {
            var label = dataset.GetLabel(i);
            if ((uint)label < (uint)counts.Length) counts[label]++;
        }
        for (var c = 0; c < counts.Length; c++)
            if (counts[c] == 0)
                issues.Add(new DataIssue(DataIssueKind.EmptyClass, null, ClassLocation(dataset, c), 0,
                    $"class '{dataset.Classes[c]}' (id {c}) has no {(issues.Any(x => x.Skipped) ? "readable " : "")}image; it keeps its id, and no sample can be suggested into it by the data") { Label = c });
        return issues;
    }

    /// <summary>A skipped sample as an issue: a zero-byte file is empty, a file that does not exist missing, anything else unreadable.</summary>
    public static DataIssue OfSkipped(SkippedSample s)
    {
        var kind = DataIssueKind.Unreadable;
        if (IsPlainPath(s.Source))
        {
            var info = new FileInfo(s.Source);
            kind = !info.Exists ? DataIssueKind.MissingFile : info.Length == 0 ? DataIssueKind.EmptyFile : DataIssueKind.Unreadable;
        }
        return new DataIssue(kind, null, s.Source, 0, s.Reason);
    }

    /// <summary>Where class <paramref name="label"/> lives: its folder for the folder format, else its name.</summary>
    private static string ClassLocation(IImageDataset dataset, int label)
    {
        var inner = dataset is ValidatedDataset v ? v.Inner : dataset;
        return inner is ImageFolderDataset folder ? folder.ClassDirectory(label) : dataset.Classes[label];
    }

    private static bool IsPlainPath(string source) => Path.IsPathFullyQualified(source) && !source.Contains('#', StringComparison.Ordinal);

    /// <summary>data_issues.csv's text: one row per issue, in the given order.</summary>
    public static string Csv(IEnumerable<DataIssue> issues, IReadOnlyList<string> classes)
    {
        ArgumentNullException.ThrowIfNull(issues);
        var sb = new StringBuilder();
        sb.AppendJoin(',', CsvHeader).Append('\n');
        foreach (var d in issues)
        {
            sb.Append(Name(d.Kind)).Append(',')
              .Append(d.Index?.ToString(CultureInfo.InvariantCulture) ?? "").Append(',')
              .Append(Escape(d.Source)).Append(',')
              .Append(d.Label is { } l && (uint)l < (uint)classes.Count ? Escape(classes[l]) : "").Append(',')
              .Append(d.Score.ToString("G6", CultureInfo.InvariantCulture)).Append(',')
              .Append(d.RelatedIndex?.ToString(CultureInfo.InvariantCulture) ?? "").Append(',')
              .Append(d.RelatedSource is null ? "" : Escape(d.RelatedSource)).Append(',')
              .Append(Escape(d.Detail.ReplaceLineEndings(" ")))
              .Append('\n');
        }
        return sb.ToString();
    }

    /// <summary>Writes <see cref="FileName"/> into <paramref name="directory"/> atomically (a header only when there is no issue).</summary>
    public static string Write(string directory, IEnumerable<DataIssue> issues, IReadOnlyList<string> classes)
    {
        var path = Path.Combine(directory, FileName);
        AtomicFile.WriteAllText(path, Csv(issues, classes));
        return path;
    }

    /// <summary>Counts by kind name, kinds without issues left out (summary.json's "data_issues").</summary>
    public static IReadOnlyDictionary<string, int> Counts(IEnumerable<DataIssue> issues) =>
        issues.GroupBy(d => d.Kind).OrderBy(g => g.Key).ToDictionary(g => Name(g.Key), g => g.Count());

    private static string Escape(string field) =>
        field.IndexOfAny([',', '"', '\n', '\r']) >= 0 ? "\"" + field.Replace("\"", "\"\"") + "\"" : field;
}
