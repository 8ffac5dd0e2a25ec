namespace Deft.Noise;

/// <summary>
/// xoshiro256** (Blackman &amp; Vigna, 2018), seeded through SplitMix64. Deft's own generator because
/// <see cref="System.Random"/> makes no contract that a seed gives the same sequence across .NET versions (its docs
/// say derived methods may change between major versions). Everything here is integer arithmetic or IEEE basic
/// operations (+ − × ÷ √, correctly rounded everywhere), plus <see cref="PortableMath.Log"/>, so a seed yields the
/// same numbers on every machine and runtime.
/// </summary>
public sealed class SeededRandom
{
    private ulong _s0, _s1, _s2, _s3;
    private double _spareNormal;
    private bool _hasSpareNormal;

    public SeededRandom(ulong seed)
    {
        var sm = seed;
        _s0 = SplitMix64(ref sm);
        _s1 = SplitMix64(ref sm);
        _s2 = SplitMix64(ref sm);
        _s3 = SplitMix64(ref sm);
    }

    /// <summary>Starts from a raw xoshiro256** state (not all zero), for checking against published test vectors.</summary>
    internal SeededRandom(ulong s0, ulong s1, ulong s2, ulong s3)
    {
        if ((s0 | s1 | s2 | s3) == 0) throw new ArgumentException("xoshiro256** state must not be all zero.");
        (_s0, _s1, _s2, _s3) = (s0, s1, s2, s3);
    }

    /// <summary>One step of SplitMix64 (Steele, Lea &amp; Flood): the seeding recommended for xoshiro.</summary>
    public static ulong SplitMix64(ref ulong state)
    {
        var z = state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    public ulong NextUInt64()
    {
        var result = ulong.RotateLeft(_s1 * 5, 7) * 9;
        var t = _s1 << 17;
        _s2 ^= _s0;
        _s3 ^= _s1;
        _s1 ^= _s2;
        _s0 ^= _s3;
        _s2 ^= t;
        _s3 = ulong.RotateLeft(_s3, 45);
        return result;
    }

    /// <summary>Uniform in [0, 1) with 53 random bits (exact: an integer times 2⁻⁵³).</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform integer in [0, <paramref name="n"/>), unbiased (Lemire's multiply-and-reject).</summary>
    public int NextInt(int n)
    {
        if (n <= 0) throw new ArgumentOutOfRangeException(nameof(n), $"Upper bound must be positive, got {n}.");
        var bound = (ulong)n;
        var high = Math.BigMul(NextUInt64(), bound, out var low);
        if (low < bound)
        {
            var threshold = (0UL - bound) % bound;
            while (low < threshold)
                high = Math.BigMul(NextUInt64(), bound, out low);
        }
        return (int)high;
    }

    /// <summary>Standard normal by Marsaglia's polar method; the second value of each pair is kept for the next call.</summary>
    public double NextNormal()
    {
        if (_hasSpareNormal)
        {
            _hasSpareNormal = false;
            return _spareNormal;
        }
        double u, v, s;
        do
        {
            u = 2.0 * NextDouble() - 1.0;
            v = 2.0 * NextDouble() - 1.0;
            s = u * u + v * v;
        } while (s >= 1.0 || s == 0.0);
        var factor = Math.Sqrt(-2.0 * PortableMath.Log(s) / s);
        _spareNormal = v * factor;
        _hasSpareNormal = true;
        return u * factor;
    }

    /// <summary>
    /// Normal(<paramref name="mean"/>, <paramref name="sd"/>) restricted to [<paramref name="low"/>, <paramref name="high"/>]
    /// by rejection: draws until one falls inside, so the result follows the truncated distribution exactly (as
    /// scipy.stats.truncnorm does), never a clamp. Callers keep the interval wide enough for rejection to be cheap.
    /// </summary>
    public double NextTruncatedNormal(double mean, double sd, double low, double high)
    {
        if (!(low <= high)) throw new ArgumentException($"Empty interval [{low}, {high}].");
        for (var attempt = 0; attempt < 1_000_000; attempt++)
        {
            var x = mean + sd * NextNormal();
            if (x >= low && x <= high) return x;
        }
        throw new InvalidOperationException($"Truncated normal N({mean}, {sd}) on [{low}, {high}] rejects almost every draw.");
    }

    /// <summary>
    /// The first <paramref name="k"/> entries of a uniformly random permutation of 0..n−1 (partial Fisher–Yates), i.e.
    /// k distinct indices chosen uniformly without replacement, in draw order.
    /// </summary>
    public int[] SampleWithoutReplacement(int n, int k)
    {
        if (k < 0 || k > n) throw new ArgumentOutOfRangeException(nameof(k), $"Cannot choose {k} of {n}.");
        var pool = new int[n];
        for (var i = 0; i < n; i++) pool[i] = i;
        for (var i = 0; i < k; i++)
        {
            var j = i + NextInt(n - i);
            (pool[i], pool[j]) = (pool[j], pool[i]);
        }
        return pool[..k];
    }
}
