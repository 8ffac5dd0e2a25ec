using System.Globalization;
using System.Net;
using System.Text;
using Deft.Data;
using Deft.IO;
using ScottPlot;
using SkiaSharp;

namespace Deft.Reporting;

/// <summary>
/// Writes one self-contained HTML file (plots and thumbnails embedded as base64 PNG) that lets a user act on a
/// detection run: how scores separate clean from noisy samples, the precision–recall trade-off, which classes are
/// noisiest, where given labels disagree with suggestions, and the most certain issues to look at first.
/// </summary>
public static class HtmlReport
{
    private const int PlotWidth = 640;
    private const int PlotHeight = 400;

    /// <summary>Section ids, in page order; tests check the page has each.</summary>
    public static IReadOnlyList<string> SectionIds { get; } =
        ["summary", "quality-histogram", "precision-recall", "class-noise", "label-matrix", "issues", DetectionHtmlReport.DataIssuesSectionId];

    public static void Write(string path, ReportInput input) => AtomicFile.WriteAllText(path, Render(input));

    public static string Render(ReportInput input)
    {
        PlotFonts.EnsureRegistered();
        var html = new StringBuilder();
        html.Append("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>")
            .Append(Enc(input.Title)).Append("</title><style>").Append(Css).Append("</style></head><body>");
        html.Append("<h1>").Append(Enc(input.Title)).Append("</h1>");

        html.Append("<section id=\"summary\"><h2>Summary</h2><table class=\"kv\">");
        foreach (var (k, v) in input.Summary)
            html.Append("<tr><th>").Append(Enc(k)).Append("</th><td>").Append(Enc(v)).Append("</td></tr>");
        html.Append("</table></section>");

        Section(html, "quality-histogram", "Label quality",
            input.HasGroundTruth
                ? "p(clean) for samples whose given label is right (clean) and wrong (noisy). A good detector pushes them apart; samples under 0.5 are flagged."
                : "p(clean) of every sample; samples under 0.5 are flagged as label issues.",
            QualityHistogram(input));
        Section(html, "precision-recall", "Precision–recall of the clean selection",
            input.PrecisionRecall?.Description ?? "Needs ground truth (a labels file with true_label).",
            input.PrecisionRecall is null ? null : PrecisionRecallPlot(input.PrecisionRecall, input));
        Section(html, "class-noise", "Estimated noise rate per class",
            "Fraction of samples of each given class flagged as label issues" + (input.HasGroundTruth ? ", beside the true fraction of wrong labels." : "."),
            ClassNoise(input));
        Section(html, "label-matrix", "Given vs suggested label",
            "Rows: given label; columns: the detector's suggested label (argmax of the positive prompts). Cells: share of the row.",
            LabelMatrix(input));
        IssueGallery(html, input);
        html.Append(DetectionHtmlReport.DataIssuesSection(input.DataIssues, input.Classes));
        html.Append("</body></html>");
        return html.ToString();
    }

    private static void Section(StringBuilder html, string id, string title, string caption, byte[]? png)
    {
        html.Append("<section id=\"").Append(id).Append("\"><h2>").Append(Enc(title)).Append("</h2><p>").Append(Enc(caption)).Append("</p>");
        if (png is not null)
            html.Append("<img alt=\"").Append(Enc(title)).Append("\" src=\"data:image/png;base64,").Append(Convert.ToBase64String(png)).Append("\">");
        html.Append("</section>");
    }

