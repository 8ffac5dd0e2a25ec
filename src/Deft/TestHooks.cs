namespace Deft;

/// <summary>
/// Test-only: <c>DEFT_TEST_PAUSE_BEFORE=STAGE</c> makes the process print one line to stderr and sleep (up to ten
/// minutes) when it reaches STAGE, so a test can kill it at a known point. Stages: <c>train:E:S</c> (after step S of
/// epoch E of detection training was reported; an epoch's first and last steps always are), <c>detector</c> and <c>outputs</c> (before detect writes
/// detector.safetensors, then samples.csv/label_issues.csv/summary.json), <c>report</c> (before report.html), and
/// <c>rename:NAME</c> (an atomic write of NAME has its temporary file complete and is about to rename it). Not for
/// users: nothing else changes when it is set.
/// </summary>
public static class TestHooks
{
    public const string PauseVariable = "DEFT_TEST_PAUSE_BEFORE";

    /// <summary>The line printed (to stderr) when pausing; tests wait for it.</summary>
    public const string PausedMessage = "deft: test hook: paused before";

    /// <summary>Whether the pause variable is set (callers build stage names only then).</summary>
    public static bool Active => Environment.GetEnvironmentVariable(PauseVariable) is { Length: > 0 };

    public static void PauseBefore(string stage)
    {
        if (Environment.GetEnvironmentVariable(PauseVariable) is not { Length: > 0 } wanted || !string.Equals(wanted, stage, StringComparison.Ordinal)) return;
        Console.Error.WriteLine($"{PausedMessage} {stage} (pid {Environment.ProcessId})");
        Console.Error.Flush();
        Thread.Sleep(TimeSpan.FromMinutes(10));
    }
}
