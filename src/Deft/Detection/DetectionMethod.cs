namespace Deft.Detection;

/// <summary>Which detector <c>deft detect --method</c> runs. All write the same samples.csv, label_issues.csv and summary.json.</summary>
public enum DetectionMethod
{
    /// <summary>DeFT: dual positive/negative prompts (the paper's method).</summary>
    Deft,
    /// <summary>The paper's "CLIP label-match": a label is clean when CLIP's zero-shot prediction equals it.</summary>
    LabelMatch,
    /// <summary>Co-teaching-style small-loss selection while training a CoOp (positive-prompt) classifier or the official linear head.</summary>
    SmallLoss,
    /// <summary>DivideMix-style two-component mixture on the per-sample losses of a warmed-up CoOp classifier or the official linear head.</summary>
    Gmm,
    /// <summary>Confident learning (cleanlab's prune-by-noise-rate) on K-fold out-of-sample probabilities of a
    /// logistic regression on frozen CLIP image features.</summary>
    ConfidentLearning,
    /// <summary>The same probabilities; flags samples whose predicted class differs from the given label.</summary>
    PredictedNeqGiven,
    /// <summary>The same probabilities; flags the k samples of lowest self-confidence, k = the prune-by-noise-rate count.</summary>
    SelfConfidence,
    /// <summary>CLIP's zero-shot prior with an EM-fitted label-noise transition: the posterior that the given label is right.</summary>
    ClipPosterior,
}

public static class DetectionMethods
{
    /// <summary>The command-line names, in enum order.</summary>
    public static IReadOnlyList<string> ValidNames { get; } =
        ["deft", "label-match", "small-loss", "gmm", "confident-learning", "predicted-neq-given", "self-confidence", "clip-posterior"];

    public static DetectionMethod Parse(string name)
    {
        var key = name.Trim().ToLowerInvariant().Replace('_', '-');
        var i = ValidNames.ToList().IndexOf(key);
        return i >= 0 ? (DetectionMethod)i : throw new DeftException($"Unknown {Setting.Method} '{name}'. Valid values: {string.Join(", ", ValidNames)}.");
    }

    public static string ToName(this DetectionMethod method) =>
        (int)method >= 0 && (int)method < ValidNames.Count ? ValidNames[(int)method]
            : throw new ArgumentOutOfRangeException(nameof(method), method, $"Valid values: {string.Join(", ", ValidNames)}.");

    /// <summary>Methods that train the CoOp prompt classifier (and so use the epochs, learning rate and PEFT options).</summary>
    public static bool Trains(this DetectionMethod method) => method is DetectionMethod.Deft or DetectionMethod.SmallLoss or DetectionMethod.Gmm;

    /// <summary>Methods that use the confident-learning probabilities.</summary>
    public static bool UsesCrossValidation(this DetectionMethod method) =>
        method is DetectionMethod.ConfidentLearning or DetectionMethod.PredictedNeqGiven or DetectionMethod.SelfConfidence;
}
