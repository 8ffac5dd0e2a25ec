namespace Deft.Adaptation;

/// <summary>How phase 2 trains the CLIP tower and the head (<c>--recipe</c>); the learning rate is the run's (<c>--lr</c>).</summary>
public enum AdaptRecipe
{
    /// <summary>The official code: every trainable parameter at the same learning rate from the first step.</summary>
    Official,
    /// <summary>LP-FT: the first epoch trains the head only (tower frozen), then everything at the same learning rate.</summary>
    LpFt,
    /// <summary>The tower at a tenth of the head's learning rate from the first step.</summary>
    LowTowerLr,
    /// <summary>Linear probe: the tower stays frozen, only the head trains.</summary>
    LinearProbe,
}

/// <summary>The recipe's two knobs.</summary>
/// <param name="TowerLearningRateScale">Tower learning rate = head learning rate · this; 0 keeps the tower frozen.</param>
/// <param name="HeadOnlyEpochs">Epochs at the start that train the head only.</param>
public sealed record RecipeSettings(double TowerLearningRateScale, int HeadOnlyEpochs);

public static class AdaptRecipes
{
    /// <summary>The recipe a CLIP backbone gets without <c>--recipe</c> (the best on the mini protocol: docs/results/phase2.md).</summary>
    public const AdaptRecipe Default = AdaptRecipe.LowTowerLr;

    public static IReadOnlyList<string> ValidNames { get; } = ["official", "lp-ft", "low-tower-lr", "linear-probe"];

    public static string ToName(this AdaptRecipe recipe) => ValidNames[(int)recipe];

    public static AdaptRecipe Parse(string name)
    {
        var i = ValidNames.ToList().IndexOf(name.Trim().ToLowerInvariant());
        return i >= 0 ? (AdaptRecipe)i : throw new DeftException($"Unknown {Setting.Recipe} '{name}'. Valid values: {string.Join(", ", ValidNames)}.");
    }

    public static RecipeSettings Settings(this AdaptRecipe recipe) => recipe switch
    {
        AdaptRecipe.Official => new(1, 0),
        AdaptRecipe.LpFt => new(1, 1),
        AdaptRecipe.LowTowerLr => new(0.1, 0),
        AdaptRecipe.LinearProbe => new(0, 0),
        _ => throw new ArgumentOutOfRangeException(nameof(recipe), recipe, null),
    };

    /// <summary>The recipe's settings with the options' overrides.</summary>
    public static RecipeSettings Settings(this AdaptRecipe recipe, AdaptOptions options)
    {
        var s = recipe.Settings();
        return new RecipeSettings(options.TowerLearningRateScale ?? s.TowerLearningRateScale, options.HeadOnlyEpochs ?? s.HeadOnlyEpochs);
    }
}
