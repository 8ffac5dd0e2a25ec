using System.Security.Cryptography;
using Deft.Noise;
using static Deft.Tests.Noise.NoiseTestData;

namespace Deft.Tests.Noise;

public class LabelNoiseTests
{
    private const int N = 20_000;
    private const int C = 10;
    private static readonly int[] Truth = UniformLabels(N, C);

    [Theory]
    [InlineData(0.0)]
    [InlineData(0.2)]
    [InlineData(0.5)]
    [InlineData(0.8)]
    [InlineData(1.0)]
    public void Sym_redraws_exactly_round_RN_samples_uniformly_over_all_classes(double ratio)
    {
        var noisy = LabelNoise.Symmetric(Truth, C, ratio, seed: 1);
        var k = (int)Math.Round(ratio * N);
        Assert.Equal(k, noisy.ChosenCount);
        Assert.Equal(NoiseMode.Sym, noisy.Mode);
        Assert.Equal(ratio, noisy.RequestedRatio);
        Assert.Equal(Truth, noisy.TrueLabels);
        for (var i = 0; i < N; i++)
            if (!noisy.Chosen[i]) Assert.Equal(Truth[i], noisy.Labels[i]);

        // A redrawn label equals the true one with probability 1/C: realized ≈ R·(C−1)/C.
        const double p = (C - 1.0) / C;
        AssertWithin4Sd(noisy.NoisyCount, k * p, k * p * (1 - p), "sym flips");
        Assert.Equal((double)noisy.NoisyCount / N, noisy.RealizedRate);

        if (k > 0)
        {
            // New labels of chosen samples are uniform over all classes, whatever the true class.
            var counts = new int[C];
            for (var i = 0; i < N; i++) if (noisy.Chosen[i]) counts[noisy.Labels[i]]++;
            var expected = (double)k / C;
            var chi2 = counts.Sum(c => (c - expected) * (c - expected) / expected);
            Assert.True(chi2 < 33.7, $"chi² {chi2} over 9 dof (0.9999 quantile 33.7)");
        }
    }

    [Fact]
    public void Str_redraws_chosen_samples_of_half_the_classes_and_leaves_the_other_half_untouched()
    {
        const double r = 0.6;
        var noisy = LabelNoise.Structured(Truth, C, r, seed: 4);
        Assert.Equal(NoiseMode.Str, noisy.Mode);
        Assert.Equal((int)Math.Round(r * N), noisy.ChosenCount);
        for (var i = 0; i < N; i++)
            if (!noisy.Chosen[i]) Assert.Equal(Truth[i], noisy.Labels[i]);

        // Exactly ⌊C/2⌋ = 5 classes are noisy: in each, the diagonal of T is 1 − R + R/C; in the others, 1.
        var untouched = Enumerable.Range(0, C).Where(c => noisy.Transition[c][c] == 1.0).ToList();
        Assert.Equal(C / 2, untouched.Count);
        foreach (var c in Enumerable.Range(0, C).Except(untouched))
        {
            var nc = Truth.Count(t => t == c);
            const double pDiag = 1 - r + r / C;
            AssertWithin4Sd(noisy.Transition[c][c], pDiag, pDiag * (1 - pDiag) / nc, $"T[{c},{c}]");
        }
        // Realized rate ≈ R·½·(C−1)/C = 0.27.
        const double expected = r * 0.5 * (C - 1.0) / C;
        AssertWithin4Sd(noisy.NoisyCount, expected * N, expected * (1 - expected) * N, "str flips");

        // With R = 1 and two classes, every sample of the noisy class is redrawn uniformly and the other keeps its label.
        var two = LabelNoise.Structured(Enumerable.Range(0, 400).Select(i => i % 2).ToArray(), 2, 1.0, seed: 9);
        var keeps = Enumerable.Range(0, 2).Single(c => two.Transition[c][c] == 1.0);
        AssertWithin4Sd(two.Transition[1 - keeps][keeps], 0.5, 0.25 / 200, "redrawn to the other class");
        Assert.Equal(NoiseMode.Str, NoiseModes.Parse("str"));
        Assert.Equal(noisy.Labels, LabelNoise.Structured(Truth, C, r, seed: 4).Labels);
    }

