using Deft.Cli.Commands;

namespace Deft.Tests.Cli;

public sealed class BenchMiniResumeTests
{
    private static BenchMiniCommand.Row Row(string setting, string method, double? accuracy = null) =>
        new(setting, method, 0.9, 0.8, 0.85, 0.9, 0.4, accuracy, 10, accuracy is null ? null : 5);

    private static readonly BenchMiniCommand.Row[] Earlier =
    [
        Row("sym-0.2", "deft", 0.75), Row("sym-0.2", "label-match"), Row("sym-0.2", BenchMiniCommand.CeOnAllMethod, 0.76),
        // sym-0.4's deft was stopped during phase 2: its detection row has no test accuracy.
        Row("sym-0.4", "deft"), Row("sym-0.4", "label-match"),
    ];

    [Fact]
    public void ReusesARowOnlyForTheSameSettingAndMethod()
    {
        Assert.Equal(0.75, BenchMiniCommand.Reusable(Earlier, "sym-0.2", "deft", 0, needsAccuracy: true)?.TestAccuracy);
        Assert.Equal("label-match", BenchMiniCommand.Reusable(Earlier, "sym-0.4", "label-match", 0, needsAccuracy: false)?.Method);
        Assert.Null(BenchMiniCommand.Reusable(Earlier, "sym-0.2", "deft-eval", 0, needsAccuracy: false));
        Assert.Null(BenchMiniCommand.Reusable(Earlier, "sym-0.6", "deft", 0, needsAccuracy: false));
        Assert.Null(BenchMiniCommand.Reusable(Earlier, "sym-0.4", BenchMiniCommand.CeOnAllMethod, 0, needsAccuracy: true));
    }

    [Fact]
    public void ARowWithoutPhaseTwoIsRerunWhenPhaseTwoIsAsked()
    {
        Assert.Null(BenchMiniCommand.Reusable(Earlier, "sym-0.4", "deft", 0, needsAccuracy: true));
        Assert.NotNull(BenchMiniCommand.Reusable(Earlier, "sym-0.4", "deft", 0, needsAccuracy: false));
    }

    [Fact]
    public void ARowIsReusedOnlyForItsOwnSeed()
    {
        BenchMiniCommand.Row[] earlier = [Row("sym-0.4", "gmm") with { Seed = 1 }];
        Assert.NotNull(BenchMiniCommand.Reusable(earlier, "sym-0.4", "gmm", 1, needsAccuracy: false));
        Assert.Null(BenchMiniCommand.Reusable(earlier, "sym-0.4", "gmm", 0, needsAccuracy: false));
    }

    [Fact]
    public void SeedsAreParsedInOrderWithoutRepeats()
    {
        Assert.Equal([2L, 0L, 1L], BenchMiniCommand.ParseSeeds("2, 0,1,2"));
        Assert.Contains("'x'", Assert.Throws<DeftException>(() => BenchMiniCommand.ParseSeeds("0,x")).Message);
        Assert.Throws<DeftException>(() => BenchMiniCommand.ParseSeeds("-1"));
        Assert.Throws<DeftException>(() => BenchMiniCommand.ParseSeeds(" , "));
    }

    [Fact]
    public void TheTableShowsMeanAndSampleSdOverSeeds()
    {
        // F1 0.80, 0.90, 1.00: mean 0.900, sample sd 0.100 (hand-computed); one seed prints the value alone.
        BenchMiniCommand.Row[] rows =
        [
            Row("sym-0.4", "gmm") with { F1 = 0.80, Seed = 0 }, Row("sym-0.4", "gmm") with { F1 = 0.90, Seed = 1 },
            Row("sym-0.4", "gmm") with { F1 = 1.00, Seed = 2 }, Row("asym-0.4", "gmm", 0.7512) with { Seed = 0, ZeroShotAccuracy = 0.8354 },
        ];
        var lines = BenchMiniCommand.TableLines(rows).ToList();
        Assert.Equal(2, lines.Count);
        Assert.Contains("| sym-0.4 | gmm | 3 |", lines[0]);
        Assert.Contains("| 0.900 ± 0.100 |", lines[0]);
        Assert.Contains("| asym-0.4 | gmm | 1 |", lines[1]);
        // Phase 2's accuracy, then the zero-shot accuracy of its starting model beside it.
        Assert.Contains("| 75.12 | 83.54 |", lines[1]);
        Assert.Equal("—", BenchMiniCommand.MeanSd([null, null], "0.000"));
        // Rows added later (a method run with --resume) still print in the methods' order within their setting.
        var ordered = BenchMiniCommand.TableLines([Row("sym-0.4", "gmm"), Row("asym-0.4", "gmm"), Row("sym-0.4", "clip-posterior")]).ToList();
        Assert.Contains("| sym-0.4 | clip-posterior |", ordered[0]);
        Assert.Contains("| sym-0.4 | gmm |", ordered[1]);
        Assert.Contains("| asym-0.4 | gmm |", ordered[2]);
    }
}
