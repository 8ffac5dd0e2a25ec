using Deft.Detection;
using Deft.Methods;
using Deft.Peft;
using Deft.Prompts;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Deft.Tests.Detection;

/// <summary>
/// The real-noise variant pins the official main_real_phase1.py: selection p_clean &gt; ½ and the label has the
/// highest p_yes; SCE (α = β = 1) in warm-up; pseudo-labels for the negative prompts from epoch 2; constant lr.
/// </summary>
public sealed class DeftVariantTests
{
    private static double Sig(double v) => 1 / (1 + Math.Exp(-v));

    [Fact]
    public void EpochRulesFollowEachOfficialScript()
    {
        // main_phase1.py, warm-up 5: everything switches after epoch 5.
        Assert.Equal(new EpochRule(true, false, false, false), EpochRule.For(DeftVariant.Synthetic, 1, 5));
        Assert.Equal(new EpochRule(true, false, false, false), EpochRule.For(DeftVariant.Synthetic, 5, 5));
        Assert.Equal(new EpochRule(false, false, true, false), EpochRule.For(DeftVariant.Synthetic, 6, 5));
        // main_real_phase1.py, warm-up 5: SCE on all samples through epoch 5, pseudo-labels from epoch 2 ("epoch <= 1").
        Assert.Equal(new EpochRule(true, true, false, true), EpochRule.For(DeftVariant.RealNoise, 1, 5));
        Assert.Equal(new EpochRule(true, true, true, true), EpochRule.For(DeftVariant.RealNoise, 2, 5));
        Assert.Equal(new EpochRule(false, false, true, true), EpochRule.For(DeftVariant.RealNoise, 6, 5));
        Assert.True(DeftVariant.RealNoise.ConstantLearningRate());
        Assert.False(DeftVariant.Synthetic.ConstantLearningRate());
        Assert.Equal(DeftVariant.RealNoise, DeftVariants.Parse("real-noise"));
        Assert.Contains("synthetic, real-noise", Assert.Throws<DeftException>(() => DeftVariants.Parse("clean")).Message);
    }

    [Fact]
    public void RealNoiseSelectionAlsoAsksThatTheLabelHasTheHighestPYes()
    {
        using var scope = NewDisposeScope();
        // Negative logits 0, so p_yes = σ(pos). Sample 0 (label 0): p_clean = σ(1) > ½ but class 1 has σ(2).
        // Sample 1 (label 2): σ(3) is both above ½ and the highest. Sample 2 (label 1): highest but σ(−0.5) < ½.
        var pos = tensor(new float[] { 1f, 2f, 0f, 0f, -1f, 3f, -2f, -0.5f, -3f }, [3, 3]);
        var neg = zeros(3, 3);
        var y = tensor(new long[] { 0, 2, 1 });
        var comp = tensor(new long[] { 2, 0, 0 });

        var synthetic = DeftObjective.Compute(pos, neg, y, comp, EpochRule.For(DeftVariant.Synthetic, 2, 1));
        var real = DeftObjective.Compute(pos, neg, y, comp, EpochRule.For(DeftVariant.RealNoise, 2, 1));

        Assert.Equal(new[] { true, true, false }, synthetic.Selected.data<bool>().ToArray());
        Assert.Equal(new[] { false, true, false }, real.Selected.data<bool>().ToArray());
        Assert.Equal(1, real.SelectedCount);
        Assert.Equal(new[] { Sig(1), Sig(3), Sig(-0.5) }, real.CleanProbability.data<float>().ToArray().Select(v => (double)v), new Tolerance(1e-6));

        // After warm-up only sample 1 trains the positive prompts: CE of [0, −1, 3] at class 2.
        var ce1 = -Math.Log(Math.Exp(3) / (1 + Math.Exp(-1) + Math.Exp(3)));
        Assert.Equal(ce1, real.ClassificationLoss.item<float>(), 5);
        // Unselected samples 0 and 2 take the positive prediction (1 and 1) as the p_yes target; sample 1 keeps 2.
        var lossNo = -(Math.Log(Sig(-0.0)) + Math.Log(Sig(-0.0)) + Math.Log(Sig(2))) / 3;   // p_no at comp: 2, 0, 0
        var lossYes = -(Math.Log(Sig(2)) + Math.Log(Sig(3)) + Math.Log(Sig(-0.5))) / 3;
        Assert.Equal(lossNo + lossYes, real.NegativeLoss.item<float>(), 5);
    }

    [Fact]
    public void RealNoiseWarmupTrainsEverySampleWithSceAndPseudoLabelsFromEpochTwo()
    {
        using var scope = NewDisposeScope();
        // One sample, label 0, logits [1, 2, 0]: not selected under the real rule (class 1 has the higher p_yes).
        var pos = tensor(new float[] { 1f, 2f, 0f }, [1, 3]);
        var neg = zeros(1, 3);
        var y = tensor(new long[] { 0 });
        var comp = tensor(new long[] { 2 });
        var z = Math.E + Math.Exp(2) + 1;
        var p0 = Math.E / z;
        // SCE(α = β = 1): CE + Σ_k −p_k·log(clamp(onehot_k, 1e-4)) = −log p0 + 4·ln 10·(1 − p0).
        var sce = -Math.Log(p0) + 4 * Math.Log(10) * (1 - p0);

        var epoch1 = DeftObjective.Compute(pos, neg, y, comp, EpochRule.For(DeftVariant.RealNoise, 1, 5));
        Assert.Equal(sce, epoch1.ClassificationLoss.item<float>(), 4);
        Assert.Equal(-Math.Log(Sig(0)) - Math.Log(Sig(1)), epoch1.NegativeLoss.item<float>(), 5);   // p_yes target: the label

        var epoch2 = DeftObjective.Compute(pos, neg, y, comp, EpochRule.For(DeftVariant.RealNoise, 2, 5));
        Assert.Equal(sce, epoch2.ClassificationLoss.item<float>(), 4);                                // still warm-up: SCE on all
        Assert.Equal(-Math.Log(Sig(0)) - Math.Log(Sig(2)), epoch2.NegativeLoss.item<float>(), 5);   // p_yes target: prediction 1

        // The synthetic script at epoch 2 of 5: plain CE, and the label is still the target.
        var synthetic = DeftObjective.Compute(pos, neg, y, comp, EpochRule.For(DeftVariant.Synthetic, 2, 5));
        Assert.Equal(-Math.Log(p0), synthetic.ClassificationLoss.item<float>(), 5);
        Assert.Equal(-Math.Log(Sig(0)) - Math.Log(Sig(1)), synthetic.NegativeLoss.item<float>(), 5);
    }

