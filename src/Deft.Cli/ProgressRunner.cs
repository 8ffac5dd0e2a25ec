using System.Text.Json;
using Spectre.Console;

namespace Deft.Cli;

/// <summary>
/// Runs long work with a live Spectre progress bar (epoch, step and a status line), or with JSON lines on stdout
/// when <c>--json</c> asks for machine-readable output.
/// </summary>
internal static class ProgressRunner
{
    public static TResult Run<TProgress, TResult>(bool json, string task,
        Func<IProgress<TProgress>, CancellationToken, TResult> work,
        Func<TProgress, (int Epoch, int Epochs, int Step, int Steps, string Status)> describe,
        CancellationToken cancellationToken)
    {
        if (json || Console.IsOutputRedirected && !AnsiConsole.Profile.Capabilities.Interactive)
        {
            var last = DateTime.MinValue;
            Action<TProgress> progress = p =>
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
            };
            return work(new SyncProgress<TProgress>(progress), cancellationToken);
        }
        TResult result = default!;
        AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                var bar = ctx.AddTask(task);
                var progress = new SyncProgress<TProgress>(p =>
                {
                    var d = describe(p);
                    bar.MaxValue = Math.Max(1, d.Epochs * d.Steps);
                    bar.Value = (d.Epoch - 1) * d.Steps + d.Step;
                    bar.Description = Markup.Escape($"{task} {d.Epoch}/{d.Epochs} · {d.Status}");
                });
                result = work(progress, cancellationToken);
                bar.Value = bar.MaxValue;
            });
        return result;
    }
}
