namespace Deft.Detection;

/// <summary>
/// Stateless, counter-based random numbers: every draw is a hash of (seed, stream, epoch, item), so a run resumed at
/// an epoch boundary draws exactly what the uninterrupted run would have, whatever order or thread the items are
/// visited in, and no global generator is involved. The hash is SplitMix64's finaliser applied in a chain.
/// </summary>
public readonly record struct CounterRng(ulong Seed)
{
    /// <summary>Independent purposes draw from different streams.</summary>
    public enum Stream : ulong { Shuffle = 1, Complementary = 2, Augment = 3, Init = 4 }

    private static ulong Mix(ulong z)
    {
        z += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>A 64-bit value for (stream, epoch, item, draw).</summary>
    public ulong Bits(Stream stream, long epoch, long item, long draw = 0) =>
        Mix(Mix(Mix(Mix(Seed ^ (ulong)stream) ^ (ulong)epoch) ^ (ulong)item) ^ (ulong)draw);

    /// <summary>A uniform integer in [0, n) (Lemire's multiply-shift, with the rejection that makes it exact).</summary>
    public int Below(int n, Stream stream, long epoch, long item, long draw = 0)
    {
        if (n <= 0) throw new ArgumentOutOfRangeException(nameof(n), $"n must be ≥ 1, got {n}.");
        var threshold = (0UL - (ulong)n) % (ulong)n;
        for (long attempt = 0; ; attempt++)
        {
            var x = Bits(stream, epoch, item, draw + (attempt << 32));
            var m = Math.BigMul(x, (ulong)n, out var low);
            if (low >= threshold) return (int)m;
        }
    }

    /// <summary>A uniform double in [0, 1).</summary>
    public double NextDouble(Stream stream, long epoch, long item, long draw = 0) =>
        (Bits(stream, epoch, item, draw) >> 11) * (1.0 / (1UL << 53));

    /// <summary>A uniform class ≠ <paramref name="label"/> among <paramref name="classes"/> (DeFT's complementary label).</summary>
    public int Complementary(int label, int classes, long epoch, long sampleIndex)
    {
        if (classes < 2) throw new DeftException($"DeFT needs at least two classes; got {classes}.");
        var other = Below(classes - 1, Stream.Complementary, epoch, sampleIndex);
        return other >= label ? other + 1 : other;
    }

    /// <summary>A permutation of 0..n-1 for <paramref name="epoch"/> (Fisher–Yates).</summary>
    public int[] Permutation(int n, long epoch)
    {
        var order = Enumerable.Range(0, n).ToArray();
        for (var i = n - 1; i > 0; i--)
        {
            var j = Below(i + 1, Stream.Shuffle, epoch, i);
            (order[i], order[j]) = (order[j], order[i]);
        }
        return order;
    }
}