    private static byte[] QualityHistogram(ReportInput input)
    {
        var plot = NewPlot("p(clean) for the given label", "samples");
        var bins = 20;
        void AddBars(IEnumerable<double> values, ScottPlot.Color color, string label, double offset)
        {
            var counts = new double[bins];
            foreach (var v in values) counts[Math.Clamp((int)(v * bins), 0, bins - 1)]++;
            var bars = Enumerable.Range(0, bins).Select(b => new Bar
            {
                Position = (b + 0.5) / bins + offset, Value = counts[b], Size = 0.5 / bins * (offset == 0 ? 2 : 1),
                FillColor = color, LineWidth = 0,
            }).ToList();
            var plottable = plot.Add.Bars(bars);
            plottable.LegendText = label;
        }
        if (input.HasGroundTruth)
        {
            AddBars(input.Samples.Where(s => s.TrueLabel == s.GivenLabel).Select(s => s.LabelQuality), Colors.SteelBlue, "clean (given = true)", -0.25 / bins);
            AddBars(input.Samples.Where(s => s.TrueLabel != s.GivenLabel).Select(s => s.LabelQuality), Colors.OrangeRed, "noisy (given ≠ true)", 0.25 / bins);
            plot.ShowLegend(Edge.Bottom); // outside the data area: a legend inside hid the tallest bars
        }
        else
        {
            AddBars(input.Samples.Select(s => s.LabelQuality), Colors.SteelBlue, "all samples", 0);
        }
        var line = plot.Add.VerticalLine(0.5, 1, Colors.Black, LinePattern.Dashed);
        line.LegendText = "threshold 0.5";
        plot.Axes.SetLimitsX(0, 1);
        plot.Axes.Margins(bottom: 0);
        return plot.GetImageBytes(PlotWidth, PlotHeight, ImageFormat.Png);
    }

    private static byte[] PrecisionRecallPlot(PrecisionRecallPoints pr, ReportInput input)
    {
        var plot = NewPlot("recall (share of clean samples kept)", "precision (kept samples that are clean)");
        var curve = plot.Add.ScatterLine(pr.Recall.ToArray(), pr.Precision.ToArray(), Colors.SteelBlue);
        curve.LineWidth = 2;
        curve.LegendText = "label_quality as a clean score";
        var kept = input.Samples.Where(s => !s.IsLabelIssue).ToList();
        var clean = input.Samples.Count(s => s.TrueLabel == s.GivenLabel);
        if (kept.Count > 0 && clean > 0)
        {
            var tp = kept.Count(s => s.TrueLabel == s.GivenLabel);
            var point = plot.Add.Marker((double)tp / clean, (double)tp / kept.Count, MarkerShape.FilledCircle, 10, Colors.OrangeRed);
            point.LegendText = "selection (p > 0.5)";
        }
        var baseRate = (double)clean / input.Samples.Count;
        var chance = plot.Add.HorizontalLine(baseRate, 1, Colors.Gray, LinePattern.Dotted);
        chance.LegendText = $"keep everything ({baseRate:P0} clean)";
        plot.ShowLegend(Edge.Bottom);
        plot.Axes.SetLimits(0, 1.02, Math.Max(0, baseRate - 0.1), 1.02);
        return plot.GetImageBytes(PlotWidth, PlotHeight, ImageFormat.Png);
    }

    private static byte[] ClassNoise(ReportInput input)
    {
        var plot = NewPlot("", "fraction of the class");
        var classes = input.Classes.Count;
        var n = new double[classes];
        var flagged = new double[classes];
        var wrong = new double[classes];
        foreach (var s in input.Samples)
        {
            n[s.GivenLabel]++;
            if (s.IsLabelIssue) flagged[s.GivenLabel]++;
            if (s.TrueLabel.HasValue && s.TrueLabel != s.GivenLabel) wrong[s.GivenLabel]++;
        }
        var truth = input.HasGroundTruth;
        var width = truth ? 0.4 : 0.8;
        var est = plot.Add.Bars(Enumerable.Range(0, classes).Select(c => new Bar
        {
            Position = c - (truth ? 0.2 : 0), Value = n[c] == 0 ? 0 : flagged[c] / n[c], Size = width, FillColor = Colors.OrangeRed, LineWidth = 0,
        }).ToList());
        est.LegendText = "flagged (estimated noise rate)";
        if (truth)
        {
            var real = plot.Add.Bars(Enumerable.Range(0, classes).Select(c => new Bar
            {
                Position = c + 0.2, Value = n[c] == 0 ? 0 : wrong[c] / n[c], Size = width, FillColor = Colors.Gray, LineWidth = 0,
            }).ToList());
            real.LegendText = "true noise rate";
        }
        plot.ShowLegend(Edge.Bottom);
        plot.Axes.Bottom.SetTicks(Enumerable.Range(0, classes).Select(c => (double)c).ToArray(), input.Classes.Select(Short).ToArray());
        RotateClassTicks(plot, input.Classes);
        plot.Axes.Margins(bottom: 0);
        return plot.GetImageBytes(PlotWidth, PlotHeight + (classes > 6 ? 60 : 0), ImageFormat.Png);
    }

