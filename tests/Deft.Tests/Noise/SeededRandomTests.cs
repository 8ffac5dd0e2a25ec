using Deft.Noise;

namespace Deft.Tests.Noise;

public class SeededRandomTests
{
    [Fact]
    public void SplitMix64_matches_the_published_vectors_for_seed_0()
    {
        ulong state = 0;
        Assert.Equal(0xE220A8397B1DCDAFUL, SeededRandom.SplitMix64(ref state));
        Assert.Equal(0x6E789E6AA1B965F4UL, SeededRandom.SplitMix64(ref state));
        Assert.Equal(0x06C45D188009454FUL, SeededRandom.SplitMix64(ref state));
        Assert.Equal(0xF88BB8A8724C81ECUL, SeededRandom.SplitMix64(ref state));
    }

    [Fact]
    public void Xoshiro256StarStar_matches_the_reference_outputs_for_state_1_2_3_4()
    {
        var rng = new SeededRandom(1, 2, 3, 4);
        ulong[] expected = [11520, 0, 1509978240, 1215971899390074240, 1216172134540287360, 607988272756665600,
            16172922978634559625, 8476171486693032832, 10595114339597558777, 2904607092377533576];
        Assert.Equal(expected, expected.Select(_ => rng.NextUInt64()).ToArray());
    }

    [Fact]
    public void Seeding_goes_through_SplitMix64()
    {
        ulong sm = 42;
        var state = new[] { SeededRandom.SplitMix64(ref sm), SeededRandom.SplitMix64(ref sm), SeededRandom.SplitMix64(ref sm), SeededRandom.SplitMix64(ref sm) };
        var a = new SeededRandom(42);
        var b = new SeededRandom(state[0], state[1], state[2], state[3]);
        for (var i = 0; i < 100; i++) Assert.Equal(b.NextUInt64(), a.NextUInt64());
    }

    [Fact]
    public void NextInt_is_uniform_and_in_range()
    {
        var rng = new SeededRandom(7);
        const int n = 7, draws = 70_000;
        var counts = new int[n];
        for (var i = 0; i < draws; i++) counts[rng.NextInt(n)]++;
        var expected = (double)draws / n;
        var chiSquare = counts.Sum(c => (c - expected) * (c - expected) / expected);
        Assert.True(chiSquare < 27.9, $"chi² = {chiSquare} with 6 dof (0.9999 quantile 27.9); counts {string.Join(",", counts)}");
        Assert.Equal(0, new SeededRandom(1).NextInt(1));
        Assert.Throws<ArgumentOutOfRangeException>(() => rng.NextInt(0));
    }

    [Fact]
    public void NextDouble_is_in_unit_interval_with_mean_one_half()
    {
        var rng = new SeededRandom(3);
        var values = Enumerable.Range(0, 100_000).Select(_ => rng.NextDouble()).ToArray();
        Assert.All(values, v => Assert.InRange(v, 0.0, Math.BitDecrement(1.0)));
        Assert.InRange(values.Average(), 0.5 - 4 * Math.Sqrt(1 / 12.0 / values.Length), 0.5 + 4 * Math.Sqrt(1 / 12.0 / values.Length));
    }

    [Fact]
    public void NextNormal_has_mean_0_variance_1_and_normal_tails()
    {
        var rng = new SeededRandom(11);
        const int n = 200_000;
        var x = Enumerable.Range(0, n).Select(_ => rng.NextNormal()).ToArray();
        var mean = x.Average();
        var variance = x.Sum(v => (v - mean) * (v - mean)) / (n - 1);
        Assert.InRange(mean, -4 / Math.Sqrt(n), 4 / Math.Sqrt(n));
        Assert.InRange(variance, 1 - 4 * Math.Sqrt(2.0 / n), 1 + 4 * Math.Sqrt(2.0 / n));
        // P(|Z| > 1.96) = 0.05
        var outside = x.Count(v => Math.Abs(v) > 1.959964) / (double)n;
        Assert.InRange(outside, 0.05 - 4 * Math.Sqrt(0.05 * 0.95 / n), 0.05 + 4 * Math.Sqrt(0.05 * 0.95 / n));
    }

