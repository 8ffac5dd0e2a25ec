using Deft.Clip.Tokenization;
using TorchSharp;
using static TorchSharp.torch;

namespace Deft.Clip;

/// <summary>
/// CLIP zero-shot classification: one text embedding per class, the normalised mean of the normalised features of
/// every prompt template filled with the class name (CLIP's prompt ensembling); an image goes to the class of highest
/// cosine similarity. Owns the class-embedding tensor.
/// </summary>
public sealed class ZeroShotClassifier : IDisposable
{
    private readonly Tensor _classEmbeddings; // [K, E], unit rows, float32

    private ZeroShotClassifier(Tensor classEmbeddings, IReadOnlyList<string> classNames)
    {
        _classEmbeddings = classEmbeddings;
        ClassNames = classNames;
    }

    public IReadOnlyList<string> ClassNames { get; }

    /// <summary>[K, E] unit-norm class embeddings (text features · ensembling); owned by this instance.</summary>
    public Tensor ClassEmbeddings => _classEmbeddings;

    /// <summary>
    /// Builds the classifier. Each template holds "{}" where the class name goes; names with underscores get spaces.
    /// </summary>
    public static ZeroShotClassifier Create(ClipModel model, ClipTokenizer tokenizer, IReadOnlyList<string> classNames,
        IReadOnlyList<string> templates)
    {
        if (classNames.Count == 0) throw new DeftException("Zero-shot classification needs at least one class name.");
        if (templates.Count == 0) throw new DeftException("Zero-shot classification needs at least one prompt template.");
        foreach (var t in templates)
            if (!t.Contains("{}", StringComparison.Ordinal))
                throw new DeftException($"Prompt template \"{t}\" has no {{}} placeholder for the class name.");
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var perClass = new List<Tensor>();
        foreach (var name in classNames)
        {
            var texts = templates.Select(t => t.Replace("{}", name.Replace('_', ' '), StringComparison.Ordinal)).ToList();
            var ids = tokenizer.TokenizeToTensor(texts, model.Config.Text.ContextLength).to(model.Device);
            var feats = nn.functional.normalize(model.EncodeText(ids).to(ScalarType.Float32), dim: -1);
            perClass.Add(nn.functional.normalize(feats.mean([0]), dim: -1));
        }
        var emb = torch.stack(perClass).MoveToOuterDisposeScope();
        return new ZeroShotClassifier(emb, classNames);
    }

    /// <summary>Cosine similarities [B, K] of unnormalised image features [B, E] to every class.</summary>
    public Tensor Similarities(Tensor imageFeatures)
    {
        using var scope = torch.NewDisposeScope();
        var img = nn.functional.normalize(imageFeatures.to(ScalarType.Float32), dim: -1);
        return img.matmul(_classEmbeddings.to(img.device).t()).MoveToOuterDisposeScope();
    }

    public void Dispose() => _classEmbeddings.Dispose();
}
