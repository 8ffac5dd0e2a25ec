using Deft.Data;
using Deft.Detection;
using Deft.Methods;
using Deft.Peft;
using Deft.Prompts;

namespace Deft.Tests.Detection;

/// <summary>
/// Sharded feature extraction: <c>--shard i/n</c> cuts the samples into contiguous whole encoding batches, each shard
/// writes one file, and a merge of all n rebuilds — byte for byte — the cache entry one unsharded run writes.
/// </summary>
public sealed class FeatureShardTests
{
    private const int Side = 32;

    private static byte[] Image(int seed) => Data.TestImages.Bmp(Side, Side, Transforms.TestImages.Noise(Side, Side, seed).Pixels);

    /// <summary>ROOT/{a,b}/NN.bmp: 2 × <paramref name="perClass"/> images.</summary>
    private static string Folder(TempDir tmp, int perClass)
    {
        foreach (var (cls, c) in new[] { ("a", 0), ("b", 1) })
            for (var i = 0; i < perClass; i++)
                tmp.Write(Path.Combine("imgs", cls, $"{i:00}.bmp"), Image(c * 1000 + i));
        return Path.Combine(tmp.Path, "imgs");
    }

    /// <summary>DeFT on frozen features (batch 8: the tower encodes 64 at a time), as the cache tests run it.</summary>
    private static DetectOptions Options(string data, string output, string cache, string model = "random:tiny@3") => new()
    {
        Model = model,
        Data = data,
        Format = "folder",
        OutputDirectory = output,
        Peft = new PeftOptions(PeftKind.None),
        Prompts = new PromptOptions(ContextLength: 4),
        Epochs = 1,
        BatchSize = 8,
        Seed = 2,
        Workers = 1,
        Threads = 1,
        CacheDirectory = cache,
    };

    [Theory]
    [InlineData("0/1", 0, 1)]
    [InlineData("3/4", 3, 4)]
    [InlineData(" 0/16 ", 0, 16)]
    public void ASpecIsShardIOfNNumberedFromZero(string text, int index, int count) =>
        Assert.Equal(new FeatureShardSpec(index, count), FeatureShardSpec.Parse(text));

    [Theory]
    [InlineData("4/4", "numbered from 0")]
    [InlineData("1/0", "must be ≥ 1")]
    [InlineData("-1/4", "is not i/n")]
    [InlineData("3", "is not i/n")]
    [InlineData("a/b", "is not i/n")]
    [InlineData("1/2/3", "is not i/n")]
    public void BadSpecsAreRejectedNamingTheSetting(string text, string reason)
    {
        var ex = Assert.Throws<DeftException>(() => FeatureShardSpec.Parse(text));
        Assert.Contains(Setting.Shard.ToString(), ex.Message);
        Assert.Contains(reason, ex.Message);
    }

    [Fact]
    public void ShardsAreContiguousWholeBatchesHandComputed()
    {
        // 10 rows in batches of 3: batches [0,3) [3,6) [6,9) [9,10).
        Assert.Equal((0, 6), new FeatureShardSpec(0, 2).Range(10, 3));
        Assert.Equal((6, 4), new FeatureShardSpec(1, 2).Range(10, 3));
        Assert.Equal((0, 3), new FeatureShardSpec(0, 3).Range(10, 3));
        Assert.Equal((3, 3), new FeatureShardSpec(1, 3).Range(10, 3));
        Assert.Equal((6, 4), new FeatureShardSpec(2, 3).Range(10, 3));
        var ex = Assert.Throws<DeftException>(() => new FeatureShardSpec(0, 5).Range(10, 3));
        Assert.Contains("at most 4 shard(s)", ex.Message);
    }

    [Fact]
    public void EveryShardCountTilesTheRowsInOrderAtBatchBoundaries()
    {
        foreach (var rows in new[] { 1, 7, 64, 65, 1000 })
            foreach (var batch in new[] { 1, 3, 64 })
            {
                var batches = (rows + batch - 1) / batch;
                foreach (var n in new[] { 1, 2, 3, 7 }.Where(n => n <= batches))
                {
                    var next = 0;
                    for (var i = 0; i < n; i++)
                    {
                        var (start, length) = new FeatureShardSpec(i, n).Range(rows, batch);
                        Assert.Equal(next, start);
                        Assert.Equal(0, start % batch);
                        Assert.True(length > 0);
                        next = start + length;
                    }
                    Assert.Equal(rows, next);
                }
            }
    }

    [Fact]
    public void TheDataIdentityOfShardDigestsIsTheWholeSetsIdentity()
    {
        using var tmp = new TempDir("shard-identity");
        var root = Folder(tmp, 5);
        var data = DatasetFactory.Open(new DatasetOptions(root, "folder"));
        var all = Enumerable.Range(0, data.Count).ToArray();
        var digests = FeatureCache.SampleDigests(data, all[..4]).Concat(FeatureCache.SampleDigests(data, all[4..])).ToArray();
        Assert.Equal(FeatureCache.DataIdentity(data, all, root), FeatureCache.DataIdentity(FeatureCache.DataHeader(root), digests));
        // The order counts: the same digests swapped are another set.
        var swapped = FeatureCache.SampleDigests(data, all[4..]).Concat(FeatureCache.SampleDigests(data, all[..4])).ToArray();
        Assert.NotEqual(FeatureCache.DataIdentity(data, all, root), FeatureCache.DataIdentity(FeatureCache.DataHeader(root), swapped));
    }

