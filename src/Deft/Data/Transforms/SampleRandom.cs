namespace Deft.Data.Transforms;

/// <summary>Identifies one draw of augmentation randomness: the run's seed, the epoch and the data set index.</summary>
public readonly record struct SampleKey(long Seed, int Epoch, long Index);

/// <summary>
/// A small deterministic generator (SplitMix64) seeded from a <see cref="SampleKey"/>. Each sample gets its own
/// stream, so augmentations depend only on (seed, epoch, index), never on which thread ran first or on the batch
/// order; and unlike <see cref="System.Random"/> the sequence is fixed by this code, not by the runtime version.
/// </summary>
public struct SampleRandom
{
    private ulong _state;

    public SampleRandom(SampleKey key) : this(key.Seed, key.Epoch, key.Index, 0x5A4D_504C_4541_5547UL) { }

    private SampleRandom(long seed, long a, long b, ulong domain)
    {
        // Chained mixing, so that neighbouring keys (index 5 vs 6, epoch 1 vs 2) give unrelated streams.
        var h = Mix(domain ^ (ulong)seed);
        h = Mix(h ^ (ulong)a);
        h = Mix(h ^ (ulong)b);
        _state = h;
    }

    /// <summary>The generator for the shuffle of one epoch (a separate domain from per-sample draws).</summary>
    public static SampleRandom ForShuffle(long seed, int epoch) => new(seed, epoch, -1, 0x5348_5546_464C_4531UL);

    public ulong NextUInt64()
    {
        _state += 0x9E3779B97F4A7C15UL;
        return Mix(_state);
    }

    /// <summary>Uniform in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform in [<paramref name="low"/>, <paramref name="high"/>).</summary>
    public double NextDouble(double low, double high) => low + (high - low) * NextDouble();

    /// <summary>Uniform integer in [<paramref name="minInclusive"/>, <paramref name="maxExclusive"/>), unbiased (Lemire).</summary>
    public int NextInt(int minInclusive, int maxExclusive)
    {
        if (maxExclusive <= minInclusive)
            throw new ArgumentOutOfRangeException(nameof(maxExclusive), $"Empty range [{minInclusive}, {maxExclusive}).");
        var range = (ulong)((long)maxExclusive - minInclusive);
        while (true)
        {
            var product = (UInt128)NextUInt64() * range;
            var low = (ulong)product;
            if (low >= range || low >= (0UL - range) % range)
                return (int)((long)minInclusive + (long)(ulong)(product >> 64));
        }
    }

    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
