namespace Deft.Cli.Commands;

/// <summary>Descriptions of the options that decide label issues, shared by detect, run and score.</summary>
internal static class IssueOptionTexts
{
    public const string FilterBy = "How label issues are decided: method (default: the method's own rule, for deft p(positive) < p(negative) of the given label), or a cleanlab filter on the method's class probabilities: prune-by-noise-rate, prune-by-class, both, confident-learning, predicted-neq-given.";
    public const string NumToRemove = "Flag exactly the N samples of lowest label quality (instead of the rule's count).";
    public const string FracNoise = "Between 0 (excluded) and 1: flag only this fraction of the issues found, most certain first (cleanlab's frac_noise).";
    public const string FlagAgreeing = "Also flag samples whose suggested label is their given label (never flagged by default, as in cleanlab).";
}
