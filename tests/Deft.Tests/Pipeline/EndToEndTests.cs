using System.Text.Json;
using Deft.Adaptation;
using Deft.Benchmarks;
using Deft.Data;
using Deft.Detection;
using Deft.Noise;
using Deft.Peft;
using Deft.Pipeline;
using Deft.Tests.Detection;

namespace Deft.Tests.Pipeline;

public class EndToEndTests
{
    [Fact]
    public void Run_detects_then_adapts_on_exactly_the_kept_samples_and_writes_one_summary()
    {
        using var tmp = new TempDir("run");
        var labels = DetectTestData.WriteLabelFile(tmp.Path, 128);
        var detect = new DetectOptions
        {
            Model = DetectTestData.TinyModel,
            Data = DetectTestData.FashionMnist,
            Format = "idx",
            Labels = labels,
            Vocab = Fixtures.TinyVocabulary,
            OutputDirectory = "ignored",
            Peft = new PeftOptions(PeftKind.None),
            Epochs = 2,
            BatchSize = 32,
        };
        var adapt = new AdaptOptions { Model = DetectTestData.TinyModel, OutputDirectory = "ignored", Epochs = 1, BatchSize = 32, Limit = null };
        var result = EndToEndRun.Run(tmp.Path, detect, adapt, "test", null);

        var kept = result.Detection.Samples.Count(s => !s.IsLabelIssue);
        Assert.Equal(128, result.Detection.Samples.Count);
        Assert.Equal(kept, result.Adaptation.SelectedSamples);
        Assert.Equal(10000, result.Adaptation.TestSamples);
        Assert.True(File.Exists(Path.Combine(tmp.Path, "detect", "samples.csv")));
        Assert.True(File.Exists(Path.Combine(tmp.Path, "detect", "report.html")));
        Assert.True(File.Exists(Path.Combine(tmp.Path, "adapt", AdaptedModel.WeightsFile)));
        using var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(tmp.Path, EndToEndRun.SummaryFile)));
        var root = summary.RootElement;
        Assert.Equal(kept, root.GetProperty("selected_clean").GetInt32());
        Assert.Equal(result.Detection.Summary.Quality!.F1, root.GetProperty("detection").GetProperty("f1").GetDouble(), 12);
        Assert.Equal(result.Adaptation.LastTestAccuracy!.Value, root.GetProperty("adaptation").GetProperty("last_test_accuracy").GetDouble(), 12);
    }

    [Fact]
    public void Mini_noise_files_use_downstream_indices_and_the_data_sets_true_labels()
    {
        using var tmp = new TempDir("mini-noise");
        var ws = MiniWorkspace.Open(cacheDirectory: tmp.Path);
        var downstream = ws.Downstream(3000);
        Assert.All(downstream, i => Assert.NotEqual(0, i % 3));
        var path = Path.Combine(tmp.Path, "labels.csv");
        var noisy = ws.WriteNoisyLabels(MiniSetting.Parse("sym-0.4"), downstream, 0, path);
        var rows = LabelFile.Read(path, ws.Train.Count, 10);
        Assert.Equal(downstream, rows.Select(r => r.Index).ToArray());
        Assert.All(rows, r => Assert.Equal(ws.Train.GetLabel(r.Index), r.TrueLabel));
        // sym 0.4 redraws round(0.4·N) labels uniformly over 10 classes: about 0.36·N change (4 standard deviations).
        var changed = rows.Count(r => r.Label != r.TrueLabel);
        var sd = Math.Sqrt(1200 * 0.1 * 0.9);
        Assert.InRange(changed, 1080 - 4 * sd, 1080 + 4 * sd);
        Assert.Equal(changed / 3000.0, noisy.RealizedRate, 12);
    }

    [Fact]
    public void Mini_settings_parse_and_reject_with_the_valid_names()
    {
        Assert.Equal(new MiniSetting(NoiseMode.Idn, 0.4), MiniSetting.Parse("idn-0.4"));
        Assert.Equal("asym-0.4", MiniSetting.Parse("asym-0.4").Name);
        var ex = Assert.Throws<DeftException>(() => MiniSetting.Parse("sym"));
        Assert.Contains("sym-0.2", ex.Message);
    }

    [Fact]
    public void Subset_view_maps_every_accessor_to_the_parent_index()
    {
        var data = DatasetFactory.Open(new DatasetOptions(DetectTestData.FashionMnist, "idx"));
        var view = new SubsetDataset(data, [7, 3, 100]);
        Assert.Equal(3, view.Count);
        Assert.Equal(data.GetLabel(3), view.GetLabel(1));
        Assert.Equal(data.GetSource(100), view.GetSource(2));
        Assert.Equal(data.GetRawPixels(7), view.GetRawPixels(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new SubsetDataset(data, [60000]));
    }
}
