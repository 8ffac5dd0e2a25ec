using Deft.Clip.Tokenization;
using Deft.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace Deft.Pretraining;

/// <summary>Turns images and captions into the tensors <see cref="ClipPretrainer"/> trains on.</summary>
public static class PairedImageText
{
    /// <summary>
    /// Stacks images already at the model resolution into a normalised float32 tensor [N,3,R,R], in parallel. Images
    /// of another size need the resize transform: this fails naming the first such sample.
    /// </summary>
    public static Tensor ImagesToTensor(IImageDataset dataset, IReadOnlyList<int> indices, int resolution, float[] mean, float[] std)
    {
        var plane = resolution * resolution;
        var data = new float[(long)indices.Count * 3 * plane];
        Parallel.For(0, indices.Count, i =>
        {
            var img = dataset.GetImage(indices[i]);
            if (img.Width != resolution || img.Height != resolution)
                throw new DeftException(
                    $"Sample {indices[i]} ({dataset.GetSource(indices[i])}) is {img.Width}x{img.Height}; pre-training here takes images at the model resolution {resolution}x{resolution}.");
            var baseOffset = (long)i * 3 * plane;
            for (var p = 0; p < plane; p++)
                for (var c = 0; c < 3; c++)
                    data[baseOffset + c * plane + p] = (img.Pixels[p * 3 + c] / 255f - mean[c]) / std[c];
        });
        return torch.tensor(data, [indices.Count, 3, resolution, resolution]);
    }

    /// <summary>Tokenizes captions to [N, ctx] int64, truncating (a caption longer than the context keeps its start).</summary>
    public static Tensor Tokenize(ClipTokenizer tokenizer, IReadOnlyList<string> captions, int contextLength) =>
        tokenizer.TokenizeToTensor(captions, contextLength, truncate: true);
}
