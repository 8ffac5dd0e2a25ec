using System.Buffers.Binary;
using System.IO.Compression;
using Deft.Noise;
using static Deft.Tests.Noise.NoiseTestData;

namespace Deft.Tests.Noise;

public class InstanceDependentNoiseTests
{
    [Fact]
    public void Flip_distribution_keeps_exactly_one_minus_q_on_the_given_label_and_q_elsewhere()
    {
        var rng = new SeededRandom(1);
        var p = new double[10];
        for (var trial = 0; trial < 2000; trial++)
        {
            var scale = trial % 3 == 0 ? 1.0 : trial % 3 == 1 ? 50.0 : 5000.0;
            var logits = Enumerable.Range(0, 10).Select(_ => rng.NextNormal() * scale).ToArray();
            var y = rng.NextInt(10);
            var q = rng.NextDouble();
            LabelNoise.FlipDistribution(logits, y, q, p);
            Assert.Equal(1.0 - q, p[y]); // exactly: softmax gives the masked label 0
            var offDiagonal = p.Where((_, k) => k != y).Sum();
            Assert.Equal(q, offDiagonal, 1e-14);
            Assert.All(p, v => Assert.True(v >= 0 && double.IsFinite(v)));

            // The off-diagonal part is q·softmax over the other classes (reference with the platform's exp).
            var max = logits.Where((_, k) => k != y).Max();
            var e = logits.Select((l, k) => k == y ? 0.0 : Math.Exp(l - max)).ToArray();
            var sum = e.Sum();
            for (var k = 0; k < 10; k++)
                if (k != y) Assert.Equal(q * e[k] / sum, p[k], 1e-15);
        }
    }

    [Fact]
    public void Flip_distribution_of_raw_pixel_sized_logits_is_one_hot_without_overflow()
    {
        double[] logits = [12_000, -3_000, 45_000, 44_990, 80_000, 0, 1, 2, 3, 4];
        var p = new double[10];
        LabelNoise.FlipDistribution(logits, label: 4, flipRate: 0.3, p);
        Assert.Equal(0.7, p[4]);
        // the largest other logit takes nearly all the flip mass, the runner-up 10 below it a share e^-10
        Assert.Equal(0.3 / (1 + Math.Exp(-10)), p[2], 1e-15);
        Assert.Equal(0.3 * Math.Exp(-10) / (1 + Math.Exp(-10)), p[3], 1e-15);
        Assert.Equal(0.0, p[0]);

        double[] equal = [5, 5, 5, 5];
        var uniform = new double[4];
        LabelNoise.FlipDistribution(equal, 1, 0.6, uniform);
        Assert.Equal([0.2, 0.4, 0.2, 0.2], uniform.Select(v => Math.Round(v, 15)).ToArray());

        var single = new double[1];
        LabelNoise.FlipDistribution([3.0], 0, 0.9, single);
        Assert.Equal(1.0, single[0]);
    }

    [Fact]
    public void DrawIndex_inverts_the_cumulative_distribution()
    {
        double[] p = [0.0, 0.25, 0.0, 0.5, 0.25];
        Assert.Equal(1, LabelNoise.DrawIndex(p, 0.0));
        Assert.Equal(1, LabelNoise.DrawIndex(p, 0.2499));
        Assert.Equal(3, LabelNoise.DrawIndex(p, 0.25));
        Assert.Equal(3, LabelNoise.DrawIndex(p, 0.7499));
        Assert.Equal(4, LabelNoise.DrawIndex(p, 0.75));
        Assert.Equal(4, LabelNoise.DrawIndex(p, Math.BitDecrement(1.0)));
        Assert.Equal(0, LabelNoise.DrawIndex([1.0, 0.0], 0.999));
    }

