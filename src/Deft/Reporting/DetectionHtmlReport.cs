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
        return new ReportInput(title, report.Classes, samples, summary, pr, data is null ? null : data.GetImage);
    }
}
