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
        Assert.Equal(0.75, BenchMiniCommand.Reusable(Earlier, "sym-0.2", "deft", needsAccuracy: true)?.TestAccuracy);
        Assert.Equal("label-match", BenchMiniCommand.Reusable(Earlier, "sym-0.4", "label-match", needsAccuracy: false)?.Method);
        Assert.Null(BenchMiniCommand.Reusable(Earlier, "sym-0.2", "deft-eval", needsAccuracy: false));
        Assert.Null(BenchMiniCommand.Reusable(Earlier, "sym-0.6", "deft", needsAccuracy: false));
        Assert.Null(BenchMiniCommand.Reusable(Earlier, "sym-0.4", BenchMiniCommand.CeOnAllMethod, needsAccuracy: true));
    }

    [Fact]
    public void ARowWithoutPhaseTwoIsRerunWhenPhaseTwoIsAsked()
    {
        Assert.Null(BenchMiniCommand.Reusable(Earlier, "sym-0.4", "deft", needsAccuracy: true));
        Assert.NotNull(BenchMiniCommand.Reusable(Earlier, "sym-0.4", "deft", needsAccuracy: false));
    }
}
