namespace Deft.Detection;

/// <summary>Which classifier the training baselines (small-loss, gmm) train on the given labels (<c>--classifier</c>).</summary>
public enum BaselineClassifier
{
    /// <summary>
    /// [prompts] CoOp: the positive prompts' text features as class weights, cosine similarity to the normalised image
    /// features times CLIP's logit scale; starts at zero-shot CLIP.
    /// </summary>
    Prompts,
    /// <summary>
    /// [linear-head] The official baselines' head (<c>main_small_loss.py</c>, <c>main_baseline.py</c>): a randomly
    /// initialised nn.Linear(width, classes) on ln_post(class token), the image feature before CLIP's projection; no
    /// normalisation, no logit scale. The text tower is not used.
    /// </summary>
    LinearHead,
}

public static class BaselineClassifiers
{
    public static IReadOnlyList<string> ValidNames { get; } = ["prompts", "linear-head"];

    public static BaselineClassifier Parse(string name) => name.Trim().ToLowerInvariant().Replace('_', '-') switch
    {
        "prompts" or "coop" => BaselineClassifier.Prompts,
        "linear-head" or "linear" => BaselineClassifier.LinearHead,
        _ => throw new DeftException($"Unknown {Setting.Classifier} '{name}'. Valid values: {string.Join(", ", ValidNames)}."),
    };

    public static string ToName(this BaselineClassifier c) => ValidNames[(int)c];
}
