using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Deft.Data.Transforms;
using TorchSharp;
using static TorchSharp.torch;

namespace Deft.Data.Loading;

/// <summary>How a <see cref="BatchLoader"/> batches, orders and prefetches.</summary>
/// <param name="BatchSize">Samples per batch.</param>
/// <param name="Shuffle">Reorder the subset every epoch (a permutation fixed by <paramref name="Seed"/> and the epoch).</param>
/// <param name="Seed">Seeds both the shuffle and the per-sample augmentation randomness.</param>
/// <param name="DropLast">Leave out a final batch smaller than <paramref name="BatchSize"/>.</param>
/// <param name="PrefetchBatches">Finished batches that may wait for the consumer (the bounded queue's capacity).</param>
/// <param name="Workers">Threads that decode and preprocess; null: one per core.</param>
public sealed record BatchLoaderOptions(
    int BatchSize,
    bool Shuffle = true,
    long Seed = 0,
    bool DropLast = false,
    int PrefetchBatches = 3,
    int? Workers = null);

/// <summary>
/// One batch. The consumer owns it and must dispose it (that frees <see cref="Images"/>): the tensor is created on a
/// loader thread, so no dispose scope of the consumer's tracks it.
/// </summary>
public sealed class Batch : IDisposable
{
    internal Batch(int epoch, int number, Tensor images, long[] indices, int[] labels)
    {
        Epoch = epoch;
        Number = number;
        Images = images;
        Indices = indices;
        Labels = labels;
    }

    public int Epoch { get; }
    /// <summary>Position of the batch within its epoch, from 0.</summary>
    public int Number { get; }
    /// <summary>[B, 3, H, W] float32 on the CPU.</summary>
    public Tensor Images { get; }
    /// <summary>Data set indices of the samples, in batch order.</summary>
    public long[] Indices { get; }
    /// <summary>The data set's (given) labels of the samples, in batch order.</summary>
    public int[] Labels { get; }
    public int Count => Indices.Length;

    public void Dispose() => Images.Dispose();
}

/// <summary>A sample that could not be read or preprocessed; the message names its index and source.</summary>
public sealed class SampleLoadException(long sampleIndex, string message, Exception inner) : DeftException(message, inner)
{
    public long SampleIndex { get; } = sampleIndex;
}

/// <summary>
/// Streams batches of preprocessed images over a subset of an <see cref="IImageDataset"/>. Decoding and the
/// pipeline run on several threads and fill each batch tensor in place, while up to
/// <see cref="BatchLoaderOptions.PrefetchBatches"/> finished batches wait in a bounded queue, so the trainer does
/// not wait on a single core. Results depend only on (seed, epoch, index): not on thread timing or worker count.
/// </summary>
public sealed class BatchLoader
{
    private readonly IImageDataset _dataset;
    private readonly int[] _indices;
    private readonly ImagePipeline _pipeline;
    private readonly BatchLoaderOptions _options;
    private readonly int _workers;

