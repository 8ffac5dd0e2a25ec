using Deft.Api;
using Deft.Data;
using Deft.IO;
using Deft.Methods;
using Deft.Detection;

namespace Deft.Tests.Api;

/// <summary>Features and pred_probs saved by sample: <see cref="FeatureFile"/>, and the reordering of a run's probabilities into samples.csv's order.</summary>
public sealed class FeatureFileTests : IDisposable
{
    private readonly TempDir _dir = new("features");

    public void Dispose() => _dir.Dispose();

    private static readonly ImageList Images = new(
        [new RgbImage(1, 1, [1, 2, 3]), new RgbImage(1, 1, [4, 5, 6]), new RgbImage(1, 1, [7, 8, 9])], [1, 0, 1], ["cat", "dog"]);

    [Fact]
    public void Npy_and_parquet_carry_the_rows_sample_index_source_and_label()
    {
        float[,] features = { { 1f, 2f }, { 3f, 4f } };
        var npy = Path.Combine(_dir.Path, "f.npy");
        Assert.Equal([npy, Path.Combine(_dir.Path, "f.ids.csv")], FeatureFile.Write(npy, features, Images, [2, 0]));
        var array = NpyFile.Read(npy);
        Assert.Equal([2, 2], array.Shape);
        Assert.Equal([1f, 2f, 3f, 4f], array.Values);
        Assert.Equal(["index,path,given_label", $"2,{Images.GetSource(2)},1", $"0,{Images.GetSource(0)},1"],
            File.ReadAllLines(Path.Combine(_dir.Path, "f.ids.csv")));

        var parquet = Path.Combine(_dir.Path, "f.parquet");
        FeatureFile.Write(parquet, features, Images, [2, 0]);
        var table = SampleArrayFile.ReadParquet(parquet);
        Assert.Equal([2, 0], table.Ids.Indices);
        Assert.Equal([1, 1], table.Ids.GivenLabels);
        Assert.Equal(["feature_0", "feature_1"], table.Columns);
        Assert.Equal([1f, 2f, 3f, 4f], table.Values);
        Assert.Equal("image_features", table.Metadata["deft.array"]);

        Assert.Throws<ArgumentException>(() => FeatureFile.Write(Path.Combine(_dir.Path, "f.csv"), features, Images));
        Assert.Throws<ArgumentException>(() => FeatureFile.Write(npy, features, Images, [0, 1, 2]));
    }

    [Fact]
    public void A_runs_probabilities_by_position_are_reordered_by_sample_index_as_samples_csv_is()
    {
        // A label file may list samples in any order: positions 0, 1, 2 are samples 5, 2, 9.
        var labels = new LabelAssignment([5, 2, 9], [0, 1, 0], [null, null, null], 2, "labels.csv");
        double[,] byPosition = { { 0.9, 0.1 }, { 0.2, 0.8 }, { 0.6, 0.4 } };
        var byIndex = DetectionRun.ByIndex(byPosition, labels)!;
        Assert.Equal(new double[,] { { 0.2, 0.8 }, { 0.9, 0.1 }, { 0.6, 0.4 } }, byIndex);
        Assert.Null(DetectionRun.ByIndex(null, labels));
    }
}
