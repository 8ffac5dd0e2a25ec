namespace Deft.Data.Transforms;

/// <summary>
/// Training augmentation, as the CLI's <c>--augment</c> names it. The three <c>official-*</c> presets are the official
/// DeFT loaders' pipelines outside CIFAR (torchvision's default bilinear resizing); they also fix the evaluation
/// transform (<see cref="ImagePipeline.EvalFor"/>), because those loaders test differently from CLIP's own transform.
/// </summary>
public enum AugmentPreset
{
    /// <summary>The evaluation transform: resize the shorter side, center crop.</summary>
    None,
    /// <summary>Random crop 32 with 4 zero padding, resize to the model resolution, horizontal flip.</summary>
    Cifar,
    /// <summary>Random resized crop (scale 0.08–1, ratio 3/4–4/3) to the model resolution, horizontal flip.</summary>
    Clip,
    /// <summary>
    /// The official CUB-200, Stanford Cars and Tiny-ImageNet loaders: train Resize((256, 256)) → RandomCrop(224) → flip,
    /// test Resize((224, 224)); sizes scale with the model resolution (256 = resolution · 8/7).
    /// </summary>
    OfficialSquare,
    /// <summary>The official WebVision loader: train as <see cref="OfficialSquare"/>, test Resize((256, 256)) → CenterCrop(224).</summary>
    OfficialCenter,
    /// <summary>The official Clothing1M loader: train Resize(256) (shorter side) → RandomCrop(224) → flip, test Resize(256) → CenterCrop(224).</summary>
    OfficialShortSide,
    /// <summary>
    /// The official CIFAR loader as both phases use it: train RandomCrop(32, padding 4) → Resize(r) bilinear → flip, test
    /// Resize(r) bilinear (<c>deft detect</c> already does this for the cifar10/100 formats; phase 2's <c>cifar</c> resizes bicubic).
    /// </summary>
    OfficialCifar,
}

public static class AugmentPresets
{
    /// <summary>The names, in <see cref="AugmentPreset"/> order.</summary>
    public static IReadOnlyList<string> ValidNames { get; } = ["none", "cifar", "clip", "official-square", "official-center", "official-short-side", "official-cifar"];

    public static string ToName(this AugmentPreset preset) => ValidNames[(int)preset];

    /// <summary>Whether the preset is one of the official loaders' pipelines (which also fix the evaluation transform).</summary>
    public static bool IsOfficialLoader(this AugmentPreset preset) => preset >= AugmentPreset.OfficialSquare;

    /// <summary>Parses a name (any case; the enum's own spelling, e.g. OfficialSquare, too), or null when unknown.</summary>
    public static AugmentPreset? TryParse(string name)
    {
        var t = name.Trim().ToLowerInvariant();
        for (var i = 0; i < ValidNames.Count; i++)
            if (ValidNames[i] == t || ValidNames[i].Replace("-", "") == t) return (AugmentPreset)i;
        return null;
    }
}
