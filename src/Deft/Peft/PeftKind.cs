using System.Text.Json.Serialization;

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

}

/// <summary>
/// PEFT settings. <paramref name="Kinds"/>: one method, or several combined (<c>--peft vpt-deep+lora</c>: prompts and
/// LoRA together, as the parity fixture does); <c>none</c> stands alone and VPT deep/shallow exclude each other.
/// <paramref name="Partial"/>: adapt only the last K blocks (null: all); VPT-shallow always prompts the first block
/// only. Defaults follow the official configs (VPT length 20; rank/bottleneck 8 where they set none).
/// </summary>
[JsonConverter(typeof(PeftOptionsJson))]
public sealed record PeftOptions(IReadOnlyList<PeftKind> Kinds, int? Partial = null, int VptLength = 20, int LoraRank = 8, int AdapterDim = 8)
{
    /// <summary>A single method (parameter names match the primary constructor's, for named arguments).</summary>
    public PeftOptions(PeftKind Kind, int? Partial = null, int VptLength = 20, int LoraRank = 8, int AdapterDim = 8)
        : this([Kind], Partial, VptLength, LoraRank, AdapterDim) { }

    public static PeftOptions Default { get; } = new(PeftKind.VptDeep);

    /// <summary>Parses <c>--peft</c>: one name or several joined by '+' or ','.</summary>
    public static IReadOnlyList<PeftKind> ParseKinds(string text) =>
        text.Split(['+', ','], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(PeftKinds.Parse).Distinct().ToArray();

    public bool Has(PeftKind kind) => Kinds.Contains(kind);

    /// <summary>The CLI spelling: names joined by '+'.</summary>
    public string Name => string.Join("+", Kinds.Select(k => k.ToName()));

    /// <summary>Whether the image features change during training (otherwise they can be computed once and cached).</summary>
    public bool AdaptsImageTower => Kinds.Any(k => k != PeftKind.None);

    /// <summary>The blocks [first, first + count) that carry PEFT modules or train.</summary>
    public (int First, int Count) AdaptedBlocks(int layers)
    {
        Validate(layers);
        var k = Partial ?? layers;
        return (layers - k, k);
    }

    public void Validate(int layers)
    {
        if (Kinds.Count == 0)
            throw new DeftException($"No PEFT method given. Valid values: {string.Join(", ", PeftKinds.ValidNames)} (several may be joined with '+').");
        if (Kinds.Count > 1 && Has(PeftKind.None))
            throw new DeftException($"{Setting.Peft} none cannot be combined with other methods ({Name}).");
        if (Has(PeftKind.VptDeep) && Has(PeftKind.VptShallow))
            throw new DeftException($"{Setting.Peft} vpt-deep and vpt-shallow exclude each other; choose one.");
        if (Partial is { } k && (k < 1 || k > layers))
            throw new DeftException($"{Setting.Partial} {k} is out of range: the image tower has {layers} blocks; use 1..{layers}.");
        if (Partial is not null && Kinds.All(kind => kind is PeftKind.None or PeftKind.VptShallow))
            throw new DeftException($"{Setting.Partial} does not apply to {Setting.Peft} {Name}; it applies to {string.Join(", ", PeftKinds.ValidNames.Where(n => n is not "none" and not "vpt-shallow"))}.");
        if ((Has(PeftKind.VptDeep) || Has(PeftKind.VptShallow)) && VptLength < 1)
            throw new DeftException($"{Setting.VptLength} must be ≥ 1, got {VptLength}.");
        if (Has(PeftKind.Lora) && LoraRank < 1)
            throw new DeftException($"{Setting.LoraRank} must be ≥ 1, got {LoraRank}.");
        if ((Has(PeftKind.Adapter) || Has(PeftKind.AdaptFormer)) && AdapterDim < 1)
            throw new DeftException($"{Setting.AdapterDim} must be ≥ 1, got {AdapterDim}.");
    }
}
