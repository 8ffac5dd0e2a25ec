using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Deft.Detection;
using Deft.Reporting;
using Deft.Tests.Methods;
using Xunit.Abstractions;

namespace Deft.Tests.Quality;

/// <summary>
/// End-to-end detection quality: <c>deft detect</c> (DeFT and every baseline) on real Fashion-MNIST images with
/// planted symmetric label noise (see <see cref="QualityWorkspace"/>) must find the wrong labels clearly better than
/// any scorer that ignores the images, and report.html must show summary.json's numbers.
/// <para>
/// What a scorer that ignores the images reaches here, with p = the share of wrong labels (about 0.36 for sym 0.4):
/// AUROC 0.5 (a constant score ties every pair, a random one is right on half of them in expectation); the
/// label-issue F1 at most 2p/(1+p) ≈ 0.53 (flag everything: precision p, recall 1; flagging a random share q gives
/// precision p and recall q, less). The floors below sit well above both and below the values measured on three
/// pre-training/noise seeds (listed per method), with margin for the spread.
/// </para>
/// </summary>
public sealed class DetectionQualityTests(QualityWorkspace ws, ITestOutputHelper output) : IClassFixture<QualityWorkspace>
{
    /// <summary>
    /// Run name, AUROC floor, label-issue F1 floor (null: none). Measured with pre-training and noise seeds 0 / 1 / 2
    /// (seed 0 is the one committed), AUROC; label-issue F1:
    /// deft 0.940 / 0.893 / 0.922; 0.833 / 0.739 / 0.803. deft-vpt 0.929 / 0.762 / 0.923; 0.823 / 0.570 / 0.793 (with
    /// 5 epochs VPT-deep sometimes flags far too many, so its F1 is not reliably above flag-all's 0.53: no F1 floor).
    /// label-match 0.960 / 0.937 / 0.948; 0.776 / 0.746 / 0.755. small-loss 0.959 / 0.935 / 0.945; 0.856 / 0.798 / 0.810.
    /// gmm 0.952 / 0.917 / 0.940; 0.851 / 0.699 / 0.797. default (clip-posterior), seed 0 only: 0.960; 0.822. confident-learning 0.955 / 0.938 / 0.940; 0.805 / 0.758 / 0.767.
    /// predicted-neq-given (same probabilities) 0.955 / 0.938 / 0.940; 0.776 / 0.745 / 0.755. self-confidence
    /// 0.955 / 0.938 / 0.940; 0.835 / 0.804 / 0.800.
    /// </summary>
    public static TheoryData<string, double, double?> Floors => new()
    {
        { "default", 0.90, 0.78 },
        { "deft", 0.84, 0.68 },
        { "deft-vpt", 0.70, null },
        { "label-match", 0.88, 0.69 },
        { "small-loss", 0.88, 0.74 },
        { "gmm", 0.86, 0.63 },
        { "confident-learning", 0.88, 0.70 },
        { "predicted-neq-given", 0.88, 0.69 },
        { "self-confidence", 0.88, 0.74 },
    };

    public static TheoryData<string> Runs => new(QualityWorkspace.RunArguments.Keys);

    private static (double Auroc, double IssueF1) Quality(IReadOnlyList<Row> rows)
    {
        var noisy = rows.Count(r => r.Given != r.True);
        var flagged = rows.Count(r => r.Issue);
        var hits = rows.Count(r => r.Issue && r.Given != r.True);
        return (PairwiseAuroc(rows), F1(hits, flagged, noisy));
    }

