using Deft.Data.Loading;
using Deft.Data.Transforms;
using TorchSharp;

namespace Deft.Tests.Transforms;

public sealed class BatchLoaderTests
{
    private static readonly ImagePipeline Identity8 = new([new CenterCrop(8, 8)], Normalization.Identity);

    /// <summary>Recovers each sample's index from its image (red channel = index / 255).</summary>
    private static int[] IndicesInImages(Batch batch)
    {
        using var red = batch.Images[.., 0, 3, 3].mul(255).round();
        return red.data<float>().ToArray().Select(v => (int)v).ToArray();
    }

    [Fact]
    public void EveryIndexOnceWithMatchingImagesAndLabels()
    {
        var dataset = InMemoryDataset.Numbered(50);
        var subset = Enumerable.Range(0, 50).Where(i => i % 7 != 3).ToArray();
        var loader = new BatchLoader(dataset, subset, Identity8, new BatchLoaderOptions(BatchSize: 8, Seed: 5, Workers: 2));
        var seen = new List<long>();
        var batches = 0;
        foreach (var batch in loader.ReadEpoch(epoch: 0))
        {
            using (batch)
            {
                Assert.Equal(batches, batch.Number);
                Assert.Equal(new long[] { batch.Count, 3, 8, 8 }, batch.Images.shape);
                Assert.Equal(torch.ScalarType.Float32, batch.Images.dtype);
                Assert.Equal(batch.Indices.Select(i => (int)i).ToArray(), IndicesInImages(batch));
                Assert.Equal(batch.Indices.Select(i => (int)i % 5).ToArray(), batch.Labels);
                seen.AddRange(batch.Indices);
                batches++;
            }
        }
        Assert.Equal(loader.BatchCount, batches);
        Assert.Equal(subset.Length, seen.Count);
        Assert.Equal(subset.Select(i => (long)i).Order(), seen.Order());
        Assert.NotEqual(subset.Select(i => (long)i), seen);   // shuffled
    }

    [Fact]
    public void OrderIsDeterministicPerSeedAndEpochAndIndependentOfWorkers()
    {
        var dataset = InMemoryDataset.Numbered(40);
        var all = Enumerable.Range(0, 40).ToArray();
        long[] Order(long seed, int epoch, int workers) =>
            new BatchLoader(dataset, all, Identity8, new BatchLoaderOptions(6, Seed: seed, Workers: workers))
                .ReadEpoch(epoch).SelectMany(b => { using (b) return b.Indices; }).ToArray();

        var reference = Order(1, 0, 1);
        Assert.Equal(reference, Order(1, 0, 4));
        Assert.NotEqual(reference, Order(1, 1, 2));
        Assert.NotEqual(reference, Order(2, 0, 2));
        Assert.Equal(new BatchLoader(dataset, all, Identity8, new BatchLoaderOptions(6, Seed: 1)).EpochOrder(0).Select(i => (long)i), reference);
    }

    [Fact]
    public void AugmentedPixelsDoNotDependOnWorkerCount()
    {
        var dataset = InMemoryDataset.Numbered(12, size: 32);
        var pipeline = new ImagePipeline([new RandomCropWithPadding(32, 4), new RandomHorizontalFlip()], Normalization.Clip);
        float[] Pixels(int workers)
        {
            var loader = new BatchLoader(dataset, Enumerable.Range(0, 12).ToArray(), pipeline, new BatchLoaderOptions(5, Seed: 3, Workers: workers));
            return loader.ReadEpoch(2).SelectMany(b => { using (b) return b.Images.data<float>().ToArray(); }).ToArray();
        }
        Assert.Equal(Pixels(1), Pixels(3));
    }

    [Theory]
    [InlineData(false, 4)]
    [InlineData(true, 3)]
    public void DropLastControlsTheShortFinalBatch(bool dropLast, int expectedBatches)
    {
        var dataset = InMemoryDataset.Numbered(10);
        var loader = new BatchLoader(dataset, Enumerable.Range(0, 10).ToArray(), Identity8,
            new BatchLoaderOptions(3, Shuffle: false, DropLast: dropLast));
        var sizes = loader.ReadEpoch(0).Select(b => { using (b) return (int)b.Images.shape[0]; }).ToArray();
        Assert.Equal(expectedBatches, sizes.Length);
        Assert.Equal(dropLast ? [3, 3, 3] : [3, 3, 3, 1], sizes);
    }

