using Deft.Api;
using Deft.Data;
using Deft.Detection;
using Deft.Methods;
using SkiaSharp;

namespace Deft.Tests.Data;

/// <summary>
/// Data issues as findings, not aborts: planted unreadable, empty and missing files and an empty class are skipped and
/// reported; planted duplicates and an outlier are found on features with known geometry.
/// </summary>
public sealed class DataIssueTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Good(string rel, int seed) =>
        _dir.Write(rel, TestImages.SkiaEncode(TestImages.Pattern(8, 8, seed), SKEncodedImageFormat.Png));

    /// <summary>cat: 2 good + 1 corrupt; dog: 2 good + 1 zero-byte; emu: an empty folder; zebra: 2 good.</summary>
    private (string Corrupt, string Empty) PlantFolder()
    {
        Good("cat/a.png", 1);
        var corrupt = _dir.Write("cat/b.png", [0x89, (byte)'P', (byte)'N', (byte)'G', 1, 2, 3, 4, 5, 6, 7, 8]);
        Good("cat/c.png", 2);
        Good("dog/a.png", 3);
        var empty = _dir.Write("dog/b.png", []);
        Good("dog/c.png", 4);
        Directory.CreateDirectory(Path.Combine(_dir.Path, "emu"));
        Good("zebra/a.png", 5);
        Good("zebra/b.png", 6);
        return (corrupt, empty);
    }

    [Fact]
    public void Bad_files_and_an_empty_class_are_skipped_and_reported_and_class_ids_stay_put()
    {
        var (corrupt, empty) = PlantFolder();

        var data = DatasetFactory.Open(new DatasetOptions(_dir.Path, "folder")); // skip is the default

        Assert.Equal(["cat", "dog", "emu", "zebra"], data.Classes);
        Assert.Equal(6, data.Count);
        Assert.Equal([0, 0, 1, 1, 3, 3], Enumerable.Range(0, data.Count).Select(data.GetLabel));
        var issues = DataIssues.OfFiles(data);
        Assert.Equal([DataIssueKind.Unreadable, DataIssueKind.EmptyFile, DataIssueKind.EmptyClass], issues.Select(d => d.Kind));
        Assert.Equal([corrupt, empty, Path.Combine(_dir.Path, "emu")], issues.Select(d => d.Source));
        Assert.Equal(2, issues[2].Label);
        Assert.All(issues, d => Assert.Equal(0, d.Score));
        Assert.All(issues, d => Assert.Null(d.Index));
        Assert.True(issues[0].Skipped && issues[1].Skipped && !issues[2].Skipped);
        Assert.Contains("emu", issues[2].Detail);
    }

    [Fact]
    public void Fail_stays_available_and_names_the_file()
    {
        var (corrupt, _) = PlantFolder();
        var reader = DatasetFactory.Open(new DatasetOptions(_dir.Path, "folder", OnBadImage: BadImagePolicy.Fail));
        var error = Assert.Throws<DeftException>(() => DatasetValidator.Scan(reader, BadImagePolicy.Fail));
        Assert.Contains(corrupt, error.Message);
    }

    [Fact]
    public void Data_issues_csv_quotes_paths_and_leaves_unknown_fields_empty()
    {
        var issues = new[]
        {
            new DataIssue(DataIssueKind.EmptyFile, null, "/d/a,b.png", 0, "empty (0 bytes)"),
            new DataIssue(DataIssueKind.ConflictingDuplicate, 4, "/d/x.png", 0.25, "cos \"0.75\"") { Label = 1, RelatedIndex = 9, RelatedSource = "/d/y.png" },
        };
        var lines = DataIssues.Csv(issues, ["cat", "dog"]).Split('\n');
        Assert.Equal("kind,index,path,label,score,related_index,related_path,detail", lines[0]);
        Assert.Equal("empty_file,,\"/d/a,b.png\",,0,,,empty (0 bytes)", lines[1]);
        Assert.Equal("conflicting_duplicate,4,/d/x.png,dog,0.25,9,/d/y.png,\"cos \"\"0.75\"\"\"", lines[2]);
    }

    /// <summary>Near-orthogonal random rows (E = 64), so no pair is similar unless planted.</summary>
    private static float[,] RandomRows(int n, int e, int seed)
    {
        var random = new Random(seed);
        var x = new float[n, e];
        for (var i = 0; i < n; i++)
            for (var j = 0; j < e; j++)
                x[i, j] = (float)(random.NextDouble() * 2 - 1);
        return x;
    }

    [Fact]
    public void Planted_exact_and_near_duplicates_are_found_and_those_across_classes_conflict()
    {
        const int n = 300, e = 64;
        var x = RandomRows(n, e, 1);
        var labels = Enumerable.Range(0, n).Select(i => i % 3).ToArray();
        var random = new Random(2);
        for (var j = 0; j < e; j++)
        {
            x[10, j] = x[3, j];                                                    // exact copy, labels 1 vs 0: conflicting
            x[20, j] = x[5, j] + (float)(random.NextDouble() - 0.5) * 0.02f;       // near copy, same label (2): duplicate
            x[31, j] = 2 * x[7, j] + (float)(random.NextDouble() - 0.5) * 0.04f;   // scaled near copy (cosine ignores the norm)
        }
        labels[20] = labels[5];
        labels[31] = (labels[7] + 1) % 3;                                          // different label: conflicting

        var issues = DataIssueFinder.Find(x, labels);

        var conflicting = issues.Where(d => d.Kind == DataIssueKind.ConflictingDuplicate).Select(d => (d.Index!.Value, d.RelatedIndex!.Value)).Order().ToArray();
        Assert.Equal([(3, 10), (7, 31), (10, 3), (31, 7)], conflicting);
        var near = issues.Where(d => d.Kind == DataIssueKind.NearDuplicate).Select(d => (d.Index!.Value, d.RelatedIndex!.Value)).Order().ToArray();
        Assert.Equal([(5, 20), (20, 5)], near);
        // The exact copy is the most severe: score 1 − cosine ≈ 0, listed first.
        Assert.Equal(3, Math.Min(issues[0].Index!.Value, issues[0].RelatedIndex!.Value));
        Assert.True(issues[0].Score < 1e-5, $"exact copy scored {issues[0].Score}");
        Assert.All(issues.Where(d => d.Kind != DataIssueKind.Outlier), d => Assert.InRange(d.Score, 0, 1 - 0.98 + 1e-6));
    }

    [Fact]
    public void The_blockwise_pass_gives_the_same_issues_as_one_block()
    {
        const int n = 120, e = 16;
        var x = RandomRows(n, e, 3);
        for (var j = 0; j < e; j++) { x[50, j] = x[2, j]; x[90, j] = x[60, j] * 1.5f; }
        var labels = Enumerable.Range(0, n).Select(i => i % 4).ToArray();
        using var features = TorchSharp.torch.tensor(x);
        var whole = FeatureIssues.Find(features, labels, null, null, null, null, long.MaxValue, default);
        var blocks = FeatureIssues.Find(features, labels, null, null, null, null, 7 * n, default); // blocks of 7 rows
        Assert.NotEmpty(whole);
        Assert.Equal(whole.Select(d => (d.Kind, d.Index, d.RelatedIndex)), blocks.Select(d => (d.Kind, d.Index, d.RelatedIndex)));
        Assert.Equal(whole.Select(d => d.Score), blocks.Select(d => d.Score), (a, b) => Math.Abs(a - b) < 1e-6);
    }

    [Fact]
    public void A_planted_noise_sample_is_the_first_outlier()
    {
        // Four classes: rows are their class's text feature plus small noise; the planted row is unrelated noise.
        const int k = 4, e = 32, perClass = 50;
        var text = RandomRows(k, e, 4);
        var random = new Random(5);
        var n = k * perClass + 1;
        var x = new float[n, e];
        var labels = new int[n];
        for (var i = 0; i < n - 1; i++)
        {
            labels[i] = i % k;
            for (var j = 0; j < e; j++) x[i, j] = text[labels[i], j] + (float)(random.NextDouble() - 0.5) * 0.6f;
        }
        var planted = n - 1;
        labels[planted] = 2;
        var noise = RandomRows(1, e, 6);
        for (var j = 0; j < e; j++) x[planted, j] = noise[0, j];

        var issues = DataIssueFinder.Find(x, labels, text);

        var outliers = issues.Where(d => d.Kind == DataIssueKind.Outlier).ToList();
        Assert.NotEmpty(outliers);
        Assert.Equal(planted, outliers[0].Index);
        Assert.InRange(outliers[0].Score, 0, 0.0014); // three MADs out on both criteria at least
        Assert.All(outliers, d => Assert.InRange(d.Score, 0, 1));
        // Without the planted row, the clusters hold no outlier of that severity.
        Assert.DoesNotContain(outliers.Skip(1), d => d.Score <= outliers[0].Score);
    }

    [Fact]
    public void Robust_z_and_the_normal_tail_match_hand_values()
    {
        Assert.Equal([-1 / 1.4826, 0, 0, 1 / 1.4826, 10 / 1.4826], FeatureIssues.RobustZ([1, 2, 2, 3, 12]), (a, b) => Math.Abs(a - b) < 1e-12);
        Assert.Equal(0.5, FeatureIssues.UpperTail(0), 6);
        Assert.Equal(0.0013499, FeatureIssues.UpperTail(3), 6);
        Assert.Equal(0.8413447, FeatureIssues.UpperTail(-1), 6);
    }

    [Fact]
    public void Bad_thresholds_are_refused_naming_the_setting()
    {
        var error = Assert.Throws<DeftException>(() => DataIssueFinder.Find(new float[3, 2], [0, 1, 0], options: new FeatureIssueOptions { DuplicateThreshold = 1.5 }));
        Assert.Contains("--duplicate-threshold", Deft.Cli.FlagNames.Render(error));
    }

    [Fact]
    public void Detect_on_a_folder_with_planted_bad_files_completes_and_writes_them_out()
    {
        var (corrupt, empty) = PlantFolder();
        // A conflicting exact copy: zebra/b.png's bytes under cat.
        File.Copy(Path.Combine(_dir.Path, "zebra", "b.png"), Path.Combine(_dir.Path, "cat", "copy.png"));
        var output = Path.Combine(_dir.Path, "..", $"{Path.GetFileName(_dir.Path)}-out");
        try
        {
            var report = DeftDetector.Detect(new DetectOptions
            {
                Model = "random:tiny", Data = _dir.Path, Format = "folder", OutputDirectory = output, Method = DetectionMethod.ClipPosterior,
                CacheDirectory = Path.Combine(output, "cache"),
            });

            Assert.Equal(7, report.Summary.Samples);
            var kinds = report.DataIssues.Select(d => d.Kind).ToList();
            Assert.Equal([DataIssueKind.Unreadable, DataIssueKind.EmptyFile, DataIssueKind.EmptyClass], kinds.Take(3));
            var copy = report.DataIssues.Single(d => d.Kind == DataIssueKind.ConflictingDuplicate && d.Source.EndsWith("copy.png", StringComparison.Ordinal));
            Assert.EndsWith(Path.Combine("zebra", "b.png"), copy.RelatedSource);
            var csv = File.ReadAllLines(Path.Combine(output, DataIssues.FileName));
            Assert.Equal(report.DataIssues.Count + 1, csv.Length);
            Assert.StartsWith($"unreadable,,{corrupt},", csv[1]);
            Assert.StartsWith($"empty_file,,{empty},", csv[2]);
            var html = File.ReadAllText(Path.Combine(output, Deft.Reporting.DetectionHtmlReport.FileName));
            Assert.Contains("id=\"data-issues\"", html);
            Assert.Contains($"title=\"{corrupt}\"", html);
            var summary = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(output, "summary.json")))!;
            Assert.Equal(1, (int)summary["config"]!["data_issues"]!["unreadable"]!);
            Assert.Equal(1, (int)summary["config"]!["data_issues"]!["empty_class"]!);
        }
        finally
        {
            if (Directory.Exists(output)) Directory.Delete(output, recursive: true);
        }
    }
}
