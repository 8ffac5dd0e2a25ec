using Deft.Adaptation;
using Deft.Data.Transforms;
using TorchSharp;
using static TorchSharp.torch;

namespace Deft.Tests.Adaptation;

/// <summary>Semi-supervised phase 2 (<c>--unselected pseudo-label</c>), label smoothing and the scaled learning-rate rule.</summary>
public sealed class PseudoLabelTests
{
    // A hand-made selection of 8 samples, 3 classes. Rows 1, 3, 4, 5, 6 are flagged:
    //   1: suggestion 2 at 0.95 (≠ given 0)          → joins with label 2
    //   3: suggestion 0 at 0.80, exactly the bar      → joins with label 0
    //   4: suggestion 1 at 0.79, below the bar         → dropped
    //   5: suggestion 1 at 0.99 but = given 1          → dropped (the detector's signals disagree)
    //   6: suggestion 2 at 0.85, true_label 1 here    → joins with 2: true labels are never read
    // Row 0 is kept with a confident other suggestion: it trains with its given label.
    private const string Header = "index,source,given_label,given_name,label_quality,is_label_issue,suggested_label,suggested_name,suggested_probability,true_label,true_name\n";

    private static string Rows(Func<int, string>? source = null)
    {
        string S(int i) => source?.Invoke(i) ?? $"s{i}";
        return Header +
            $"0,{S(0)},0,a,0.6,false,1,b,0.97,0,a\n" +
            $"1,{S(1)},0,a,0.1,true,2,c,0.95,2,c\n" +
            $"2,{S(2)},1,b,0.9,false,1,b,0.9,1,b\n" +
            $"3,{S(3)},2,c,0.2,true,0,a,0.80,0,a\n" +
            $"4,{S(4)},2,c,0.3,true,1,b,0.79,1,b\n" +
            $"5,{S(5)},1,b,0.4,true,1,b,0.99,0,a\n" +
            $"6,{S(6)},0,a,0.1,true,2,c,0.85,1,b\n" +
            $"7,{S(7)},2,c,0.9,false,2,c,0.95,2,c\n";
    }

    [Fact]
    public void ConfidentFlaggedSamplesWithAnotherSuggestionJoinWithTheSuggestedLabel()
    {
        using var dir = new TempDir("deft-pseudo");
        var path = dir.File("samples.csv");
        File.WriteAllText(path, Rows());
        var selection = SelectionFile.Read(path);
        Assert.Equal(2, selection.Entries[1].SuggestedLabel);
        Assert.Equal(0.95, selection.Entries[1].SuggestedProbability);

        var chosen = PseudoLabels.Choose(selection, new PseudoLabelOptions(0.8), classCount: 3);
        Assert.Equal([1, 3, 6], chosen.Select(p => p.Index));
        Assert.Equal([2, 0, 2], chosen.Select(p => p.Label));
        Assert.Equal([0, 2, 0], chosen.Select(p => p.GivenLabel));
        Assert.Equal([3, 5, 8], chosen.Select(p => p.Line));
        Assert.Equal([1], PseudoLabels.Choose(selection, new PseudoLabelOptions(0.9), 3).Select(p => p.Index));

        // In the mask: selected rows keep their given label and weight 1; joined rows their suggestion and the weight.
        var mask = new SelectionMask(Enumerable.Range(0, 8).ToArray(), selection.Entries.Select(e => e.IsSelected).ToArray(),
            selection.Entries.Select(e => e.GivenLabel).ToArray(), []);
        var pseudo = PseudoLabels.Apply(mask, chosen, weight: 0.5, classCount: 3);
        Assert.Equal([true, true, true, true, false, false, true, true], pseudo.Selected);
        Assert.Equal([0, 2, 1, 0, 2, 1, 2, 2], pseudo.GivenLabels);
        Assert.Equal([1, 0.5, 1, 0.5, 1, 1, 0.5, 1], pseudo.Weights!);
        Assert.Equal(3, pseudo.PseudoLabelledCount);
        Assert.Equal(6, pseudo.SelectedCount);
        // The input mask is left as it was.
        Assert.Equal([0, 0, 1, 2, 2, 1, 0, 2], mask.GivenLabels);
        Assert.Null(mask.Weights);
        // Weight 1 needs no weights: every loss (robust ones too) applies unchanged.
        Assert.Null(PseudoLabels.Apply(mask, chosen, weight: 1, classCount: 3).Weights);
        // Only samples that take part join (a --limit run of the first 4).
        var limited = PseudoLabels.Apply(mask.Limit(4, 3), chosen, 1, 3);
        Assert.Equal(2, limited.PseudoLabelledCount);
        Assert.False(limited.Selected[6]);
    }

