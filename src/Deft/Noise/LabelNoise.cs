using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Deft.Data;

namespace Deft.Noise;

/// <summary>What noise to make: mode, ratio R (ignored by file mode), seed, and the label file for file mode.</summary>
public sealed record NoiseOptions(NoiseMode Mode, double Ratio, ulong Seed, string? LabelsFile = null);

/// <summary>
/// Synthetic label noise with the semantics of DeFT's official code (see <see cref="NoiseMode"/>). Every mode is a
/// pure function of (true labels, [pixels], R, seed): the same seed gives the same labels on every machine, because
/// all randomness comes from <see cref="SeededRandom"/> and all transcendental functions from <see cref="PortableMath"/>.
/// "round(R·N)" is round-half-to-even, like Python's round().
/// </summary>
public static class LabelNoise
{
    /// <summary>CIFAR-10's asymmetric mapping used in the literature: truck→automobile, bird→airplane, deer→horse, cat↔dog.</summary>
    public static IReadOnlyDictionary<int, int> Cifar10Mapping { get; } = new Dictionary<int, int>
    {
        [9] = 1, // truck → automobile
        [2] = 0, // bird → airplane
        [4] = 7, // deer → horse
        [3] = 5, // cat → dog
        [5] = 3, // dog → cat
    };

    /// <summary>Standard deviation of the idn flip-rate distribution (Xia et al.'s norm_std).</summary>
    public const double IdnFlipRateSd = 0.1;

    /// <summary>
    /// Applies <paramref name="options"/> to a data set. The true label of a sample is its clean label where the data
    /// set ships one (<see cref="IImageDataset.GetCleanLabel"/>), else its stored label.
    /// </summary>
    public static NoisyLabels Apply(IImageDataset dataset, NoiseOptions options)
    {
        var truth = TrueLabelsOf(dataset);
        var classes = dataset.Classes.Count;
        return options.Mode switch
        {
            NoiseMode.Sym => Symmetric(truth, classes, options.Ratio, options.Seed),
            NoiseMode.Asym => Asymmetric(truth, classes, options.Ratio, options.Seed),
            NoiseMode.AsymCifar10 => AsymmetricCifar10(truth, classes, options.Ratio, options.Seed),
            NoiseMode.Pairflip => PairFlip(truth, classes, options.Ratio, options.Seed),
            NoiseMode.Str => Structured(truth, classes, options.Ratio, options.Seed),
            NoiseMode.Idn => InstanceDependent(truth, classes, options.Ratio, options.Seed, dataset.GetRawPixels),
            NoiseMode.File => FromFile(
                options.LabelsFile ?? throw new DeftException($"Noise mode 'file' needs a label file ({Setting.LabelsFile})."),
                truth, classes, dataset.Classes),
            _ => throw new DeftException($"Unknown noise mode {options.Mode}. Valid modes: {string.Join(", ", NoiseModes.Names)}."),
        };
    }

    /// <summary>Clean label where the data set has one, else the stored label, for every sample.</summary>
    public static int[] TrueLabelsOf(IImageDataset dataset)
    {
        var truth = new int[dataset.Count];
        for (var i = 0; i < truth.Length; i++)
            truth[i] = dataset.GetCleanLabel(i) ?? dataset.GetLabel(i);
        return truth;
    }

    /// <summary>Number of samples the fixed-count modes pick: round(R·N), half to even.</summary>
    public static int ChosenCount(double ratio, int count) =>
        (int)Math.Round(ratio * count, MidpointRounding.ToEven);

    /// <summary>sym: round(R·N) samples chosen uniformly without replacement each get a label uniform over all C classes.</summary>
    public static NoisyLabels Symmetric(IReadOnlyList<int> trueLabels, int classCount, double ratio, ulong seed)
    {
        var truth = Validate(trueLabels, classCount, ratio);
        var rng = new SeededRandom(seed);
        var labels = (int[])truth.Clone();
        var chosen = new bool[truth.Length];
        foreach (var i in rng.SampleWithoutReplacement(truth.Length, ChosenCount(ratio, truth.Length)))
        {
            chosen[i] = true;
            labels[i] = rng.NextInt(classCount);
        }
        return NoisyLabels.Create(labels, truth, classCount, NoiseMode.Sym, ratio, seed, chosen);
    }

    /// <summary>asym: round(R·N) samples chosen uniformly without replacement move to (c+1) mod C.</summary>
    public static NoisyLabels Asymmetric(IReadOnlyList<int> trueLabels, int classCount, double ratio, ulong seed) =>
        MapChosen(trueLabels, classCount, ratio, seed, NoiseMode.Asym, c => (c + 1) % classCount);

