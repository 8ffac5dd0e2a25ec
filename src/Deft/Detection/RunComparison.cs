using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Deft.Detection;

/// <summary>One detect run as <c>deft compare</c> sees it (read from its summary.json).</summary>
/// <param name="Directory">The run directory as given.</param>
/// <param name="Name">Its short name in the table (the directory's name, or the path where names repeat).</param>
/// <param name="LabelsFingerprint">The labels' fingerprint, when the run recorded one.</param>
/// <param name="Precision">Of the clean selection, when the true labels were known (also <paramref name="Recall"/>, <paramref name="F1"/>, <paramref name="Auroc"/>).</param>
/// <param name="WallSeconds">The run's total_seconds.</param>
/// <param name="TestAccuracy">Phase-2 test accuracy (fraction) from an adapt summary in the run directory, if any.</param>
/// <param name="TestAccuracySource">The file and field it came from.</param>
public sealed record ComparedRun(
    string Directory, string Name, string Method, int Samples, string? LabelsFingerprint, int Issues, double EstimatedNoiseRate,
    double? Precision, double? Recall, double? F1, double? Auroc, double? WallSeconds, double? TestAccuracy, string? TestAccuracySource);

/// <summary>The runs of a comparison and what could not be checked.</summary>
public sealed record Comparison(IReadOnlyList<ComparedRun> Runs, IReadOnlyList<string> Notes);

/// <summary>
/// Reads detect runs (any <c>--method</c>) and lays their detection quality side by side. Runs must examine the same
/// samples and labels: the same sample count and, where recorded, the same labels fingerprint.
/// <para>Phase-2 accuracy is looked up, tolerantly, in <c>adapt/summary.json</c>, <c>adapt/result.json</c>,
/// <c>adapt_summary.json</c> or <c>adapt_result.json</c> inside the run directory (first found), field
/// <c>last_test_accuracy</c>, <c>test_accuracy</c>, <c>final_test_accuracy</c>, <c>accuracy</c>, <c>best_test_accuracy</c>
/// or <c>test.accuracy</c> (first present); a value above 1 is read as a percentage.</para>
/// </summary>
public static class RunComparison
{
    public static IReadOnlyList<string> AdaptSummaryFiles { get; } = ["adapt/summary.json", "adapt/result.json", "adapt_summary.json", "adapt_result.json"];
    public static IReadOnlyList<string> TestAccuracyFields { get; } = ["last_test_accuracy", "test_accuracy", "final_test_accuracy", "accuracy", "best_test_accuracy", "test.accuracy"];

    public static Comparison Load(IReadOnlyList<string> directories)
    {
        if (directories.Count == 0) throw new DeftException("Nothing to compare: pass one or more detect run directories.");
        var runs = directories.Select(Read).ToList();
        var shortNames = runs.Select(r => Path.GetFileName(Path.TrimEndingDirectorySeparator(r.Directory))).ToList();
        for (var i = 0; i < runs.Count; i++)
            if (shortNames.Count(n => n == shortNames[i]) == 1 && shortNames[i].Length > 0) runs[i] = runs[i] with { Name = shortNames[i] };

        if (runs.Select(r => r.Samples).Distinct().Count() > 1)
            throw new DeftException("The runs are not on the same data: " +
                string.Join("; ", runs.Select(r => $"{r.Directory}: {r.Samples} samples")) + ". Compare runs over the same samples and labels.");
        var fingerprinted = runs.Where(r => r.LabelsFingerprint is not null).ToList();
        if (fingerprinted.Select(r => r.LabelsFingerprint).Distinct().Count() > 1)
            throw new DeftException("The runs examined different labels: " +
                string.Join("; ", fingerprinted.Select(r => $"{r.Directory}: labels {r.LabelsFingerprint}")) + ". Compare runs over the same label file.");
        var notes = runs.Where(r => r.LabelsFingerprint is null)
            .Select(r => $"{r.Directory} records no labels fingerprint (an older run): only its sample count was checked.").ToList();
        return new Comparison(runs, notes);
    }

