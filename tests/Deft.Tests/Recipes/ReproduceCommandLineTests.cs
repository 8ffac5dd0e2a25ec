using System.Text.Json;
using Deft.Adaptation;
using Deft.Cli;
using Deft.Cli.Commands;
using Deft.Recipes;
using Spectre.Console.Cli;

namespace Deft.Tests.Recipes;

/// <summary>
/// Every command line a recipe plans is parsed by the real commands' Spectre settings (registered as Program
/// registers them): an unknown flag fails, and the settings the command would build its options from must equal the
/// options <see cref="ReproduceRunner"/> runs in-process.
/// </summary>
public sealed class ReproduceCommandLineTests
{
    private sealed class Captured(string name, CommandSettings settings, IReadOnlyList<string> remaining) : Exception(name)
    {
        public string Name { get; } = name;
        public CommandSettings Settings { get; } = settings;
        public IReadOnlyList<string> Remaining { get; } = remaining;
    }

    /// <summary>Stops before the command runs and hands back what Spectre bound.</summary>
    private sealed class Capture : ICommandInterceptor
    {
        public void Intercept(CommandContext context, CommandSettings settings) =>
            throw new Captured(context.Name, settings, context.Remaining.Raw);
    }

    /// <summary>
    /// Parses <paramref name="args"/> as `deft` would and returns the bound, validated settings. Strict parsing, and
    /// no remaining arguments: Program's app lets an unknown option through to context.Remaining, where a command
    /// never looks, so a misspelt flag would otherwise pass unnoticed.
    /// </summary>
    private static (string Name, CommandSettings Settings) Parse(IReadOnlyList<string> args)
    {
        // A fresh app per parse: an app's interceptor serves its first run only.
        var app = CliHarness.App(c => c.SetInterceptor(new Capture()));
        try
        {
            app.Run(args.ToArray());
        }
        catch (Captured c)
        {
            Assert.True(c.Remaining.Count == 0, $"{string.Join(' ', args)}: arguments no option takes: {string.Join(' ', c.Remaining)}");
            var validation = c.Settings.Validate();
            Assert.True(validation.Successful, $"{string.Join(' ', args)}: {validation.Message}");
            return (c.Name, c.Settings);
        }
        throw new Xunit.Sdk.XunitException($"{string.Join(' ', args)} ran without reaching the command.");
    }

    private static string Json(object value) => JsonSerializer.Serialize(value, value.GetType());

    public static IEnumerable<object[]> Recipes() => RecipeRegistry.All.Select(r => new object[] { r.Name });