    private static byte[] LabelMatrix(ReportInput input)
    {
        var classes = input.Classes.Count;
        var counts = new double[classes, classes];
        foreach (var s in input.Samples) counts[s.GivenLabel, s.SuggestedLabel]++;
        var share = new double[classes, classes];
        for (var r = 0; r < classes; r++)
        {
            double sum = 0;
            for (var c = 0; c < classes; c++) sum += counts[r, c];
            for (var c = 0; c < classes; c++) share[r, c] = sum == 0 ? 0 : counts[r, c] / sum;
        }
        // ScottPlot draws the array's first row at the top, as an image; the tick positions below follow that.
        var plot = NewPlot("suggested label", "given label");
        var heat = plot.Add.Heatmap(share);
        heat.Colormap = new ScottPlot.Colormaps.Viridis();
        // ScottPlot's extent runs from the centre of the first cell to the centre of the last, so this puts cell
        // (r, c) on x in [c, c+1], y in [classes-1-r, classes-r].
        heat.Extent = new CoordinateRect(0.5, classes - 0.5, 0.5, classes - 0.5);
        if (classes <= 20)
        {
            for (var r = 0; r < classes; r++)
                for (var c = 0; c < classes; c++)
                {
                    if (counts[r, c] == 0) continue;
                    var t = plot.Add.Text(counts[r, c].ToString(CultureInfo.InvariantCulture), c + 0.5, classes - 0.5 - r);
                    t.LabelFontSize = classes > 12 ? 9 : 12;
                    t.LabelFontColor = share[r, c] > 0.5 ? Colors.Black : Colors.White;
                    t.LabelAlignment = Alignment.MiddleCenter;
                }
        }
        var ticks = Enumerable.Range(0, classes).Select(c => c + 0.5).ToArray();
        plot.Axes.Bottom.SetTicks(ticks, input.Classes.Select(Short).ToArray());
        plot.Axes.Left.SetTicks(ticks.Select(t => classes - t).ToArray(), input.Classes.Select(Short).ToArray());
        RotateClassTicks(plot, input.Classes);
        plot.Add.ColorBar(heat);
        plot.Axes.SetLimits(0, classes, 0, classes);
        return plot.GetImageBytes(PlotWidth + 80, PlotWidth, ImageFormat.Png);
    }

    /// <summary>Rows of the sortable issue table at most (the CSV files hold them all).</summary>
    internal const int IssueTableRows = 1000;

