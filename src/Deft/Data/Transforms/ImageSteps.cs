namespace Deft.Data.Transforms;

/// <summary>One step of an <see cref="ImagePipeline"/>, as data. Semantics follow torchvision on PIL images.</summary>
public abstract record ImageStep
{
    /// <summary>Whether the step draws random numbers (and so depends on the <see cref="SampleKey"/>).</summary>
    public virtual bool IsRandom => false;
}

/// <summary>
/// torchvision <c>Resize(size)</c> with an int: the shorter side becomes <paramref name="Size"/>, the longer side
/// <c>int(Size · long / short)</c> (truncated).
/// </summary>
public sealed record ResizeShorterSide(int Size, ResampleFilter Filter = ResampleFilter.Bicubic) : ImageStep;

/// <summary>torchvision <c>Resize((height, width))</c>: an exact output size.</summary>
public sealed record ResizeTo(int Width, int Height, ResampleFilter Filter = ResampleFilter.Bicubic) : ImageStep;

/// <summary>
/// torchvision <c>CenterCrop</c>: offsets <c>int(round((h − Height) / 2))</c>; an image smaller than the crop is
/// zero-padded around it first.
/// </summary>
public sealed record CenterCrop(int Width, int Height) : ImageStep;

/// <summary>torchvision <c>RandomCrop(Size, padding=Padding)</c>: zero-pad every side, then crop Size×Size at a uniform offset.</summary>
public sealed record RandomCropWithPadding(int Size, int Padding) : ImageStep
{
    public override bool IsRandom => true;
}

/// <summary>
/// torchvision <c>RandomResizedCrop</c>: up to 10 tries of an area fraction in [MinScale, MaxScale] and a log-uniform
/// aspect ratio in [MinRatio, MaxRatio], else a central crop clamped to the ratio range; the crop is resized to Size×Size.
/// </summary>
public sealed record RandomResizedCrop(
    int Size,
    double MinScale = 0.08,
    double MaxScale = 1.0,
    double MinRatio = 3.0 / 4.0,
    double MaxRatio = 4.0 / 3.0,
    ResampleFilter Filter = ResampleFilter.Bicubic) : ImageStep
{
    public override bool IsRandom => true;
}

/// <summary>torchvision <c>RandomHorizontalFlip(p)</c>.</summary>
public sealed record RandomHorizontalFlip(double Probability = 0.5) : ImageStep
{
    public override bool IsRandom => Probability > 0 && Probability < 1;
}