    [Fact]
    public void TwoShardsMergedAreByteForByteTheCacheEntryOfOneRunAndDetectLoadsThem()
    {
        using var tmp = new TempDir("shard-merge");
        var root = Folder(tmp, 50); // 100 images: two encoding batches of 64
        var single = Path.Combine(tmp.Path, "cache-single");
        var sharded = Path.Combine(tmp.Path, "cache-sharded");

        var whole = DeftDetector.Detect(Options(root, Path.Combine(tmp.Path, "whole"), single));
        var entry = Assert.Single(Directory.GetFiles(single, "features-*.safetensors"));

        var first = DeftDetector.EncodeShard(Options(root, "", sharded) with { Shard = new FeatureShardSpec(0, 2) });
        var second = DeftDetector.EncodeShard(Options(root, "", sharded) with { Shard = new FeatureShardSpec(1, 2) });
        Assert.Equal((0, 64, 100), (first.Start, first.Length, first.Rows));
        Assert.Equal((64, 36), (second.Start, second.Length));
        Assert.Equal(Path.GetDirectoryName(first.Path), Path.GetDirectoryName(second.Path));
        Assert.Empty(Directory.GetFiles(sharded, "features-*.safetensors")); // shards are not an entry

        var result = Assert.Single(FeatureShards.MergeIntoCache(sharded));
        Assert.Null(result.Error);
        Assert.Equal((2, 100), (result.Shards, result.Rows));
        Assert.Equal(Path.GetFileName(entry), Path.GetFileName(result.EntryPath));
        Assert.Equal(File.ReadAllBytes(entry), File.ReadAllBytes(result.EntryPath!));
        Assert.False(Directory.Exists(Path.GetDirectoryName(first.Path))); // merged shards are removed

        var after = DeftDetector.Detect(Options(root, Path.Combine(tmp.Path, "after"), sharded));
        Assert.StartsWith("loaded from " + result.EntryPath, (string)after.Summary.Config["image_features"]!);
        Assert.Equal(whole.Samples.Select(s => s.LabelQuality), after.Samples.Select(s => s.LabelQuality));
    }

    [Fact]
    public void AMissingForeignDuplicateOrDamagedShardStopsTheMergeNamingIt()
    {
        using var tmp = new TempDir("shard-bad");
        var root = Folder(tmp, 50);
        var cache = Path.Combine(tmp.Path, "cache");
        var zero = DeftDetector.EncodeShard(Options(root, "", cache) with { Shard = new FeatureShardSpec(0, 2) });
        var folder = Path.GetDirectoryName(zero.Path)!;

        // Shard 1/2 not written yet: the set is reported, nothing is merged or removed.
        var missing = Assert.Single(FeatureShards.MergeIntoCache(cache));
        Assert.Contains("1/2 missing", missing.Error);
        Assert.Null(missing.EntryPath);
        Assert.True(File.Exists(zero.Path));
        Assert.Empty(Directory.GetFiles(cache, "features-*.safetensors"));

        // Shard 1/2 of another model lands in another set's folder; put beside shard 0 it is named as foreign.
        var foreign = DeftDetector.EncodeShard(Options(root, "", cache, model: "random:tiny@4") with { Shard = new FeatureShardSpec(1, 2) });
        Assert.NotEqual(folder, Path.GetDirectoryName(foreign.Path));
        var ex = Assert.Throws<DeftException>(() => FeatureShards.Merge([zero.Path, foreign.Path], folder));
        Assert.Contains(foreign.Path, ex.Message);
        Assert.Contains("its model differs", ex.Message);

        // Shard 0/4 of the same inputs: another cut of the set.
        var quarter = DeftDetector.EncodeShard(Options(root, "", Path.Combine(tmp.Path, "other")) with { BatchSize = 8, Shard = new FeatureShardSpec(0, 1) });
        ex = Assert.Throws<DeftException>(() => FeatureShards.Merge([zero.Path, quarter.Path], folder));
        Assert.Contains("not cut from the same split", ex.Message);

        // The same shard twice.
        var copy = Path.Combine(folder, "shard-0-of-2-copy.safetensors");
        File.Copy(zero.Path, copy);
        ex = Assert.Throws<DeftException>(() => FeatureShards.Merge(FeatureShards.Files(folder), folder));
        Assert.Contains("appears twice", ex.Message);
        File.Delete(copy);

        // A damaged shard (one feature bit flipped) fails its checksum.
        var one = DeftDetector.EncodeShard(Options(root, "", cache) with { Shard = new FeatureShardSpec(1, 2) });
        var bytes = File.ReadAllBytes(one.Path);
        var intact = bytes.ToArray();
        bytes[^40] ^= 0x10;
        File.WriteAllBytes(one.Path, bytes);
        ex = Assert.Throws<DeftException>(() => FeatureShards.Merge(FeatureShards.Files(folder), folder));
        Assert.Contains(one.Path, ex.Message);
        Assert.Contains("checksum", ex.Message);
        File.WriteAllBytes(one.Path, intact);
        Assert.All(FeatureShards.MergeIntoCache(cache).Where(r => r.ShardFolder == folder), r => Assert.Null(r.Error));
    }

    [Fact]
    public void OnlyRunsOnFrozenFeaturesShardAndAShardRunDetectsNothing()
    {
        var options = Options("unused", "", "unused") with { Shard = new FeatureShardSpec(0, 2) };
        var adapting = options with { Peft = new PeftOptions(PeftKind.VptDeep) };
        var ex = Assert.Throws<DeftException>(adapting.Validate);
        Assert.Contains(Setting.Shard.ToString(), ex.Message);
        Assert.Contains("adapts the image tower", ex.Message);
        // Methods that train nothing read frozen features whatever --peft says.
        (adapting with { Method = DetectionMethod.ClipPosterior }).Validate();
        Assert.Throws<DeftException>(() => DeftDetector.Detect(options));
    }
}
