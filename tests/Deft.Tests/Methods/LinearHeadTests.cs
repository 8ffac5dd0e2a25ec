using Deft.Api;
using Deft.Clip;
using Deft.Detection;
using Deft.Methods;
using Deft.Peft;
using TorchSharp;
using static TorchSharp.torch;

namespace Deft.Tests.Methods;

/// <summary>
/// The official baselines' linear head (<c>model/CLIP.py</c>: <c>nn.Linear(width, num_class)</c> on ln_post(class
/// token); <c>main_small_loss.py</c>'s step: cross-entropy averaged over the kept small-loss samples, SGD with momentum
/// and weight decay), against a reference computed here in doubles.
/// </summary>
public sealed class LinearHeadTests
{
    private const int Classes = 3, Samples = 8;
    private const double Lr = 0.5, Momentum = 0.9, WeightDecay = 0.01;

    private static DetectOptions Options(long seed) => new()
    {
        Model = Fixtures.TinyClip, Data = "unused", Format = "idx", OutputDirectory = "unused",
        Peft = new PeftOptions(PeftKind.None), Epochs = 1, Warmup = 1, BatchSize = Samples, Seed = seed,
        LearningRate = Lr, Momentum = Momentum, WeightDecay = WeightDecay,
        Method = DetectionMethod.SmallLoss, NoiseRate = 0.5, Classifier = BaselineClassifier.LinearHead,
    };

    /// <summary>One batch holding every sample: the features given, in position order.</summary>
    private sealed class FixedFeatures(Tensor features) : TrainingSource
    {
        public override int BatchCount => 1;

        public override IEnumerable<SourceBatch> TrainEpoch(int epoch, CancellationToken cancellationToken) => EvalPass(cancellationToken);

        public override IEnumerable<SourceBatch> EvalPass(CancellationToken cancellationToken)
        {
            yield return new SourceBatch(Enumerable.Range(0, (int)features.shape[0]).ToArray(), null, features.clone(), null);
        }
    }

    private static double[,] ToArray(Tensor t)
    {
        var (rows, cols) = ((int)t.shape[0], (int)t.shape[1]);
        var flat = t.detach().to(ScalarType.Float64).contiguous().data<double>().ToArray();
        var a = new double[rows, cols];
        for (var i = 0; i < rows; i++) for (var j = 0; j < cols; j++) a[i, j] = flat[i * cols + j];
        return a;
    }

    [Fact]
    public void The_head_is_nn_Linear_on_the_pre_projection_width_with_its_default_uniform_initialisation()
    {
        using var bundle = ClipBundle.Load(Fixtures.TinyClip, Fixtures.TinyVocabulary);
        var width = bundle.Model.Config.Vision.Width;
        Assert.NotEqual(width, bundle.Model.Config.EmbedDim); // the head reads ln_post(class token), not the projected feature
        using var head = new LinearHeadClassifier(bundle.Model, Options(7), Classes);
        Assert.Equal(new long[] { Classes, width }, head.Weight.shape);
        Assert.Equal(new long[] { Classes }, head.Bias.shape);
        // nn.Linear.reset_parameters: kaiming_uniform_(a=√5) for the weight and the bias bound, both U(−1/√fan_in, 1/√fan_in).
        var bound = 1 / Math.Sqrt(width);
        var w = head.Weight.detach().to(ScalarType.Float64).data<double>().ToArray();
        var b = head.Bias.detach().to(ScalarType.Float64).data<double>().ToArray();
        Assert.All(w.Concat(b), v => Assert.InRange(Math.Abs(v), 0, bound));
        Assert.True(w.Max() > 0.9 * bound && w.Min() < -0.9 * bound, "the weights fill the uniform range");
        Assert.InRange(w.Average(), -0.1 * bound, 0.1 * bound);
        // Only the head trains with the tower frozen; the seed fixes it.
        Assert.Equal(2, head.Trainables.Count);
        using var same = new LinearHeadClassifier(bundle.Model, Options(7), Classes);
        using var other = new LinearHeadClassifier(bundle.Model, Options(8), Classes);
        Assert.True(head.Weight.eq(same.Weight).all().item<bool>() && head.Bias.eq(same.Bias).all().item<bool>());
        Assert.False(head.Weight.eq(other.Weight).all().item<bool>());
    }

