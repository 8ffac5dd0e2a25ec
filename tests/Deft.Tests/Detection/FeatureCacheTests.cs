using System.Text;
using Deft.Clip;
using Deft.Data;
using Deft.Detection;
using Deft.Methods;
using Deft.Peft;
using Deft.Prompts;
using static TorchSharp.torch;

namespace Deft.Tests.Detection;

/// <summary>
/// The frozen-tower feature cache is keyed by content (image and container bytes, the weights' hash), and its files
/// carry a checksum that is verified on read: stale or damaged entries are never trusted.
/// </summary>
public sealed class FeatureCacheTests
{
    private const int Side = 32;

    /// <summary>An uncompressed 24-bit BMP: its size depends only on the dimensions, so new pixels keep the file size.</summary>
    private static byte[] Image(int seed) => Data.TestImages.Bmp(Side, Side, Transforms.TestImages.Noise(Side, Side, seed).Pixels);

    /// <summary>ROOT/{a,b}/NN.bmp, <paramref name="perClass"/> per class.</summary>
    private static string Folder(TempDir tmp, string name, int perClass, int seedBase = 0)
    {
        foreach (var (cls, c) in new[] { ("a", 0), ("b", 1) })
            for (var i = 0; i < perClass; i++)
                tmp.Write(Path.Combine(name, cls, $"{i:00}.bmp"), Image(seedBase + c * 1000 + i));
        return Path.Combine(tmp.Path, name);
    }

    /// <summary>Overwrites the file with other bytes of the same length and puts its modification time back.</summary>
    private static void ReplaceKeepingSizeAndTime(string path, byte[] bytes)
    {
        var time = File.GetLastWriteTimeUtc(path);
        Assert.Equal(new FileInfo(path).Length, bytes.Length);
        File.WriteAllBytes(path, bytes);
        File.SetLastWriteTimeUtc(path, time);
    }

