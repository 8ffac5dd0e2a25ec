using System.Text.Json.Serialization;
using Deft.IO;

namespace Deft.Detection;

/// <summary>
/// Which rule turns a method's scores into label-issue verdicts: the method's own (DeFT: p(positive) &lt; p(negative) for
/// the given label), or one of cleanlab's <c>find_label_issues(filter_by=...)</c> filters on the method's class
/// probabilities (pred_probs).
/// </summary>
public enum IssueFilterRule
{
    /// <summary>The method's own decision (DeFT's learned threshold; clip-posterior: posterior of the given label below ½).</summary>
    Method,
    /// <summary>cleanlab's default <c>prune_by_noise_rate</c>.</summary>
    PruneByNoiseRate,
    /// <summary>cleanlab's <c>prune_by_class</c>.</summary>
    PruneByClass,
    /// <summary>cleanlab's <c>both</c>: prune_by_noise_rate and prune_by_class.</summary>
    Both,
    /// <summary>cleanlab's <c>confident_learning</c>: the confident joint's off-diagonal.</summary>
    ConfidentLearning,
    /// <summary>cleanlab's <c>predicted_neq_given</c>.</summary>
    PredictedNeqGiven,
}

/// <summary>Names of <see cref="IssueFilterRule"/> (kebab-case, as cleanlab's with dashes).</summary>
public static class IssueFilterRules
{
    /// <summary>The names, in enum order.</summary>
    public static IReadOnlyList<string> ValidNames { get; } =
        ["method", "prune-by-noise-rate", "prune-by-class", "both", "confident-learning", "predicted-neq-given"];

    public static IssueFilterRule Parse(string name)
    {
        var key = name.Trim().ToLowerInvariant().Replace('_', '-');
        var i = ValidNames.ToList().IndexOf(key);
        return i >= 0 ? (IssueFilterRule)i : throw new DeftException($"Unknown {Setting.FilterBy} '{name}'. Valid values: {string.Join(", ", ValidNames)}.");
    }

    public static string ToName(this IssueFilterRule rule) =>
        (int)rule >= 0 && (int)rule < ValidNames.Count ? ValidNames[(int)rule]
            : throw new ArgumentOutOfRangeException(nameof(rule), rule, $"Valid values: {string.Join(", ", ValidNames)}.");
}

/// <summary>
/// How label issues are decided from a method's scores, in cleanlab's terms (<c>filter_by</c>, <c>frac_noise</c>,
/// a number to remove). JSON names are summary.json's.
/// </summary>
public sealed record IssueSettings
{
    /// <summary>The verdict rule; <see cref="IssueFilterRule.Method"/>: the method's own.</summary>
    [JsonConverter(typeof(IssueFilterRuleJson))] public IssueFilterRule FilterBy { get; init; } = IssueFilterRule.Method;
    /// <summary>Flag exactly this many samples, those of lowest label quality (after the agreeing-label rule); null: the rule decides how many.</summary>
    public int? NumToRemove { get; init; }
    /// <summary>
    /// In (0, 1]: keep only this fraction of the issues the rule finds, most certain first (cleanlab's frac_noise; for the
    /// cleanlab filters it scales the confident joint's prune counts, as cleanlab does).
    /// </summary>
    public double FracNoise { get; init; } = 1.0;
    /// <summary>
    /// Whether a sample whose suggested label equals its given label may be flagged. cleanlab never flags one; false (the
    /// default) does the same for every rule.
    /// </summary>
    public bool FlagAgreeing { get; init; }

    /// <summary>Throws a <see cref="DeftException"/> naming the setting that is out of range.</summary>
    public void Validate()
    {
        if (!(FracNoise > 0 && FracNoise <= 1)) throw new DeftException($"{Setting.FracNoise} must lie in (0, 1], got {FracNoise}.");
        if (NumToRemove is < 0) throw new DeftException($"{Setting.NumToRemove} must be ≥ 0, got {NumToRemove}.");
        if (NumToRemove is not null && FracNoise != 1)
            throw new DeftException($"{Setting.NumToRemove} and {Setting.FracNoise} both say how many to flag; give one.");
    }
}

internal sealed class IssueFilterRuleJson() : NamedEnumJson<IssueFilterRule>(r => r.ToName(), IssueFilterRules.Parse);