    public BatchLoader(IImageDataset dataset, IReadOnlyList<int> indices, ImagePipeline pipeline, BatchLoaderOptions options)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        ArgumentNullException.ThrowIfNull(indices);
        ArgumentNullException.ThrowIfNull(pipeline);
        ArgumentNullException.ThrowIfNull(options);
        if (options.BatchSize <= 0) throw new DeftException($"Batch size must be positive, got {options.BatchSize}.");
        if (options.PrefetchBatches <= 0) throw new DeftException($"Prefetch must be at least 1 batch, got {options.PrefetchBatches}.");
        if (options.Workers is <= 0) throw new DeftException($"Worker count must be positive, got {options.Workers}.");
        _indices = indices.ToArray();
        for (var i = 0; i < _indices.Length; i++)
            if ((uint)_indices[i] >= (uint)dataset.Count)
                throw new DeftException($"Subset entry {i} is sample {_indices[i]}, outside the data set's range 0..{dataset.Count - 1}.");
        _dataset = dataset;
        _pipeline = pipeline;
        _options = options;
        _workers = options.Workers ?? Environment.ProcessorCount;
    }

    public ImagePipeline Pipeline => _pipeline;
    public int SampleCount => _indices.Length;

    /// <summary>Batches per epoch.</summary>
    public int BatchCount => _options.DropLast
        ? _indices.Length / _options.BatchSize
        : (_indices.Length + _options.BatchSize - 1) / _options.BatchSize;

    /// <summary>The data set indices in the order epoch <paramref name="epoch"/> visits them.</summary>
    public int[] EpochOrder(int epoch)
    {
        var order = (int[])_indices.Clone();
        if (!_options.Shuffle) return order;
        var rng = SampleRandom.ForShuffle(_options.Seed, epoch);
        for (var i = order.Length - 1; i > 0; i--)
        {
            var j = rng.NextInt(0, i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }
        return order;
    }

    /// <summary>
    /// The batches of one epoch, prepared in the background. Dispose every batch. A failing sample stops the epoch
    /// with a <see cref="SampleLoadException"/> naming it (the lowest failing index of its batch); cancelling
    /// <paramref name="cancellationToken"/> throws <see cref="OperationCanceledException"/>.
    /// </summary>
    public IEnumerable<Batch> ReadEpoch(int epoch, CancellationToken cancellationToken = default)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var channel = CreateChannel();
        var producer = Task.Run(() => ProduceAsync(epoch, channel.Writer, stop.Token), CancellationToken.None);
        try
        {
            while (WaitToRead(channel.Reader, cancellationToken))
            {
                while (channel.Reader.TryRead(out var batch))
                {
                    if (cancellationToken.IsCancellationRequested)
                    {
                        batch.Dispose();
                        cancellationToken.ThrowIfCancellationRequested();
                    }
                    yield return batch;
                }
            }
            producer.GetAwaiter().GetResult();
        }
        finally
        {
            stop.Cancel();
            Drain(channel.Reader, producer);
        }
    }

    /// <summary>Asynchronous form of <see cref="ReadEpoch"/>.</summary>
    public async IAsyncEnumerable<Batch> ReadEpochAsync(int epoch, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var channel = CreateChannel();
        var producer = Task.Run(() => ProduceAsync(epoch, channel.Writer, stop.Token), CancellationToken.None);
        try
        {
            while (await channel.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                while (channel.Reader.TryRead(out var batch))
                {
                    if (cancellationToken.IsCancellationRequested)
                    {
                        batch.Dispose();
                        cancellationToken.ThrowIfCancellationRequested();
                    }
                    yield return batch;
                }
            }
            await producer.ConfigureAwait(false);
        }
        finally
        {
            stop.Cancel();
            try
            {
                await producer.ConfigureAwait(false);
            }
            catch (Exception)
            {
                // Already reported to the consumer, or irrelevant once it has stopped reading.
            }
            while (channel.Reader.TryRead(out var leftover)) leftover.Dispose();
        }
    }

    private Channel<Batch> CreateChannel() => Channel.CreateBounded<Batch>(new BoundedChannelOptions(_options.PrefetchBatches)
    {
        SingleReader = true,
        SingleWriter = true,
        FullMode = BoundedChannelFullMode.Wait,
    });

    private static bool WaitToRead(ChannelReader<Batch> reader, CancellationToken cancellationToken)
    {
        var wait = reader.WaitToReadAsync(cancellationToken);
        return wait.IsCompletedSuccessfully ? wait.Result : wait.AsTask().GetAwaiter().GetResult();
    }

    /// <summary>After the consumer stops (normally, early, or on error): let the producer finish and free what it left queued.</summary>
    private static void Drain(ChannelReader<Batch> reader, Task producer)
    {
        try
        {
            producer.Wait();
        }
        catch (AggregateException)
        {
            // Already reported to the consumer, or irrelevant once it has stopped reading.
        }
        while (reader.TryRead(out var leftover)) leftover.Dispose();
    }

    private async Task ProduceAsync(int epoch, ChannelWriter<Batch> writer, CancellationToken cancellationToken)
    {
        try
        {
            var order = EpochOrder(epoch);
            var batches = BatchCount;
            for (var b = 0; b < batches; b++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var start = b * _options.BatchSize;
                var count = Math.Min(_options.BatchSize, order.Length - start);
                var batch = BuildBatch(epoch, b, order.AsMemory(start, count), cancellationToken);
                try
                {
                    await writer.WriteAsync(batch, cancellationToken).ConfigureAwait(false);
                }
                catch
                {
                    batch.Dispose();
                    throw;
                }
            }
        }
        finally
        {
            // The consumer learns of a failure from the producer task itself; completing plainly ends its read loop.
            writer.TryComplete();
        }
    }

    private Batch BuildBatch(int epoch, int number, ReadOnlyMemory<int> samples, CancellationToken cancellationToken)
    {
        var count = samples.Length;
        var perImage = _pipeline.OutputLength;
        var images = empty([count, 3, _pipeline.OutputHeight, _pipeline.OutputWidth], ScalarType.Float32);
        var indices = new long[count];
        var labels = new int[count];
        try
        {
            var failures = new SampleLoadException?[count];
            IntPtr storage;
            unsafe
            {
                // Workers write straight into the tensor's CPU storage: no staging array, no copy.
                fixed (byte* p = images.bytes) storage = (IntPtr)p;
            }
            var options = new ParallelOptions { MaxDegreeOfParallelism = _workers, CancellationToken = cancellationToken };
            Parallel.For(0, count, options, i =>
            {
                var index = samples.Span[i];
                indices[i] = index;
                try
                {
                    labels[i] = _dataset.GetLabel(index);
                    var image = _dataset.GetImage(index);
                    Span<float> destination;
                    unsafe
                    {
                        destination = new Span<float>((float*)storage + (long)i * perImage, perImage);
                    }
                    _pipeline.Apply(image, destination, new SampleKey(_options.Seed, epoch, index));
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    failures[i] = new SampleLoadException(index, $"Could not load sample {index} ({SourceOf(index)}): {ex.Message}", ex);
                }
            });
            var first = failures.Where(f => f is not null).MinBy(f => f!.SampleIndex);
            if (first is not null) throw first;
            GC.KeepAlive(images);
            return new Batch(epoch, number, images, indices, labels);
        }
        catch
        {
            images.Dispose();
            throw;
        }
    }

    private string SourceOf(int index)
    {
        try
        {
            return _dataset.GetSource(index);
        }
        catch (Exception)
        {
            return "source unknown";
        }
    }
}