    private static DetectOptions Options(string data, string format, string output, string cache) => new()
    {
        Model = "random:tiny@3",
        Data = data,
        Format = format,
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

    private static string ImageFeatures(DetectionReport r) => (string)r.Summary.Config["image_features"]!;

    [Fact]
    public void GetOrComputeVerifiesItsChecksumAndRecomputesADamagedFileWithANotice()
    {
        using var tmp = new TempDir("cache-unit");
        var calls = 0;
        Tensor Compute() { calls++; return arange(0, 40, dtype: ScalarType.Float32).reshape(10, 4); }
        var notices = new List<string>();

        var (first, fromCache, path) = FeatureCache.GetOrCompute(tmp.Path, "k1", 10, Compute, notices.Add);
        Assert.False(fromCache);
        var (second, hit, _) = FeatureCache.GetOrCompute(tmp.Path, "k1", 10, Compute, notices.Add);
        Assert.True(hit);
        Assert.Equal(1, calls);
        TensorAssert.Close(first, second, 0, "cached features");
        Assert.Empty(notices);

        // Same size, one bit flipped in the feature bytes (the end of the file).
        var bytes = File.ReadAllBytes(path);
        bytes[^3] ^= 0x10;
        File.WriteAllBytes(path, bytes);
        var (third, trusted, _) = FeatureCache.GetOrCompute(tmp.Path, "k1", 10, Compute, notices.Add);
        Assert.False(trusted);
        Assert.Equal(2, calls);
        Assert.Contains("failed its checksum", Assert.Single(notices));
        TensorAssert.Close(first, third, 0, "recomputed features");
        Assert.True(FeatureCache.GetOrCompute(tmp.Path, "k1", 10, Compute, notices.Add).FromCache); // rewritten intact

        // Garbage of the same size: unreadable, recomputed.
        notices.Clear();
        File.WriteAllBytes(path, Enumerable.Repeat((byte)0xFF, bytes.Length).ToArray());
        Assert.False(FeatureCache.GetOrCompute(tmp.Path, "k1", 10, Compute, notices.Add).FromCache);
        Assert.Contains("unreadable", Assert.Single(notices));

        // A file without a checksum (an older format, or edited) is not trusted either.
        notices.Clear();
        using (var t = Compute()) Safetensors.Save(path, [new("features", t)], new Dictionary<string, string> { ["key"] = "k1" });
        Assert.False(FeatureCache.GetOrCompute(tmp.Path, "k1", 10, Compute, notices.Add).FromCache);
        Assert.Contains("no checksum", Assert.Single(notices));
        foreach (var t in new[] { first, second, third }) t.Dispose();
    }

    [Fact]
    public void TheDataIdentityFollowsImageBytesAndContainerBytesNotNamesSizesOrTimes()
    {
        using var tmp = new TempDir("cache-identity");
        var root = Folder(tmp, "imgs", 3);
        var folder = DatasetFactory.Open(new DatasetOptions(root, "folder"));
        var all = Enumerable.Range(0, folder.Count).ToArray();
        var before = FeatureCache.DataIdentity(folder, all, root);
        Assert.Equal(before, FeatureCache.DataIdentity(folder, all, root));

        var victim = Path.Combine(root, "a", "01.bmp");
        var original = File.ReadAllBytes(victim);
        ReplaceKeepingSizeAndTime(victim, Image(777));
        Assert.NotEqual(before, FeatureCache.DataIdentity(folder, all, root));
        // Only the participating samples count.
        var others = all.Where(i => !folder.GetSource(i).EndsWith(Path.Combine("a", "01.bmp"), StringComparison.Ordinal)).ToArray();
        var withoutVictim = FeatureCache.DataIdentity(folder, others, root);
        ReplaceKeepingSizeAndTime(victim, original);
        Assert.Equal(before, FeatureCache.DataIdentity(folder, all, root));
        Assert.Equal(withoutVictim, FeatureCache.DataIdentity(folder, others, root));

        // A container (IDX): its bytes count, hashed once for all its records.
        var idx = Path.Combine(tmp.Path, "idx");
        Directory.CreateDirectory(idx);
        var images = Enumerable.Range(0, 6).Select(i => Enumerable.Range(0, 64).Select(p => (byte)(p * i)).ToArray()).ToArray();
        Data.DatasetFiles.WriteIdxSplit(idx, "train", images, [0, 1, 0, 1, 0, 1], 8, gzip: false);
        Data.DatasetFiles.WriteIdxSplit(idx, "t10k", images, [0, 1, 0, 1, 0, 1], 8, gzip: false);
        var data = DatasetFactory.Open(new DatasetOptions(idx, "idx"));
        var some = new[] { 1, 2, 5 };
        var idxBefore = FeatureCache.DataIdentity(data, some, idx);
        var file = data.GetSource(0)[..data.GetSource(0).LastIndexOf('#')];
        var changed = File.ReadAllBytes(file);
        changed[^1] ^= 0xFF; // a pixel of the last image: not even a participating sample
        ReplaceKeepingSizeAndTime(file, changed);
        Assert.NotEqual(idxBefore, FeatureCache.DataIdentity(data, some, idx));
    }

    [Fact]
    public void TheModelIdentityIsAHashOfTheWeightsFile()
    {
        using var tmp = new TempDir("cache-model");
        var loaded = ClipLoader.LoadWithInfo("random:tiny@1");
        try
        {
            var weights = tmp.WriteText("w.safetensors", "weights one");
            var one = FeatureCache.ModelIdentity(loaded with { WeightsPath = weights });
            File.WriteAllText(weights, "weights two");
            File.SetLastWriteTimeUtc(weights, File.GetLastWriteTimeUtc(weights).AddSeconds(5));
            var two = FeatureCache.ModelIdentity(loaded with { WeightsPath = weights });
            Assert.NotEqual(one, two);
            // A copy elsewhere with the same bytes is the same model.
            var copy = tmp.WriteText("elsewhere/model.safetensors", "weights two");
            Assert.Equal(two, FeatureCache.ModelIdentity(loaded with { WeightsPath = copy }));
            Assert.StartsWith("sha256:", two);
        }
        finally
        {
            loaded.Model.Dispose();
        }
    }

    [Fact]
    public void ImagesReplacedInPlaceGiveNewResultsAndUnchangedInputsHitTheCache()
    {
        using var tmp = new TempDir("cache-replace");
        var root = Folder(tmp, "imgs", 12);
        var cache = Path.Combine(tmp.Path, "cache");
        var a = DeftDetector.Detect(Options(root, "folder", Path.Combine(tmp.Path, "a"), cache));
        Assert.StartsWith("computed", ImageFeatures(a));
        var b = DeftDetector.Detect(Options(root, "folder", Path.Combine(tmp.Path, "b"), cache));
        Assert.StartsWith("loaded", ImageFeatures(b));
        Assert.Equal(a.Samples.Select(s => s.LabelQuality), b.Samples.Select(s => s.LabelQuality));

        // Same names, same sizes, same modification times, other pixels.
        foreach (var cls in new[] { "a", "b" })
            for (var i = 0; i < 6; i++)
                ReplaceKeepingSizeAndTime(Path.Combine(root, cls, $"{i:00}.bmp"), Image(5000 + i + (cls == "b" ? 100 : 0)));
        var warnings = new List<string>();
        var c = DeftDetector.Detect(Options(root, "folder", Path.Combine(tmp.Path, "c"), cache), null, warnings.Add);
        Assert.StartsWith("computed", ImageFeatures(c));
        Assert.NotEqual(a.Samples.Select(s => s.LabelQuality), c.Samples.Select(s => s.LabelQuality));
        Assert.Equal(2, Directory.GetFiles(cache, "features-*.safetensors").Length);
    }

    [Fact]
    public void ARepointedManifestGetsTheFeaturesOfItsNewSources()
    {
        using var tmp = new TempDir("cache-manifest");
        Folder(tmp, "one", 8);
        Folder(tmp, "two", 8, seedBase: 300);
        string Manifest(string set) => string.Concat(new[] { "a", "b" }.SelectMany((cls, c) =>
            Enumerable.Range(0, 8).Select(i => $"{set}/{cls}/{i:00}.bmp,{c}\n")));
        var manifest = tmp.WriteText("m.csv", "path,label\n" + Manifest("one"));
        var cache = Path.Combine(tmp.Path, "cache");
        var first = DeftDetector.Detect(Options(manifest, "csv", Path.Combine(tmp.Path, "r1"), cache));
        Assert.StartsWith("computed", ImageFeatures(first));

        var time = File.GetLastWriteTimeUtc(manifest);
        File.WriteAllText(manifest, "path,label\n" + Manifest("two"));
        File.SetLastWriteTimeUtc(manifest, time);
        var second = DeftDetector.Detect(Options(manifest, "csv", Path.Combine(tmp.Path, "r2"), cache));
        Assert.StartsWith("computed", ImageFeatures(second));
        Assert.All(second.Samples, s => Assert.Contains($"{Path.DirectorySeparatorChar}two{Path.DirectorySeparatorChar}", s.Source));
        Assert.NotEqual(first.Samples.Select(s => s.LabelQuality), second.Samples.Select(s => s.LabelQuality));

        // Pointed back (and its time put back): the inputs are the first run's again, and so is the cache entry.
        File.WriteAllText(manifest, "path,label\n" + Manifest("one"));
        File.SetLastWriteTimeUtc(manifest, time);
        var third = DeftDetector.Detect(Options(manifest, "csv", Path.Combine(tmp.Path, "r3"), cache));
        Assert.StartsWith("loaded", ImageFeatures(third));
        Assert.Equal(first.Samples.Select(s => s.LabelQuality), third.Samples.Select(s => s.LabelQuality));
    }

    [Fact]
    public void ACorruptedCacheFileOfTheSameSizeIsRecomputedWithANotice()
    {
        using var tmp = new TempDir("cache-corrupt");
        var root = Folder(tmp, "imgs", 8);
        var cache = Path.Combine(tmp.Path, "cache");
        var first = DeftDetector.Detect(Options(root, "folder", Path.Combine(tmp.Path, "r1"), cache));
        var file = Assert.Single(Directory.GetFiles(cache, "features-*.safetensors"));
        var bytes = File.ReadAllBytes(file);
        for (var i = bytes.Length - 200; i < bytes.Length; i += 7) bytes[i] ^= 0x5A;
        File.WriteAllBytes(file, bytes);

        var warnings = new List<string>();
        var second = DeftDetector.Detect(Options(root, "folder", Path.Combine(tmp.Path, "r2"), cache), null, warnings.Add);
        var notice = Assert.Single(warnings, w => w.Contains("feature cache", StringComparison.Ordinal));
        Assert.Contains("failed its checksum", notice);
        Assert.DoesNotContain('\n', notice);
        Assert.StartsWith("computed", ImageFeatures(second));
        Assert.Equal(first.Samples.Select(s => s.LabelQuality), second.Samples.Select(s => s.LabelQuality));
        var third = DeftDetector.Detect(Options(root, "folder", Path.Combine(tmp.Path, "r3"), cache));
        Assert.StartsWith("loaded", ImageFeatures(third));
    }
}
