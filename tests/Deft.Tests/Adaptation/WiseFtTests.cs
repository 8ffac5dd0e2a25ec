using Deft.Adaptation;
using Deft.Data.Transforms;
using static TorchSharp.torch;

namespace Deft.Tests.Adaptation;

public sealed class WiseFtTests
{
    [Fact]
    public void MixingGivesTheZeroShotWeightsAtZeroTheFineTunedAtOneAndTheLineBetween()
    {
        using var start = tensor(new float[] { 1, 2, -4 });
        using var end = tensor(new float[] { 3, 6, 0 });
        using var target = zeros(3);
        var starts = new Dictionary<string, Tensor> { ["w"] = start };
        var ends = new Dictionary<string, Tensor> { ["w"] = end };

        WiseFt.Mix([("w", target)], starts, ends, 0);
        Assert.Equal([1f, 2f, -4f], target.data<float>().ToArray());
        WiseFt.Mix([("w", target)], starts, ends, 1);
        Assert.Equal([3f, 6f, 0f], target.data<float>().ToArray());
        // By hand: 0.75 · (1, 2, −4) + 0.25 · (3, 6, 0) = (1.5, 3, −3).
        WiseFt.Mix([("w", target)], starts, ends, 0.25);
        Assert.Equal([1.5f, 3f, -3f], target.data<float>().ToArray());

        Assert.Throws<ArgumentOutOfRangeException>(() => WiseFt.Mix([("w", target)], starts, ends, 1.5));
        Assert.Throws<InvalidOperationException>(() => WiseFt.Mix([("other", target)], starts, ends, 0.5));
    }

    [Fact]
    public void TheBestHeldOutCoefficientIsChosenAndTiesGoToTheMoreFineTunedModel()
    {
        Assert.Equal(0.4, WiseFt.Choose([new(0, 0.80), new(0.4, 0.90), new(1, 0.85)]));
        Assert.Equal(0.7, WiseFt.Choose([new(0.3, 0.90), new(0.7, 0.90), new(1, 0.85)]));
        Assert.Equal(11, WiseFtOptions.AlphaGrid.Count);
        Assert.Equal(0, WiseFtOptions.AlphaGrid[0]);
        Assert.Equal(1, WiseFtOptions.AlphaGrid[^1]);
    }

    [Fact]
    public void TheHoldOutTakesOnlySelectedTrainingSamplesPerClassAndIsSeeded()
    {
        var data = new PlantedColours(200, classes: 4, seed: 5);
        // Every fifth sample is flagged (unselected); the others are selected with the data set's label.
        var selected = Enumerable.Range(0, data.Count).Select(i => i % 5 != 0).ToArray();
        var labels = Enumerable.Range(0, data.Count).Select(data.GetLabel).ToArray();
        var mask = new SelectionMask(Enumerable.Range(0, data.Count).ToArray(), selected, labels, []);

        var (train, holdout) = mask.HoldOut(0.1, seed: 3, classCount: 4);
        Assert.All(holdout, i => Assert.True(selected[i], $"sample {i} was not selected, yet held out"));
        Assert.Empty(holdout.Intersect(train.Indices));
        Assert.All(holdout, i => Assert.False(train.Selected[i]));
        // Per class: round(0.1 · n) of its selected samples.
        for (var k = 0; k < 4; k++)
        {
            var n = Enumerable.Range(0, data.Count).Count(i => selected[i] && labels[i] == k);
            Assert.Equal((int)Math.Round(0.1 * n, MidpointRounding.AwayFromZero), holdout.Count(i => labels[i] == k));
        }
        // Unselected samples still take part, unselected; the selected ones that are not held out still train.
        Assert.Equal(mask.SelectedCount - holdout.Length, train.SelectedCount);
        Assert.All(Enumerable.Range(0, data.Count).Where(i => !selected[i]), i => Assert.Contains(i, train.Indices));

        Assert.Equal(holdout, mask.HoldOut(0.1, seed: 3, classCount: 4).Holdout);
        Assert.NotEqual(holdout, mask.HoldOut(0.1, seed: 4, classCount: 4).Holdout);
    }

    private static AdaptOptions Options(string dir, double lr, double? holdout = 0.25, WiseFtOptions? wise = null) => new()
    {
        Model = Fixtures.TinyClip,
        Vocabulary = Fixtures.TinyVocabulary,
        OutputDirectory = dir,
        Epochs = 2,
        BatchSize = 8,
        LearningRate = lr,
        Recipe = AdaptRecipe.Official,
        HeadInit = HeadInit.Text,
        Augment = AugmentPreset.None,
        HoldoutFraction = holdout,
        WiseFt = wise,
        Workers = 1,
    };