    /// <summary>asym-cifar10: round(R·N) samples chosen uniformly follow <see cref="Cifar10Mapping"/>; picks of other classes keep their label.</summary>
    public static NoisyLabels AsymmetricCifar10(IReadOnlyList<int> trueLabels, int classCount, double ratio, ulong seed)
    {
        if (classCount != 10)
            throw new DeftException($"Noise mode 'asym-cifar10' needs the 10 CIFAR-10 classes; this data set has {classCount}. Use 'asym' for other data sets.");
        return MapChosen(trueLabels, classCount, ratio, seed, NoiseMode.AsymCifar10,
            c => Cifar10Mapping.TryGetValue(c, out var to) ? to : c);
    }

    /// <summary>
    /// str: the official CIFAR loader's structured noise. Draws, in this order from one <see cref="SeededRandom"/>:
    /// round(R·N) samples without replacement; ⌊C/2⌋ noisy classes without replacement; then, in sample order, a
    /// label uniform over all C classes (possibly the true one) for each chosen sample whose true class is noisy.
    /// Chosen samples of the other classes keep their label, so the expected noise rate is about R·½·(C−1)/C. (The
    /// official Stanford Cars and Tiny-ImageNet loaders' 'str' moves such samples to (c+1) mod C instead; the CIFAR
    /// loader's uniform draw is the one implemented.)
    /// </summary>
    public static NoisyLabels Structured(IReadOnlyList<int> trueLabels, int classCount, double ratio, ulong seed)
    {
        var truth = Validate(trueLabels, classCount, ratio);
        var rng = new SeededRandom(seed);
        var labels = (int[])truth.Clone();
        var chosen = new bool[truth.Length];
        foreach (var i in rng.SampleWithoutReplacement(truth.Length, ChosenCount(ratio, truth.Length))) chosen[i] = true;
        var noisyClass = new bool[classCount];
        foreach (var c in rng.SampleWithoutReplacement(classCount, classCount / 2)) noisyClass[c] = true;
        for (var i = 0; i < truth.Length; i++)
            if (chosen[i] && noisyClass[truth[i]]) labels[i] = rng.NextInt(classCount);
        return NoisyLabels.Create(labels, truth, classCount, NoiseMode.Str, ratio, seed, chosen);
    }

    /// <summary>pairflip: every sample independently moves to (c+1) mod C with probability R.</summary>
    public static NoisyLabels PairFlip(IReadOnlyList<int> trueLabels, int classCount, double ratio, ulong seed)
    {
        var truth = Validate(trueLabels, classCount, ratio);
        var rng = new SeededRandom(seed);
        var labels = (int[])truth.Clone();
        var chosen = new bool[truth.Length];
        for (var i = 0; i < truth.Length; i++)
        {
            if (rng.NextDouble() < ratio)
                labels[i] = (truth[i] + 1) % classCount;
            chosen[i] = labels[i] != truth[i];
        }
        return NoisyLabels.Create(labels, truth, classCount, NoiseMode.Pairflip, ratio, seed, chosen);
    }

