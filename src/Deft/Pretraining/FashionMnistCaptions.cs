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
        var rng = new Random(HashCode(seed, index));
        var template = Templates[rng.Next(Templates.Length)];
        var cls = rng.NextDouble() < CaptionNoise ? rng.Next(Synonyms.Length) : label;
        var word = Synonyms[cls][rng.Next(3)];
        return (template.Replace("{}", word, StringComparison.Ordinal), cls);
    }

    // A fixed mix (not string.GetHashCode, which is randomised per process).
    private static int HashCode(int seed, int index)
    {
        unchecked
        {
            var h = (uint)seed * 0x9E3779B1u ^ (uint)index * 0x85EBCA77u;
            h ^= h >> 15; h *= 0x2C1B3C6Du; h ^= h >> 12;
            return (int)(h & 0x7FFFFFFF);
        }
    }
}
