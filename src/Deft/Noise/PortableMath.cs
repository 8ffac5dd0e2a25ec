namespace Deft.Noise;

/// <summary>
/// exp and log from IEEE basic operations only, so results are bit-identical on every machine. <see cref="Math.Exp"/>
/// and <see cref="Math.Log(double)"/> call the platform's C library, whose last-bit rounding differs between libm versions
/// and operating systems; noise files must not. Accuracy is a few ulp, far below what label sampling can notice.
/// </summary>
public static class PortableMath
{
    // ln 2 split so that k·Ln2Hi is exact for |k| < 2²¹ (Ln2Hi has 32 significant bits); the classic fdlibm split.
    private const double Ln2Hi = 6.93147180369123816490e-01;
    private const double Ln2Lo = 1.90821492927058770002e-10;
    private const double InvLn2 = 1.44269504088896338700e+00;
    private const double Sqrt2 = 1.41421356237309514547;
    private const double MaxExpArgument = 709.782712893384;      // exp overflows above this
    private const double MinExpArgument = -745.1332191019412;    // exp underflows to 0 below this

    // 1/n! for the Taylor series of exp on |r| ≤ ln2/2 (degree 13: truncation error < 1e-17 relative).
    private static readonly double[] InverseFactorials = BuildInverseFactorials(13);

    // 1/(2n+1) for 2·atanh(f) = 2f·Σ f^(2n)/(2n+1) with |f| ≤ 0.1716 (11 terms: truncation error < 1e-18 relative).
    private static readonly double[] InverseOdds = Enumerable.Range(0, 12).Select(n => 1.0 / (2 * n + 1)).ToArray();

    private static double[] BuildInverseFactorials(int degree)
    {
        var result = new double[degree + 1];
        var factorial = 1.0; // exact in double up to 22!
        for (var n = 0; n <= degree; n++)
        {
            if (n > 0) factorial *= n;
            result[n] = 1.0 / factorial;
        }
        return result;
    }

    /// <summary>e^x. NaN → NaN, overflow → +∞, underflow → 0.</summary>
    public static double Exp(double x)
    {
        if (double.IsNaN(x)) return double.NaN;
        if (x > MaxExpArgument) return double.PositiveInfinity;
        if (x < MinExpArgument) return 0.0;
        var k = Math.Round(x * InvLn2, MidpointRounding.ToEven);
        var r = (x - k * Ln2Hi) - k * Ln2Lo;
        var c = InverseFactorials;
        var p = c[^1];
        for (var n = c.Length - 2; n >= 0; n--)
            p = p * r + c[n];
        return ScaleByPowerOfTwo(p, (int)k);
    }

    /// <summary>Natural logarithm. x &lt; 0 or NaN → NaN, 0 → −∞, +∞ → +∞.</summary>
    public static double Log(double x)
    {
        if (double.IsNaN(x) || x < 0) return double.NaN;
        if (x == 0) return double.NegativeInfinity;
        if (double.IsPositiveInfinity(x)) return x;
        var exponent = 0;
        if (x < 2.2250738585072014E-308) // smallest normal double
        {
            x *= 18014398509481984.0; // 2^54: makes a subnormal normal, exactly
            exponent = -54;
        }
        var bits = BitConverter.DoubleToInt64Bits(x);
        exponent += (int)((bits >> 52) & 0x7FF) - 1023;
        var m = BitConverter.Int64BitsToDouble((bits & 0x000F_FFFF_FFFF_FFFFL) | 0x3FF0_0000_0000_0000L);
        if (m > Sqrt2)
        {
            m *= 0.5;
            exponent++;
        }
        var f = (m - 1.0) / (m + 1.0);
        var s = f * f;
        var odds = InverseOdds;
        var poly = odds[^1];
        for (var n = odds.Length - 2; n >= 1; n--)
            poly = poly * s + odds[n];
        var logm = 2.0 * f + 2.0 * f * s * poly;
        return exponent * Ln2Hi + (logm + exponent * Ln2Lo);
    }

    private static double ScaleByPowerOfTwo(double value, int k)
    {
        while (k > 1023) { value *= PowerOfTwo(1023); k -= 1023; }
        while (k < -1022) { value *= PowerOfTwo(-1022); k += 1022; }
        return value * PowerOfTwo(k);
    }

    private static double PowerOfTwo(int k) => BitConverter.Int64BitsToDouble((long)(k + 1023) << 52);
}