    /// <summary>
    /// idn: instance-dependent noise of Xia et al. (2020) as in DeFT's code. Draws, in this order from one
    /// <see cref="SeededRandom"/>: flip rates qᵢ ~ N(R, 0.1²) truncated to [0, 1] (the truncated distribution, by
    /// rejection, as scipy's truncnorm), i = 0..N−1; a projection W of shape C×d×C, standard normal rounded to float32
    /// (as torch.FloatTensor(np.random.randn(...))), in row-major order; then one uniform uᵢ per sample. For sample i
    /// with label y: logits = xᵢ·W[y], logits[y] = −∞, p = qᵢ·softmax(logits), p[y] += 1 − qᵢ, and the new label is
    /// the first k with uᵢ·Σp &lt; p₀+…+p_k.
    /// <para>xᵢ is the raw pixel vector as the data set stores it (0–255, <see cref="IImageDataset.GetRawPixels"/>),
    /// not normalised: Xia et al.'s reference normalises x, Deft's spec follows the stored bytes. With raw pixels the
    /// logits span thousands, so the softmax is nearly one-hot (almost all flip mass goes to one class per sample);
    /// that is kept faithfully, with a max-subtracted softmax. Dot products accumulate in double
    /// in a fixed order (see <see cref="ProjectPixels"/>; the official code uses float32), so results do not depend on the
    /// machine, its vector width or threading.</para>
    /// </summary>
    /// <param name="rawPixels">Sample index → raw pixels; all samples must have the same length d. Called concurrently.</param>
    public static NoisyLabels InstanceDependent(
        IReadOnlyList<int> trueLabels, int classCount, double ratio, ulong seed, Func<int, byte[]> rawPixels)
    {
        var truth = Validate(trueLabels, classCount, ratio);
        var n = truth.Length;
        if (n == 0)
            return NoisyLabels.Create([], [], classCount, NoiseMode.Idn, ratio, seed, [], []);
        var rng = new SeededRandom(seed);
        var flipRates = new double[n];
        for (var i = 0; i < n; i++)
            flipRates[i] = rng.NextTruncatedNormal(ratio, IdnFlipRateSd, 0.0, 1.0);

        var firstPixels = rawPixels(0);
        var d = firstPixels.Length;
        if (d == 0) throw new DeftException("Sample 0 has no raw pixels; idn noise needs the pixel vector of every sample.");
        var projectionSize = (long)classCount * d * classCount;
        if (projectionSize > Array.MaxLength)
            throw new DeftException($"idn noise needs a {classCount}×{d}×{classCount} projection ({projectionSize:N0} values), more than one array can hold.");
        // Drawn in W[y][j][k] order (numpy's randn(C, d, C)), stored as Wᵀ[y][k][j] so each logit is one dot product.
        var projection = new float[projectionSize];
        for (var y = 0; y < classCount; y++)
            for (var j = 0; j < d; j++)
                for (var k = 0; k < classCount; k++)
                    projection[((long)y * classCount + k) * d + j] = (float)rng.NextNormal();

        var uniforms = new double[n];
        for (var i = 0; i < n; i++)
            uniforms[i] = rng.NextDouble();

        var labels = new int[n];
        var sliceSize = d * classCount;
        try
        {
            Parallel.For(0, n,
                () => (X: new double[d], Logits: new double[classCount], P: new double[classCount]),
                (i, _, buffers) =>
                {
                    var raw = i == 0 ? firstPixels : rawPixels(i);
                    if (raw.Length != d)
                        throw new DeftException(
                            $"Sample {i} has {raw.Length} raw pixel values but sample 0 has {d}; idn noise needs images of one size (resize the data set first).");
                    for (var j = 0; j < d; j++) buffers.X[j] = raw[j];
                    var y = truth[i];
                    ProjectPixels(buffers.X, projection.AsSpan(y * sliceSize, sliceSize), buffers.Logits);
                    FlipDistribution(buffers.Logits, y, flipRates[i], buffers.P);
                    labels[i] = DrawIndex(buffers.P, uniforms[i]);
                    return buffers;
                },
                _ => { });
        }
        catch (AggregateException ex) when (ex.Flatten().InnerExceptions.OfType<DeftException>().Any())
        {
            throw ex.Flatten().InnerExceptions.OfType<DeftException>().First();
        }

        var chosen = new bool[n];
        for (var i = 0; i < n; i++) chosen[i] = labels[i] != truth[i];
        return NoisyLabels.Create(labels, truth, classCount, NoiseMode.Idn, ratio, seed, chosen, flipRates);
    }

    /// <summary>
    /// logits[k] = x · Wᵀy[k] for the C×d slice Wᵀy of the transposed projection. The summation order is fixed and
    /// the same on every machine: pixel j goes to lane j mod 8 (two Vector256&lt;double&gt; accumulators, multiply
    /// then add, never fused), the tail j ≥ 8·⌊d/8⌋ to a scalar sum, and the lanes are combined pairwise. A pixel
    /// (≤ 255) times a float is exact in double, so only these additions round.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot from its first call in a run: skip tier-0 code
    internal static void ProjectPixels(ReadOnlySpan<double> x, ReadOnlySpan<float> transposedProjectionOfClass, Span<double> logits)
    {
        var d = x.Length;
        if (transposedProjectionOfClass.Length != d * logits.Length)
            throw new ArgumentException($"Projection slice has {transposedProjectionOfClass.Length} values, expected {logits.Length}×{d}.");
        var blocked = d - d % 8;
        for (var k = 0; k < logits.Length; k++)
        {
            var w = transposedProjectionOfClass.Slice(k * d, d);
            var low = Vector256<double>.Zero;
            var high = Vector256<double>.Zero;
            for (var j = 0; j < blocked; j += 8)
            {
                var wj = Vector256.Create(w.Slice(j, 8));
                var (wLow, wHigh) = Vector256.Widen(wj);
                low = Vector256.Add(low, Vector256.Multiply(Vector256.Create(x.Slice(j, 4)), wLow));
                high = Vector256.Add(high, Vector256.Multiply(Vector256.Create(x.Slice(j + 4, 4)), wHigh));
            }
            var tail = 0.0;
            for (var j = blocked; j < d; j++)
                tail += x[j] * w[j];
            var lanes = ((low[0] + high[0]) + (low[1] + high[1])) + ((low[2] + high[2]) + (low[3] + high[3]));
            logits[k] = lanes + tail;
        }
    }

