using Deft.Baselines;
using Deft.Methods;
using Deft.Detection;
using TorchSharp;
using static TorchSharp.torch;

namespace Deft.Tests.Methods;

/// <summary>The methods' decision steps on planted inputs, and the option guards.</summary>
public sealed class MethodUnitTests
{
    [Fact]
    public void Gmm_split_flags_the_high_loss_mode_of_planted_losses()
    {
        // 80 clean samples with losses in [0.1, 0.4), 20 noisy ones in [2, 3), interleaved.
        var random = new Random(7);
        var n = 100;
        var noisy = Enumerable.Range(0, n).Select(i => i % 5 == 3).ToArray();
        var losses = noisy.Select(b => b ? 2 + random.NextDouble() : 0.1 + 0.3 * random.NextDouble()).ToArray();
        var predicted = Enumerable.Range(0, n).Select(i => i % 7).ToArray();
        var top = Enumerable.Range(0, n).Select(i => 0.5 + i / 1000.0).ToArray();
        var pass = new ClassifierPass(losses.Select(l => Math.Exp(-l)).ToArray(), losses, predicted, top);

        var (scores, fit) = GmmMethod.Split(pass, seed: 0);

        Assert.Equal(noisy, scores.IsIssue);
        Assert.Equal(fit.CleanPosterior, scores.LabelQuality);
        Assert.All(scores.LabelQuality, q => Assert.InRange(q, 0, 1));
        Assert.Equal(predicted, scores.Suggested);
        Assert.Equal(top, scores.SuggestedProbability);
        Assert.True(fit.Means[0] < fit.Means[1]);
        Assert.InRange(fit.Weights[1], 0.15, 0.25);
    }

    [Fact]
    public void Confident_learning_finds_planted_label_errors_on_separated_features()
    {
        // Three well-separated classes in 12 dimensions; the labels of six samples moved to another class.
        const int perClass = 40, classes = 3, dims = 12;
        var random = new Random(3);
        var n = perClass * classes;
        var features = new float[n * dims];
        var truth = new int[n];
        for (var i = 0; i < n; i++)
        {
            truth[i] = i % classes;
            for (var d = 0; d < dims; d++)
                features[i * dims + d] = (d == truth[i] * 4 ? 4f : 0f) + (float)(random.NextDouble() - 0.5) * 0.6f;
        }
        var labels = (int[])truth.Clone();
        int[] planted = [5, 17, 40, 58, 91, 110];
        foreach (var i in planted) labels[i] = (truth[i] + 1) % classes;

        using var x = tensor(features, [n, dims]);
        var probabilities = LogisticRegression.CrossValidatedProbabilities(x, labels, classes, folds: 5, seed: 0).Probabilities;

        var (cl, pruneCount) = ConfidentLearningMethod.Score(DetectionMethod.ConfidentLearning, probabilities, labels);
        Assert.Equal(planted, Flagged(cl));
        Assert.Equal(planted.Length, pruneCount);
        var (neq, _) = ConfidentLearningMethod.Score(DetectionMethod.PredictedNeqGiven, probabilities, labels);
        Assert.Equal(planted, Flagged(neq));
        var (self, _) = ConfidentLearningMethod.Score(DetectionMethod.SelfConfidence, probabilities, labels);
        Assert.Equal(planted, Flagged(self));

        // Label quality is the self-confidence P[i, given]; the suggestion recovers the true class.
        for (var i = 0; i < n; i++) Assert.Equal(probabilities[i, labels[i]], cl.LabelQuality[i]);
        Assert.All(planted, i => Assert.Equal(truth[i], cl.Suggested[i]));
    }

    [Fact]
    public void Label_match_scores_flag_exactly_the_argmax_mismatches()
    {
        double[,] p = { { 0.7, 0.2, 0.1 }, { 0.3, 0.3, 0.4 }, { 0.1, 0.45, 0.45 }, { 0.2, 0.5, 0.3 } };
        int[] given = [0, 0, 2, 1];
        var scores = LabelMatchMethod.Scores(p, given);
        Assert.Equal([false, true, true, false], scores.IsIssue);   // row 2: the first maximum (class 1) wins the tie
        Assert.Equal([0.7, 0.3, 0.45, 0.5], scores.LabelQuality);
        Assert.Equal([0, 2, 1, 1], scores.Suggested);
        Assert.Equal([0.7, 0.4, 0.45, 0.5], scores.SuggestedProbability);
    }

    [Fact]
    public void Method_names_parse_and_unknown_ones_list_the_valid_values()
    {
        foreach (var m in Enum.GetValues<DetectionMethod>()) Assert.Equal(m, DetectionMethods.Parse(m.ToName()));
        Assert.Equal(DetectionMethod.SmallLoss, DetectionMethods.Parse(" Small_Loss "));
        var ex = Assert.Throws<DeftException>(() => DetectionMethods.Parse("coteaching"));
        foreach (var name in DetectionMethods.ValidNames) Assert.Contains(name, ex.Message);
    }

    [Fact]
    public void Options_guard_the_baselines_settings()
    {
        DetectOptions Options(DetectionMethod m) => new() { Model = "random:tiny", Data = "d", Format = "idx", OutputDirectory = "o", Method = m };
        Assert.Contains("--noise-rate", Assert.Throws<DeftException>(() => Options(DetectionMethod.SmallLoss).Validate()).Render(Deft.Cli.FlagNames.Of));
        (Options(DetectionMethod.SmallLoss) with { NoiseRate = 0.2 }).Validate();
        Assert.Contains("[0, 1)", Assert.Throws<DeftException>(() => (Options(DetectionMethod.SmallLoss) with { NoiseRate = 1.5 }).Validate()).Message);
        Assert.Contains("--warmup", Assert.Throws<DeftException>(() => (Options(DetectionMethod.Gmm) with { Warmup = 0 }).Validate()).Render(Deft.Cli.FlagNames.Of));
        Assert.Contains("--folds", Assert.Throws<DeftException>(() => (Options(DetectionMethod.ConfidentLearning) with { Folds = 1 }).Validate()).Render(Deft.Cli.FlagNames.Of));
        Assert.Contains("--resume", Assert.Throws<DeftException>(() => (Options(DetectionMethod.LabelMatch) with { Resume = true }).Validate()).Render(Deft.Cli.FlagNames.Of));
        Options(DetectionMethod.Deft).Validate();
    }

    private static int[] Flagged(MethodScores scores) => Enumerable.Range(0, scores.Count).Where(i => scores.IsIssue[i]).ToArray();
}
