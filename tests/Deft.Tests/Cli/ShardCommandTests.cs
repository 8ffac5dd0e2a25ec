using Deft.Tests.Detection;

namespace Deft.Tests.Cli;

/// <summary>
/// The shard → merge path as a cluster runs it: <c>embed --shard</c> then <c>embed --merge-shards</c> writes the files
/// one <c>embed</c> writes, byte for byte; <c>detect --shard</c> then <c>cache merge</c> fills the cache a whole
/// <c>detect</c> then loads.
/// </summary>
public sealed class ShardCommandTests : IDisposable
{
    private readonly TempDir _dir = new("shard-cli");

    public void Dispose() => _dir.Dispose();

    private static string[] Embed(string output, params string[] extra) =>
        ["embed", "--model", DetectTestData.TinyModel, "--vocab", Fixtures.TinyVocabulary, "--data", DetectTestData.FashionMnist, "--format", "idx",
         "--limit", "10", "--batch", "4", "--out", output, .. extra];

    [Theory]
    [InlineData(".npy")]
    [InlineData(".parquet")]
    [InlineData(".safetensors")]
    public void TwoEmbedShardsMergedAreTheFilesOfOneRun(string extension)
    {
        var single = _dir.File("single", "f" + extension);
        var sharded = _dir.File("sharded", "f" + extension);
        Assert.Equal(0, CliHarness.Run(Embed(single)));
        // 10 images in batches of 4: shard 0 holds images 0-3, shard 1 images 4-9; written in reverse order.
        Assert.Equal(0, CliHarness.Run(Embed(sharded, "--shard", "1/2")));
        Assert.Equal(0, CliHarness.Run(Embed(sharded, "--shard", "0/2")));
        Assert.False(File.Exists(sharded));
        Assert.Equal(0, CliHarness.Run(["embed", "--merge-shards", "--out", sharded]));

        var names = Directory.GetFiles(Path.GetDirectoryName(single)!).Select(Path.GetFileName).Order().ToArray();
        Assert.Equal(names, Directory.GetFiles(Path.GetDirectoryName(sharded)!).Select(Path.GetFileName).Order().ToArray());
        Assert.NotEmpty(names);
        foreach (var name in names)
            Assert.Equal(File.ReadAllBytes(Path.Combine(Path.GetDirectoryName(single)!, name!)), File.ReadAllBytes(Path.Combine(Path.GetDirectoryName(sharded)!, name!)));
        Assert.False(Directory.Exists(_dir.File("sharded", "f.shards"))); // removed after the merge
    }

    [Fact]
    public void EmbedMergeNamesTheMissingShardAndKeepsWhatIsThere()
    {
        var output = _dir.File("f.npy");
        Assert.Equal(0, CliHarness.Run(Embed(output, "--shard", "0/3")));
        var ex = Assert.Throws<DeftException>(() => CliHarness.Run(["embed", "--merge-shards", "--out", output]));
        Assert.Contains("1/3, 2/3 missing", ex.Message);
        Assert.False(File.Exists(output));
        Assert.True(File.Exists(_dir.File("f.shards", "shard-0-of-3.safetensors")));
    }

    [Theory]
    [InlineData("2/2", "numbered from 0")]
    [InlineData("x", "is not i/n")]
    [InlineData("0/4", "at most 3 shard(s)")]
    public void EmbedRejectsBadShardSpecs(string spec, string reason)
    {
        var ex = Assert.Throws<DeftException>(() => CliHarness.Run(Embed(_dir.File("f.npy"), "--shard", spec)));
        Assert.Contains(reason, ex.Message);
    }

    [Fact]
    public void DetectAndRunShardsThenCacheMergeThenDetectLoadsTheMergedFeatures()
    {
        var labels = _dir.WriteText("labels.csv", "index,label\n" + string.Concat(Enumerable.Range(0, 130).Select(i => $"{i},{i % 10}\n")));
        var cache = _dir.File("cache");
        string[] Detect(params string[] extra) => Command("detect", extra);
        string[] Command(string command, params string[] extra) =>
            [command, "--model", DetectTestData.TinyModel, "--vocab", Fixtures.TinyVocabulary, "--data", DetectTestData.FashionMnist, "--format", "idx",
             "--labels", labels, "--cache-dir", cache, .. extra];
        // 130 samples: batches of 64, 64 and 2; shard 0 takes the first, shard 1 the other two. No --out needed.
        Assert.Equal(0, CliHarness.Run(Detect("--shard", "0/2")));
        Assert.Equal(1, CliHarness.Run(["cache", "merge", "--cache-dir", cache])); // shard 1/2 is missing
        // `run` shards the same features as `detect` (its phase 1 reads them).
        Assert.Equal(0, CliHarness.Run(Command("run", "--shard", "1/2")));
        Assert.Equal(0, CliHarness.Run(["cache", "merge", "--cache-dir", cache]));
        Assert.Single(Directory.GetFiles(cache, "features-*.safetensors"));

        var output = _dir.File("run");
        Assert.Equal(0, CliHarness.Run(Detect("--out", output)));
        var summary = File.ReadAllText(Path.Combine(output, "summary.json"));
        Assert.Contains("loaded from " + Path.Combine(cache, "features-"), summary);

        var ex = Assert.Throws<DeftException>(() => CliHarness.Run(Detect("--method", "deft", "--peft", "vpt-deep", "--shard", "0/2")));
        Assert.Contains("adapts the image tower", ex.Message);
    }
}
