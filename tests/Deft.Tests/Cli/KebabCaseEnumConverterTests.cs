using Deft.Adaptation;
using Deft.Cli;
using Deft.Cli.Binding;
using Deft.Cli.Commands;
using Deft.Data;
using Deft.Detection;
using Deft.Noise;
using Deft.Prompts;
using Spectre.Console.Cli;
using Spectre.Console;

namespace Deft.Tests.Cli;

public class KebabCaseEnumConverterTests
{
    [Fact]
    public void Names_are_the_members_in_kebab_case_with_brand_names_whole()
    {
        Assert.Equal(["last-epoch", "eval"], KebabCaseEnumConverter<SelectionSource>.Names);
        Assert.Equal(["official", "lp-ft", "low-tower-lr", "linear-probe"], KebabCaseEnumConverter<AdaptRecipe>.Names);
        Assert.Equal(["auto", "clip", "resnet", "vit", "convnext", "mae"], KebabCaseEnumConverter<BackboneKind>.Names);
        Assert.Equal(["sgd", "adamw"], KebabCaseEnumConverter<OptimizerKind>.Names);
        Assert.Equal(["ce", "gce", "sce", "elr"], KebabCaseEnumConverter<RobustLossKind>.Names);
        Assert.Equal(["sym", "asym", "asym-cifar10", "pairflip", "idn", "file", "str"], KebabCaseEnumConverter<NoiseMode>.Names);
    }

    [Fact]
    public void The_names_are_the_ones_the_library_has_always_accepted()
    {
        // The library's own name tables are an independent reference: every CLI spelling must mean the same member.
        foreach (var name in DetectionMethods.ValidNames) Assert.Equal(DetectionMethods.Parse(name), KebabCaseEnumConverter<DetectionMethod>.Parse(name));
        foreach (var name in DeftVariants.ValidNames) Assert.Equal(DeftVariants.Parse(name), KebabCaseEnumConverter<DeftVariant>.Parse(name));
        foreach (var name in ClassTokenPositions.ValidNames) Assert.Equal(ClassTokenPositions.Parse(name), KebabCaseEnumConverter<ClassTokenPosition>.Parse(name));
        foreach (var name in BackboneKinds.ValidNames) Assert.Equal(BackboneKinds.Parse(name), KebabCaseEnumConverter<BackboneKind>.Parse(name));
        foreach (var name in AdaptRecipes.ValidNames) Assert.Equal(AdaptRecipes.Parse(name), KebabCaseEnumConverter<AdaptRecipe>.Parse(name));
        foreach (var name in NoiseModes.Names) Assert.Equal(NoiseModes.Parse(name), KebabCaseEnumConverter<NoiseMode>.Parse(name));
        Assert.Equal(DetectionMethods.ValidNames.Order(), KebabCaseEnumConverter<DetectionMethod>.Names.Order());
    }

    [Theory]
    [InlineData("last-epoch", SelectionSource.LastEpoch)]
    [InlineData("LAST-EPOCH", SelectionSource.LastEpoch)]
    [InlineData(" eval ", SelectionSource.Eval)]
    [InlineData("last_epoch", SelectionSource.LastEpoch)]
    [InlineData("LastEpoch", SelectionSource.LastEpoch)]
    public void Valid_values_bind_ignoring_case_and_separators(string text, SelectionSource expected) =>
        Assert.Equal(expected, KebabCaseEnumConverter<SelectionSource>.Parse(text));

    [Fact]
    public void An_invalid_value_lists_the_valid_ones_in_kebab_case()
    {
        var error = Assert.Throws<InvalidChoiceException>(() => KebabCaseEnumConverter<DetectionMethod>.Parse("clip_posteriors"));
        Assert.Equal("clip_posteriors", error.Value);
        Assert.Contains("'clip_posteriors' is not a valid value. Valid values: deft, label-match, small-loss, gmm, confident-learning", error.Message);
        Assert.Contains("clip-posterior", error.Message);
        Assert.DoesNotContain("ClipPosterior", error.Message);
        Assert.Throws<InvalidChoiceException>(() => KebabCaseEnumConverter<SelectionSource>.Parse("auto"));
    }

    [Fact]
    public void OrAuto_binds_auto_to_null_and_lists_it()
    {
        Assert.Null(KebabCaseEnumConverter<HeadInit>.OrAuto.Parse("Auto"));
        Assert.Equal(HeadInit.Text, KebabCaseEnumConverter<HeadInit>.OrAuto.Parse("text"));
        Assert.Contains("Valid values: auto, random, text.", Assert.Throws<InvalidChoiceException>(() => KebabCaseEnumConverter<HeadInit>.OrAuto.Parse("zero")).Message);
    }