    [Fact]
    public void One_small_loss_step_is_sgd_on_the_mean_cross_entropy_of_the_kept_samples_of_unnormalised_logits()
    {
        using var bundle = ClipBundle.Load(Fixtures.TinyClip, Fixtures.TinyVocabulary);
        var width = bundle.Model.Config.Vision.Width;
        var options = Options(3);
        using var head = new LinearHeadClassifier(bundle.Model, options, Classes);
        // Features of ln_post's scale (order 1 per dimension), not unit-norm: the head must not normalise them.
        var random = new Random(11);
        var f = new double[Samples, width];
        for (var i = 0; i < Samples; i++) for (var d = 0; d < width; d++) f[i, d] = random.NextDouble() * 4 - 2;
        int[] given = [0, 1, 2, 0, 1, 2, 0, 1];
        using var features = tensor(f.Cast<double>().Select(v => (float)v).ToArray(), [Samples, width]);
        var w0 = ToArray(head.Weight);
        var b0 = head.Bias.detach().to(ScalarType.Float64).data<double>().ToArray();

        // Reference: z = W f + b; cross-entropy; keep the int((1 − 0.5) · 8) = 4 smallest; gradient of their mean.
        double[,] Logits(double[,] w, double[] b)
        {
            var z = new double[Samples, Classes];
            for (var i = 0; i < Samples; i++)
                for (var c = 0; c < Classes; c++)
                {
                    var s = b[c];
                    for (var d = 0; d < width; d++) s += w[c, d] * f[i, d];
                    z[i, c] = s;
                }
            return z;
        }
        double[,] Softmax(double[,] z)
        {
            var p = new double[Samples, Classes];
            for (var i = 0; i < Samples; i++)
            {
                var max = Enumerable.Range(0, Classes).Max(c => z[i, c]);
                var sum = Enumerable.Range(0, Classes).Sum(c => Math.Exp(z[i, c] - max));
                for (var c = 0; c < Classes; c++) p[i, c] = Math.Exp(z[i, c] - max) / sum;
            }
            return p;
        }
        var p0 = Softmax(Logits(w0, b0));
        var loss = Enumerable.Range(0, Samples).Select(i => -Math.Log(p0[i, given[i]])).ToArray();
        var kept = Enumerable.Range(0, Samples).OrderBy(i => loss[i]).Take(4).ToHashSet();
        Assert.True(loss.Distinct().Count() == Samples, "no ties decide the kept set");
        var w1 = new double[Classes, width];
        var b1 = new double[Classes];
        for (var c = 0; c < Classes; c++)
        {
            var gb = kept.Sum(i => p0[i, c] - (given[i] == c ? 1 : 0)) / kept.Count;
            // torch.optim.SGD's first step: buffer = grad + wd · θ (momentum starts from it), θ −= lr · buffer.
            b1[c] = b0[c] - Lr * (gb + WeightDecay * b0[c]);
            for (var d = 0; d < width; d++)
            {
                var gw = kept.Sum(i => (p0[i, c] - (given[i] == c ? 1 : 0)) * f[i, d]) / kept.Count;
                w1[c, d] = w0[c, d] - Lr * (gw + WeightDecay * w0[c, d]);
            }
        }

        var labels = new LabelAssignment(Enumerable.Range(0, Samples).ToArray(), given, new int?[Samples], Classes, "hand-made");
        using var source = new FixedFeatures(features);
        var trainer = new BaselineClassifierTrainer(head, labels, options, source)
        {
            Select = SmallLossMethod.Selector(Deft.Baselines.SmallLoss.Schedule(0.5, 0, 1)),
        };
        trainer.Train(1);

        Assert.Equal(Enumerable.Range(0, Samples).Select(kept.Contains), trainer.LastEpochKept!);
        Assert.Equal(loss.Average(), trainer.Epochs.Single().Loss, 4);
        var trainedW = ToArray(head.Weight);
        var trainedB = head.Bias.detach().to(ScalarType.Float64).data<double>().ToArray();
        for (var c = 0; c < Classes; c++)
        {
            Assert.Equal(b1[c], trainedB[c], 5);
            for (var d = 0; d < width; d++) Assert.Equal(w1[c, d], trainedW[c, d], 5);
        }
        // The step moved the head measurably (a no-op step would fail the comparisons above by more than their tolerance).
        Assert.True(Enumerable.Range(0, Classes).Max(c => Math.Abs(w1[c, 0] - w0[c, 0])) > 1e-3);

        // The evaluation pass scores with the trained head: softmax(W₁ f + b₁) at the given label, argmax as the suggestion.
        var pass = BaselineClassifierTrainer.Evaluate(head, labels, source);
        var p1 = Softmax(Logits(w1, b1));
        for (var i = 0; i < Samples; i++)
        {
            Assert.Equal(p1[i, given[i]], pass.GivenProbability[i], 5);
            Assert.Equal(Enumerable.Range(0, Classes).MaxBy(c => p1[i, c]), pass.Predicted[i]);
        }
    }

    [Fact]
    public void The_linear_head_applies_to_small_loss_and_gmm_only_and_needs_the_images()
    {
        Assert.Equal(BaselineClassifier.LinearHead, BaselineClassifiers.Parse("linear-head"));
        Assert.Equal("prompts", BaselineClassifier.Prompts.ToName());
        Assert.Throws<DeftException>(() => BaselineClassifiers.Parse("mlp"));
        var deft = Assert.Throws<DeftException>(() => (Options(0) with { Method = DetectionMethod.Deft, NoiseRate = null }).Validate());
        Assert.Contains(deft.References, r => r.Setting == Setting.Classifier);
        (Options(0) with { OutputDirectory = "x" }).Validate();
        (Options(0) with { Method = DetectionMethod.Gmm, NoiseRate = null }).Validate();

        // Projected features from elsewhere lack the pre-projection feature the head reads: a clear error, not a wrong head.
        using var clip = ClipBundle.Load(Fixtures.TinyClip, Fixtures.TinyVocabulary);
        var features = new float[20, clip.Model.Config.EmbedDim];
        var random = new Random(1);
        for (var i = 0; i < 20; i++) for (var d = 0; d < features.GetLength(1); d++) features[i, d] = (float)random.NextDouble();
        var labels = Enumerable.Range(0, 20).Select(i => i % 2).ToArray();
        var config = new DetectionConfig
        {
            MethodSettings = new MethodSettings { Method = DetectionMethod.Gmm, Classifier = BaselineClassifier.LinearHead },
            Epochs = 1, Warmup = 1, BatchSize = 10,
        };
        var error = Assert.Throws<DeftException>(() => LabelIssueDetector.Find(clip, features, labels, ["a", "b"], config));
        Assert.Contains(error.References, r => r.Setting == Setting.Classifier);
    }
}
