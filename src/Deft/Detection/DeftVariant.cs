namespace Deft.Detection;

/// <summary>
/// Which of the official phase-1 scripts the DeFT detector follows (<c>--variant</c>). The two differ in four rules;
/// <see cref="EpochRule.For"/> spells them out per epoch.
/// </summary>
public enum DeftVariant
{
    /// <summary>
    /// [synthetic] <c>main_phase1.py</c>: clean when p_clean &gt; ½; cross-entropy on every sample during warm-up, on the
    /// selected ones after; the negative prompts' target is the given label during warm-up and the pseudo-label after;
    /// cosine learning rate stepped once per epoch.
    /// </summary>
    Synthetic,
    /// <summary>
    /// [real-noise] <c>main_real_phase1.py</c> (Clothing1M, WebVision): clean when p_clean &gt; ½ <em>and</em> the class
    /// with the highest p_yes is the given label; SCE (α = β = 1) on every sample during warm-up, cross-entropy on the
    /// selected ones after; pseudo-labels for the negative prompts from epoch 2 whatever the warm-up; the scheduler
    /// is never stepped, so the learning rate stays at its initial value.
    /// </summary>
    RealNoise,
}

public static class DeftVariants
{
    public static IReadOnlyList<string> ValidNames { get; } = ["synthetic", "real-noise"];

    public static DeftVariant Parse(string name) => name.Trim().ToLowerInvariant() switch
    {
        "synthetic" => DeftVariant.Synthetic,
        "real-noise" or "real" => DeftVariant.RealNoise,
        _ => throw new DeftException($"Unknown {Setting.Variant} '{name}'. Valid values: {string.Join(", ", ValidNames)}."),
    };

    public static string ToName(this DeftVariant v) => ValidNames[(int)v];

    /// <summary>The official script the variant follows.</summary>
    public static string OfficialScript(this DeftVariant v) => v == DeftVariant.RealNoise ? "main_real_phase1.py" : "main_phase1.py";

    /// <summary>Whether selection also asks that the given label have the highest p_yes (the real-noise script's rule).</summary>
    public static bool RequiresTopClass(this DeftVariant v) => v == DeftVariant.RealNoise;

    /// <summary>Whether the learning rate stays constant (the real-noise script never steps its scheduler).</summary>
    public static bool ConstantLearningRate(this DeftVariant v) => v == DeftVariant.RealNoise;
}

/// <summary>
/// The rules of one phase-1 epoch.
/// </summary>
/// <param name="ClassifyAll">The positive prompts' classification term averages over every sample (else over the selected ones).</param>
/// <param name="SymmetricCrossEntropy">That term is SCE with α = β = 1 (cross-entropy plus reverse cross-entropy) instead of cross-entropy.</param>
/// <param name="PseudoLabels">The negative prompts' p_yes target of an unselected sample is the positive prompts' prediction (else the given label).</param>
/// <param name="RequireTopClass">A sample is selected only if, besides p_clean &gt; ½, its given label has the highest p_yes.</param>
public readonly record struct EpochRule(bool ClassifyAll, bool SymmetricCrossEntropy, bool PseudoLabels, bool RequireTopClass)
{
    /// <summary>The rules of epoch <paramref name="epoch"/> (from 1) with <paramref name="warmup"/> warm-up epochs.</summary>
    public static EpochRule For(DeftVariant variant, int epoch, int warmup) => variant switch
    {
        DeftVariant.RealNoise => new(epoch <= warmup, epoch <= warmup, epoch > 1, RequireTopClass: true),
        _ => Synthetic(epoch <= warmup),
    };

    /// <summary>The synthetic script's warm-up (<c>true</c>) or post-warm-up epoch.</summary>
    public static EpochRule Synthetic(bool warmup) => new(warmup, false, !warmup, false);
}
