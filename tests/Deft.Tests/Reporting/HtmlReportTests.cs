using System.Text.RegularExpressions;
using Deft.Data;
using Deft.Reporting;
using SkiaSharp;

namespace Deft.Tests.Reporting;

public class HtmlReportTests
{
    private static ReportInput SyntheticRun(int n = 400, int classes = 4, bool truth = true)
    {
        var rng = new Random(7);
        var names = Enumerable.Range(0, classes).Select(c => $"class_{c}").ToArray();
        var samples = new List<ReportSample>();
        for (var i = 0; i < n; i++)
        {
            var trueLabel = i % classes;
            var noisy = i % 5 == 0;
            var given = noisy ? (trueLabel + 1) % classes : trueLabel;
            var q = noisy ? rng.NextDouble() * 0.6 : 0.4 + rng.NextDouble() * 0.6;
            samples.Add(new ReportSample(i, given, q < 0.5 ? trueLabel : given, q, q < 0.5, truth ? trueLabel : null));
        }
        return new ReportInput("Synthetic run", names, samples,
            [new("samples", n.ToString()), new("flagged", samples.Count(s => s.IsLabelIssue).ToString())],
            truth ? new PrecisionRecallPoints([0, 0.5, 1], [1, 0.95, 0.8], "test curve") : null,
            i => new RgbImage(2, 2, Enumerable.Repeat((byte)(i % 256), 12).ToArray()));
    }

    [Fact]
    public void Report_has_every_section_and_one_thumbnail_per_issue_up_to_fifty()
    {
        var input = SyntheticRun();
        var html = HtmlReport.Render(input);
        foreach (var id in HtmlReport.SectionIds)
            Assert.Contains($"<section id=\"{id}\"", html);
        var figures = Regex.Matches(html, "<figure[ >]").Count;
        Assert.Equal(Math.Min(50, input.Samples.Count(s => s.IsLabelIssue)), figures);
        // The gallery is ordered by ascending label quality: the first caption is the minimum.
        var worst = input.Samples.Where(s => s.IsLabelIssue).MinBy(s => s.LabelQuality)!;
        var firstCaption = Regex.Match(html, "<figcaption><span class=\"name\">#(\\d+)</span><br>").Groups[1].Value;
        Assert.Equal(worst.Index.ToString(), firstCaption);
        // Every embedded image decodes as a PNG (self-contained page).
        var images = Regex.Matches(html, "data:image/png;base64,([A-Za-z0-9+/=]+)");
        Assert.Equal(4 + figures, images.Count);
        foreach (Match m in images)
        {
            using var bmp = SKBitmap.Decode(Convert.FromBase64String(m.Groups[1].Value));
            Assert.NotNull(bmp);
        }
        Assert.DoesNotContain("src=\"http", html);
    }

    [Fact]
    public void Thumbnails_show_the_file_name_with_the_full_path_on_hover_and_the_issue_table_sorts()
    {
        var input = SyntheticRun();
        input = input with { Samples = input.Samples.Select(s => s with { Source = $"/data/pets/class_{s.GivenLabel}/img_{s.Index:0000}.png" }).ToList() };
        var html = HtmlReport.Render(input);
        var worst = input.Samples.Where(s => s.IsLabelIssue).MinBy(s => s.LabelQuality)!;
        var name = $"img_{worst.Index:0000}.png";
        // The first thumbnail: hover title = the full path, caption = the file name (not "#index").
        var figure = Regex.Match(html, "<figure data-index=\"\\d+\" title=\"([^\"]*)\">.*?<figcaption><span class=\"name\">([^<]*)</span>");
        Assert.Equal(worst.Source, figure.Groups[1].Value);
        Assert.Equal(name, figure.Groups[2].Value);
        Assert.DoesNotContain($"<span class=\"name\">#{worst.Index}</span>", html);
        // One row per flagged sample, in rank order, under clickable headers with the inline sorter (no external script).
        var table = Regex.Match(html, "<table class=\"issues sortable\"><thead><tr>(.*?)</tr></thead><tbody>(.*?)</tbody></table><script>(.*?)</script>");
        Assert.True(table.Success, "no sortable issue table");
        Assert.Equal(["rank", "index", "file", "given", "suggested", "p(clean)", "true"],
            Regex.Matches(table.Groups[1].Value, "<th>([^<]*)</th>").Select(m => m.Groups[1].Value));
        var rows = Regex.Matches(table.Groups[2].Value, "<tr>(.*?)</tr>");
        Assert.Equal(input.Samples.Count(s => s.IsLabelIssue), rows.Count);
        Assert.Contains($"<td title=\"{worst.Source}\">{name}</td>", rows[0].Value);
        Assert.Contains("addEventListener('click'", table.Groups[3].Value);
        Assert.DoesNotContain("<script src", html);
    }

    [Fact]
    public void Without_ground_truth_the_curve_section_says_what_it_needs()
    {
        var html = HtmlReport.Render(SyntheticRun(truth: false));
        Assert.Contains("Needs ground truth", html);
        Assert.Equal(3 + Math.Min(50, SyntheticRun(truth: false).Samples.Count(s => s.IsLabelIssue)),
            Regex.Matches(html, "data:image/png;base64,").Count);
    }

    [Fact]
    public void Plot_labels_are_drawn_with_the_registered_font()
    {
        // With no usable font ScottPlot draws nothing for text: a plot with an axis label would equal one without.
        PlotFonts.EnsureRegistered();
        static byte[] Render(string label)
        {
            var plot = new ScottPlot.Plot();
            plot.Font.Set(PlotFonts.Family);
            plot.XLabel(label);
            plot.Axes.SetLimits(0, 1, 0, 1);
            return plot.GetImageBytes(300, 200, ScottPlot.ImageFormat.Png);
        }
        using var with = SKBitmap.Decode(Render("WWWWWWWW"));
        using var without = SKBitmap.Decode(Render(""));
        var darkWith = CountDark(with);
        var darkWithout = CountDark(without);
        Assert.True(darkWith > darkWithout + 100, $"label added only {darkWith - darkWithout} dark pixels");
    }

    private static int CountDark(SKBitmap bmp)
    {
        var n = 0;
        for (var y = 0; y < bmp.Height; y++)
            for (var x = 0; x < bmp.Width; x++)
                if (bmp.GetPixel(x, y).Red < 100) n++;
        return n;
    }

    [Fact]
    public void Write_produces_the_file_atomically_and_can_be_inspected()
    {
        var dir = Directory.CreateTempSubdirectory("deft-report");
        var path = Path.Combine(dir.FullName, "report.html");
        HtmlReport.Write(path, SyntheticRun(n: 200, classes: 10));
        Assert.True(new FileInfo(path).Length > 10_000);
        Assert.Single(Directory.GetFiles(dir.FullName)); // no temp file left behind
        var keep = Environment.GetEnvironmentVariable("DEFT_KEEP_REPORT");
        if (!string.IsNullOrEmpty(keep)) File.Copy(path, keep, overwrite: true);
        dir.Delete(true);
    }
}
