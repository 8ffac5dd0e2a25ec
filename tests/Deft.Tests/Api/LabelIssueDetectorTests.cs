using Deft.Api;
using Deft.Clip;
using Deft.Data;
using Deft.Detection;
using Deft.Methods;
using Deft.Peft;
using Deft.Tests.Detection;

namespace Deft.Tests.Api;

/// <summary>The in-memory API gives what <c>deft detect</c> gives on the same images and labels, and writes only when asked.</summary>
public sealed class LabelIssueDetectorTests
{
    private const int Count = 120;

    [Fact]
    public void InMemoryClipPosteriorMatchesTheFileRunSampleBySample()
    {
        using var tmp = new TempDir("api");
        var labelFile = DetectTestData.WriteLabelFile(tmp.Path, Count);
        var fromFiles = DeftDetector.Detect(new DetectOptions
        {
            Model = DetectTestData.TinyModel, Vocab = Fixtures.TinyVocabulary, Data = DetectTestData.FashionMnist, Format = "idx",
            Labels = labelFile, OutputDirectory = Path.Combine(tmp.Path, "run"), Peft = new PeftOptions(PeftKind.None),
            Method = DetectionMethod.ClipPosterior, CacheDirectory = Path.Combine(tmp.Path, "cache"), Workers = 1,
        });

        var data = DatasetFactory.Open(new DatasetOptions(DetectTestData.FashionMnist, "idx"));
        var images = new ImageList(Enumerable.Range(0, Count).Select(data.GetImage).ToArray(),
            Enumerable.Range(0, Count).Select(data.GetLabel).ToArray(), data.Classes);
        var labels = fromFiles.Samples.Select(s => s.GivenLabel).ToArray();
        using var clip = ClipBundle.Load(DetectTestData.TinyModel, Fixtures.TinyVocabulary);
        var report = LabelIssueDetector.Find(clip, images, labels);

        Assert.Equal(fromFiles.Samples.Select(s => s.LabelQuality), report.QualityScores);
        Assert.Equal(fromFiles.Samples.Select(s => s.SuggestedLabel), report.SuggestedLabels);
        Assert.Equal(fromFiles.IssueIndices, report.Issues);
        Assert.NotEmpty(report.Issues);
        // pred_probs are the posterior: its given-label column is the quality score, its argmax the suggestion.
        Assert.NotNull(report.PredProbs);
        Assert.Equal(Count, report.PredProbs!.GetLength(0));
        for (var i = 0; i < Count; i++)
        {
            Assert.Equal(report.QualityScores[i], report.PredProbs[i, labels[i]]);
            var row = Enumerable.Range(0, 10).Select(j => report.PredProbs[i, j]).ToArray();
            Assert.Equal(1.0, row.Sum(), 9);
            Assert.Equal(Array.IndexOf(row, row.Max()), report.SuggestedLabels[i]);
        }

        // Files are a separate step.
        var outDir = Path.Combine(tmp.Path, "saved");
        Assert.False(Directory.Exists(outDir));
        report.Save(outDir);
        Assert.Equal(File.ReadAllLines(Path.Combine(tmp.Path, "run", DetectionOutputs.IssuesFile)).Skip(1).Select(l => l.Split(',')[0]),
            File.ReadAllLines(Path.Combine(outDir, DetectionOutputs.IssuesFile)).Skip(1).Select(l => l.Split(',')[0]));
        var html = report.WriteHtml(Path.Combine(outDir, "r.html"));
        Assert.Contains("<html", File.ReadAllText(html), StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void LabelsMustMatchTheImages()
    {
        var images = new ImageList([new RgbImage(1, 1, [0, 0, 0]), new RgbImage(1, 1, [9, 9, 9])], [0, 1], ["a", "b"]);
        using var clip = ClipBundle.Load(DetectTestData.TinyModel, Fixtures.TinyVocabulary);
        Assert.Contains("1 labels for 2 images", Assert.Throws<ArgumentException>(() => LabelIssueDetector.Find(clip, images, [0])).Message);
        Assert.Throws<ArgumentException>(() => new ImageList([new RgbImage(1, 1, [0, 0, 0])], [2], ["a", "b"]));
    }
}
