namespace Deft.Baselines;

/// <summary>
/// Small-loss sample selection as in Co-teaching (Han et al., NeurIPS 2018, github.com/bhanML/Co-teaching,
/// <c>loss.py</c> / <c>main.py</c>): within a batch, the samples with the smallest loss are treated as clean.
/// </summary>
public static class SmallLoss
{
    /// <summary>
    /// How many of <paramref name="count"/> samples are kept at forget rate <paramref name="forgetRate"/>:
    /// Co-teaching's <c>num_remember = int((1 - forget_rate) * n)</c>, i.e. the product is truncated towards zero
    /// (computed in double precision exactly as Python does, so e.g. r = 0.3, n = 10 keeps 7).
    /// </summary>
    public static int RememberCount(int count, double forgetRate)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        CheckRate(forgetRate, nameof(forgetRate));
        return (int)((1.0 - forgetRate) * count);
    }

    /// <summary>
    /// Marks the <see cref="RememberCount"/> samples with the smallest loss as kept (<c>true</c>). Equal losses are
    /// ordered by sample index (lower index kept first), so the result is deterministic; Co-teaching's
    /// <c>np.argsort</c> leaves that order unspecified.
    /// </summary>
    public static bool[] Select(ReadOnlySpan<double> losses, double forgetRate)
    {
        var keep = RememberCount(losses.Length, forgetRate);
        var mask = new bool[losses.Length];
        foreach (var i in AscendingOrder(losses).AsSpan(0, keep))
            mask[i] = true;
        return mask;
    }

    /// <summary>
    /// Sample indices ordered by ascending loss, ties by index; the first <see cref="RememberCount"/> are the ones
    /// <see cref="Select"/> keeps (Co-teaching updates each network on the other's first <c>num_remember</c>).
    /// </summary>
    public static int[] AscendingOrder(ReadOnlySpan<double> losses)
    {
        var values = losses.ToArray();
        for (var i = 0; i < values.Length; i++)
            if (double.IsNaN(values[i]))
                throw new ArgumentException($"Loss of sample {i} is NaN; small-loss selection needs finite losses.", nameof(losses));
        var order = Enumerable.Range(0, values.Length).ToArray();
        Array.Sort(order, (a, b) => values[a] != values[b] ? values[a].CompareTo(values[b]) : a.CompareTo(b));
        return order;
    }

    /// <summary>
    /// The forget rate per epoch (index 0 = first epoch, as Co-teaching's <c>rate_schedule[epoch]</c>):
    /// <c>rate_schedule = ones(epochs) * rate; rate_schedule[:warmup] = linspace(0, rate ** exponent, warmup)</c>.
    /// So epoch 0 forgets nothing, epoch <c>warmup - 1</c> forgets <c>rate ** exponent</c> and every later epoch
    /// <c>rate</c>. Where <paramref name="warmupEpochs"/> exceeds <paramref name="epochs"/> (numpy would refuse the
    /// assignment) the ramp is cut after <paramref name="epochs"/> values.
    /// </summary>
    public static double[] Schedule(double rate, int warmupEpochs, int epochs, double exponent = 1.0)
    {
        CheckRate(rate, nameof(rate));
        ArgumentOutOfRangeException.ThrowIfNegative(warmupEpochs);
        ArgumentOutOfRangeException.ThrowIfNegative(epochs);
        var schedule = new double[epochs];
        Array.Fill(schedule, rate);
        var ramp = Linspace(0.0, Math.Pow(rate, exponent), warmupEpochs);
        Array.Copy(ramp, schedule, Math.Min(ramp.Length, epochs));
        return schedule;
    }

    /// <summary><c>numpy.linspace(start, stop, num)</c> with endpoint: the last value is exactly <paramref name="stop"/>.</summary>
    internal static double[] Linspace(double start, double stop, int count)
    {
        var values = new double[count];
        if (count == 0) return values;
        if (count == 1) { values[0] = start; return values; }
        var step = (stop - start) / (count - 1);
        for (var i = 0; i < count; i++) values[i] = start + i * step;
        values[^1] = stop;
        return values;
    }

    private static void CheckRate(double rate, string name)
    {
        if (!(rate >= 0 && rate <= 1))
            throw new ArgumentOutOfRangeException(name, rate, "The forget rate must lie in [0, 1].");
    }
}
