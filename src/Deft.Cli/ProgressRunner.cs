using System.Text.Json;
using Spectre.Console;

namespace Deft.Cli;

/// <summary>One bar of a live display: a report with a new <paramref name="Key"/> starts a new bar below the others.</summary>
internal readonly record struct ProgressBar(object Key, double Value, double MaxValue, string Description);

/// <summary>
/// The one progress display of the CLI: live Spectre bars (<see cref="Live"/>), or, when --json asks for
/// machine-readable output or the output is not a terminal, lines (<see cref="Run"/>). Reports arrive on the
/// reporting thread, in order (<see cref="Report"/>).
/// </summary>
internal static class ProgressRunner
{
    /// <summary>True when bars cannot be drawn: --json, or output redirected to something that is not interactive.</summary>
    public static bool Plain(bool json) => json || Console.IsOutputRedirected && !AnsiConsole.Profile.Capabilities.Interactive;

    /// <summary>An <see cref="IProgress{T}"/> that calls <paramref name="report"/> on the reporting thread (Progress&lt;T&gt; would post to the thread pool and reorder updates).</summary>
    public static IProgress<T> Report<T>(Action<T> report) => new Synchronous<T>(report);

    private sealed class Synchronous<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }

    /// <summary>
    /// Runs <paramref name="work"/> under live bars, one per distinct <see cref="ProgressBar.Key"/> that
    /// <paramref name="bar"/> gives; <paramref name="autoClear"/> removes them when the work ends.
    /// </summary>
    public static TResult Live<TProgress, TResult>(Func<IProgress<TProgress>, TResult> work, Func<TProgress, ProgressBar> bar, bool autoClear = false)
    {
        TResult result = default!;
        AnsiConsole.Progress()
            .AutoClear(autoClear)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                var tasks = new Dictionary<object, ProgressTask>();
                ProgressTask? last = null;
                result = work(Report<TProgress>(p =>
                {
                    var b = bar(p);
                    var description = Markup.Escape(b.Description);
                    if (!tasks.TryGetValue(b.Key, out var task))
                        tasks[b.Key] = task = ctx.AddTask(description, maxValue: Math.Max(b.MaxValue, double.Epsilon));
                    task.MaxValue = Math.Max(b.MaxValue, double.Epsilon);
                    task.Value = b.Value;
                    task.Description = description;
                    last = task;
                }));
                if (last is not null) last.Value = last.MaxValue;
            });
        return result;
    }

    /// <summary>
    /// Long work with epochs of steps: one live bar over all of them, or (--json / not a terminal) a JSON line per
    /// report on stdout, else a line on stderr every few seconds and at the end of each epoch.
    /// </summary>
    public static TResult Run<TProgress, TResult>(bool json, string task,
        Func<IProgress<TProgress>, CancellationToken, TResult> work,
        Func<TProgress, (int Epoch, int Epochs, int Step, int Steps, string Status)> describe,
        CancellationToken cancellationToken)
    {
        if (Plain(json))
        {
            var last = DateTime.MinValue;
            return work(Report<TProgress>(p =>
            {
                var d = describe(p);
                if (!json && d.Step != d.Steps && (DateTime.UtcNow - last).TotalSeconds < 5) return;
                last = DateTime.UtcNow;
                if (json)
                    Console.WriteLine(JsonSerializer.Serialize(new { task, epoch = d.Epoch, epochs = d.Epochs, step = d.Step, steps = d.Steps, status = d.Status }));
                else if (d.Status.Contains($"step {d.Step}/{d.Steps}", StringComparison.Ordinal))
                    Console.Error.WriteLine($"{task}: {d.Status}"); // the status already says where it is (detect's does)
                else
                    Console.Error.WriteLine($"{task}: epoch {d.Epoch}/{d.Epochs} step {d.Step}/{d.Steps} {d.Status}");
            }), cancellationToken);
        }
        return Live<TProgress, TResult>(progress => work(progress, cancellationToken), p =>
        {
            var d = describe(p);
            return new ProgressBar(task, (d.Epoch - 1) * d.Steps + d.Step, Math.Max(1, d.Epochs * d.Steps), $"{task} {d.Epoch}/{d.Epochs} · {d.Status}");
        });
    }
}
