using Deft.Data;
using Deft.Data.Loading;
using Deft.Data.Transforms;
using TorchSharp;
using static TorchSharp.torch;

namespace Deft.Clip;

/// <summary>Image features of a data set (projected, or ln_post(class token) before the projection), batch by batch with the parallel loader.</summary>
public static class ImageFeatures
{
    /// <summary>
    /// [N, E] float32 on the CPU (with <paramref name="preProjection"/>: [N, W], ln_post(class token) before the
    /// projection), rows in the order of <paramref name="indices"/>; the caller owns it.
    /// </summary>
    public static Tensor Compute(ClipModel model, IImageDataset data, IReadOnlyList<int> indices, ImagePipeline pipeline, int batchSize,
        CancellationToken cancellationToken = default, IProgress<(int Done, int Total)>? progress = null, bool preProjection = false)
    {
        var loader = new BatchLoader(data, indices, pipeline, new BatchLoaderOptions(batchSize, Shuffle: false));
        var parts = new List<Tensor>();
        var done = 0;
        try
        {
            using var noGrad = torch.no_grad();
            foreach (var batch in loader.ReadEpoch(0, cancellationToken))
            {
                using (batch)
                using (var scope = torch.NewDisposeScope())
                {
                    var images = batch.Images.to(model.Device);
                    parts.Add((preProjection ? model.EncodeImagePreProjection(images) : model.EncodeImage(images)).to(ScalarType.Float32).cpu().MoveToOuterDisposeScope());
                }
                done += batch.Count;
                progress?.Report((done, indices.Count));
            }
            return torch.cat(parts, 0);
        }
        finally
        {
            foreach (var p in parts) p.Dispose();
        }
    }
}
