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

    [Theory]
    [InlineData(DetectionMethod.ClipPosterior)]
    [InlineData(DetectionMethod.Deft)]
    [InlineData(DetectionMethod.ConfidentLearning)]
    public void PrecomputedFeaturesGiveWhatTheImagesGive(DetectionMethod method)
    {
        const int n = 60;
        var data = DatasetFactory.Open(new DatasetOptions(DetectTestData.FashionMnist, "idx"));
        var images = new ImageList(Enumerable.Range(0, n).Select(data.GetImage).ToArray(),
            Enumerable.Range(0, n).Select(data.GetLabel).ToArray(), data.Classes);
        // Planted noise: every fifth label moved to the next class.
        var labels = Enumerable.Range(0, n).Select(i => i % 5 == 0 ? (data.GetLabel(i) + 1) % 10 : data.GetLabel(i)).ToArray();
        using var clip = ClipBundle.Load(DetectTestData.TinyModel, Fixtures.TinyVocabulary);
        var config = new DetectionConfig { Method = method, Epochs = 2, Warmup = 1, BatchSize = 16, Folds = 3 };

        var fromImages = LabelIssueDetector.Find(clip, images, labels, config);
        // The default batch is the detector's own, so the features are bit for bit those it computes itself.
        var features = LabelIssueDetector.EncodeImages(clip, images);
        Assert.Equal(n, features.GetLength(0));
        Assert.Equal(clip.Model.Config.EmbedDim, features.GetLength(1));
        // Another batch size changes only the rounding of the products.
        var smallBatches = LabelIssueDetector.EncodeImages(clip, images, batchSize: 7);
        for (var i = 0; i < n; i++)
            for (var j = 0; j < features.GetLength(1); j++)
                Assert.Equal(features[i, j], smallBatches[i, j], 1e-4f);
        var fromFeatures = LabelIssueDetector.Find(clip, features, labels, data.Classes, config);

        Assert.Equal(fromImages.QualityScores, fromFeatures.QualityScores);
        Assert.Equal(fromImages.SuggestedLabels, fromFeatures.SuggestedLabels);
        Assert.Equal(fromImages.Issues, fromFeatures.Issues);
        Assert.Equal("features#3", fromFeatures.Detection.Samples[3].Source);

        // Every one of these methods gives pred_probs: rows are distributions whose argmax is the suggested label.
        var probs = fromFeatures.PredProbs;
        Assert.NotNull(probs);
        Assert.Equal(fromImages.PredProbs, probs);
        for (var i = 0; i < n; i++)
        {
            var row = Enumerable.Range(0, 10).Select(j => probs![i, j]).ToArray();
            Assert.Equal(1.0, row.Sum(), 5);
            Assert.Equal(Array.IndexOf(row, row.Max()), fromFeatures.SuggestedLabels[i]);
        }
    }

    [Fact]
    public void PrecomputedFeaturesRefuseWhatNeedsImages()
    {
        using var clip = ClipBundle.Load(DetectTestData.TinyModel, Fixtures.TinyVocabulary);
        var width = clip.Model.Config.EmbedDim;
        string[] classes = ["a", "b"];
        var peft = new DetectionConfig { Method = DetectionMethod.Deft, Peft = new PeftOptions(PeftKind.VptDeep) };
        Assert.Contains("needs the images", Assert.Throws<DeftException>(() => LabelIssueDetector.Find(clip, new float[2, width], [0, 1], classes, peft)).Message);
        Assert.Contains($"{width} wide", Assert.Throws<ArgumentException>(() => LabelIssueDetector.Find(clip, new float[2, width + 1], [0, 1], classes)).Message);
        Assert.Contains("1 labels for 2 feature rows", Assert.Throws<ArgumentException>(() => LabelIssueDetector.Find(clip, new float[2, width], [0], classes)).Message);
        Assert.Contains("outside 0..1", Assert.Throws<ArgumentException>(() => LabelIssueDetector.Find(clip, new float[2, width], [0, 2], classes)).Message);
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
