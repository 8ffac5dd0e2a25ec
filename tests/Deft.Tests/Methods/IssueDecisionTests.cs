using Deft.Detection;
using Deft.Methods;

namespace Deft.Tests.Methods;

/// <summary>cleanlab-style controls on a method's verdicts: filter_by, the agreeing-label rule, frac_noise, a number to remove.</summary>
public sealed class IssueDecisionTests
{
    // Five samples of three classes. The method flags 0, 1, 3; sample 1's suggestion is its given label.
    private static readonly int[] Labels = [0, 0, 1, 1, 2];
    private static readonly MethodScores Scores = new(
        LabelQuality: [0.10, 0.40, 0.90, 0.20, 0.80],
        IsIssue: [true, true, false, true, false],
        Suggested: [1, 0, 1, 2, 2],
        SuggestedProbability: [0.8, 0.5, 0.9, 0.7, 0.8]);

    private static bool[] Decide(IssueSettings settings, double[,]? probabilities = null, DetectionMethod method = DetectionMethod.Deft) =>
        IssueDecision.Apply(Scores, probabilities, Labels, settings, method).IsIssue;

    [Fact]
    public void AgreeingLabelsAreNotFlaggedUnlessAsked()
    {
        Assert.Equal([true, false, false, true, false], Decide(new IssueSettings()));
        Assert.Equal(Scores.IsIssue, Decide(new IssueSettings { FlagAgreeing = true }));
    }

    [Fact]
    public void NumToRemoveFlagsTheLowestQualityThatMayBeFlagged()
    {
        // Lowest quality first: 0 (0.1), 3 (0.2), then 1 (0.4) agrees with its label, so 4 (0.8, suggested 2 = given) is
        // skipped too and 2 (0.9, suggested 1 = given) as well: two samples can be flagged.
        Assert.Equal([true, false, false, true, false], Decide(new IssueSettings { NumToRemove = 5 }));
        Assert.Equal([true, false, false, false, false], Decide(new IssueSettings { NumToRemove = 1 }));
        Assert.Equal([true, true, false, true, false], Decide(new IssueSettings { NumToRemove = 3, FlagAgreeing = true }));
        Assert.All(Decide(new IssueSettings { NumToRemove = 0 }), Assert.False);
    }

    [Fact]
    public void FracNoiseKeepsTheMostCertainPartOfTheMethodsIssues()
    {
        // Two issues after the agreeing rule (0 and 3); half of them: the lower quality, 0.
        Assert.Equal([true, false, false, false, false], Decide(new IssueSettings { FracNoise = 0.5 }));
        // Three with agreeing labels allowed; 0.7 of 3 = 2.1 → 2: samples 0 and 3.
        Assert.Equal([true, false, false, true, false], Decide(new IssueSettings { FracNoise = 0.7, FlagAgreeing = true }));
    }

    [Fact]
    public void CleanlabFiltersRunOnTheMethodsProbabilities()
    {
        double[,] p =
        {
            { 0.2, 0.7, 0.1 }, { 0.8, 0.1, 0.1 }, { 0.1, 0.8, 0.1 }, { 0.1, 0.2, 0.7 }, { 0.1, 0.1, 0.8 },
        };
        // argmax ≠ given: samples 0 and 3.
        Assert.Equal([true, false, false, true, false], Decide(new IssueSettings { FilterBy = IssueFilterRule.PredictedNeqGiven }, p));
        var error = Assert.Throws<DeftException>(() => Decide(new IssueSettings { FilterBy = IssueFilterRule.PruneByNoiseRate }, null, DetectionMethod.SmallLoss));
        Assert.Contains("needs class probabilities", error.Message);
        Assert.Contains("small-loss", error.Message);
    }

    [Fact]
    public void OutOfRangeSettingsAreRefusedByName()
    {
        Assert.Contains("(0, 1]", Assert.Throws<DeftException>(() => Decide(new IssueSettings { FracNoise = 0 })).Message);
        Assert.Contains("≥ 0", Assert.Throws<DeftException>(() => Decide(new IssueSettings { NumToRemove = -1 })).Message);
        Assert.Contains("give one", Assert.Throws<DeftException>(() => Decide(new IssueSettings { NumToRemove = 2, FracNoise = 0.5 })).Message);
        Assert.Equal(IssueFilterRule.PruneByNoiseRate, IssueFilterRules.Parse("prune_by_noise_rate"));
        Assert.Contains("Valid values", Assert.Throws<DeftException>(() => IssueFilterRules.Parse("nope")).Message);
    }
}
