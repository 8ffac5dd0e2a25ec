using Deft.Cli;
using Spectre.Console.Cli;

namespace Deft.Tests.Cli;

/// <summary>Cancellation is handled once, in <see cref="CliEntry.Run"/>: exit 130 and one "interrupted." line, whatever the command.</summary>
public class InterruptTests
{
    private sealed class CancelledCommand : Command<CancelledCommand.Settings>
    {
        public sealed class Settings : CommandSettings;

        public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
        {
            // What a command sees after Ctrl-C: its token cancelled, the library throwing from the next check.
            using var source = new CancellationTokenSource();
            source.Cancel();
            source.Token.ThrowIfCancellationRequested();
            return 0;
        }
    }

    private sealed class ResumableCommand : Command<ResumableCommand.Settings>
    {
        public sealed class Settings : CommandSettings, IInterruptHint
        {
            [CommandOption("--out <DIR>")] public string? Out { get; init; }
            public string? InterruptHint() => $"Continue in {Out} with --resume.";
        }

        public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken) =>
            throw new TaskCanceledException();
    }

    private static (int Code, string Output) Run(params string[] args) => CliConsole.Run(args, c =>
    {
        c.AddCommand<CancelledCommand>("test-cancelled");
        c.AddCommand<ResumableCommand>("test-resumable");
    });

    [Fact]
    public void A_cancelled_command_exits_130_with_one_interrupted_line()
    {
        var (code, output) = Run("test-cancelled");
        Assert.Equal(CliEntry.InterruptedExitCode, code);
        Assert.Equal(130, code);
        Assert.Equal("interrupted.", output.Trim());
        Assert.DoesNotContain("unexpected", output);
    }

    [Fact]
    public void The_settings_of_the_interrupted_command_add_their_hint()
    {
        var (code, output) = Run("test-resumable", "--out", "runs/x");
        Assert.Equal(130, code);
        Assert.Equal("interrupted. Continue in runs/x with --resume.", output.Trim());
    }

    [Fact]
    public void Detect_hints_at_resume_only_when_its_output_holds_a_checkpoint()
    {
        using var dir = new TempDir();
        var settings = KebabCaseEnumConverterTests.Parse<Deft.Cli.Commands.DetectCommand.Settings>(
            "detect", "--model", "random:tiny", "--data", "d", "--format", "idx", "--out", dir.Path);
        Assert.Null(settings.InterruptHint());
        var checkpoint = Path.Combine(dir.Path, Deft.Detection.TrainingCheckpoint.FileName);
        File.WriteAllText(checkpoint, "");
        Assert.Equal($"Continue with the same command plus --resume (checkpoint: {checkpoint}).", settings.InterruptHint());
    }
}
