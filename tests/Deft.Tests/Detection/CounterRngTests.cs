using Deft.Detection;

namespace Deft.Tests.Detection;

public sealed class CounterRngTests
{
    [Fact]
    public void ComplementaryLabelsAreUniformOverTheOtherClassesAndNeverTheLabel()
    {
        var rng = new CounterRng(7);
        var counts = new int[5];
        for (var i = 0; i < 20000; i++)
        {
            var c = rng.Complementary(2, 5, epoch: 1, sampleIndex: i);
            Assert.NotEqual(2, c);
            counts[c]++;
        }
        Assert.Equal(0, counts[2]);
        foreach (var k in new[] { 0, 1, 3, 4 }) Assert.InRange(counts[k], 4700, 5300);
        // A fresh draw each epoch.
        Assert.Contains(Enumerable.Range(0, 50), i => rng.Complementary(0, 10, 1, i) != rng.Complementary(0, 10, 2, i));
    }

    [Fact]
    public void PermutationsAreReproduciblePerSeedAndEpochAndDifferBetweenEpochs()
    {
        var a = new CounterRng(1).Permutation(100, 3);
        Assert.Equal(a, new CounterRng(1).Permutation(100, 3));
        Assert.Equal(Enumerable.Range(0, 100), a.Order());
        Assert.NotEqual(a, new CounterRng(1).Permutation(100, 4));
        Assert.NotEqual(a, new CounterRng(2).Permutation(100, 3));
    }

    [Fact]
    public void BelowIsUniform()
    {
        var rng = new CounterRng(11);
        var counts = new int[3];
        for (var i = 0; i < 30000; i++) counts[rng.Below(3, CounterRng.Stream.Augment, 0, i)]++;
        foreach (var c in counts) Assert.InRange(c, 9600, 10400);
        Assert.All(Enumerable.Range(0, 1000), i => Assert.InRange(rng.NextDouble(CounterRng.Stream.Augment, 0, i), 0.0, 1.0));
    }
}
