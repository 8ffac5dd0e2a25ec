using System.Globalization;
using Deft.Detection;
using Deft.Tests.Data;
using Xunit.Abstractions;

namespace Deft.Tests.Quality;

/// <summary>
/// The scenario of issue #17, as a new user meets it: a folder of PNGs in class folders, 2,000 images of which 400 were
/// put into a wrong class folder, and a plain <c>deft detect</c> with no method or threshold flags. The issues a user
/// reads first, the 100 of lowest label quality, must be real label errors (precision@100 ≥ 0.95).
/// </summary>
public sealed class PlantedFolderTests(QualityWorkspace ws, ITestOutputHelper output) : IClassFixture<QualityWorkspace>
{
    private const int Images = 2000;
    private const int Planted = 400;
    /// <summary>The issue's target. Measured with the committed seeds: precision@100 0.970; 544 flagged, issue precision 0.640, recall 0.870.</summary>
    private const double Floor = 0.95;

    [Fact]
    public void The_default_detect_on_a_folder_with_planted_wrong_labels_ranks_real_errors_first()
    {
        var root = ws.Scratch("planted-folder");
        // Downstream images: never seen in pre-training.
        var indices = Deft.Pretraining.MiniProtocol.DownstreamIndices(ws.Train.Count).Take(Images).ToArray();
        var rng = new Random(17);
        var planted = indices.OrderBy(_ => rng.Next()).Take(Planted).ToHashSet();
        var wrongPaths = new HashSet<string>(StringComparer.Ordinal);
        var idx = (Deft.Data.IdxDataset)ws.Train;
        foreach (var i in indices)
        {
            var truth = ws.Train.GetLabel(i);
            var folder = planted.Contains(i) ? (truth + 1 + rng.Next(9)) % 10 : truth;
            var path = Path.Combine(root, $"c{folder}", $"img{i:D5}.png");
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllBytes(path, TestImages.Png(idx.ImageWidth, idx.ImageHeight, 0, idx.GetRawPixels(i)));
            if (folder != truth) wrongPaths.Add(Path.GetFullPath(path));
        }
        Assert.Equal(Planted, wrongPaths.Count);

        var outDir = ws.Scratch("runs", "planted-folder");
        var code = CliHarness.Run(["detect", "--model", ws.ModelDirectory, "--data", root, "--format", "folder",
            "--classes", ws.ClassesFile, "--threads", "1", "--out", outDir]);
        Assert.Equal(0, code);

        var header = DetectionOutputs.CsvHeader;
        var rows = File.ReadAllLines(Path.Combine(outDir, DetectionOutputs.SamplesFile)).Skip(1)
            .Select(l => l.Split(','))
            .Select(r => (Source: Path.GetFullPath(r[Array.IndexOf(header, "source")]),
                Quality: double.Parse(r[Array.IndexOf(header, "label_quality")], CultureInfo.InvariantCulture),
                Flagged: r[Array.IndexOf(header, "is_label_issue")] == "true"))
            .ToList();
        Assert.Equal(Images, rows.Count);
        var ranked = rows.OrderBy(r => r.Quality).ToList();
        var at100 = ranked.Take(100).Count(r => wrongPaths.Contains(r.Source)) / 100.0;
        var flagged = rows.Where(r => r.Flagged).ToList();
        var issuePrecision = flagged.Count == 0 ? 0 : (double)flagged.Count(r => wrongPaths.Contains(r.Source)) / flagged.Count;
        var issueRecall = (double)flagged.Count(r => wrongPaths.Contains(r.Source)) / Planted;
        output.WriteLine(FormattableString.Invariant(
            $"planted folder: precision@100 {at100:F3}, flagged {flagged.Count}, issue precision {issuePrecision:F3}, recall {issueRecall:F3}"));
        Assert.True(at100 >= Floor, $"precision@100 {at100:F3} < {Floor}");
        // Flagging must mean something too: well above the 0.2 a random flag reaches, and most planted errors found.
        Assert.True(issuePrecision > 0.6, $"issue precision {issuePrecision:F3}");
        Assert.True(issueRecall > 0.6, $"issue recall {issueRecall:F3}");
    }
}
