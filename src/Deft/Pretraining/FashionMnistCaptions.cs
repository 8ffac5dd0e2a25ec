using Deft.Noise;

namespace Deft.Pretraining;

/// <summary>
/// Web-like captions for Fashion-MNIST images: a template filled with a synonym of the class, and in 20% of captions
/// the synonym of a uniformly random class instead (web captions are noisy). Deterministic per (seed, index).
/// </summary>
public static class FashionMnistCaptions
{
    public static readonly string[] Templates =
    [
        "a photo of a {}.", "a {} on a plain background.", "a black and white photo of a {}.",
        "product image: {}.", "{}", "a small {}.",
    ];

    /// <summary>Three synonyms per Fashion-MNIST class, in label order.</summary>
    public static readonly string[][] Synonyms =
    [
        ["t-shirt", "tee", "top"],
        ["trousers", "pants", "jeans"],
        ["pullover", "sweater", "jumper"],
        ["dress", "gown", "frock"],
        ["coat", "jacket", "parka"],
        ["sandal", "sandals", "flip flop"],
        ["shirt", "blouse", "button-down shirt"],
        ["sneaker", "running shoe", "trainer"],
        ["bag", "handbag", "purse"],
        ["ankle boot", "boot", "bootie"],
    ];

    /// <summary>The class names used in prompts ("a photo of a {class name}."): each class's first synonym.</summary>
    public static IReadOnlyList<string> PromptNames { get; } = Synonyms.Select(s => s[0]).ToArray();

    public const double CaptionNoise = 0.2;

    /// <summary>The caption of image <paramref name="index"/> with label <paramref name="label"/>.</summary>
    public static string Caption(int index, int label, int seed = 0) => CaptionWithClass(index, label, seed).Caption;

    /// <summary>The caption and the class whose synonym it uses (differs from the label in ~20% of captions).</summary>
    public static (string Caption, int CaptionClass) CaptionWithClass(int index, int label, int seed = 0)
    {
        if ((uint)label >= Synonyms.Length)
            throw new ArgumentOutOfRangeException(nameof(label), $"Fashion-MNIST labels are 0..9, got {label} for image {index}.");
        // One small generator per caption: the caption of an image does not depend on which others are generated.
        var rng = new SeededRandom(((ulong)(uint)seed << 32) | (uint)index);
        var template = Templates[rng.NextInt(Templates.Length)];
        var cls = rng.NextDouble() < CaptionNoise ? rng.NextInt(Synonyms.Length) : label;
        var word = Synonyms[cls][rng.NextInt(3)];
        return (template.Replace("{}", word, StringComparison.Ordinal), cls);
    }
}
