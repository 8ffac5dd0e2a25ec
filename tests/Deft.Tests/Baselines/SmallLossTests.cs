using Deft.Baselines;

namespace Deft.Tests.Baselines;

public class SmallLossTests
{
    [Theory]
    [InlineData(10, 0.3, 7)]   // Python: int((1 - 0.3) * 10) == 7
    [InlineData(10, 0.2, 8)]
    [InlineData(7, 0.5, 3)]    // 3.5 truncated, not rounded
    [InlineData(9, 0.0, 9)]
    [InlineData(5, 1.0, 0)]
    [InlineData(128, 0.45, 70)] // int(0.55 * 128) = int(70.4)
    public void Remember_count_truncates_like_coteaching(int n, double rate, int expected) =>
        Assert.Equal(expected, SmallLoss.RememberCount(n, rate));

    [Fact]
    public void Select_keeps_exactly_the_smallest_losses()
    {
        var random = new Random(3);
        var losses = Enumerable.Range(0, 50).Select(_ => random.NextDouble() * 5).ToArray();
        var keep = SmallLoss.Select(losses, 0.3);
        Assert.Equal(35, keep.Count(k => k));
        var maxKept = losses.Where((_, i) => keep[i]).Max();
        var minDropped = losses.Where((_, i) => !keep[i]).Min();
        Assert.True(maxKept < minDropped, $"kept loss {maxKept} is not below dropped loss {minDropped}");
        // The kept set is the 35 smallest values.
        var expected = losses.Order().Take(35).ToHashSet();
        Assert.All(losses.Where((_, i) => keep[i]), l => Assert.Contains(l, expected));
    }

    [Fact]
    public void Equal_losses_are_kept_in_index_order()
    {
        double[] losses = [2.0, 1.0, 1.0, 1.0, 1.0, 0.5];
        // keep int(0.5 * 6) = 3: the 0.5 and the first two of the tied 1.0s.
        Assert.Equal([false, true, true, false, false, true], SmallLoss.Select(losses, 0.5));
        Assert.Equal([5, 1, 2, 3, 4, 0], SmallLoss.AscendingOrder(losses));
    }

    [Fact]
    public void Nan_loss_is_rejected()
    {
        var error = Assert.Throws<ArgumentException>(() => SmallLoss.Select([0.1, double.NaN], 0.2));
        Assert.Contains("sample 1", error.Message);
    }

    [Fact]
    public void Schedule_ramps_linearly_over_the_warmup_then_holds_the_rate()
    {
        // numpy: r = ones(8) * 0.4; r[:5] = linspace(0, 0.4, 5)
        AssertClose([0, 0.1, 0.2, 0.3, 0.4, 0.4, 0.4, 0.4], SmallLoss.Schedule(0.4, 5, 8));
        // no warm-up: the full rate from epoch 0
        AssertClose([0.2, 0.2, 0.2], SmallLoss.Schedule(0.2, 0, 3));
        // exponent only shapes the ramp's end point, as in Co-teaching (forget_rate ** exponent)
        AssertClose([0, 0.125, 0.25, 0.5], SmallLoss.Schedule(0.5, 3, 4, exponent: 2));
        // a warm-up longer than training: the first values of the ramp
        AssertClose([0, 0.5 / 9, 1.0 / 9], SmallLoss.Schedule(0.5, 10, 3));
        // a one-epoch warm-up is linspace(0, r, 1) = [0]
        AssertClose([0, 0.3], SmallLoss.Schedule(0.3, 1, 2));
    }

    [Fact]
    public void Rates_outside_zero_one_are_rejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => SmallLoss.Schedule(1.5, 2, 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => SmallLoss.Select([1.0], -0.1));
    }

    private static void AssertClose(double[] expected, double[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (var i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) < 1e-12, $"epoch {i}: expected {expected[i]}, got {actual[i]}");
    }
}