    [Theory]
    [InlineData(300)]
    [InlineData(784)]
    [InlineData(5)]
    [InlineData(8)]
    public void Projection_is_the_pixel_vector_times_the_transposed_class_slice(int d)
    {
        var rng = new SeededRandom(3);
        const int c = 7;
        var x = Enumerable.Range(0, d).Select(j => (double)(j % 5 == 0 ? 0 : rng.NextInt(256))).ToArray();
        var wT = Enumerable.Range(0, c * d).Select(_ => (float)rng.NextNormal()).ToArray(); // [k][j]
        var logits = new double[c];
        LabelNoise.ProjectPixels(x, wT, logits);
        for (var k = 0; k < c; k++)
        {
            // reference: summed backwards in decimal, so it shares no rounding with the implementation
            // ((decimal)(double) keeps 15 digits of each weight; (decimal)float would keep only 7)
            var reference = 0m;
            for (var j = d - 1; j >= 0; j--) reference += (decimal)x[j] * (decimal)(double)wT[k * d + j];
            Assert.Equal((double)reference, logits[k], Math.Abs((double)reference) * 1e-12 + 1e-9);
        }
    }

    [Theory]
    [InlineData(0.05)]
    [InlineData(0.3)]
    public void Idn_flip_rates_follow_the_truncated_normal_and_the_realized_rate_their_mean(double ratio)
    {
        const int n = 20_000, c = 10, d = 64;
        var truth = UniformLabels(n, c);
        var pixels = LabelNoiseTests.RandomPixels(n, d, seed: 21);
        var noisy = LabelNoise.InstanceDependent(truth, c, ratio, seed: 99, i => pixels[i]);

        var q = noisy.FlipRates!;
        Assert.Equal(n, q.Count);
        Assert.All(q, v => Assert.InRange(v, 0.0, 1.0));
        var (mean, variance) = TruncatedNormalMoments(ratio, 0.1);
        AssertWithin4Sd(q.Average(), mean, variance / n, "mean flip rate");

        // Each sample keeps its label with probability exactly 1 − qᵢ: flips are Poisson-binomial with mean Σq.
        AssertWithin4Sd(noisy.NoisyCount, q.Sum(), q.Sum(v => v * (1 - v)), "idn flips");
        Assert.Equal(noisy.NoisyCount, noisy.ChosenCount);
        for (var i = 0; i < n; i++) Assert.Equal(noisy.Labels[i] != truth[i], noisy.Chosen[i]);
        Assert.Equal(NoiseMode.Idn, noisy.Mode);
    }

    [Fact]
    public void Idn_sends_a_flipped_sample_to_the_best_other_class_of_its_projection()
    {
        // Replays the documented draw order (N flip rates, then W as float32 normals) to rebuild W independently of
        // the implementation's loop, then checks that flips land on argmax_{k≠y} x·W[y] — with raw 0–255 pixels the
        // softmax is practically one-hot.
        const int n = 4000, c = 6, d = 40;
        const double ratio = 0.5;
        const ulong seed = 31;
        var truth = UniformLabels(n, c);
        var pixels = LabelNoiseTests.RandomPixels(n, d, seed: 8);
        var noisy = LabelNoise.InstanceDependent(truth, c, ratio, seed, i => pixels[i]);

        var replay = new SeededRandom(seed);
        var q = Enumerable.Range(0, n).Select(_ => replay.NextTruncatedNormal(ratio, 0.1, 0, 1)).ToArray();
        Assert.Equal(q, noisy.FlipRates);
        var w = new float[c, d, c];
        for (var y = 0; y < c; y++)
            for (var j = 0; j < d; j++)
                for (var k = 0; k < c; k++)
                    w[y, j, k] = (float)replay.NextNormal();

        int flipped = 0, toArgmax = 0;
        for (var i = 0; i < n; i++)
        {
            if (noisy.Labels[i] == truth[i]) continue;
            flipped++;
            var y = truth[i];
            var best = -1;
            var bestLogit = double.NegativeInfinity;
            for (var k = 0; k < c; k++)
            {
                if (k == y) continue;
                double logit = 0;
                for (var j = 0; j < d; j++) logit += pixels[i][j] * (double)w[y, j, k];
                if (logit > bestLogit) (best, bestLogit) = (k, logit);
            }
            if (noisy.Labels[i] == best) toArgmax++;
        }
        Assert.True(flipped > n / 3);
        Assert.True(toArgmax >= 0.99 * flipped, $"{toArgmax} of {flipped} flips went to the projection's best other class");
    }

