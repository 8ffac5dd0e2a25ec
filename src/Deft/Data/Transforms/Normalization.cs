namespace Deft.Data.Transforms;

/// <summary>One value per RGB channel.</summary>
public readonly record struct RgbTriple(float R, float G, float B)
{
    public float this[int channel] => channel switch
    {
        0 => R,
        1 => G,
        2 => B,
        _ => throw new ArgumentOutOfRangeException(nameof(channel), channel, "Channel must be 0 (R), 1 (G) or 2 (B)."),
    };

    public override string ToString() => FormattableString.Invariant($"({R}, {G}, {B})");
}

/// <summary>
/// Per-channel standardisation applied after scaling bytes to [0,1]: <c>(v/255 − mean) / std</c>, in float32 and in
/// that order, as torchvision's <c>ToTensor</c> + <c>Normalize</c> compute it.
/// </summary>
public sealed record Normalization(RgbTriple Mean, RgbTriple Std)
{
    /// <summary>OpenAI CLIP's statistics (also used by open_clip for OpenAI and most LAION weights).</summary>
    public static Normalization Clip { get; } = new(new(0.48145466f, 0.4578275f, 0.40821073f), new(0.26862954f, 0.26130258f, 0.27577711f));

    /// <summary>ImageNet's statistics (the official CUB-200 and WebVision loaders).</summary>
    public static Normalization ImageNet { get; } = new(new(0.485f, 0.456f, 0.406f), new(0.229f, 0.224f, 0.225f));
    /// <summary>Clothing1M's own statistics, as its official loader normalises.</summary>
    public static Normalization Clothing1M { get; } = new(new(0.6959f, 0.6537f, 0.6371f), new(0.3113f, 0.3192f, 0.3214f));

    /// <summary>No standardisation: values stay in [0,1].</summary>
    public static Normalization Identity { get; } = new(new(0f, 0f, 0f), new(1f, 1f, 1f));

    /// <summary>From three means and three standard deviations (e.g. parsed from a model's config).</summary>
    public static Normalization From(IReadOnlyList<float> mean, IReadOnlyList<float> std)
    {
        if (mean.Count != 3 || std.Count != 3)
            throw new DeftException($"Normalization needs 3 means and 3 standard deviations (R, G, B), got {mean.Count} and {std.Count}.");
        if (std.Any(s => !(s > 0f) || float.IsInfinity(s)))
            throw new DeftException($"Normalization standard deviations must be positive and finite, got {string.Join(", ", std)}.");
        return new(new(mean[0], mean[1], mean[2]), new(std[0], std[1], std[2]));
    }

    /// <summary>The 3×256 table of normalised values for every byte value, channel-major.</summary>
    internal float[] BuildLookup()
    {
        var lut = new float[3 * 256];
        for (var c = 0; c < 3; c++)
            for (var v = 0; v < 256; v++)
                lut[c * 256 + v] = ((float)v / 255f - Mean[c]) / Std[c];
        return lut;
    }
}
