using Deft.Noise;
using Deft.Recipes;
using Deft.Tests.Data;

namespace Deft.Tests.Recipes;

public sealed class BalancedSubsampleTests
{
    [Fact]
    public void Draw_caps_every_class_at_size_over_classes_and_repeats_per_seed()
    {
        // 3 classes of 100, 50, 5 samples; size 60 allows 20 per class; the small class gives all 5 it has.
        var labels = Enumerable.Repeat(0, 100).Concat(Enumerable.Repeat(1, 50)).Concat(Enumerable.Repeat(2, 5)).ToArray();
        var draw = BalancedSubsample.Draw(labels, 3, 60, seed: 11);

        Assert.Equal([20, 20, 5], draw.PerClass);
        Assert.Equal(45, draw.Indices.Count);
        Assert.Equal(draw.Indices.Distinct().Order(), draw.Indices);
        Assert.Equal([20, 20, 5], Enumerable.Range(0, 3).Select(c => draw.Indices.Count(i => labels[i] == c)));
        Assert.Equal(draw.Indices, BalancedSubsample.Draw(labels, 3, 60, seed: 11).Indices);
        Assert.NotEqual(draw.Indices, BalancedSubsample.Draw(labels, 3, 60, seed: 12).Indices);

        // Size not divisible by the classes: the cap is fractional (14 classes, 32,000 → 2285.7), so a class may take
        // one more, and the walk stops at the total, so a class met late may fall short (the official loader's behaviour).
        var even = Enumerable.Range(0, 700).Select(i => i % 7).ToArray();
        var d = BalancedSubsample.Draw(even, 7, 50, seed: 1);
        Assert.Equal(50, d.Indices.Count);
        Assert.All(d.PerClass, n => Assert.InRange(n, 1, 8));
        Assert.Contains(8, d.PerClass);

        Assert.Throws<DeftException>(() => BalancedSubsample.Draw(labels, 3, 0, 1));
        Assert.Throws<DeftException>(() => BalancedSubsample.Draw(labels, 3, 156, 1));
    }

    [Fact]
    public void Written_draw_is_a_label_file_of_the_given_labels()
    {
        using var dir = new TempDir("deft-subsample");
        var data = new Deft.Tests.Transforms.InMemoryDataset(Enumerable.Range(0, 10).Select(_ => new Deft.Data.RgbImage(1, 1, [0, 0, 0])).ToArray(),
            Enumerable.Range(0, 10).Select(i => i % 2).ToArray());
        var path = Path.Combine(dir.Path, "sub", "labels.csv");

        var draw = BalancedSubsample.Write(data, 4, 5, path);

        var rows = LabelFile.Read(path, data.Count, 2);
        Assert.Equal(draw.Indices, rows.Select(r => r.Index));
        Assert.All(rows, r => Assert.Equal(r.Index % 2, r.Label));
        Assert.All(rows, r => Assert.Null(r.TrueLabel));
    }
}
