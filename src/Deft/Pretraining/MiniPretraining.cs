using Deft.Clip;
using Deft.Clip.Tokenization;
using Deft.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace Deft.Pretraining;

/// <summary>The mini protocol's pre-training stage: a tiny CLIP on captioned auxiliary Fashion-MNIST images.</summary>
public static class MiniPretraining
{
    /// <summary>Bumped whenever the recipe changes, so cached models are not reused across recipes.</summary>
    public const int RecipeVersion = 1;

    /// <summary>The captions of <paramref name="indices"/> (see <see cref="FashionMnistCaptions"/>).</summary>
    public static List<string> Captions(IImageDataset train, IReadOnlyList<int> indices, int seed) =>
        indices.Select(i => FashionMnistCaptions.Caption(i, train.GetLabel(i), seed)).ToList();

    /// <summary>
    /// A small vocabulary from the caption corpus plus the prompts' class names, so the model needs no CLIP vocabulary file.
    /// </summary>
    public static ClipTokenizer BuildTokenizer(IEnumerable<string> captions)
    {
        var corpus = captions.Concat(FashionMnistCaptions.Synonyms.SelectMany(s => s))
            .Concat(FashionMnistCaptions.PromptNames.Select(n => MiniProtocol.ZeroShotTemplate.Replace("{}", n)));
        return ClipTokenizer.BuildFromCorpus(corpus, maxVocabSize: 2048);
    }

    public sealed record Result(ClipModel Model, ClipTokenizer Tokenizer, PretrainResult Training);

    /// <summary>Pre-trains on <paramref name="indices"/> of <paramref name="train"/> (28×28 Fashion-MNIST images).</summary>
    public static Result Run(IImageDataset train, IReadOnlyList<int> indices, PretrainOptions options,
        IProgress<PretrainProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        var captions = Captions(train, indices, options.Seed);
        var tokenizer = BuildTokenizer(captions);
        var config = MiniProtocol.TinyClip(tokenizer.VocabSize);
        var model = new ClipModel(config, options.Seed);
        using var images = PairedImageText.ImagesToTensor(train, indices, config.Vision.ImageSize, MiniProtocol.Mean, MiniProtocol.Std);
        using var tokens = PairedImageText.Tokenize(tokenizer, captions, config.Text.ContextLength);
        var result = ClipPretrainer.Train(model, images, tokens, options, progress, cancellationToken);
        return new Result(model, tokenizer, result);
    }

    /// <summary>Zero-shot top-1 accuracy with the protocol's prompt on <paramref name="indices"/> of <paramref name="data"/>.</summary>
    public static double ZeroShotAccuracy(ClipModel model, ClipTokenizer tokenizer, IImageDataset data, IReadOnlyList<int> indices, int batch = 1000)
    {
        using var classifier = ZeroShotClassifier.Create(model, tokenizer, FashionMnistCaptions.PromptNames, [MiniProtocol.ZeroShotTemplate]);
        using var images = PairedImageText.ImagesToTensor(data, indices, model.Config.Vision.ImageSize, MiniProtocol.Mean, MiniProtocol.Std);
        var correct = 0;
        using var noGrad = torch.no_grad();
        for (var start = 0; start < indices.Count; start += batch)
        {
            using var scope = torch.NewDisposeScope();
            var len = Math.Min(batch, indices.Count - start);
            var pred = classifier.Similarities(model.EncodeImage(images.narrow(0, start, len))).argmax(1).data<long>().ToArray();
            for (var i = 0; i < len; i++)
                if (pred[i] == data.GetLabel(indices[start + i])) correct++;
        }
        return (double)correct / indices.Count;
    }
}
