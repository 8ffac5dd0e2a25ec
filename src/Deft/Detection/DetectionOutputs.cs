using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Deft.IO;

namespace Deft.Detection;

/// <summary>Writes a <see cref="DetectionReport"/> to a run directory: samples.csv, label_issues.csv, summary.json.</summary>
public static class DetectionOutputs
{
    public const string SamplesFile = "samples.csv";
    public const string IssuesFile = "label_issues.csv";
    public const string SummaryFile = "summary.json";
    /// <summary>The name (without extension) of the pred_probs files: pred_probs.npy, pred_probs.ids.csv, pred_probs.parquet.</summary>
    public const string PredProbsName = "pred_probs";

    /// <summary>Every pred_probs file a run may write.</summary>
    public static IReadOnlyList<string> PredProbsFiles { get; } = Deft.Data.SampleArrayFile.FileNames(PredProbsName);

    public static readonly string[] CsvHeader =
    [
        "index", "source", "given_label", "given_name", "label_quality", "is_label_issue",
        "suggested_label", "suggested_name", "suggested_probability", "true_label", "true_name",
    ];

    public static JsonSerializerOptions JsonOptions { get; } = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DictionaryKeyPolicy = null,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower) },
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>The same naming as <see cref="JsonOptions"/>, on one line (JSON-lines output).</summary>
    public static JsonSerializerOptions JsonLineOptions { get; } = new(JsonOptions) { WriteIndented = false };

    public static void Write(string directory, DetectionReport report)
    {
        Directory.CreateDirectory(directory);
        AtomicFile.WriteAllText(Path.Combine(directory, SamplesFile), Csv(report.Samples, report.Classes));
        AtomicFile.WriteAllText(Path.Combine(directory, IssuesFile), Csv(report.RankedIssues, report.Classes));
        WritePredProbs(directory, report);
        AtomicFile.WriteAllText(Path.Combine(directory, SummaryFile), JsonSerializer.Serialize(report.Summary, JsonOptions) + "\n");
    }

    /// <summary>
    /// Writes the report's pred_probs (when it has them) as pred_probs.npy + pred_probs.ids.csv and pred_probs.parquet,
    /// rows in samples.csv's order; without them, removes any a previous run left so none describes other results.
    /// </summary>
    public static void WritePredProbs(string directory, DetectionReport report)
    {
        if (report.PredProbs is not { } probs)
        {
            OutputDirectory.Remove(directory, PredProbsFiles);
            return;
        }
        var (n, k) = (probs.GetLength(0), probs.GetLength(1));
        if (n != report.Samples.Count || k != report.Classes.Count)
            throw new InvalidOperationException($"pred_probs is {n}×{k} for {report.Samples.Count} samples and {report.Classes.Count} classes.");
        var flat = new float[n * k];
        for (var r = 0; r < n; r++)
            for (var c = 0; c < k; c++)
                flat[r * k + c] = (float)probs[r, c];
        var samples = report.Samples;
        var ids = new Deft.Data.SampleIds(samples.Select(s => s.Index).ToArray(), samples.Select(s => s.Source).ToArray(),
            samples.Select(s => s.GivenLabel).ToArray(), samples.Select(s => s.TrueLabel).ToArray());
        var metadata = new Dictionary<string, string>
        {
            ["deft.array"] = PredProbsName,
            ["deft.method"] = report.Summary.Method,
            ["deft.classes"] = JsonSerializer.Serialize(report.Classes),
        };
        Deft.Data.SampleArrayFile.Write(Path.Combine(directory, PredProbsName), ids, flat, Deft.Data.SampleArrayFile.ClassColumns(report.Classes),
            Deft.Data.SampleArrayFormat.Both, metadata);
    }

    /// <summary>The "method" a finished run's summary.json names; null when there is no readable summary (or it names none).</summary>
    public static string? ReadMethod(string directory)
    {
        var path = Path.Combine(directory, SummaryFile);
        if (!File.Exists(path)) return null;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            return doc.RootElement.TryGetProperty("method", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString() : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    public static string Csv(IEnumerable<SampleVerdict> rows, IReadOnlyList<string> classes)
    {
        var sb = new StringBuilder();
        sb.AppendJoin(',', CsvHeader).Append('\n');
        foreach (var s in rows)
        {
            sb.Append(s.Index.ToString(CultureInfo.InvariantCulture)).Append(',')
              .Append(Escape(s.Source)).Append(',')
              .Append(s.GivenLabel.ToString(CultureInfo.InvariantCulture)).Append(',')
              .Append(Escape(Name(classes, s.GivenLabel))).Append(',')
              .Append(Number(s.LabelQuality)).Append(',')
              .Append(s.IsLabelIssue ? "true" : "false").Append(',')
              .Append(s.SuggestedLabel.ToString(CultureInfo.InvariantCulture)).Append(',')
              .Append(Escape(Name(classes, s.SuggestedLabel))).Append(',')
              .Append(Number(s.SuggestedProbability)).Append(',')
              .Append(s.TrueLabel?.ToString(CultureInfo.InvariantCulture) ?? "").Append(',')
              .Append(s.TrueLabel is { } t ? Escape(Name(classes, t)) : "")
              .Append('\n');
        }
        return sb.ToString();
    }

    private static string Name(IReadOnlyList<string> classes, int label) =>
        label >= 0 && label < classes.Count ? classes[label] : label.ToString(CultureInfo.InvariantCulture);

    // Nine significant digits, not fixed decimals: posteriors near 0 (1e-12) must keep their order for the ranking.
    private static string Number(double v) => v.ToString("G9", CultureInfo.InvariantCulture);

    /// <summary>RFC 4180 quoting where a field holds a comma, quote or line break.</summary>
    public static string Escape(string field) =>
        field.IndexOfAny([',', '"', '\n', '\r']) >= 0 ? "\"" + field.Replace("\"", "\"\"") + "\"" : field;
}