    private static void IssueGallery(StringBuilder html, ReportInput input)
    {
        var flagged = input.Samples.Where(s => s.IsLabelIssue).OrderBy(s => s.LabelQuality).ThenBy(s => s.Index).ToList();
        var issues = flagged.Take(input.Thumbnails).ToList();
        html.Append("<section id=\"issues\"><h2>Most certain label issues</h2><p>")
            .Append(Enc($"The {issues.Count} samples with the lowest p(clean) among {flagged.Count} flagged; check these first. Hover a name for the full path."))
            .Append("</p><div class=\"gallery\">");
        foreach (var s in issues)
        {
            var name = DisplayName(s);
            html.Append("<figure data-index=\"").Append(s.Index).Append("\" title=\"").Append(Enc(s.Source ?? name)).Append("\">");
            if (input.LoadImage is not null)
            {
                var png = Thumbnail(input.LoadImage(s.Index));
                html.Append("<img alt=\"").Append(Enc(name)).Append("\" src=\"data:image/png;base64,").Append(Convert.ToBase64String(png)).Append("\">");
            }
            html.Append("<figcaption><span class=\"name\">").Append(Enc(name)).Append("</span><br>given <b>").Append(Enc(input.Classes[s.GivenLabel]))
                .Append("</b><br>suggested <b>").Append(Enc(input.Classes[s.SuggestedLabel])).Append("</b><br>p(clean) ")
                .Append(s.LabelQuality.ToString("0.000", CultureInfo.InvariantCulture));
            if (s.TrueLabel is { } t)
                html.Append("<br>true ").Append(Enc(input.Classes[t]));
            html.Append("</figcaption></figure>");
        }
        html.Append("</div>");

        // Every flagged sample (up to IssueTableRows), sortable by clicking a header; numbers sort as numbers.
        var rows = flagged.Take(IssueTableRows).ToList();
        html.Append("<h3>All flagged samples</h3><p>")
            .Append(Enc(rows.Count < flagged.Count
                ? $"The {rows.Count} most certain of {flagged.Count}; label_issues.csv lists all. Click a header to sort."
                : $"All {flagged.Count}, most certain first. Click a header to sort."))
            .Append("</p><table class=\"issues sortable\"><thead><tr>");
        var truth = input.HasGroundTruth;
        string[] headers = truth ? ["rank", "index", "file", "given", "suggested", "p(clean)", "true"] : ["rank", "index", "file", "given", "suggested", "p(clean)"];
        foreach (var h in headers) html.Append("<th>").Append(Enc(h)).Append("</th>");
        html.Append("</tr></thead><tbody>");
        for (var r = 0; r < rows.Count; r++)
        {
            var s = rows[r];
            html.Append("<tr><td>").Append(r + 1).Append("</td><td>").Append(s.Index).Append("</td><td title=\"")
                .Append(Enc(s.Source ?? "")).Append("\">").Append(Enc(DisplayName(s))).Append("</td><td>")
                .Append(Enc(input.Classes[s.GivenLabel])).Append("</td><td>").Append(Enc(input.Classes[s.SuggestedLabel])).Append("</td><td>")
                .Append(s.LabelQuality.ToString("0.0000", CultureInfo.InvariantCulture)).Append("</td>");
            if (truth) html.Append("<td>").Append(s.TrueLabel is { } t ? Enc(input.Classes[t]) : "").Append("</td>");
            html.Append("</tr>");
        }
        html.Append("</tbody></table><script>").Append(SortScript).Append("</script></section>");
    }

    /// <summary>The file name of a sample's source ("cat_01.png", "t10k-images-idx3-ubyte.gz#12"), else "#index".</summary>
    internal static string DisplayName(ReportSample s) =>
        string.IsNullOrEmpty(s.Source) ? "#" + s.Index.ToString(CultureInfo.InvariantCulture)
            : Path.GetFileName(s.Source.TrimEnd('/', '\\')) is { Length: > 0 } name ? name : s.Source;

    /// <summary>Click a header of a table.sortable to sort by it (again: reverse); cells that are numbers sort as numbers.</summary>
    private const string SortScript =
        "document.querySelectorAll('table.sortable').forEach(function(t){var hs=t.tHead.rows[0].cells;" +
        "Array.prototype.forEach.call(hs,function(h,i){h.addEventListener('click',function(){" +
        "var asc=h.getAttribute('aria-sort')!=='ascending';Array.prototype.forEach.call(hs,function(o){o.removeAttribute('aria-sort');});" +
        "h.setAttribute('aria-sort',asc?'ascending':'descending');var b=t.tBodies[0];var rs=Array.prototype.slice.call(b.rows);" +
        "var num=/^-?[0-9.]+(e-?[0-9]+)?$/;rs.sort(function(x,y){var a=x.cells[i].textContent.trim(),c=y.cells[i].textContent.trim();" +
        "var d=num.test(a)&&num.test(c)?parseFloat(a)-parseFloat(c):a.localeCompare(c);" +
        "return asc?d:-d;});rs.forEach(function(r){b.appendChild(r);});});});});";