    [Fact]
    public void Idn_rejects_images_of_different_sizes_naming_the_sample()
    {
        var truth = UniformLabels(100, 3);
        var error = Assert.Throws<DeftException>(() =>
            LabelNoise.InstanceDependent(truth, 3, 0.2, 1, i => new byte[i == 57 ? 10 : 12]));
        Assert.Contains("Sample 57", error.Message);
    }

    [Fact]
    public void Idn_on_fashion_mnist_raw_pixels()
    {
        var dir = KnownLocations.FashionMnist()
            ?? throw new InvalidOperationException("Fashion-MNIST not found (apt-get install dataset-fashion-mnist or set DEFT_FASHION_MNIST).");
        var labels = ReadIdx(Path.Combine(dir, "train-labels-idx1-ubyte.gz"), out _);
        var images = ReadIdx(Path.Combine(dir, "train-images-idx3-ubyte.gz"), out var dims);
        Assert.Equal([60_000, 28, 28], dims);
        var truth = labels.Select(b => (int)b).ToArray();
        const int d = 28 * 28;
        const double ratio = 0.2;
        var noisy = LabelNoise.InstanceDependent(truth, 10, ratio, seed: 1, i => images.AsSpan(i * d, d).ToArray());

        var q = noisy.FlipRates!;
        var (mean, variance) = TruncatedNormalMoments(ratio, 0.1);
        AssertWithin4Sd(q.Average(), mean, variance / q.Count, "mean flip rate");
        AssertWithin4Sd(noisy.NoisyCount, q.Sum(), q.Sum(v => v * (1 - v)), "idn flips on Fashion-MNIST");
        foreach (var row in noisy.Transition) Assert.Equal(1.0, row.Sum(), 12);
        // Instance-dependent: the flip targets of a class are not spread evenly over the other nine classes.
        var maxOffDiagonalShare = Enumerable.Range(0, 10)
            .Select(y => noisy.Transition[y].Where((_, k) => k != y).Max() / (1 - noisy.Transition[y][y]))
            .Average();
        Assert.True(maxOffDiagonalShare > 1.5 / 9, $"largest flip target takes {maxOffDiagonalShare:P0} of a class's flips");
    }

    /// <summary>Mean and variance of N(μ, σ²) truncated to [0, 1].</summary>
    private static (double Mean, double Variance) TruncatedNormalMoments(double mu, double sigma)
    {
        var a = (0 - mu) / sigma;
        var b = (1 - mu) / sigma;
        var z = StandardNormalCdf(b) - StandardNormalCdf(a);
        var (pa, pb) = (Pdf(a), Pdf(b));
        var mean = mu + sigma * (pa - pb) / z;
        var variance = sigma * sigma * (1 + (a * pa - b * pb) / z - Math.Pow((pa - pb) / z, 2));
        return (mean, variance);

        static double Pdf(double x) => Math.Exp(-x * x / 2) / Math.Sqrt(2 * Math.PI);
    }

    /// <summary>Φ by Simpson integration of the density from 0 (ample accuracy for test tolerances).</summary>
    private static double StandardNormalCdf(double x)
    {
        const int steps = 20_000;
        var h = x / steps;
        double sum = 0;
        for (var i = 0; i <= steps; i++)
        {
            var t = i * h;
            var weight = i == 0 || i == steps ? 1 : i % 2 == 1 ? 4 : 2;
            sum += weight * Math.Exp(-t * t / 2);
        }
        return 0.5 + sum * h / 3 / Math.Sqrt(2 * Math.PI);
    }

    [Fact]
    public void Normal_cdf_helper_matches_known_values()
    {
        Assert.Equal(0.6914624612740131, StandardNormalCdf(0.5), 10);
        Assert.Equal(0.9772498680518208, StandardNormalCdf(2.0), 10);
        Assert.Equal(0.0013498980316301, StandardNormalCdf(-3.0), 10);
    }

    private static byte[] ReadIdx(string path, out int[] dims)
    {
        using var gz = new GZipStream(File.OpenRead(path), CompressionMode.Decompress);
        using var ms = new MemoryStream();
        gz.CopyTo(ms);
        var bytes = ms.ToArray();
        var rank = bytes[3];
        dims = Enumerable.Range(0, rank).Select(r => BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(4 + 4 * r))).ToArray();
        return bytes[(4 + 4 * rank)..];
    }
}