    [Fact]
    public void Sym_transition_matrix_has_one_minus_R_plus_R_over_C_on_the_diagonal()
    {
        const double r = 0.5;
        var noisy = LabelNoise.Symmetric(Truth, C, r, seed: 3);
        for (var c = 0; c < C; c++)
        {
            var row = noisy.Transition[c];
            Assert.Equal(1.0, row.Sum(), 12);
            var nc = Truth.Count(t => t == c);
            // Chosen within a class is hypergeometric; the binomial variance bounds it.
            var pDiag = 1 - r + r / C;
            AssertWithin4Sd(row[c], pDiag, pDiag * (1 - pDiag) / nc, $"T[{c},{c}]");
        }
    }

    [Fact]
    public void Chosen_count_rounds_half_to_even_like_python()
    {
        Assert.Equal(2, LabelNoise.ChosenCount(0.5, 3)); // 1.5 → 2
        Assert.Equal(2, LabelNoise.ChosenCount(0.5, 5)); // 2.5 → 2
        Assert.Equal(4, LabelNoise.ChosenCount(0.5, 7)); // 3.5 → 4
        Assert.Equal(4000, LabelNoise.ChosenCount(0.2, 20_000));
        Assert.Equal(2, LabelNoise.Symmetric([0, 1, 2, 0, 1], 3, 0.5, 1).ChosenCount);
    }

    [Theory]
    [InlineData(0.1)]
    [InlineData(0.4)]
    [InlineData(1.0)]
    public void Asym_moves_every_chosen_sample_to_the_next_class(double ratio)
    {
        var noisy = LabelNoise.Asymmetric(Truth, C, ratio, seed: 2);
        Assert.Equal((int)Math.Round(ratio * N), noisy.ChosenCount);
        for (var i = 0; i < N; i++)
            Assert.Equal(noisy.Chosen[i] ? (Truth[i] + 1) % C : Truth[i], noisy.Labels[i]);
        Assert.Equal(noisy.ChosenCount, noisy.NoisyCount);
        Assert.Equal(ratio, noisy.RealizedRate, 12);
        for (var c = 0; c < C; c++)
        {
            var nc = Truth.Count(t => t == c);
            AssertWithin4Sd(noisy.Transition[c][(c + 1) % C], ratio, ratio * (1 - ratio) / nc + 1e-12, $"T[{c},{c + 1}]");
            Assert.Equal(1.0, noisy.Transition[c][c] + noisy.Transition[c][(c + 1) % C], 12);
        }
    }

    [Fact]
    public void Asym_cifar10_follows_the_literature_mapping_and_leaves_other_classes_alone()
    {
        const double ratio = 0.4;
        var noisy = LabelNoise.AsymmetricCifar10(Truth, 10, ratio, seed: 4);
        Assert.Equal((int)Math.Round(ratio * N), noisy.ChosenCount);
        var expectedMap = new Dictionary<int, int> { [9] = 1, [2] = 0, [4] = 7, [3] = 5, [5] = 3 };
        for (var i = 0; i < N; i++)
        {
            var t = Truth[i];
            var expected = noisy.Chosen[i] && expectedMap.TryGetValue(t, out var to) ? to : t;
            Assert.Equal(expected, noisy.Labels[i]);
        }
        // Only the five mapped classes are noisy: the realized rate is about R·5/10.
        var mappedChosen = Enumerable.Range(0, N).Count(i => noisy.Chosen[i] && expectedMap.ContainsKey(Truth[i]));
        Assert.Equal(mappedChosen, noisy.NoisyCount);
        AssertWithin4Sd(noisy.NoisyCount, noisy.ChosenCount * 0.5, noisy.ChosenCount * 0.25, "asym-cifar10 flips");
        foreach (var unmapped in new[] { 0, 1, 6, 7, 8 })
            Assert.Equal(1.0, noisy.Transition[unmapped][unmapped]);
        Assert.True(noisy.Transition[3][5] > 0.3 && noisy.Transition[5][3] > 0.3);

        var error = Assert.Throws<DeftException>(() => LabelNoise.AsymmetricCifar10(UniformLabels(50, 100), 100, 0.2, 1));
        Assert.Contains("10 CIFAR-10 classes", error.Message);
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(0.2)]
    [InlineData(0.45)]
    [InlineData(1.0)]
    public void Pairflip_moves_each_sample_to_the_next_class_with_probability_R(double ratio)
    {
        var noisy = LabelNoise.PairFlip(Truth, C, ratio, seed: 5);
        for (var i = 0; i < N; i++)
        {
            Assert.True(noisy.Labels[i] == Truth[i] || noisy.Labels[i] == (Truth[i] + 1) % C);
            Assert.Equal(noisy.Labels[i] != Truth[i], noisy.Chosen[i]);
        }
        AssertWithin4Sd(noisy.NoisyCount, N * ratio, N * ratio * (1 - ratio), "pairflip flips");
        if (ratio is 0.0 or 1.0) Assert.Equal((int)(N * ratio), noisy.NoisyCount);
    }

