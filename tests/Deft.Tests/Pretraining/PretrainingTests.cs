using Deft.Clip;
using Deft.Data;
using Deft.Pretraining;
using Deft.Tests.Clip;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Deft.Tests.Pretraining;

public class PretrainingTests(ITestOutputHelper output)
{
    [Fact]
    public void Protocol_splits_are_disjoint_and_cover_the_training_set()
    {
        var aux = MiniProtocol.AuxiliaryIndices(60000);
        var down = MiniProtocol.DownstreamIndices(60000);
        Assert.Equal(20000, aux.Count);
        Assert.Equal(40000, down.Count);
        Assert.Empty(aux.Intersect(down));
        Assert.All(aux, i => Assert.Equal(0, i % 3));
        Assert.Equal(60000, aux.Union(down).Count());
    }

    [Fact]
    public void Captions_use_a_template_and_a_synonym_with_twenty_percent_random_classes()
    {
        const int n = 20000;
        var other = 0;
        for (var i = 0; i < n; i++)
        {
            var label = i % 10;
            var (caption, cls) = FashionMnistCaptions.CaptionWithClass(i, label, seed: 0);
            Assert.Equal(caption, FashionMnistCaptions.Caption(i, label, seed: 0)); // deterministic
            Assert.Contains(FashionMnistCaptions.Templates, t => t.Replace("{}", "").Length <= caption.Length &&
                FashionMnistCaptions.Synonyms[cls].Any(w => t.Replace("{}", w) == caption));
            if (cls != label) other++;
        }
        // A random class differs from the label with probability 0.2 · 9/10 = 0.18; allow 4 standard deviations.
        var expected = n * 0.18;
        var sd = Math.Sqrt(n * 0.18 * 0.82);
        Assert.InRange(other, expected - 4 * sd, expected + 4 * sd);
        Assert.NotEqual(FashionMnistCaptions.Caption(5, 3, seed: 0), FashionMnistCaptions.Caption(5, 3, seed: 1) + "x");
    }

    [Fact]
    public void Contrastive_loss_matches_a_hand_computed_symmetric_cross_entropy_on_the_fixture()
    {
        using var bundle = ClipBundle.Load(Fixtures.TinyClip, Fixtures.TinyVocabulary);
        using var reference = new TinyReference();
        using var tokens = reference.TokenIds.narrow(0, 0, 4);
        using var loss = ClipPretrainer.ContrastiveLoss(bundle.Model, reference.Images, tokens);
        // Reference logits from PyTorch: pairs (image i, text i) for i < 4.
        var logits = reference.LogitsPerImage.data<float>().ToArray(); // [4, 5]
        double RowCe(Func<int, int, double> l, int row)
        {
            var max = Enumerable.Range(0, 4).Max(j => l(row, j));
            var lse = max + Math.Log(Enumerable.Range(0, 4).Sum(j => Math.Exp(l(row, j) - max)));
            return lse - l(row, row);
        }
        double L(int i, int j) => logits[i * 5 + j];
        var imageToText = Enumerable.Range(0, 4).Average(i => RowCe(L, i));
        var textToImage = Enumerable.Range(0, 4).Average(i => RowCe((a, b) => L(b, a), i));
        Assert.Equal((imageToText + textToImage) / 2, loss.item<float>(), 4);
    }

    [Fact]
    public void A_short_pretraining_run_lowers_the_loss_beats_chance_and_saves_a_loadable_model()
    {
        var path = KnownLocations.FashionMnist() ?? throw new InvalidOperationException("Fashion-MNIST is required (apt-get install -y dataset-fashion-mnist).");
        var train = DatasetFactory.Open(new DatasetOptions(path, "idx", "train"));
        var test = DatasetFactory.Open(new DatasetOptions(path, "idx", "test"));
        var aux = MiniProtocol.AuxiliaryIndices(train.Count).Take(2048).ToArray();
        var options = new PretrainOptions(Epochs: 4, BatchSize: 64, Seed: 0); // lr 5e-4 with 10% warm-up
        var result = MiniPretraining.Run(train, aux, options);
        using var model = result.Model;
        var losses = result.Training.EpochLosses;
        output.WriteLine($"epoch losses: {string.Join(", ", losses.Select(l => l.ToString("0.000")))}; {result.Training.Elapsed.TotalSeconds:0.0} s");
        Assert.True(losses[^1] < losses[0] - 0.2, $"loss did not go down: {string.Join(", ", losses)}");
        var evalIdx = Enumerable.Range(0, 1000).ToArray();
        var accuracy = MiniPretraining.ZeroShotAccuracy(model, result.Tokenizer, test, evalIdx);
        output.WriteLine($"zero-shot top-1 on 1000 test images: {accuracy:P1}");
        Assert.True(accuracy > 0.3, $"zero-shot accuracy {accuracy:P1} is not clearly above chance (10%)");

        var dir = Directory.CreateTempSubdirectory("deft-pretrained").FullName;
        try
        {
            PretrainedModelDirectory.Save(dir, model, result.Tokenizer,
                new Dictionary<string, string> { ["mean"] = "[0.286, 0.286, 0.286]", ["std"] = "[0.353, 0.353, 0.353]" });
            using var loaded = ClipBundle.Load(dir);
            Assert.Equal(dir, loaded.TokenizerSource);
            Assert.Equal(0.353f, loaded.Normalization.Std.R, 5);
            Assert.Equal(result.Tokenizer.Encode("a photo of a sneaker."), loaded.Tokenizer.Encode("a photo of a sneaker."));
            using var scope = torch.NewDisposeScope();
            using var noGrad = torch.no_grad();
            var x = torch.randn([3, 3, 28, 28], generator: new torch.Generator(5));
            TensorAssert.Close(model.EncodeImage(x), loaded.Model.EncodeImage(x), 1e-6, "reloaded image features");
            Assert.Equal(accuracy, MiniPretraining.ZeroShotAccuracy(loaded.Model, loaded.Tokenizer, test, evalIdx));
        }
        finally { Directory.Delete(dir, true); }
    }
}