    [Fact]
    public void ASelectionWithoutSuggestionsOrWithABadOneIsRejectedNamingTheLine()
    {
        using var dir = new TempDir("deft-pseudo");
        var bare = dir.File("bare.csv");
        File.WriteAllText(bare, "index,source,given_label,is_label_issue\n0,s0,0,false\n1,s1,1,true\n");
        var ex = Assert.Throws<DeftException>(() => PseudoLabels.Choose(SelectionFile.Read(bare), new PseudoLabelOptions(), 3));
        Assert.Contains("line 3", ex.Message);
        Assert.Contains("suggested_label", ex.Message);

        var bad = dir.File("bad.csv");
        File.WriteAllText(bad, Rows().Replace("6,s6,0,a,0.1,true,2,c", "6,s6,0,a,0.1,true,7,c"));
        ex = Assert.Throws<DeftException>(() => PseudoLabels.Choose(SelectionFile.Read(bad), new PseudoLabelOptions(), 3));
        Assert.Contains("line 8", ex.Message);
        Assert.Contains("0..2", ex.Message);

        var notProbability = dir.File("p.csv");
        File.WriteAllText(notProbability, Rows().Replace(",0.95,2,c\n2,", ",1.5,2,c\n2,"));
        ex = Assert.Throws<DeftException>(() => SelectionFile.Read(notProbability));
        Assert.Contains("line 3", ex.Message);
        Assert.Contains("suggested_probability '1.5'", ex.Message);
    }

    private static AdaptOptions Options(string dir, string selection) => new()
    {
        Model = "random:tiny",
        OutputDirectory = dir,
        SelectionPath = selection,
        Epochs = 2,
        BatchSize = 8,
        LearningRate = 0.02,
        Augment = AugmentPreset.None,
        Recipe = AdaptRecipe.Official,
        HeadInit = HeadInit.Random,
        Workers = 1,
    };

    [Fact]
    public void PseudoLabellingTrainsExactlyAsASelectionThatKeepsTheJoinedSamplesWithTheirSuggestions()
    {
        using var dir = new TempDir("deft-pseudo");
        var train = new PlantedColours(8, classes: 3, seed: 5);
        var flagged = dir.File("flagged.csv");
        File.WriteAllText(flagged, Rows(i => train.GetSource(i)));
        // The same samples with rows 1, 3 and 6 kept under their suggested labels, the rest as before.
        var kept = dir.File("kept.csv");
        File.WriteAllText(kept, Rows(i => train.GetSource(i))
            .Replace($"1,{train.GetSource(1)},0,a,0.1,true", $"1,{train.GetSource(1)},2,a,0.1,false")
            .Replace($"3,{train.GetSource(3)},2,c,0.2,true", $"3,{train.GetSource(3)},0,c,0.2,false")
            .Replace($"6,{train.GetSource(6)},0,a,0.1,true", $"6,{train.GetSource(6)},2,a,0.1,false"));

        var pseudo = Adapter.Train(Options(dir.File("pseudo"), flagged) with { Unselected = UnselectedSamples.PseudoLabel }, train, null);
        var same = Adapter.Train(Options(dir.File("kept"), kept), train, null);
        var dropped = Adapter.Train(Options(dir.File("drop"), flagged), train, null);
        Assert.Equal(3, pseudo.PseudoLabelledSamples);
        Assert.Equal(6, pseudo.SelectedSamples);
        Assert.Equal(3, dropped.SelectedSamples);
        Assert.Contains(pseudo.Notes, n => n.StartsWith("3 flagged samples train with the detector's suggested label", StringComparison.Ordinal));

        var a = Saved(dir.File("pseudo"));
        var b = Saved(dir.File("kept"));
        var c = Saved(dir.File("drop"));
        try
        {
            foreach (var (name, t) in a) Assert.True(BackboneTests.Same(t, b[name]), name);
            Assert.False(BackboneTests.Same(a["head.weight"], c["head.weight"]));
        }
        finally
        {
            foreach (var d in new[] { a, b, c }) foreach (var t in d.Values) t.Dispose();
        }
    }

    [Fact]
    public void PseudoLabelsNeedASelectionFileAndWeightsOrSmoothingNeedCrossEntropy()
    {
        using var dir = new TempDir("deft-pseudo");
        var train = new PlantedColours(8, classes: 3, seed: 5);
        var all = Options(dir.File("run"), "all") with { Unselected = UnselectedSamples.PseudoLabel };
        Assert.Contains(Setting.Selection.ToString(), Assert.Throws<DeftException>(() => Adapter.Train(all, train, null)).Message);
        var path = dir.File("s.csv");
        File.WriteAllText(path, Rows(i => train.GetSource(i)));
        var gce = Options(dir.File("run"), path) with
        {
            Unselected = UnselectedSamples.PseudoLabel, PseudoLabels = new PseudoLabelOptions(0.8, 0.5), Loss = RobustLossKind.GCE,
        };
        Assert.Contains(Setting.PseudoLabelWeight.ToString(), Assert.Throws<DeftException>(() => Adapter.Train(gce, train, null)).Message);
        var smoothing = Options(dir.File("run"), path) with { LabelSmoothing = 0.1, Loss = RobustLossKind.ELR };
        Assert.Contains(Setting.LabelSmoothing.ToString(), Assert.Throws<DeftException>(() => Adapter.Train(smoothing, train, null)).Message);
        var threshold = Options(dir.File("run"), path) with { Unselected = UnselectedSamples.PseudoLabel, PseudoLabels = new PseudoLabelOptions(1.2) };
        Assert.Contains(Setting.PseudoLabelThreshold.ToString(), Assert.Throws<DeftException>(() => Adapter.Train(threshold, train, null)).Message);
    }