    [Fact]
    public void WithoutShuffleTheSubsetOrderIsKept()
    {
        var dataset = InMemoryDataset.Numbered(20);
        int[] subset = [19, 4, 7, 0, 12];
        var loader = new BatchLoader(dataset, subset, Identity8, new BatchLoaderOptions(2, Shuffle: false));
        Assert.Equal(subset.Select(i => (long)i), loader.ReadEpoch(0).SelectMany(b => { using (b) return b.Indices; }));
    }

    [Fact]
    public void WorkerExceptionReachesTheConsumerNamingTheSample()
    {
        var dataset = InMemoryDataset.Numbered(30, failAt: new HashSet<int> { 17, 23 });
        var loader = new BatchLoader(dataset, Enumerable.Range(0, 30).ToArray(), Identity8,
            new BatchLoaderOptions(4, Shuffle: false, Workers: 2));
        var received = new List<long>();
        var ex = Assert.Throws<SampleLoadException>(() =>
        {
            foreach (var batch in loader.ReadEpoch(0))
                using (batch) received.AddRange(batch.Indices);
        });
        Assert.Equal(17, ex.SampleIndex);
        Assert.Contains("sample 17", ex.Message);
        Assert.Contains("memory#17", ex.Message);
        Assert.Contains("corrupt test image", ex.Message);
        Assert.IsType<InvalidDataException>(ex.InnerException);
        // Batches before the failing one (samples 0..15) were delivered.
        Assert.Equal(Enumerable.Range(0, 16).Select(i => (long)i), received);
    }

    [Fact]
    public async Task AsyncReadDeliversTheSameBatchesAndPropagatesFailures()
    {
        var dataset = InMemoryDataset.Numbered(20, failAt: new HashSet<int> { 13 });
        var loader = new BatchLoader(dataset, Enumerable.Range(0, 12).ToArray(), Identity8, new BatchLoaderOptions(5, Seed: 9));
        var indices = new List<long>();
        await foreach (var batch in loader.ReadEpochAsync(1))
            using (batch) indices.AddRange(batch.Indices);
        Assert.Equal(loader.EpochOrder(1).Select(i => (long)i), indices);

        var failing = new BatchLoader(dataset, Enumerable.Range(0, 20).ToArray(), Identity8, new BatchLoaderOptions(5, Seed: 9));
        var ex = await Assert.ThrowsAsync<SampleLoadException>(async () =>
        {
            await foreach (var batch in failing.ReadEpochAsync(0)) batch.Dispose();
        });
        Assert.Equal(13, ex.SampleIndex);
    }

    [Fact]
    public void CancellationStopsTheEpoch()
    {
        var dataset = InMemoryDataset.Numbered(64);
        var loader = new BatchLoader(dataset, Enumerable.Range(0, 64).ToArray(), Identity8, new BatchLoaderOptions(4, PrefetchBatches: 2));
        using var cts = new CancellationTokenSource();
        var delivered = 0;
        Assert.ThrowsAny<OperationCanceledException>(() =>
        {
            foreach (var batch in loader.ReadEpoch(0, cts.Token))
            {
                batch.Dispose();
                if (++delivered == 2) cts.Cancel();
            }
        });
        Assert.Equal(2, delivered);
    }

    [Fact]
    public void StoppingEarlyEndsTheProducer()
    {
        var dataset = InMemoryDataset.Numbered(64);
        var loader = new BatchLoader(dataset, Enumerable.Range(0, 64).ToArray(), Identity8, new BatchLoaderOptions(4, PrefetchBatches: 2));
        using (var first = loader.ReadEpoch(0).First())
            Assert.Equal(4, first.Count);
        // A second epoch right after must work: the first one's producer did not leave anything blocked.
        Assert.Equal(16, loader.ReadEpoch(1).Select(b => { b.Dispose(); return 1; }).Sum());
    }

    [Fact]
    public void InvalidSubsetEntryIsRejectedWithItsPosition()
    {
        var dataset = InMemoryDataset.Numbered(5);
        var ex = Assert.Throws<DeftException>(() => new BatchLoader(dataset, [0, 1, 9], Identity8, new BatchLoaderOptions(2)));
        Assert.Contains("entry 2", ex.Message);
        Assert.Contains("sample 9", ex.Message);
    }
}