    [Theory]
    [MemberData(nameof(Recipes))]
    public void Every_planned_command_parses_with_the_real_flags_and_means_what_reproduce_runs(string name)
    {
        var plan = ReproducePlanner.Plan(RecipeRegistry.Get(name), new PlanOptions(null, "/models/clip vit-b-16", "out dir", 7));
        Assert.NotEmpty(plan.Steps);
        foreach (var step in plan.Steps)
        {
            var (command, settings) = Parse(step.Arguments);
            switch (step.Action)
            {
                case NoiseAction a:
                {
                    Assert.Equal("noise", command);
                    var s = Assert.IsType<NoiseCommand.Settings>(settings);
                    Assert.Equal((a.Data.Path, a.Data.Format, a.Data.Split, a.Noise.Mode, a.Noise.Ratio, a.Noise.Seed, a.OutputFile),
                        (s.Data, s.Format, s.Split, s.Mode!.Value, s.Ratio!.Value, s.Seed, s.Out));
                    break;
                }
                case SubsampleAction a:
                {
                    Assert.Equal("subsample", command);
                    var s = Assert.IsType<SubsampleCommand.Settings>(settings);
                    Assert.Equal((a.Data.Path, a.Data.Format, a.Data.Split, a.Data.ClassesFile, a.Size, a.Seed, a.OutputFile),
                        (s.Data, s.Format, s.Split, s.Classes, s.Size!.Value, s.Seed, s.Out));
                    break;
                }
                case DetectAction a:
                {
                    Assert.Equal("detect", command);
                    var s = Assert.IsType<DetectCommand.Settings>(settings);
                    // Momentum and weight decay have no flag: the recipe's must be the command's defaults, or this differs.
                    Assert.Equal(Json(a.Options), Json(s.ToOptions()));
                    break;
                }
                case AdaptAction a:
                {
                    Assert.Equal("adapt", command);
                    var s = Assert.IsType<AdaptCommand.Settings>(settings);
                    Assert.Equal(Json(a.Options), Json(AdaptCommand.BuildOptions(s)));
                    Assert.Equal((a.Train.Path, a.Train.Format, a.Train.Split, a.Train.ClassesFile), (s.Data, s.Format, s.Split, s.Classes));
                    Assert.Equal((a.Test.Path, a.Test.Split), (s.Test, s.TestSplit));
                    break;
                }
                case EvaluateAction a:
                {
                    Assert.Equal("predict", command);
                    var s = Assert.IsType<PredictCommand.Settings>(settings);
                    Assert.Equal((a.ModelDirectory, a.Data.Path, a.Data.Format, a.Data.Split, a.Data.ClassesFile, a.OutputFile),
                        (s.ModelDir, s.Data, s.Format, s.Split, s.Classes, s.Out));
                    break;
                }
                default:
                    Assert.Fail($"unexpected step {step.Kind}");
                    break;
            }
            // The printed command is the arguments, shell-quoted ("out dir" and the model path hold spaces).
            Assert.Equal("./deft " + string.Join(' ', step.Arguments.Select(PlanCommandLine.ShellQuote)), step.Command);
            Assert.StartsWith(Path.Combine("out dir", name), step.Directory, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void A_flag_the_command_lacks_fails_the_parse()
    {
        // The guesses the first plan made (before detect existed) must not parse: the check above can fail.
        var detect = ReproducePlanner.Plan(RecipeRegistry.Get("cifar100n"), new PlanOptions(null, "m.safetensors")).Steps.Single(s => s.Kind == StepKind.Detect);
        Assert.Equal("detect", Parse(detect.Arguments).Name);
        Assert.ThrowsAny<CommandParseException>(() => Parse([.. detect.Arguments, "--vpt-deep", "20"]));
        Assert.ThrowsAny<CommandParseException>(() => Parse([.. detect.Arguments, "--warmup-epochs", "5"]));
        Assert.ThrowsAny<CommandParseException>(() => Parse(["adapt", "--model", "m", "--data", "d", "--format", "cifar100", "--out", "o", "--finetune", "full"]));
    }

    [Theory]
    [InlineData("clothing1m", true)]
    [InlineData("webvision", true)]
    [InlineData("cifar100n", false)]
    [InlineData("cifar100-sym-0.4", false)]
    public void Real_noise_rows_run_phase_two_at_a_constant_rate_as_main_real_phase2(string recipe, bool constant)
    {
        var step = ReproducePlanner.Plan(RecipeRegistry.Get(recipe), new PlanOptions(null, "m")).Steps.Single(s => s.Kind == StepKind.Adapt);
        Assert.Equal(constant, Assert.IsType<AdaptAction>(step.Action).Options.ConstantLearningRate);
        Assert.Equal(constant, step.Command.Contains("--schedule constant"));
    }

    [Fact]
    public void Smoke_override_sets_both_phases_and_caps_the_warm_up()
    {
        var plan = ReproducePlanner.Plan(RecipeRegistry.Get("webvision"), new PlanOptions(null, "m", Epochs: 2));
        Assert.False(plan.FullSchedule);
        var detect = Assert.IsType<DetectAction>(plan.Steps.Single(s => s.Kind == StepKind.Detect).Action).Options;
        Assert.Equal((2, 2), (detect.Epochs, detect.Warmup));
        Assert.Equal(2, Assert.IsType<AdaptAction>(plan.Steps.Single(s => s.Kind == StepKind.Adapt).Action).Options.Epochs);
        Assert.Contains("--epochs 2 --warmup 2", plan.Steps.Single(s => s.Kind == StepKind.Detect).Command);
        Assert.True(ReproducePlanner.Plan(RecipeRegistry.Get("webvision"), new PlanOptions(null)).FullSchedule);
        Assert.Throws<DeftException>(() => ReproducePlanner.Plan(RecipeRegistry.Get("webvision"), new PlanOptions(null, Epochs: 0)));
    }
}