    [Fact]
    public void WeightedSmoothedCrossEntropyMatchesTheHandComputedValue()
    {
        // Two samples, three classes. log-softmax of (0, ln 2, ln 5) = (ln 1/8, ln 2/8, ln 5/8); of (0, 0, 0) = ln 1/3 each.
        using var logits = tensor(new float[] { 0, MathF.Log(2), MathF.Log(5), 0, 0, 0 }).reshape(2, 3);
        using var targets = tensor(new long[] { 2, 0 });
        double[] nll = [-Math.Log(5.0 / 8), Math.Log(3)];
        double[] meanNll = [-(Math.Log(1.0 / 8) + Math.Log(2.0 / 8) + Math.Log(5.0 / 8)) / 3, Math.Log(3)];
        const double eps = 0.1;
        double Smoothed(int i) => (1 - eps) * nll[i] + eps * meanNll[i];

        using var plain = RobustLosses.CrossEntropy(logits, targets, null, 0);
        Assert.Equal((nll[0] + nll[1]) / 2, plain.item<float>(), 5);
        using var torchCe = RobustLosses.CrossEntropy(logits, targets);
        Assert.Equal(torchCe.item<float>(), plain.item<float>(), 5);

        using var smoothed = RobustLosses.CrossEntropy(logits, targets, null, eps);
        Assert.Equal((Smoothed(0) + Smoothed(1)) / 2, smoothed.item<float>(), 5);

        using var weights = tensor(new float[] { 1, 0.25f });
        using var weighted = RobustLosses.CrossEntropy(logits, targets, weights, eps);
        Assert.Equal((Smoothed(0) + 0.25 * Smoothed(1)) / 2, weighted.item<float>(), 5);
        using var zero = tensor(new float[] { 1, 0 });
        using var withoutSecond = RobustLosses.CrossEntropy(logits, targets, zero, 0);
        Assert.Equal(nll[0] / 2, withoutSecond.item<float>(), 5);
    }

    [Fact]
    public void TheScaledRuleKeepsTheOfficialSettingsAtViTB16AndScalesAwayFromThem()
    {
        // The reference point (ViT-B/16, batch 64, CIFAR-100's ~30k kept samples): unchanged.
        var official = ScaledSchedule.For(epochs: 10, learningRate: 5e-4, batchSize: 64, trainSamples: 30_000, width: 768);
        Assert.Equal(new ScaledSchedule(10, 5e-4, 1, 469), official);
        // The mini CLIP (width 128) on 10,000 samples: tower lr × 6; 157 steps × 5 epochs = 785 ≥ 500, so 5 epochs.
        var mini = ScaledSchedule.For(5, 5e-4, 64, 10_000, 128);
        Assert.Equal(new ScaledSchedule(5, 5e-4, 6, 157), mini);
        // Batch 256: lr × 4, and 40 steps/epoch need ⌈500 / 40⌉ = 13 epochs.
        Assert.Equal(new ScaledSchedule(13, 2e-3, 1, 40), ScaledSchedule.For(5, 5e-4, 256, 10_000, 768));
        // 1,000 images at batch 64: 16 steps/epoch → 32 epochs; 10 images: 1 step/epoch, capped at 100 epochs.
        Assert.Equal(32, ScaledSchedule.For(10, 5e-4, 64, 1_000, 768).Epochs);
        Assert.Equal(ScaledSchedule.MaxEpochs, ScaledSchedule.For(10, 5e-4, 64, 10, 768).Epochs);
        // More epochs than the floor asks for are kept, beyond the cap too.
        Assert.Equal(150, ScaledSchedule.For(150, 5e-4, 64, 10, 768).Epochs);
        Assert.Equal(1.5, ScaledSchedule.For(10, 1e-3, 64, 30_000, 512).TowerWidthFactor);
    }

    private static Dictionary<string, Tensor> Saved(string dir) => Deft.Clip.Safetensors.Load(Path.Combine(dir, AdaptedModel.WeightsFile));
}