    [Theory]
    [InlineData(-0.01)]
    [InlineData(1.01)]
    [InlineData(double.NaN)]
    public void Ratio_outside_0_1_is_rejected_by_every_mode(double ratio)
    {
        int[] truth = [0, 1, 2];
        Assert.Contains("[0, 1]", Assert.Throws<DeftException>(() => LabelNoise.Symmetric(truth, 3, ratio, 1)).Message);
        Assert.Throws<DeftException>(() => LabelNoise.Asymmetric(truth, 3, ratio, 1));
        Assert.Throws<DeftException>(() => LabelNoise.AsymmetricCifar10(truth, 10, ratio, 1));
        Assert.Throws<DeftException>(() => LabelNoise.PairFlip(truth, 3, ratio, 1));
        Assert.Throws<DeftException>(() => LabelNoise.InstanceDependent(truth, 3, ratio, 1, _ => new byte[4]));
    }

    [Fact]
    public void Unknown_mode_lists_the_valid_modes()
    {
        var error = Assert.Throws<DeftException>(() => NoiseModes.Parse("symmetric"));
        Assert.Contains("'symmetric'", error.Message);
        foreach (var name in new[] { "sym", "asym", "asym-cifar10", "pairflip", "idn", "file" })
        {
            Assert.Contains(name, error.Message);
            Assert.Equal(name, NoiseModes.Parse(name.ToUpperInvariant()).Name());
        }
    }

    [Fact]
    public void Labels_outside_the_classes_are_rejected_naming_the_sample()
    {
        var error = Assert.Throws<DeftException>(() => LabelNoise.Symmetric([0, 1, 5], 3, 0.2, 1));
        Assert.Contains("Sample 2", error.Message);
    }

    public static TheoryData<string> Modes => ["sym", "asym", "asym-cifar10", "pairflip", "idn"];

    [Theory]
    [MemberData(nameof(Modes))]
    public void Same_seed_gives_the_same_file_byte_for_byte_and_another_seed_differs(string modeName)
    {
        var mode = NoiseModes.Parse(modeName);
        var truth = UniformLabels(3000, 10);
        var pixels = RandomPixels(3000, 48, seed: 77);
        NoisyLabels Make(ulong seed) => LabelNoise.Apply(new FakeDataset(truth, Enumerable.Range(0, 10).Select(c => $"c{c}").ToArray(), i => pixels[i]),
            new NoiseOptions(mode, 0.4, seed));
        var a = TempPath("a.csv");
        var b = TempPath("b.csv");
        var c = TempPath("c.csv");
        Make(7).Save(a);
        Make(7).Save(b);
        Make(8).Save(c);
        Assert.Equal(File.ReadAllBytes(a), File.ReadAllBytes(b));
        Assert.NotEqual(File.ReadAllBytes(a), File.ReadAllBytes(c));
    }

    [Fact]
    public void Reproducibility_tripwire_fixed_seed_gives_fixed_labels()
    {
        // Pins the exact output for one input on every machine and runtime. If this fails, the generator or the
        // draw order changed and every published noise file would change with it: find out why before updating.
        var truth = UniformLabels(1000, 10);
        Assert.Equal("B7892F150D682EA6", Hash(LabelNoise.Symmetric(truth, 10, 0.4, 2024).Labels));
        Assert.Equal("0CCEB13177EB3213", Hash(LabelNoise.PairFlip(truth, 10, 0.4, 2024).Labels));
        var pixels = RandomPixels(1000, 32, seed: 5);
        Assert.Equal("E7747B60D52CCC7D", Hash(LabelNoise.InstanceDependent(truth, 10, 0.4, 2024, i => pixels[i]).Labels));
    }

    internal static string Hash(IReadOnlyList<int> labels) =>
        Convert.ToHexString(SHA256.HashData(labels.SelectMany(BitConverter.GetBytes).ToArray()))[..16];

    internal static byte[][] RandomPixels(int n, int d, ulong seed)
    {
        var rng = new SeededRandom(seed);
        return Enumerable.Range(0, n).Select(_ => Enumerable.Range(0, d).Select(_ => (byte)rng.NextInt(256)).ToArray()).ToArray();
    }
}
