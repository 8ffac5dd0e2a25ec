using System.Globalization;
using Deft.Data;
using Deft.Detection;
using Deft.IO;

namespace Deft.Tests.Methods;

/// <summary>A detect run's pred_probs files: one row per samples.csv row, in its order, keyed by index and path.</summary>
public sealed class PredProbsOutputTests(MethodRuns runs) : IClassFixture<MethodRuns>
{
    [Fact]
    public void Clip_posterior_run_writes_pred_probs_whose_rows_are_the_samples_csv_rows()
    {
        var dir = runs.Directory(DetectionMethod.ClipPosterior);
        var (header, rows) = MethodRuns.ReadCsv(Path.Combine(dir, DetectionOutputs.SamplesFile));
        int Column(string name) => Array.IndexOf(header, name);
        var probs = NpyFile.Read(Path.Combine(dir, "pred_probs.npy"));
        Assert.Equal([rows.Count, 10], probs.Shape);
        for (var r = 0; r < rows.Count; r++)
        {
            var row = probs.Values.AsSpan(r * 10, 10).ToArray();
            var given = int.Parse(rows[r][Column("given_label")], CultureInfo.InvariantCulture);
            // The posterior: its given-label column is the label quality, its argmax the suggested label.
            Assert.Equal(double.Parse(rows[r][Column("label_quality")], CultureInfo.InvariantCulture), row[given], 6);
            Assert.Equal(int.Parse(rows[r][Column("suggested_label")], CultureInfo.InvariantCulture), Array.IndexOf(row, row.Max()));
            Assert.Equal(1.0, row.Sum(), 5);
        }

        var ids = File.ReadAllLines(Path.Combine(dir, "pred_probs.ids.csv"));
        Assert.Equal("index,path,given_label,true_label", ids[0]);
        Assert.Equal(rows.Select(r => string.Join(",", r[Column("index")], r[Column("source")], r[Column("given_label")], r[Column("true_label")])),
            ids.Skip(1));

        var table = SampleArrayFile.ReadParquet(Path.Combine(dir, "pred_probs.parquet"));
        Assert.Equal(probs.Values, table.Values);
        Assert.Equal(rows.Select(r => int.Parse(r[Column("index")], CultureInfo.InvariantCulture)), table.Ids.Indices);
        Assert.Equal(runs.Run(DetectionMethod.ClipPosterior).Classes, table.Columns);
        Assert.Equal("clip-posterior", table.Metadata["deft.method"]);
    }

    [Fact]
    public void A_method_without_class_probabilities_writes_none()
    {
        var dir = runs.Directory(DetectionMethod.SmallLoss);
        Assert.True(File.Exists(Path.Combine(dir, DetectionOutputs.SamplesFile)));
        Assert.All(DetectionOutputs.PredProbsFiles, f => Assert.False(File.Exists(Path.Combine(dir, f)), f));
    }
}