    [Fact]
    public void Truncated_normal_follows_the_truncated_distribution_not_a_clamp()
    {
        // N(0.05, 0.1²) on [0, 1]: α = −0.5, β = 9.5. Truncated mean μ + σ·φ(α)/(1 − Φ(α)) = 0.100917;
        // clamping would give 0.0698 and leave mass exactly at 0.
        var rng = new SeededRandom(5);
        const int n = 50_000;
        var q = Enumerable.Range(0, n).Select(_ => rng.NextTruncatedNormal(0.05, 0.1, 0, 1)).ToArray();
        Assert.All(q, v => Assert.InRange(v, 0.0, 1.0));
        Assert.Equal(0, q.Count(v => v == 0.0));
        var phi = Math.Exp(-0.125) / Math.Sqrt(2 * Math.PI);
        const double upperTail = 0.6914624612740131; // 1 − Φ(−0.5) = Φ(0.5)
        var expectedMean = 0.05 + 0.1 * phi / upperTail;
        var expectedVariance = 0.01 * (1 + (-0.5) * phi / upperTail - Math.Pow(phi / upperTail, 2));
        Assert.InRange(q.Average(), expectedMean - 4 * Math.Sqrt(expectedVariance / n), expectedMean + 4 * Math.Sqrt(expectedVariance / n));
        var mean = q.Average();
        var variance = q.Sum(v => (v - mean) * (v - mean)) / (n - 1);
        Assert.InRange(variance, expectedVariance * 0.95, expectedVariance * 1.05);
    }

    [Fact]
    public void SampleWithoutReplacement_gives_k_distinct_indices_each_equally_likely()
    {
        var rng = new SeededRandom(9);
        var inclusion = new int[20];
        const int rounds = 20_000;
        for (var r = 0; r < rounds; r++)
        {
            var picked = rng.SampleWithoutReplacement(20, 5);
            Assert.Equal(5, picked.Distinct().Count());
            foreach (var i in picked) inclusion[i]++;
        }
        // each index is picked with probability 5/20
        var sd = Math.Sqrt(rounds * 0.25 * 0.75);
        Assert.All(inclusion, c => Assert.InRange(c, rounds * 0.25 - 4.5 * sd, rounds * 0.25 + 4.5 * sd));
        Assert.Equal(Enumerable.Range(0, 6), new SeededRandom(1).SampleWithoutReplacement(6, 6).Order());
        Assert.Empty(new SeededRandom(1).SampleWithoutReplacement(6, 0));
    }
}

public class PortableMathTests
{
    private static void AssertClose(double expected, double actual, double ulps, string what)
    {
        if (expected == actual) return;
        var tolerance = ulps * Math.Abs(expected) * Math.Pow(2, -52);
        Assert.True(Math.Abs(expected - actual) <= tolerance, $"{what}: expected {expected:R}, got {actual:R}");
    }

    [Fact]
    public void Exp_agrees_with_the_platform_within_a_few_ulp()
    {
        var rng = new SeededRandom(1);
        for (var i = 0; i < 200_000; i++)
        {
            var x = (rng.NextDouble() * 2 - 1) * 700;
            AssertClose(Math.Exp(x), PortableMath.Exp(x), 4, $"exp({x:R})");
            var small = (rng.NextDouble() * 2 - 1) * 2;
            AssertClose(Math.Exp(small), PortableMath.Exp(small), 4, $"exp({small:R})");
        }
        Assert.Equal(1.0, PortableMath.Exp(0.0));
        AssertClose(Math.E, PortableMath.Exp(1.0), 2, "exp(1)");
        Assert.Equal(double.PositiveInfinity, PortableMath.Exp(710));
        Assert.Equal(0.0, PortableMath.Exp(-746));
        Assert.Equal(0.0, PortableMath.Exp(double.NegativeInfinity));
        Assert.True(double.IsNaN(PortableMath.Exp(double.NaN)));
        // subnormal results
        AssertClose(Math.Exp(-740), PortableMath.Exp(-740), 1e9, "exp(-740)");
    }

    [Fact]
    public void Log_agrees_with_the_platform_within_a_few_ulp()
    {
        var rng = new SeededRandom(2);
        for (var i = 0; i < 200_000; i++)
        {
            var x = Math.Pow(2, (rng.NextDouble() * 2 - 1) * 1000) * (1 + rng.NextDouble());
            AssertClose(Math.Log(x), PortableMath.Log(x), 4, $"log({x:R})");
            var nearOne = 1 + (rng.NextDouble() - 0.5) * 1e-3;
            AssertClose(Math.Log(nearOne), PortableMath.Log(nearOne), 4, $"log({nearOne:R})");
            var unit = rng.NextDouble() + 1e-300;
            AssertClose(Math.Log(unit), PortableMath.Log(unit), 4, $"log({unit:R})");
        }
        Assert.Equal(0.0, PortableMath.Log(1.0));
        AssertClose(Math.Log(double.Epsilon), PortableMath.Log(double.Epsilon), 4, "log(subnormal)");
        AssertClose(Math.Log(3e-310), PortableMath.Log(3e-310), 4, "log(subnormal)");
        Assert.Equal(double.NegativeInfinity, PortableMath.Log(0.0));
        Assert.Equal(double.PositiveInfinity, PortableMath.Log(double.PositiveInfinity));
        Assert.True(double.IsNaN(PortableMath.Log(-1.0)));
    }
}
