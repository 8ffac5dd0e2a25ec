using System.Globalization;
using Deft.Data;
using Deft.Detection;
using Deft.Metrics;

namespace Deft.Reporting;

/// <summary>Builds the HTML report of a detection run (DIR/report.html) from its report and data set.</summary>
public static class DetectionHtmlReport
{
    public const string FileName = "report.html";

    /// <summary>Writes <c>report.html</c> into <paramref name="directory"/>; returns its path.</summary>
    public static string Write(string directory, DetectionReport report, IImageDataset? data, string title = "Deft label-issue report")
    {
        var path = Path.Combine(directory, FileName);
        HtmlReport.Write(path, ToInput(report, data, title));
        return path;
    }

    public static ReportInput ToInput(DetectionReport report, IImageDataset? data, string title)
    {
        var samples = report.Samples.Select(s => new ReportSample(s.Index, s.GivenLabel, s.SuggestedLabel, s.LabelQuality, s.IsLabelIssue, s.TrueLabel, s.Source)).ToList();
        var s = report.Summary;
        var summary = new List<KeyValuePair<string, string>>
        {
            new("samples", s.Samples.ToString(CultureInfo.InvariantCulture)),
            new("flagged as label issues", $"{s.Issues} ({s.EstimatedNoiseRate:P1} estimated noise rate)"),
            new("selection", s.Selection),
        };
        if (s.Config.TryGetValue("method", out var method) && method is not null) summary.Insert(0, new("method", method.ToString()!));
        if (s.Config.TryGetValue("model", out var model) && model is not null) summary.Add(new("model", model.ToString()!));
        if (s.Quality is { } q)
        {
            summary.Add(new("true noise rate", $"{q.TrueNoiseRate:P1} ({q.TrulyNoisy} samples)"));
            // Issue side first (cleanlab's view), then the clean selection (the DeFT paper's).
            summary.Add(new("label issues: precision / recall / F1", string.Create(CultureInfo.InvariantCulture, $"{q.IssuePrecision:0.0000} / {q.IssueRecall:0.0000} / {q.IssueF1:0.0000}")));
            summary.Add(new("precision@10 / @100 / @flagged", string.Join(" / ", new[] { q.PrecisionAt10, q.PrecisionAt100, q.PrecisionAtFlagged }
                .Select(v => v is { } x ? x.ToString("0.000", CultureInfo.InvariantCulture) : "n/a"))));
            summary.Add(new("clean selection: precision / recall / F1", string.Create(CultureInfo.InvariantCulture, $"{q.Precision:0.0000} / {q.Recall:0.0000} / {q.F1:0.0000}")));
            summary.Add(new("AUROC of label quality", q.Auroc.ToString("0.0000", CultureInfo.InvariantCulture)));
        }
        if (s.TimingsSeconds.TryGetValue("total_seconds", out var total))
            summary.Add(new("wall time", $"{total:0.0} s"));

        PrecisionRecallPoints? pr = null;
        if (samples.Count > 0 && samples.All(x => x.TrueLabel.HasValue))
        {
            var curve = DetectionMetrics.PrecisionRecall(samples.Select(x => x.LabelQuality).ToArray(),
                samples.Select(x => x.TrueLabel == x.GivenLabel).ToArray());
            // Thin the curve to at most ~400 points: enough for a smooth line, small enough for the page.
            var step = Math.Max(1, curve.Points.Count / 400);
            var points = curve.Points.Where((_, i) => i % step == 0 || i == curve.Points.Count - 1).ToList();
            pr = new PrecisionRecallPoints(points.Select(p => p.Recall).ToArray(), points.Select(p => p.Precision).ToArray(),
                $"Samples ranked by label quality (p(clean)); average precision {curve.AveragePrecision:0.000}. The dot is the selection at p > 0.5.");
        }
        return new ReportInput(title, report.Classes, samples, summary, pr, data is null ? null : data.GetImage) { DataIssues = report.DataIssues };
    }

    /// <summary>The id of the data-issues section of report.html.</summary>
    public const string DataIssuesSectionId = "data-issues";

    /// <summary>The most rows the data-issues table shows; data_issues.csv holds them all.</summary>
    internal const int DataIssueRows = 200;

    /// <summary>
    /// The "Data issues" section: counts by kind, then one row per issue (kind, sample, file name with the full path on
    /// hover, label, score, detail), in data_issues.csv's order; a note when there are none.
    /// </summary>
    internal static string DataIssuesSection(IReadOnlyList<DataIssue> issues, IReadOnlyList<string> classes)
    {
        static string Enc(string s) => System.Net.WebUtility.HtmlEncode(s);
        var html = new System.Text.StringBuilder();
        html.Append("<section id=\"").Append(DataIssuesSectionId).Append("\"><h2>Data issues</h2><p>");
        if (issues.Count == 0)
        {
            html.Append("No unreadable, empty or missing images, no empty classes").Append(", no near-duplicates or outliers among the samples whose features were computed.</p></section>");
            return html.ToString();
        }
        var counts = DataIssues.Counts(issues);
        html.Append(Enc(string.Join(" · ", counts.Select(c => $"{c.Key.Replace('_', ' ')}: {c.Value}"))))
            .Append(Enc(". Skipped files take no part in the run; an empty class keeps its id. Score: in [0, 1], lower is more severe" +
                " (duplicates: 1 − cosine similarity; outliers: the normal tail probability of their distance). data_issues.csv lists every issue."))
            .Append("</p><table class=\"data-issues\"><thead><tr><th>kind</th><th>sample</th><th>file</th><th>label</th><th>score</th><th>detail</th></tr></thead><tbody>");
        foreach (var d in issues.Take(DataIssueRows))
        {
            var name = d.Source.Contains('/') ? Path.GetFileName(d.Source.TrimEnd('/')) : d.Source;
            html.Append("<tr><td>").Append(Enc(DataIssues.Name(d.Kind))).Append("</td><td>")
                .Append(d.Index?.ToString(CultureInfo.InvariantCulture) ?? "–").Append("</td><td title=\"").Append(Enc(d.Source)).Append("\">")
                .Append(Enc(name)).Append("</td><td>")
                .Append(d.Label is { } l && (uint)l < (uint)classes.Count ? Enc(classes[l]) : "").Append("</td><td>")
                .Append(d.Score.ToString(d.Score is > 0 and < 0.001 ? "0.##E+0" : "0.####", CultureInfo.InvariantCulture)).Append("</td><td>").Append(Enc(d.Detail)).Append("</td></tr>");
        }
        html.Append("</tbody></table>");
        if (issues.Count > DataIssueRows)
            html.Append("<p>").Append(Enc($"… and {issues.Count - DataIssueRows} more in data_issues.csv.")).Append("</p>");
        html.Append("</section>");
        return html.ToString();
    }
}
