namespace Deft.Data.Transforms;

/// <summary>Training augmentation, as the CLI's <c>--augment none|cifar|clip</c> names it.</summary>
public enum AugmentPreset
{
    /// <summary>The evaluation transform: resize the shorter side, center crop.</summary>
    None,
    /// <summary>Random crop 32 with 4 zero padding, resize to the model resolution, horizontal flip.</summary>
    Cifar,
    /// <summary>Random resized crop (scale 0.08–1, ratio 3/4–4/3) to the model resolution, horizontal flip.</summary>
    Clip,
}