    /// <summary>
    /// Xia et al.'s per-sample label distribution: p = q·softmax(logits with logits[y] = −∞), then p[y] += 1 − q.
    /// Since softmax gives y exactly 0, p[y] is exactly 1 − q and the other entries sum to q (up to rounding). The
    /// softmax subtracts the maximum first, so logits in the thousands (raw pixels) give a near one-hot, never NaN.
    /// With a single class there is nowhere to flip: p = [1].
    /// </summary>
    public static void FlipDistribution(ReadOnlySpan<double> logits, int label, double flipRate, Span<double> p)
    {
        var classCount = logits.Length;
        if ((uint)label >= (uint)classCount) throw new ArgumentOutOfRangeException(nameof(label));
        if (classCount == 1)
        {
            p[0] = 1.0;
            return;
        }
        var max = double.NegativeInfinity;
        for (var k = 0; k < classCount; k++)
            if (k != label && logits[k] > max) max = logits[k];
        var sum = 0.0;
        for (var k = 0; k < classCount; k++)
        {
            var e = k == label ? 0.0 : PortableMath.Exp(logits[k] - max);
            p[k] = e;
            sum += e;
        }
        for (var k = 0; k < classCount; k++)
            p[k] = flipRate * (p[k] / sum);
        p[label] += 1.0 - flipRate;
    }

    /// <summary>Inverse-CDF draw: the first k with u·Σp &lt; p₀+…+p_k (numpy's choice), u in [0, 1).</summary>
    public static int DrawIndex(ReadOnlySpan<double> p, double u)
    {
        var total = 0.0;
        foreach (var v in p) total += v;
        var target = u * total;
        var cumulative = 0.0;
        var lastPositive = 0;
        for (var k = 0; k < p.Length; k++)
        {
            if (p[k] <= 0) continue;
            cumulative += p[k];
            lastPositive = k;
            if (target < cumulative) return k;
        }
        return lastPositive; // u·Σp rounded up to the total: the last class with mass
    }

    /// <summary>
    /// file: labels from a label file (see <see cref="LabelFile"/>) that must cover every sample. The true label is
    /// the file's true_label column where present, else <paramref name="trueLabels"/>.
    /// </summary>
    public static NoisyLabels FromFile(string path, IReadOnlyList<int> trueLabels, int classCount, IReadOnlyList<string>? classNames = null)
    {
        var truth = Validate(trueLabels, classCount, 0.0);
        var rows = LabelFile.Read(path, truth.Length, classCount, classNames);
        LabelFile.RequireComplete(rows, truth.Length, path);
        var labels = new int[truth.Length];
        foreach (var row in rows)
        {
            labels[row.Index] = row.Label;
            if (row.TrueLabel is { } t) truth[row.Index] = t;
        }
        var chosen = new bool[truth.Length];
        for (var i = 0; i < truth.Length; i++) chosen[i] = labels[i] != truth[i];
        return NoisyLabels.Create(labels, truth, classCount, NoiseMode.File, null, 0, chosen);
    }

    private static NoisyLabels MapChosen(
        IReadOnlyList<int> trueLabels, int classCount, double ratio, ulong seed, NoiseMode mode, Func<int, int> map)
    {
        var truth = Validate(trueLabels, classCount, ratio);
        var rng = new SeededRandom(seed);
        var labels = (int[])truth.Clone();
        var chosen = new bool[truth.Length];
        foreach (var i in rng.SampleWithoutReplacement(truth.Length, ChosenCount(ratio, truth.Length)))
        {
            chosen[i] = true;
            labels[i] = map(truth[i]);
        }
        return NoisyLabels.Create(labels, truth, classCount, mode, ratio, seed, chosen);
    }

    private static int[] Validate(IReadOnlyList<int> trueLabels, int classCount, double ratio)
    {
        if (double.IsNaN(ratio) || ratio < 0 || ratio > 1)
            throw new DeftException($"Noise ratio must be in [0, 1], got {ratio}.");
        if (classCount < 1)
            throw new DeftException($"Noise needs at least one class, got {classCount}.");
        var truth = trueLabels.ToArray();
        for (var i = 0; i < truth.Length; i++)
            if ((uint)truth[i] >= (uint)classCount)
                throw new DeftException($"Sample {i} has label {truth[i]}, outside the class ids 0..{classCount - 1}.");
        return truth;
    }
}
