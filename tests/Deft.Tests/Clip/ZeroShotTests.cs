using Deft.Clip;
using Deft.Data;
using Deft.Data.Transforms;
using Deft.Tests.Transforms;
using TorchSharp;
using static TorchSharp.torch;

namespace Deft.Tests.Clip;

public class ZeroShotTests
{
    private static readonly string[] FixtureTexts = ["a photo of a cat.", "a photo of a dog.", "aquarium fish", "It's a tiny test!", "ankle boot"];

    [Fact]
    public void Class_embeddings_are_the_normalised_reference_text_features_for_a_single_template()
    {
        using var bundle = ClipBundle.Load(Fixtures.TinyClip, Fixtures.TinyVocabulary);
        using var reference = new TinyReference();
        using var classifier = ZeroShotClassifier.Create(bundle.Model, bundle.Tokenizer, FixtureTexts, ["{}"]);
        using var expected = nn.functional.normalize(reference.TextFeatures, dim: -1);
        TensorAssert.Close(expected, classifier.ClassEmbeddings, 1e-5, "class embeddings");
        // Similarities times the logit scale are the reference CLIP logits.
        using var sims = classifier.Similarities(reference.ImageFeatures);
        using var logits = sims * bundle.Model.LogitScale.exp();
        TensorAssert.Close(reference.LogitsPerImage, logits, 1e-4, "logits");
    }

    [Fact]
    public void Template_ensemble_averages_normalised_features_then_renormalises()
    {
        using var bundle = ClipBundle.Load(Fixtures.Path("clip-tiny-hf"));
        string[] templates = ["a photo of a {}.", "{} in the wild"];
        using var classifier = ZeroShotClassifier.Create(bundle.Model, bundle.Tokenizer, ["cat", "dog_house"], templates);
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        // Independent computation: encode each filled template, normalise, average, normalise.
        Tensor Expected(string name)
        {
            var ids = bundle.Tokenizer.TokenizeToTensor(templates.Select(t => t.Replace("{}", name)).ToList(), 77);
            var f = nn.functional.normalize(bundle.Model.EncodeText(ids), dim: -1);
            return nn.functional.normalize(f.mean([0]), dim: -1);
        }
        var expected = torch.stack([Expected("cat"), Expected("dog house")]);
        TensorAssert.Close(expected, classifier.ClassEmbeddings, 1e-6, "ensembled class embeddings");
        Assert.Throws<DeftException>(() => ZeroShotClassifier.Create(bundle.Model, bundle.Tokenizer, ["cat"], ["no placeholder"]));
    }

    [Fact]
    public void Scoring_counts_top1_topk_and_per_class_by_hand()
    {
        // 3 samples, k = 2: sample 0 right at 1, sample 1 right at 2, sample 2 wrong.
        int[] labels = [0, 1, 1];
        long[] top = [0, 1, /**/ 0, 1, /**/ 2, 0];
        var r = ZeroShotEvaluation.Score(labels, top, 2, ["a", "b", "c"]);
        Assert.Equal(1.0 / 3, r.Top1, 12);
        Assert.Equal(2.0 / 3, r.TopK, 12);
        Assert.Equal(1.0, r.PerClass[0].Accuracy);
        Assert.Equal(0.0, r.PerClass[1].Accuracy);
        Assert.True(double.IsNaN(r.PerClass[2].Accuracy));
    }

    [Fact]
    public void Dataset_features_equal_direct_encoding_of_the_eval_transform()
    {
        using var bundle = ClipBundle.Load(Fixtures.Path("clip-tiny-hf"));
        var rng = new Random(3);
        var images = Enumerable.Range(0, 5).Select(_ =>
        {
            var px = new byte[40 * 36 * 3];
            rng.NextBytes(px);
            return new RgbImage(40, 36, px);
        }).ToList();
        var data = new InMemoryDataset(images, [0, 1, 0, 1, 0]);
        var pipeline = ImagePipeline.Eval(32);
        using var features = ImageFeatures.Compute(bundle.Model, data, [4, 0, 2], pipeline, batchSize: 2);
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var direct = bundle.Model.EncodeImage(torch.stack(new[] { 4, 0, 2 }.Select(i => pipeline.ApplyToTensor(images[i])).ToList()));
        TensorAssert.Close(direct, features, 1e-5, "loader vs direct features");
    }

    [Fact]
    public void Templates_resolve_from_names_files_and_literals_with_clear_errors()
    {
        Assert.Equal(PromptTemplates.Default, PromptTemplates.Resolve(null));
        Assert.Equal(7, PromptTemplates.Resolve("ensemble7").Count);
        Assert.Equal(["x {} y"], PromptTemplates.Resolve("x {} y"));
        var file = Path.GetTempFileName();
        File.WriteAllLines(file, ["# comment", "a {}.", "", "the {}"]);
        Assert.Equal(["a {}.", "the {}"], PromptTemplates.Resolve(file));
        File.WriteAllLines(file, ["a {}.", "oops"]);
        Assert.Contains("oops", Assert.Throws<DeftException>(() => PromptTemplates.Resolve(file)).Message);
        File.Delete(file);
        Assert.Contains("ensemble7", Assert.Throws<DeftException>(() => PromptTemplates.Resolve("nonsense")).Message);
    }
}