    [Fact]
    public void Commands_bind_enum_flags_and_their_string_defaults()
    {
        var settings = Parse<AdaptCommand.Settings>("adapt", "--model", "random:tiny", "--data", "d", "--format", "idx", "--out", "o",
            "--optimizer", "adamw", "--loss", "gce", "--schedule", "constant", "--recipe", "lp-ft", "--backbone", "resnet");
        Assert.Equal((OptimizerKind.AdamW, RobustLossKind.GCE, LearningRateSchedule.Constant, AdaptRecipe.LpFt, BackboneKind.ResNet, (HeadInit?)null),
            (settings.Optimizer, settings.Loss, settings.Schedule, settings.Recipe, settings.Backbone, settings.HeadInit));
        var defaults = Parse<DetectCommand.Settings>("detect", "--model", "random:tiny", "--data", "d", "--format", "idx", "--out", "o");
        Assert.Equal((DetectionMethod.ClipPosterior, SelectionSource.LastEpoch, DeftVariant.Synthetic, ClassTokenPosition.End),
            (defaults.Method, defaults.Selection, defaults.Variant, defaults.ClassTokenPosition));
        var adaptDefaults = Parse<AdaptCommand.Settings>("adapt", "--model", "random:tiny", "--data", "d", "--format", "idx", "--out", "o");
        Assert.Equal((BackboneKind.Auto, RobustLossKind.CE, LearningRateSchedule.Cosine, (HeadInit?)null, (AdaptRecipe?)null, (OptimizerKind?)null),
            (adaptDefaults.Backbone, adaptDefaults.Loss, adaptDefaults.Schedule, adaptDefaults.HeadInit, adaptDefaults.Recipe, adaptDefaults.Optimizer));
        Assert.Equal(BadImagePolicy.Skip, Parse<DataInfoCommand.Settings>("data", "info", "--data", "d", "--format", "idx", "--on-bad-image", "skip").OnBadImage);
    }

    [Fact]
    public void The_cli_names_the_flag_of_an_invalid_value()
    {
        var (code, output) = CliConsole.Run("detect", "--model", "random:tiny", "--data", "d", "--format", "idx", "--out", "o", "--selection", "best");
        Assert.Equal(2, code);
        Assert.Contains("error: --selection: 'best' is not a valid value. Valid values: last-epoch, eval.", output);
        (code, output) = CliConsole.Run("adapt", "--model", "random:tiny", "--data", "d", "--format", "idx", "--out", "o", "--head-init=zero");
        Assert.Equal(2, code);
        Assert.Contains("error: --head-init: 'zero' is not a valid value. Valid values: auto, random, text.", output);
        // Was NoiseCommandTests' "bogus" row: the mode is now checked when the flag binds, before the command runs.
        (code, output) = CliConsole.Run("noise", "--data", "d", "--format", "idx", "--mode", "bogus", "--ratio", "0.2", "--out", "o.csv");
        Assert.Equal(2, code);
        Assert.Contains("error: --mode: 'bogus' is not a valid value. Valid values: sym, asym, asym-cifar10, pairflip, idn, file, str.", output);
    }

    /// <summary>The settings a command line binds to, captured before the command runs.</summary>
    internal static T Parse<T>(params string[] args) where T : CommandSettings
    {
        var interceptor = new Capture();
        var app = CliHarness.App(c => c.SetInterceptor(interceptor));
        try { app.Run(args); } catch (Stop) { }
        return Assert.IsType<T>(interceptor.Settings);
    }

    private sealed class Stop : Exception;

    private sealed class Capture : ICommandInterceptor
    {
        public CommandSettings? Settings { get; private set; }
        public void Intercept(CommandContext context, CommandSettings settings)
        {
            Settings = settings;
            throw new Stop();
        }
    }
}

/// <summary>Runs <see cref="CliEntry.Run"/> as `deft` does, into a wide, colourless console whose text is returned.</summary>
internal static class CliConsole
{
    public static (int Code, string Output) Run(params string[] args) => Run(args, null);

    public static (int Code, string Output) Run(string[] args, Action<IConfigurator>? configure)
    {
        var writer = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(writer), ColorSystem = ColorSystemSupport.NoColors, Interactive = InteractionSupport.No });
        console.Profile.Width = 100_000;
        var code = CliEntry.Run(args, console, c =>
        {
            c.Settings.Console = console; // help and command output too, not only errors
            configure?.Invoke(c);
        });
        return (code, writer.ToString());
    }
}
