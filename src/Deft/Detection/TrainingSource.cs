using Deft.Data;
using Deft.Data.Loading;
using Deft.Data.Transforms;
using TorchSharp;
using static TorchSharp.torch;

namespace Deft.Detection;

/// <summary>A batch of one pass: assignment positions and either images (for the adapted tower) or cached features.</summary>
public sealed class SourceBatch(int[] positions, Tensor? images, Tensor? features, IDisposable? owner) : IDisposable
{
    public int[] Positions { get; } = positions;
    /// <summary>[B, 3, R, R] preprocessed images, or null when <see cref="Features"/> is given.</summary>
    public Tensor? Images { get; } = images;
    /// <summary>[B, E] image features computed once (frozen tower), or null.</summary>
    public Tensor? Features { get; } = features;
    public int Count => Positions.Length;

    public void Dispose()
    {
        owner?.Dispose();
        Features?.Dispose();
    }
}

/// <summary>Where a pass gets its image side from: streamed images, or image features cached up front.</summary>
public abstract class TrainingSource : IDisposable
{
    /// <summary>Batches per training epoch.</summary>
    public abstract int BatchCount { get; }

    /// <summary>The batches of training epoch <paramref name="epoch"/> (shuffled, augmented where augmentation applies).</summary>
    public abstract IEnumerable<SourceBatch> TrainEpoch(int epoch, CancellationToken cancellationToken);

    /// <summary>All samples in assignment order, deterministic (no augmentation).</summary>
    public abstract IEnumerable<SourceBatch> EvalPass(CancellationToken cancellationToken);

    public virtual void Dispose() { }
}

/// <summary>Images streamed through the (adapted) image tower: augmented for training, the eval transform otherwise.</summary>
public sealed class ImageTrainingSource : TrainingSource
{
    private readonly LabelAssignment _labels;
    private readonly BatchLoader _train;
    private readonly BatchLoader _eval;

    public ImageTrainingSource(IImageDataset dataset, LabelAssignment labels, ImagePipeline trainPipeline, ImagePipeline evalPipeline,
        int batchSize, long seed, int? workers)
    {
        _labels = labels;
        _train = new BatchLoader(dataset, labels.Indices, trainPipeline, new BatchLoaderOptions(batchSize, Shuffle: true, Seed: seed, Workers: workers));
        _eval = new BatchLoader(dataset, labels.Indices, evalPipeline, new BatchLoaderOptions(batchSize, Shuffle: false, Seed: seed, Workers: workers));
    }

    public override int BatchCount => _train.BatchCount;

    public override IEnumerable<SourceBatch> TrainEpoch(int epoch, CancellationToken cancellationToken) => Read(_train, epoch, cancellationToken);

    public override IEnumerable<SourceBatch> EvalPass(CancellationToken cancellationToken) => Read(_eval, 0, cancellationToken);

    private IEnumerable<SourceBatch> Read(BatchLoader loader, int epoch, CancellationToken cancellationToken)
    {
        foreach (var batch in loader.ReadEpoch(epoch, cancellationToken))
        {
            var positions = batch.Indices.Select(i => _labels.PositionOf((int)i)).ToArray();
            yield return new SourceBatch(positions, batch.Images, null, batch);
        }
    }
}

/// <summary>
/// Image features computed once for every participating sample (the frozen tower of <c>--peft none</c>); training
/// epochs visit them in the same shuffled order the image loader would, so only the text side runs per step.
/// </summary>
public sealed class CachedTrainingSource : TrainingSource
{
    private readonly Tensor _features;
    private readonly LabelAssignment _labels;
    private readonly BatchLoader _orderOnly;
    private readonly int _batchSize;

    /// <param name="features">[N, E] features in assignment order; the source takes ownership.</param>
    public CachedTrainingSource(Tensor features, LabelAssignment labels, IImageDataset dataset, ImagePipeline pipeline, int batchSize, long seed)
    {
        if (features.shape[0] != labels.Count)
            throw new ArgumentException($"{features.shape[0]} cached features for {labels.Count} samples.", nameof(features));
        _features = features;
        _labels = labels;
        _batchSize = batchSize;
        // The loader only supplies the shuffle: the same permutation the image path uses for (seed, epoch).
        _orderOnly = new BatchLoader(dataset, labels.Indices, pipeline, new BatchLoaderOptions(batchSize, Shuffle: true, Seed: seed));
    }

    public Tensor Features => _features;
    public override int BatchCount => (_labels.Count + _batchSize - 1) / _batchSize;

    public override IEnumerable<SourceBatch> TrainEpoch(int epoch, CancellationToken cancellationToken)
    {
        var order = _orderOnly.EpochOrder(epoch).Select(_labels.PositionOf).ToArray();
        return Batches(order, cancellationToken);
    }

    public override IEnumerable<SourceBatch> EvalPass(CancellationToken cancellationToken) =>
        Batches(Enumerable.Range(0, _labels.Count).ToArray(), cancellationToken);

    private IEnumerable<SourceBatch> Batches(int[] order, CancellationToken cancellationToken)
    {
        for (var start = 0; start < order.Length; start += _batchSize)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var positions = order.AsSpan(start, Math.Min(_batchSize, order.Length - start)).ToArray();
            using var index = tensor(positions.Select(p => (long)p).ToArray());
            yield return new SourceBatch(positions, null, _features.index_select(0, index), null);
        }
    }

    public override void Dispose() => _features.Dispose();
}
