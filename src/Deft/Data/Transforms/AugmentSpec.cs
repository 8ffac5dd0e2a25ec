using System.Globalization;

namespace Deft.Data.Transforms;

/// <summary>
/// Phase 2's training augmentation (<c>deft adapt --augment</c>): a preset name, or geometric steps joined by
/// <c>+</c>, applied to the image at its own size and followed by a resize to the model resolution when the size
/// differs. Presets: <c>none</c> (the evaluation transform), <c>cifar</c> (random crop 32 after 4-px zero padding,
/// resize, flip: the official recipe), <c>clip</c> (random resized crop, flip), <c>shift</c> (random crop at the
/// image's own size after 4-px zero padding, i.e. a shift of up to ±4 px that keeps the scale, resize, flip: at
/// 32 px the same steps as <c>cifar</c>), <c>official-square</c>, <c>official-center</c>, <c>official-short-side</c>, <c>official-cifar</c> (the
/// official loaders, <see cref="AugmentPreset"/>; they also fix the evaluation transform). Steps: <c>crop:S:P</c> (random crop S×S after P-px zero padding),
/// <c>center:S</c> (center crop S×S, zero-padding a smaller image around it), <c>flip</c> (horizontal flip, p 0.5).
/// </summary>
public sealed record AugmentSpec
{
    private AugmentSpec(string text) => Text = text;

    /// <summary>The canonical spelling (lower case, as parsed).</summary>
    public string Text { get; }

    public static AugmentSpec None { get; } = new("none");
    public static AugmentSpec Cifar { get; } = new("cifar");
    public static AugmentSpec Clip { get; } = new("clip");
    public static AugmentSpec Shift { get; } = new("shift");

    public static IReadOnlyList<string> PresetNames { get; } = ["none", "cifar", "clip", "shift", "official-square", "official-center", "official-short-side", "official-cifar"];

    /// <summary>The detector's presets name the same transforms here.</summary>
    public static implicit operator AugmentSpec(AugmentPreset preset) => preset switch
    {
        AugmentPreset.None => None,
        AugmentPreset.Cifar => Cifar,
        AugmentPreset.Clip => Clip,
        _ when preset.IsOfficialLoader() => new AugmentSpec(preset.ToName()),
        _ => throw new ArgumentOutOfRangeException(nameof(preset), preset, null),
    };

    /// <summary>The detector's preset of the same name, if there is one.</summary>
    private AugmentPreset? Preset => AugmentPresets.TryParse(Text);

    /// <summary>
    /// The evaluation transform that goes with this augmentation: an official loader's own for the <c>official-*</c>
    /// presets (<see cref="ImagePipeline.EvalFor"/>), CLIP's otherwise.
    /// </summary>
    public ImagePipeline Eval(int resolution, Normalization? normalization = null) =>
        Preset is { } p && p.IsOfficialLoader() ? ImagePipeline.EvalFor(p, resolution, normalization) : ImagePipeline.Eval(resolution, normalization);

    /// <summary>
    /// What <c>auto</c> picks for images whose longer side is <paramref name="imageSize"/>: <c>cifar</c> at exactly
    /// 32 px (CIFAR's own recipe, unchanged), <c>none</c> below, <c>clip</c> above. Below 32 px the official crop
    /// shrinks every training image to 28/32 of the test images' scale, and even a ±4-px shift at the image's own scale
    /// with flips costs the mini protocol's 28-px Fashion-MNIST test accuracy against no augmentation
    /// (docs/results/phase2.md).
    /// </summary>
    public static AugmentSpec ForImageSize(int imageSize) => imageSize == 32 ? Cifar : imageSize < 32 ? None : Clip;

    /// <summary>Parses a preset or a step list (any case); throws <see cref="DeftException"/> naming the valid forms.</summary>
    public static AugmentSpec Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var t = text.Trim().ToLowerInvariant();
        if (PresetNames.Contains(t)) return new AugmentSpec(t);
        var parts = t.Split('+');
        foreach (var part in parts) _ = ParseStep(part, text);
        return new AugmentSpec(string.Join('+', parts));
    }

    /// <summary>The training pipeline for images of <paramref name="imageSize"/> px (longer side) at the model's <paramref name="resolution"/>.</summary>
    public ImagePipeline Build(int imageSize, int resolution, Normalization? normalization = null)
    {
        switch (Text)
        {
            case "none": return ImagePipeline.Eval(resolution, normalization);
            case "cifar": return ImagePipeline.CifarTrain(resolution, normalization);
            case "clip": return ImagePipeline.ClipTrain(resolution, normalization);
            case "shift": return Steps($"crop:{imageSize}:4+flip", resolution, normalization);
            case "official-square" or "official-center" or "official-short-side" or "official-cifar":
                return ImagePipeline.ForTraining(Preset!.Value, resolution, normalization);
            default: return Steps(Text, resolution, normalization);
        }
    }

    public override string ToString() => Text;

    private static ImagePipeline Steps(string text, int resolution, Normalization? normalization)
    {
        var parsed = text.Split('+').Select(p => ParseStep(p, text)).ToList();
        var geometric = parsed.Where(s => s is not RandomHorizontalFlip).ToList();
        var steps = new List<ImageStep>();
        if (geometric.Count == 0) steps.AddRange(ImagePipeline.Eval(resolution, normalization).Steps);
        else
        {
            steps.AddRange(geometric);
            var size = geometric[^1] switch
            {
                RandomCropWithPadding c => c.Size,
                CenterCrop c => c.Width,
                _ => throw new InvalidOperationException(),
            };
            if (size != resolution) steps.Add(new ResizeTo(resolution, resolution));
        }
        steps.AddRange(parsed.OfType<RandomHorizontalFlip>());
        return new ImagePipeline(steps, normalization ?? Normalization.Clip);
    }

    private static ImageStep ParseStep(string part, string whole)
    {
        var fields = part.Split(':');
        bool Positive(string s, out int v) => int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out v) && v > 0;
        bool NonNegative(string s, out int v) => int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out v);
        switch (fields[0])
        {
            case "flip" when fields.Length == 1: return new RandomHorizontalFlip();
            case "crop" when fields.Length == 3 && Positive(fields[1], out var size) && NonNegative(fields[2], out var padding):
                return new RandomCropWithPadding(size, padding);
            case "center" when fields.Length == 2 && Positive(fields[1], out var size):
                return new CenterCrop(size, size);
        }
        throw new DeftException($"Unknown {Setting.Augment} value '{whole}' (at '{part}'). Valid values: auto, {string.Join(", ", PresetNames)}, " +
            $"or steps joined by '+': crop:S:P (random crop S after P-px zero padding), center:S (center crop S), flip; e.g. crop:28:4+flip.");
    }
}