    [Fact]
    public void TheSavedWiseFtModelIsTheMixOfTheStartAndTheFineTunedRunAndItsAlphaIsChosenOnTheHoldout()
    {
        using var dir = new TempDir("deft-wise");
        string[] names = ["apple", "truck", "dog", "sea"];
        var train = new PlantedColours(48, seed: 3, classNames: names);
        var test = new PlantedColours(40, seed: 4, prefix: "test", classNames: names);
        // Given labels: the data set's, but every third one moved on by one class; the held-out part is scored against
        // these given labels, never against the data set's (here the true) labels.
        var given = Enumerable.Range(0, train.Count).Select(i => i % 3 == 0 ? (train.GetLabel(i) + 1) % 4 : train.GetLabel(i)).ToArray();
        var selection = AdaptTestFiles.WriteSamples(dir.File("samples.csv"), train, given: i => given[i]);

        var zeroShot = Adapter.Train(Options(dir.File("zero"), lr: 0) with { SelectionPath = selection }, train, test);
        var fineTuned = Adapter.Train(Options(dir.File("ft"), lr: 0.05) with { SelectionPath = selection }, train, test);
        var mixed = Adapter.Train(Options(dir.File("mix"), lr: 0.05, wise: new WiseFtOptions(0.3)) with { SelectionPath = selection }, train, test);

        // Held out: a quarter of the 48 selected samples, per class; 36 train.
        var mask = new SelectionMask(Enumerable.Range(0, train.Count).ToArray(), Enumerable.Repeat(true, train.Count).ToArray(), given, []);
        var (_, holdout) = mask.HoldOut(0.25, seed: 0, classCount: 4);
        Assert.Equal(holdout.Length, fineTuned.HoldoutSamples);
        Assert.Equal(train.Count - holdout.Length, fineTuned.SelectedSamples);
        // The starting model's held-out accuracy against the given labels, recomputed from the lr-0 model's predictions.
        var predicted = Predict(dir.File("zero"), train, holdout);
        var expected = (double)holdout.Where((i, j) => predicted[j] == given[i]).Count() / holdout.Length;
        Assert.Equal(expected, zeroShot.StartValidationAccuracy!.Value, 12);
        Assert.Equal(expected, zeroShot.Epochs[^1].ValidationAccuracy!.Value, 12);
        Assert.All(fineTuned.Epochs, e => Assert.NotNull(e.ValidationAccuracy));

        // α = 0.3: every saved parameter is 0.7 · start + 0.3 · fine-tuned.
        var z = Saved(dir.File("zero"));
        var f = Saved(dir.File("ft"));
        var m = Saved(dir.File("mix"));
        try
        {
            Assert.Equal(0.3, mixed.WiseFt!.Alpha);
            Assert.False(mixed.WiseFt.ChosenOnHoldout);
            Assert.True(f["head.weight"].sub(z["head.weight"]).abs().max().item<float>() > 1e-3, "the fine-tuned head should have moved");
            foreach (var name in z.Keys)
            {
                using var expectedMix = z[name].mul(0.7).add(f[name].mul(0.3));
                Assert.True(m[name].allclose(expectedMix, rtol: 1e-4, atol: 1e-6), $"{name} is not the 0.3 mix");
            }
        }
        finally
        {
            foreach (var d in new[] { z, f, m }) foreach (var t in d.Values) t.Dispose();
        }
        Assert.Equal(fineTuned.LastTestAccuracy, mixed.LastTestAccuracy);
        Assert.Equal(mixed.WiseFt.TestAccuracy, mixed.ModelTestAccuracy);

        // auto: the grid is scored on the held-out part; its ends are the start and the last epoch.
        var auto = Adapter.Train(Options(dir.File("auto"), lr: 0.05, wise: new WiseFtOptions()) with { SelectionPath = selection }, train, test);
        var points = auto.WiseFt!.Validation;
        Assert.Equal(WiseFtOptions.AlphaGrid, points.Select(p => p.Alpha));
        Assert.Equal(auto.StartValidationAccuracy!.Value, points[0].ValidationAccuracy, 12);
        Assert.Equal(auto.Epochs[^1].ValidationAccuracy!.Value, points[^1].ValidationAccuracy, 12);
        Assert.True(auto.WiseFt.ChosenOnHoldout);
        Assert.Equal(WiseFt.Choose(points), auto.WiseFt.Alpha);
    }

    [Fact]
    public void WiseFtNeedsTheTextHeadAndAutoNeedsAHoldout()
    {
        using var dir = new TempDir("deft-wise");
        var train = new PlantedColours(16);
        var ex = Assert.Throws<DeftException>(() => Adapter.Train(Options(dir.File("a"), 0.01, holdout: null, wise: new WiseFtOptions()), train, null));
        Assert.Contains("HoldoutFraction", ex.Message);
        ex = Assert.Throws<DeftException>(() => Adapter.Train(Options(dir.File("b"), 0.01, wise: new WiseFtOptions(0.5)) with { Model = "random:tiny", Vocabulary = null, HeadInit = HeadInit.Random }, train, null));
        Assert.Contains("text head", ex.Message);
        ex = Assert.Throws<DeftException>(() => Adapter.Train(Options(dir.File("c"), 0.01, holdout: 1.0), train, null));
        Assert.Contains("HoldoutFraction", ex.Message);
    }

    private static Dictionary<string, Tensor> Saved(string dir) => Deft.Clip.Safetensors.Load(Path.Combine(dir, AdaptedModel.WeightsFile));

    private static long[] Predict(string modelDir, PlantedColours data, int[] indices)
    {
        using var model = AdaptedModel.Load(modelDir);
        return model.Predict(data, indices, workers: 1).Select(p => (long)p.PredictedLabel).ToArray();
    }
}
