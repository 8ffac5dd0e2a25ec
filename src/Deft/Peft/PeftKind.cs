namespace Deft.Peft;

/// <summary>How the image tower is adapted during detection (<c>--peft</c>).</summary>
public enum PeftKind
{
    /// <summary>Frozen image tower; only the prompts train (image features can be cached).</summary>
    None,
    /// <summary>Learnable prompt tokens appended before every block (the paper's default, length 20).</summary>
    VptDeep,
    /// <summary>Learnable prompt tokens appended once, before the first block.</summary>
    VptShallow,
    /// <summary>Low-rank updates of the query and value projections.</summary>
    Lora,
    /// <summary>A bottleneck after the MLP, added to its output.</summary>
    Adapter,
    /// <summary>A scaled bottleneck in parallel to the MLP.</summary>
    AdaptFormer,
    /// <summary>Learnable scale and shift after qkv, attention out, and both MLP linears.</summary>
    Ssf,
    /// <summary>All biases of the image tower train.</summary>
    Bias,
    /// <summary>All weights of the transformer blocks train.</summary>
    Full,
}

public static class PeftKinds
{
    private static readonly (PeftKind Kind, string Name)[] Names =
    [
        (PeftKind.VptDeep, "vpt-deep"), (PeftKind.VptShallow, "vpt-shallow"), (PeftKind.Lora, "lora"),
        (PeftKind.Adapter, "adapter"), (PeftKind.AdaptFormer, "adaptformer"), (PeftKind.Ssf, "ssf"),
        (PeftKind.Bias, "bias"), (PeftKind.Full, "full"), (PeftKind.None, "none"),
    ];

    /// <summary>The names <c>--peft</c> accepts, in help order.</summary>
    public static IReadOnlyList<string> ValidNames { get; } = Names.Select(n => n.Name).ToArray();

    public static string ToName(this PeftKind kind) => Names.First(n => n.Kind == kind).Name;

    public static PeftKind Parse(string name)
    {
        var normalized = name.Trim().ToLowerInvariant().Replace('_', '-');
        foreach (var (kind, n) in Names)
            if (n == normalized || n.Replace("-", "") == normalized) return kind;
        throw new DeftException($"Unknown PEFT method '{name}'. Valid values: {string.Join(", ", ValidNames)}.");
    }

    /// <summary>Whether the method changes the image features, so they cannot be cached.</summary>
    public static bool AdaptsImageTower(this PeftKind kind) => kind != PeftKind.None;
}

/// <summary>
/// PEFT settings. <paramref name="Partial"/>: adapt only the last K blocks (null: all); VPT-shallow always prompts the
/// first block only. Defaults follow the official configs (VPT length 20; rank/bottleneck 8 where they set none).
/// </summary>
public sealed record PeftOptions(PeftKind Kind, int? Partial = null, int VptLength = 20, int LoraRank = 8, int AdapterDim = 8)
{
    public static PeftOptions Default { get; } = new(PeftKind.VptDeep);

    /// <summary>The blocks [first, layers) that carry PEFT modules or train.</summary>
    public (int First, int Count) AdaptedBlocks(int layers)
    {
        Validate(layers);
        var k = Partial ?? layers;
        return (layers - k, k);
    }

    public void Validate(int layers)
    {
        if (Partial is { } k && (k < 1 || k > layers))
            throw new DeftException($"--partial {k} is out of range: the image tower has {layers} blocks; use 1..{layers}.");
        if (Partial is not null && Kind is PeftKind.None or PeftKind.VptShallow)
            throw new DeftException($"--partial does not apply to --peft {Kind.ToName()}; it applies to {string.Join(", ", PeftKinds.ValidNames.Where(n => n is not "none" and not "vpt-shallow"))}.");
        if (Kind is PeftKind.VptDeep or PeftKind.VptShallow && VptLength < 1)
            throw new DeftException($"--vpt-len must be ≥ 1, got {VptLength}.");
        if (Kind == PeftKind.Lora && LoraRank < 1)
            throw new DeftException($"--lora-rank must be ≥ 1, got {LoraRank}.");
        if (Kind is PeftKind.Adapter or PeftKind.AdaptFormer && AdapterDim < 1)
            throw new DeftException($"--adapter-dim must be ≥ 1, got {AdapterDim}.");
    }
}