    [Fact]
    public void The_default_is_clip_posterior_and_it_beats_label_match_under_asymmetric_noise()
    {
        Assert.Equal("clip-posterior", (string?)MethodRuns.Summary(ws.Run("default", output))["method"]);
        var mine = Quality(ReadSamples(ws.Run("default" + QualityWorkspace.AsymSuffix, output)));
        var labelMatch = Quality(ReadSamples(ws.Run("label-match" + QualityWorkspace.AsymSuffix, output)));
        var deft = Quality(ReadSamples(ws.Run("deft" + QualityWorkspace.AsymSuffix, output)));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"asym 0.4: default AUROC {mine.Auroc:0.000} issue F1 {mine.IssueF1:0.000}; label-match {labelMatch.Auroc:0.000} {labelMatch.IssueF1:0.000}; deft {deft.Auroc:0.000} {deft.IssueF1:0.000}"));
        // The noise is structured (every class loses 40% to the next one): a fitted channel explains it, training on it
        // does not. Measured (seed 0): issue F1 0.851 against label-match 0.807 and deft 0.847; AUROC 0.975 / 0.974 / 0.967.
        // 1,000 images leave DeFT's prompts little to drift on; on 40,000 the gap to deft is 20 points
        // (docs/results/mini-seeds.md), so here the check is only that the default is not clearly worse than deft.
        Assert.True(mine.IssueF1 >= labelMatch.IssueF1 + 0.03, $"issue F1 {mine.IssueF1:0.000} vs label-match {labelMatch.IssueF1:0.000}");
        Assert.True(mine.IssueF1 >= deft.IssueF1 - 0.02, $"issue F1 {mine.IssueF1:0.000} vs deft {deft.IssueF1:0.000}");
        Assert.True(mine.Auroc >= labelMatch.Auroc - 0.005, $"AUROC {mine.Auroc:0.000} vs label-match {labelMatch.Auroc:0.000}");
    }

    private sealed record Row(int Index, int Given, int True, double Quality, bool Issue);

    private static List<Row> ReadSamples(string dir)
    {
        var (header, rows) = MethodRuns.ReadCsv(Path.Combine(dir, DetectionOutputs.SamplesFile));
        int Col(string name) => Array.IndexOf(header, name);
        return rows.Select(r => new Row(int.Parse(r[Col("index")], CultureInfo.InvariantCulture),
            int.Parse(r[Col("given_label")], CultureInfo.InvariantCulture), int.Parse(r[Col("true_label")], CultureInfo.InvariantCulture),
            MethodRuns.Number(r[Col("label_quality")]), r[Col("is_label_issue")] == "true")).ToList();
    }

    /// <summary>P(quality of a clean sample &gt; quality of a noisy one), ties counted half: pair by pair, no shared code.</summary>
    private static double PairwiseAuroc(IReadOnlyList<Row> rows)
    {
        var clean = rows.Where(r => r.Given == r.True).Select(r => r.Quality).ToArray();
        var noisy = rows.Where(r => r.Given != r.True).Select(r => r.Quality).ToArray();
        double wins = 0;
        foreach (var c in clean)
            foreach (var n in noisy)
                wins += c > n ? 1 : c == n ? 0.5 : 0;
        return wins / ((double)clean.Length * noisy.Length);
    }

    private static double F1(int truePositives, int predicted, int actual) =>
        truePositives == 0 ? 0 : 2.0 * truePositives / (predicted + actual);

    [Theory]
    [MemberData(nameof(Floors))]
    public void Detect_finds_the_planted_label_noise(string run, double aurocFloor, double? issueF1Floor)
    {
        var dir = ws.Run(run, output);
        var rows = ReadSamples(dir);
        Assert.Equal(ws.Downstream, rows.Select(r => r.Index).ToArray());
        var noisy = rows.Count(r => r.Given != r.True);
        Assert.Equal(ws.Noise.NoisyCount, noisy);
        var p = (double)noisy / rows.Count;

        var auroc = PairwiseAuroc(rows);
        var flagged = rows.Count(r => r.Issue);
        var hits = rows.Count(r => r.Issue && r.Given != r.True);
        var issueF1 = F1(hits, flagged, noisy);
        var cleanKept = rows.Count(r => !r.Issue && r.Given == r.True);
        var cleanF1 = F1(cleanKept, rows.Count - flagged, rows.Count - noisy);
        var trivialIssueF1 = 2 * p / (1 + p);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{run}: AUROC {auroc:0.000} (floor {aurocFloor}, chance 0.5), label-issue F1 {issueF1:0.000} (floor {issueF1Floor}, flag-all {trivialIssueF1:0.000}), flagged {flagged}, of them wrong {hits}, wrong {noisy}; clean-selection F1 {cleanF1:0.000} (keep-all {2 * (1 - p) / (2 - p):0.000})"));

        // The floors must mean something on these labels: above what ignoring the images can reach.
        Assert.True(aurocFloor >= 0.5 + 0.15 && (issueF1Floor is null || issueF1Floor >= trivialIssueF1 + 0.05),
            $"floors ({aurocFloor}, {issueF1Floor}) too close to chance (0.5, {trivialIssueF1:0.000})");
        Assert.True(auroc >= aurocFloor, $"{run}: AUROC of label_quality {auroc:0.000} < {aurocFloor} (chance 0.5)");
        if (issueF1Floor is { } f1Floor)
            Assert.True(issueF1 >= f1Floor, $"{run}: label-issue F1 {issueF1:0.000} < {f1Floor} (flagging everything gives {trivialIssueF1:0.000})");

        // summary.json reports the same quality, computed by the library from the same rows.
        var q = MethodRuns.Summary(dir)["quality"]!;
        Close(auroc, (double)q["auroc"]!, 1e-4, "summary.json auroc");   // samples.csv keeps 9 significant digits of label_quality
        Assert.Equal(cleanF1, (double)q["f1"]!, 9);
        Assert.Equal(noisy, (int)q["truly_noisy"]!);
        Assert.Equal(flagged == 0 ? 0 : (double)hits / flagged, (double)q["issue_precision"]!, 9);
        Assert.Equal((double)hits / noisy, (double)q["issue_recall"]!, 9);
    }

    private static void Close(double expected, double actual, double tolerance, string what) =>
        Assert.True(Math.Abs(expected - actual) <= tolerance, $"{what}: {actual} vs {expected} (tolerance {tolerance})");

    /// <summary>The rows of report.html's summary table, decoded.</summary>
    private static Dictionary<string, string> SummaryCells(string html)
    {
        var section = Regex.Match(html, "<section id=\"summary\">(.*?)</section>", RegexOptions.Singleline);
        Assert.True(section.Success, "report.html has no summary section");
        var cells = new Dictionary<string, string>();
        foreach (Match m in Regex.Matches(section.Groups[1].Value, "<tr><th>(.*?)</th><td>(.*?)</td></tr>", RegexOptions.Singleline))
            cells.Add(WebUtility.HtmlDecode(m.Groups[1].Value), WebUtility.HtmlDecode(m.Groups[2].Value));
        return cells;
    }

    /// <summary>A percentage as the report prints it (one decimal, the current culture's sign and spacing) as a fraction.</summary>
    private static double Percent(string text, string what)
    {
        var m = Regex.Match(text, @"([0-9]+(?:[.,][0-9]+)?)\s*%");
        Assert.True(m.Success, $"{what}: no percentage in '{text}'");
        return double.Parse(m.Groups[1].Value.Replace(',', '.'), CultureInfo.InvariantCulture) / 100;
    }

    [Theory]
    [MemberData(nameof(Runs))]
    public void Report_html_shows_summary_json_s_numbers(string run)
    {
        var dir = ws.Run(run, output);
        var summary = MethodRuns.Summary(dir);
        var html = File.ReadAllText(Path.Combine(dir, DetectionHtmlReport.FileName));
        var cells = SummaryCells(html);
        output.WriteLine(string.Join("\n", cells.Select(c => $"{c.Key}: {c.Value}")));
        var rows = ReadSamples(dir);

        var samples = (int)summary["samples"]!;
        var issues = (int)summary["issues"]!;
        var estimated = (double)summary["estimated_noise_rate"]!;
        // summary.json agrees with the files it summarises.
        Assert.Equal(rows.Count, samples);
        Assert.Equal(rows.Count(r => r.Issue), issues);
        Assert.Equal(samples - issues, (int)summary["clean"]!);
        Assert.Equal((double)issues / samples, estimated, 12);

        if (summary["config"]?["method"] is { } method) Assert.Equal((string?)method, cells["method"]);
        Assert.Equal(samples.ToString(CultureInfo.InvariantCulture), cells["samples"]);
        var flaggedCell = cells["flagged as label issues"];
        Assert.StartsWith($"{issues.ToString(CultureInfo.InvariantCulture)} (", flaggedCell);
        Close(estimated, Percent(flaggedCell, "estimated noise rate"), 0.0005 + 1e-9, "estimated noise rate cell");   // printed to 0.1%
        Assert.Equal((string?)summary["selection"], cells["selection"]);
        Assert.Equal((string?)summary["config"]!["model"], cells["model"]);
        var total = (double)summary["timings_seconds"]!["total_seconds"]!;
        var wall = Regex.Match(cells["wall time"], @"^([0-9]+(?:[.,][0-9])?) s$");
        Assert.True(wall.Success, $"wall time cell '{cells["wall time"]}'");
        Close(total, double.Parse(wall.Groups[1].Value.Replace(',', '.'), CultureInfo.InvariantCulture), 0.05 + 1e-9, "wall time cell");

        var q = summary["quality"]!;
        var trueCell = cells["true noise rate"];
        Close((double)q["true_noise_rate"]!, Percent(trueCell, "true noise rate"), 0.0005 + 1e-9, "true noise rate cell");
        Assert.EndsWith($"({(int)q["truly_noisy"]!} samples)", trueCell);
        string Four(string key) => ((double)q[key]!).ToString("0.0000", CultureInfo.InvariantCulture);
        Assert.Equal($"{Four("precision")} / {Four("recall")} / {Four("f1")}", cells["clean selection: precision / recall / F1"]);
        Assert.Equal(Four("auroc"), cells["AUROC of label quality"]);

        // The gallery: its count of flagged samples, and the most certain issues in label_issues.csv's order.
        var gallery = Regex.Match(html, @"The (\d+) samples with the lowest p\(clean\) among (\d+) flagged");
        Assert.True(gallery.Success, "report.html has no issue gallery caption");
        Assert.Equal(issues, int.Parse(gallery.Groups[2].Value, CultureInfo.InvariantCulture));
        var shown = int.Parse(gallery.Groups[1].Value, CultureInfo.InvariantCulture);
        Assert.Equal(Math.Min(issues, 50), shown);
        var figures = Regex.Matches(html, "<figure data-index=\"(\\d+)\" title=\"([^\"]*)\">").ToList();
        var (_, ranked) = MethodRuns.ReadCsv(Path.Combine(dir, DetectionOutputs.IssuesFile));
        Assert.Equal(ranked.Take(shown).Select(r => int.Parse(r[0], CultureInfo.InvariantCulture)), figures.Select(m => int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)));
        // Each thumbnail's hover text is its sample's source, as label_issues.csv names it.
        Assert.Equal(ranked.Take(shown).Select(r => r[1]), figures.Select(m => System.Net.WebUtility.HtmlDecode(m.Groups[2].Value)));
    }
}
