using Deft.Clip;
using Deft.Data;
using Deft.IO;
using Deft.Tests.Detection;

namespace Deft.Tests.Cli;

/// <summary><c>deft embed</c>: the same features as .safetensors, .npy (with the ids CSV) and .parquet, rows named by sample.</summary>
public sealed class EmbedOutputTests : IDisposable
{
    private readonly TempDir _dir = new("embed");

    public void Dispose() => _dir.Dispose();

    private void Embed(string output) =>
        Assert.Equal(0, CliHarness.Run(["embed", "--model", DetectTestData.TinyModel, "--vocab", Fixtures.TinyVocabulary,
            "--data", DetectTestData.FashionMnist, "--format", "idx", "--limit", "5", "--out", output]));

    [Fact]
    public void Npy_parquet_and_safetensors_hold_the_same_features_and_the_ids_name_the_samples()
    {
        var safetensors = _dir.File("f.safetensors");
        var npy = _dir.File("g.npy");
        var parquet = _dir.File("h.parquet");
        Embed(safetensors);
        Embed(npy);
        Embed(parquet);

        var tensors = Safetensors.Load(safetensors);
        var reference = tensors["image_features"].data<float>().ToArray();
        foreach (var t in tensors.Values) t.Dispose();
        var array = NpyFile.Read(npy);
        Assert.Equal([5, reference.Length / 5], array.Shape);
        Assert.Equal(reference, array.Values);
        Assert.Equal(reference, SampleArrayFile.ReadParquet(parquet).Values);

        var data = DatasetFactory.Open(new DatasetOptions(DetectTestData.FashionMnist, "idx"));
        var expected = new[] { "index,path,given_label" }
            .Concat(Enumerable.Range(0, 5).Select(i => $"{i},{data.GetSource(i)},{data.GetLabel(i)}")).ToArray();
        Assert.Equal(expected, File.ReadAllLines(_dir.File("g.ids.csv")));
        Assert.Equal(expected, File.ReadAllLines(_dir.File("f.ids.csv")));
        Assert.Equal(Enumerable.Range(0, 5).Select(data.GetLabel), SampleArrayFile.ReadParquet(parquet).Ids.GivenLabels);
    }
}