    private static ComparedRun Read(string directory)
    {
        if (!System.IO.Directory.Exists(directory)) throw new DeftException($"{directory}: no such directory; pass the {Setting.OutputDirectory} directory of a `deft detect` run.");
        var path = Path.Combine(directory, DetectionOutputs.SummaryFile);
        if (!File.Exists(path)) throw new DeftException($"{directory}: no {DetectionOutputs.SummaryFile}; pass the {Setting.OutputDirectory} directory of a finished `deft detect` run.");
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(File.ReadAllText(path));
        }
        catch (JsonException ex)
        {
            throw new DeftException($"{path}: not valid JSON ({ex.Message}).", ex);
        }
        if (root is not JsonObject summary) throw new DeftException($"{path}: expected a JSON object.");
        var samples = Number(summary["samples"]) is { } s ? (int)s : throw new DeftException($"{path}: no \"samples\" count; is this a detect summary?");
        var method = Text(summary["method"]) ?? Text(summary["config"]?["method"]) ?? "deft";
        var quality = summary["quality"] as JsonObject;
        var (accuracy, source) = TestAccuracy(directory);
        return new ComparedRun(directory, directory, method, samples, Text(summary["labels_fingerprint"]),
            (int)(Number(summary["issues"]) ?? 0), Number(summary["estimated_noise_rate"]) ?? double.NaN,
            Number(quality?["precision"]), Number(quality?["recall"]), Number(quality?["f1"]), Number(quality?["auroc"]),
            Number(summary["timings_seconds"]?["total_seconds"]), accuracy, source);
    }

    private static (double? Accuracy, string? Source) TestAccuracy(string directory)
    {
        foreach (var file in AdaptSummaryFiles)
        {
            var path = Path.Combine(directory, file);
            if (!File.Exists(path)) continue;
            JsonNode? root;
            try { root = JsonNode.Parse(File.ReadAllText(path)); }
            catch (JsonException) { continue; }
            foreach (var field in TestAccuracyFields)
            {
                JsonNode? node = root;
                foreach (var part in field.Split('.')) node = node is JsonObject o ? o[part] : null;
                if (Number(node) is { } v) return (v > 1 ? v / 100 : v, $"{file}:{field}");
            }
        }
        return (null, null);
    }

    private static double? Number(JsonNode? node)
    {
        if (node is not JsonValue value) return null;
        if (value.TryGetValue<double>(out var d)) return d;
        if (value.TryGetValue<string>(out var text) && double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out d)) return d;
        return null;
    }

    private static string? Text(JsonNode? node) => node is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;

    /// <summary>A GitHub-style markdown table; the test-accuracy column only when some run has one.</summary>
    public static string Markdown(Comparison comparison)
    {
        var runs = comparison.Runs;
        var withAccuracy = runs.Any(r => r.TestAccuracy is not null);
        var header = new List<string> { "run", "method", "precision", "recall", "F1", "AUROC", "est. noise rate", "issues", "wall time (s)" };
        if (withAccuracy) header.Add("test acc. (phase 2)");
        var sb = new StringBuilder();
        sb.Append("| ").AppendJoin(" | ", header).Append(" |\n");
        sb.Append('|').AppendJoin('|', header.Select(h => h is "run" or "method" ? "---" : "---:")).Append("|\n");
        foreach (var r in runs)
        {
            var cells = new List<string>
            {
                Cell(r.Name), Cell(r.Method), Fixed(r.Precision), Fixed(r.Recall), Fixed(r.F1), Fixed(r.Auroc),
                Percent(r.EstimatedNoiseRate), r.Issues.ToString(CultureInfo.InvariantCulture),
                r.WallSeconds is { } w ? w.ToString("F1", CultureInfo.InvariantCulture) : "—",
            };
            if (withAccuracy) cells.Add(Percent(r.TestAccuracy));
            sb.Append("| ").AppendJoin(" | ", cells).Append(" |\n");
        }
        return sb.ToString();
    }

    public static string Json(Comparison comparison) => JsonSerializer.Serialize(comparison, DetectionOutputs.JsonOptions) + "\n";

    private static string Cell(string text) => text.Replace("|", "\\|", StringComparison.Ordinal).Replace('\n', ' ');
    private static string Fixed(double? v) => v is { } x && !double.IsNaN(x) ? x.ToString("F4", CultureInfo.InvariantCulture) : "—";
    private static string Percent(double? v) => v is { } x && !double.IsNaN(x) ? (100 * x).ToString("F1", CultureInfo.InvariantCulture) + "%" : "—";
}