    /// <summary>A PNG at most 96 px on its longer side (small images are enlarged with nearest-neighbour so pixels stay visible).</summary>
    internal static byte[] Thumbnail(RgbImage image)
    {
        var scale = 96.0 / Math.Max(image.Width, image.Height);
        var w = Math.Max(1, (int)Math.Round(image.Width * scale));
        var h = Math.Max(1, (int)Math.Round(image.Height * scale));
        var info = new SKImageInfo(image.Width, image.Height, SKColorType.Rgba8888, SKAlphaType.Opaque);
        using var source = new SKBitmap(info);
        var rgba = new byte[image.Width * image.Height * 4];
        for (int p = 0, q = 0; p < image.Pixels.Length; p += 3, q += 4)
        {
            rgba[q] = image.Pixels[p];
            rgba[q + 1] = image.Pixels[p + 1];
            rgba[q + 2] = image.Pixels[p + 2];
            rgba[q + 3] = 255;
        }
        System.Runtime.InteropServices.Marshal.Copy(rgba, 0, source.GetPixels(), rgba.Length);
        var sampling = scale > 1 ? new SKSamplingOptions(SKFilterMode.Nearest) : new SKSamplingOptions(SKCubicResampler.Mitchell);
        using var resized = source.Resize(new SKImageInfo(w, h, SKColorType.Rgba8888, SKAlphaType.Opaque), sampling);
        using var data = resized.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }

    /// <summary>Many class names do not fit side by side: slant them and give the axis room for the longest.</summary>
    private static void RotateClassTicks(Plot plot, IReadOnlyList<string> classes)
    {
        if (classes.Count <= 6) return;
        plot.Axes.Bottom.TickLabelStyle.Rotation = 45;
        plot.Axes.Bottom.TickLabelStyle.Alignment = Alignment.MiddleLeft;
        plot.Axes.Bottom.MinimumSize = 20 + 7 * classes.Max(c => Short(c).Length);
    }

    private static Plot NewPlot(string xLabel, string yLabel)
    {
        var plot = new Plot();
        plot.XLabel(xLabel);
        plot.YLabel(yLabel);
        plot.Font.Set(PlotFonts.Family);
        return plot;
    }

    private static string Short(string name) => name.Length <= 14 ? name : name[..13] + "…";

    private static string Enc(string s) => WebUtility.HtmlEncode(s);

    private const string Css =
        "body{font-family:'DejaVu Sans',Arial,sans-serif;margin:24px;max-width:1100px;color:#222}" +
        "h1{font-size:22px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ddd}" +
        "table.kv th{text-align:left;padding:2px 16px 2px 0;font-weight:600}table.kv td{padding:2px 0}" +
        "section img{max-width:100%}.gallery{display:flex;flex-wrap:wrap;gap:10px}" +
        "figure{margin:0;width:120px;font-size:11px;text-align:center}figure img{width:96px;height:96px;object-fit:contain;image-rendering:pixelated;border:1px solid #ccc}" +
        "figure .name{display:inline-block;max-width:118px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;vertical-align:bottom}" +
        "table.issues{border-collapse:collapse;font-size:12px;margin-top:8px}table.issues th,table.issues td{border:1px solid #ddd;padding:2px 8px;text-align:left}" +
        "table.sortable th{cursor:pointer;background:#f4f4f4;user-select:none}table.sortable th[aria-sort=ascending]::after{content:' \\25B2'}" +
        "table.sortable th[aria-sort=descending]::after{content:' \\25BC'}";
}