    [Fact]
    public void SceClampsTheSoftmaxAt1e7()
    {
        using var scope = NewDisposeScope();
        // Logits [30, 0]: p1 = e^-30 ≈ 9.4e-14 is clamped to 1e-7, so the reverse term is 1e-7·4·ln 10, not ≈ 0;
        // CE ≈ e^-30 (float32 gives 0).
        var sce = DeftObjective.SymmetricCrossEntropy(tensor(new float[] { 30f, 0f }, [1, 2]), tensor(new long[] { 0 }));
        Assert.Equal(1e-7 * 4 * Math.Log(10), sce.item<float>(), 1e-9);
    }

    [Fact]
    public void ACheckpointKeepsSelectionsThatTheThresholdAloneWouldNotGive()
    {
        using var tmp = new TempDir("variant-checkpoint");
        var path = Path.Combine(tmp.Path, TrainingCheckpoint.FileName);
        using var p = new Parameter(zeros(2));
        using var sgd = new MomentumSgd([p], 0.03, 0.9, 5e-4);
        var state = new TrainingState { CompletedEpochs = 1, LastEpochScores = new PassScores(2) };
        state.LastEpochScores.CleanProbability[0] = 0.9f;   // above ½ but not the top class: unselected
        state.LastEpochScores.CleanProbability[1] = 0.7f;
        state.LastEpochScores.Selected[1] = true;
        TrainingCheckpoint.Save(path, state, [("w", p)], sgd, "fp");

        var loaded = new TrainingState();
        TrainingCheckpoint.Load(path, loaded, [("w", p)], sgd, "fp", 2);
        Assert.Equal(new[] { false, true }, loaded.LastEpochScores!.Selected);
        Assert.False(loaded.LastEpochScores.IsSelected(0));
    }

    [Fact]
    public void ARealNoiseRunKeepsItsLearningRateAndRecordsItsVariant()
    {
        using var tmp = new TempDir("variant-run");
        var dir = tmp.Path;
        var labels = DetectTestData.WriteLabelFile(dir, 64);
        DetectOptions Options(string name, DeftVariant variant) => new()
        {
            Model = DetectTestData.TinyModel, Vocab = Fixtures.TinyVocabulary, Data = DetectTestData.FashionMnist, Format = "idx",
            Labels = labels, OutputDirectory = Path.Combine(dir, name), Peft = new PeftOptions(PeftKind.None),
            Prompts = new PromptOptions(ContextLength: 4), Epochs = 3, Warmup = 2, BatchSize = 32, Seed = 5, Workers = 1,
            CacheDirectory = Path.Combine(dir, "cache"), Variant = variant, Selection = SelectionSource.Eval,
        };
        var real = DeftDetector.Detect(Options("real", DeftVariant.RealNoise));
        var synthetic = DeftDetector.Detect(Options("synthetic", DeftVariant.Synthetic));

        Assert.Equal(new[] { 0.03, 0.03, 0.03 }, real.Summary.Epochs.Select(e => e.LearningRate));
        // CosineAnnealingLR(T = 3) stepped per epoch: 0.03·(1 + cos(π·e/3))/2 for e = 0, 1, 2.
        Assert.Equal(new[] { 0.03, 0.0225, 0.0075 }, synthetic.Summary.Epochs.Select(e => e.LearningRate), new Tolerance(1e-12));
        Assert.Equal("real-noise", real.Summary.Config["variant"]);
        Assert.Equal("constant", real.Summary.Config["lr_schedule"]);
        // Kept: selected (p_clean > ½), or suggested as its own given label (never flagged by default).
        Assert.All(real.Samples.Where(s => !s.IsLabelIssue && s.SuggestedLabel != s.GivenLabel), s => Assert.True(s.LabelQuality > 0.5));

        // The detector remembers its variant for deft score; a baseline refuses one.
        Assert.Equal(DeftVariant.RealNoise, DetectorFile.ReadConfig(Path.Combine(dir, "real", DetectorFile.FileName)).Variant);
        var ex = Assert.Throws<DeftException>(() => (Options("x", DeftVariant.RealNoise) with { Method = DetectionMethod.LabelMatch }).Validate());
        Assert.Contains("--method deft only", Deft.Cli.FlagNames.Render(ex));
    }

    private sealed class Tolerance(double eps) : IEqualityComparer<double>
    {
        public bool Equals(double a, double b) => Math.Abs(a - b) <= eps;
        public int GetHashCode(double v) => 0;
    }
}
