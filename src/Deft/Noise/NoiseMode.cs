namespace Deft.Noise;

/// <summary>How noisy labels are made (<c>--mode</c>). CLI names in brackets.</summary>
public enum NoiseMode
{
    /// <summary>[sym] round(R·N) samples chosen uniformly get a label drawn uniformly from all classes (possibly the true one).</summary>
    Sym,
    /// <summary>[asym] round(R·N) samples chosen uniformly move to the next class, (c+1) mod C.</summary>
    Asym,
    /// <summary>[asym-cifar10] round(R·N) chosen samples follow the CIFAR-10 mapping truck→automobile, bird→airplane, deer→horse, cat↔dog; others keep their label.</summary>
    AsymCifar10,
    /// <summary>[pairflip] every sample independently moves to (c+1) mod C with probability R.</summary>
    Pairflip,
    /// <summary>[idn] instance-dependent noise of Xia et al. (2020), as in DeFT's code.</summary>
    Idn,
    /// <summary>[file] labels read from a file (real-world noise such as CIFAR-100N).</summary>
    File,
    /// <summary>
    /// [str] the official CIFAR loader's structured noise: ⌊C/2⌋ classes drawn uniformly are the noisy classes;
    /// round(R·N) samples chosen uniformly get a label uniform over all classes if their true class is a noisy one,
    /// and keep it otherwise.
    /// </summary>
    Str,
}

/// <summary>CLI names of <see cref="NoiseMode"/>.</summary>
public static class NoiseModes
{
    private static readonly (NoiseMode Mode, string Name)[] Table =
    [
        (NoiseMode.Sym, "sym"),
        (NoiseMode.Asym, "asym"),
        (NoiseMode.AsymCifar10, "asym-cifar10"),
        (NoiseMode.Pairflip, "pairflip"),
        (NoiseMode.Str, "str"),
        (NoiseMode.Idn, "idn"),
        (NoiseMode.File, "file"),
    ];

    /// <summary>All CLI names, in declaration order.</summary>
    public static IReadOnlyList<string> Names { get; } = Table.Select(t => t.Name).ToArray();

    public static string Name(this NoiseMode mode) =>
        Table.First(t => t.Mode == mode).Name;

    /// <summary>Parses a CLI name (case-insensitive); the error lists the valid names.</summary>
    public static NoiseMode Parse(string name)
    {
        foreach (var (mode, n) in Table)
            if (string.Equals(n, name?.Trim(), StringComparison.OrdinalIgnoreCase))
                return mode;
        throw new DeftException($"Unknown noise mode '{name}'. Valid modes: {string.Join(", ", Names)}.");
    }
}
