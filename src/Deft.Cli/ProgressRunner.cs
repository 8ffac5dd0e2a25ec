using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace Deft.Cli;

/// <summary>
/// One bar of a live display: a report with a new <paramref name="Key"/> starts a new bar below the others (and stops
/// the clock of the bars before it). <paramref name="ImagesPerUnit"/> turns the bar's units per second into images/s
/// (1 when the bar counts images, the batch size when it counts steps; 0: no rate). <paramref name="UnitsAfter"/> is
/// the work of the same kind still to come after this bar (the later epochs' steps), for an ETA of all of it.
/// </summary>
internal readonly record struct ProgressBar(object Key, double Value, double MaxValue, string Description, double ImagesPerUnit = 0, double UnitsAfter = 0);

/// <summary>
/// The one progress display of the CLI: live Spectre bars (<see cref="Live"/>), or, when --json asks for
/// machine-readable output or the output is not a terminal, lines (<see cref="Run"/>). Reports arrive on the
/// reporting thread, in order (<see cref="Report"/>). Every bar says what its times are: "elapsed", "ETA" (this bar),
/// "all ETA" (this and the work after it), "took" once finished, and images/s where the work counts images.
/// </summary>
internal static class ProgressRunner
{
    /// <summary>Per bar: images per unit and the units after it (written on the reporting thread, read by the render thread).</summary>
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<ProgressTask, BarRates> Rates = new();

    private sealed class BarRates
    {
        public volatile float ImagesPerUnit;
        public double UnitsAfter { get => Volatile.Read(ref _unitsAfter); set => Volatile.Write(ref _unitsAfter, value); }
        private double _unitsAfter;
    }

    private static BarRates RatesOf(ProgressTask task) => Rates.GetValue(task, _ => new BarRates());

    /// <summary>True when bars cannot be drawn: --json, or output redirected to something that is not interactive.</summary>
    public static bool Plain(bool json) => json || Console.IsOutputRedirected && !AnsiConsole.Profile.Capabilities.Interactive;

    /// <summary>An <see cref="IProgress{T}"/> that calls <paramref name="report"/> on the reporting thread (Progress&lt;T&gt; would post to the thread pool and reorder updates).</summary>
    public static IProgress<T> Report<T>(Action<T> report) => new Synchronous<T>(report);

    private sealed class Synchronous<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }

    /// <summary>The columns of every live display: what, bar, percent, images/s, labelled times.</summary>
    internal static ProgressColumn[] Columns() =>
        [new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new ImageRateColumn(), new LabelledTimeColumn()];

    /// <summary>
    /// Runs <paramref name="work"/> under live bars, one per distinct <see cref="ProgressBar.Key"/> that
    /// <paramref name="bar"/> gives; <paramref name="autoClear"/> removes them when the work ends.
    /// </summary>
    public static TResult Live<TProgress, TResult>(Func<IProgress<TProgress>, TResult> work, Func<TProgress, ProgressBar> bar, bool autoClear = false)
    {
        TResult result = default!;
        AnsiConsole.Progress()
            .AutoClear(autoClear)
            .Columns(Columns())
            .Start(ctx =>
            {
                var bars = new BarSet(ctx.AddTask);
                try
                {
                    result = work(Report<TProgress>(p => bars.Update(bar(p))));
                }
                finally
                {
                    bars.StopAll();
                }
            });
        return result;
    }

    /// <summary>
    /// Work in phases (detect: encode images, train epochs, eval pass): <see cref="Live"/> bars on a terminal; when
    /// <paramref name="plain"/>, a line on stderr per bar every few seconds and when it completes, with the same labels.
    /// </summary>
    public static TResult Phases<TProgress, TResult>(bool plain, Func<IProgress<TProgress>, TResult> work, Func<TProgress, ProgressBar> bar)
    {
        if (!plain) return Live(work, bar);
        // A phase starts when the one before it last reported (the first when the work starts), not at its own first
        // report: that report already follows a batch of work, and timing from it overstates the rate.
        var clock = Stopwatch.StartNew();
        var starts = new Dictionary<object, TimeSpan>();
        var lastReport = TimeSpan.Zero;
        var lastLine = DateTime.MinValue;
        return work(Report<TProgress>(p =>
        {
            var b = bar(p);
            var now = clock.Elapsed;
            if (!starts.TryGetValue(b.Key, out var start))
            {
                starts[b.Key] = start = lastReport;
                lastLine = DateTime.UtcNow; // a phase's first line after a few seconds, when its rate means something
            }
            lastReport = now;
            if (b.Value < b.MaxValue && (DateTime.UtcNow - lastLine).TotalSeconds < 5) return;
            lastLine = DateTime.UtcNow;
            Console.Error.WriteLine(PlainPhaseLine(b, now - start));
        }));
    }

    /// <summary>"train epoch 2/10 step 5/40 · 12% · elapsed 0:03 · ETA 0:22 · all ETA 3:40 · 850 img/s", "… · took 0:25 · …" when complete.</summary>
    internal static string PlainPhaseLine(ProgressBar b, TimeSpan elapsed)
    {
        var fraction = b.MaxValue > 0 ? Math.Clamp(b.Value / b.MaxValue, 0, 1) : 1;
        var text = $"{b.Description} · {fraction.ToString("0%", CultureInfo.InvariantCulture)} · ";
        var seconds = elapsed.TotalSeconds;
        if (b.Value >= b.MaxValue) text += $"took {FormatTime(elapsed)}";
        else
        {
            text += $"elapsed {FormatTime(elapsed)}";
            if (b.Value > 0 && seconds > 0)
            {
                var speed = b.Value / seconds;
                var left = b.MaxValue - b.Value;
                text += $" · ETA {FormatTime(TimeSpan.FromSeconds(left / speed))}";
                if (b.UnitsAfter > 0) text += $" · all ETA {FormatTime(TimeSpan.FromSeconds((left + b.UnitsAfter) / speed))}";
            }
        }
        if (b.ImagesPerUnit > 0 && b.Value > 0 && seconds > 0) text += $" · {FormatRate(b.Value * b.ImagesPerUnit / seconds)} img/s";
        return text;
    }

    /// <summary>The bars of one display: a new key adds one and stops the previous one's clock; a full bar stops its own.</summary>
    internal sealed class BarSet(Func<string, bool, double, ProgressTask> add)
    {
        private readonly Dictionary<object, ProgressTask> _tasks = [];
        private ProgressTask? _last;

        public ProgressTask Update(ProgressBar b)
        {
            var description = Markup.Escape(b.Description);
            if (!_tasks.TryGetValue(b.Key, out var task))
            {
                if (_last is not null) Stop(_last);
                _tasks[b.Key] = task = add(description, true, Math.Max(b.MaxValue, double.Epsilon));
            }
            task.MaxValue = Math.Max(b.MaxValue, double.Epsilon);
            task.Value = b.Value;
            task.Description = description;
            var rates = RatesOf(task);
            rates.ImagesPerUnit = (float)b.ImagesPerUnit;
            rates.UnitsAfter = b.UnitsAfter;
            if (b.Value >= b.MaxValue) Stop(task);
            _last = task;
            return task;
        }

        public void StopAll()
        {
            foreach (var task in _tasks.Values) Stop(task);
        }

        private static void Stop(ProgressTask task)
        {
            if (task.StopTime is null) task.StopTask();
        }
    }

    /// <summary>"1,234 img/s": the current rate while running, the average once finished; blank where a bar has no images.</summary>
    internal sealed class ImageRateColumn : ProgressColumn
    {
        protected override bool NoWrap => true;

        public override IRenderable Render(RenderOptions options, ProgressTask task, TimeSpan deltaTime) =>
            new Text(ImagesPerSecond(task) is { } rate ? FormatRate(rate) + " img/s" : "", new Style(Color.Grey));
    }

    /// <summary>"elapsed 0:12 · ETA 0:30 · all ETA 4:10" while running, "took 0:42" once finished.</summary>
    internal sealed class LabelledTimeColumn : ProgressColumn
    {
        protected override bool NoWrap => true;

        public override IRenderable Render(RenderOptions options, ProgressTask task, TimeSpan deltaTime) => new Text(Times(task), new Style(Color.Blue));
    }

    internal static double? ImagesPerSecond(ProgressTask task)
    {
        var perUnit = (double)RatesOf(task).ImagesPerUnit;
        if (perUnit <= 0) return null;
        if (task.StopTime is not null || task.IsFinished)
            return task.ElapsedTime is { TotalSeconds: > 0 } e && task.Value > 0 ? task.Value * perUnit / e.TotalSeconds : null;
        return task.Speed is { } speed and > 0 ? speed * perUnit : null;
    }

    internal static string Times(ProgressTask task)
    {
        var elapsed = task.ElapsedTime ?? TimeSpan.Zero;
        if (task.StopTime is not null || task.IsFinished) return $"took {FormatTime(elapsed)}";
        var text = $"elapsed {FormatTime(elapsed)} · ETA ";
        if (task.Speed is not { } speed || speed <= 0) return text + "–";
        var left = Math.Max(0, task.MaxValue - task.Value);
        text += FormatTime(TimeSpan.FromSeconds(left / speed));
        var after = RatesOf(task).UnitsAfter;
        if (after > 0) text += $" · all ETA {FormatTime(TimeSpan.FromSeconds((left + after) / speed))}";
        return text;
    }

    /// <summary>"0:07", "12:34", "1:02:03".</summary>
    internal static string FormatTime(TimeSpan t) =>
        t.TotalHours >= 1
            ? string.Create(CultureInfo.InvariantCulture, $"{(int)t.TotalHours}:{t.Minutes:00}:{t.Seconds:00}")
            : string.Create(CultureInfo.InvariantCulture, $"{(int)t.TotalMinutes}:{t.Seconds:00}");

    internal static string FormatRate(double rate) =>
        rate >= 100 ? rate.ToString("N0", CultureInfo.InvariantCulture) : rate.ToString("0.0", CultureInfo.InvariantCulture);

    /// <summary>"epoch 2/10 · " for work of several epochs; nothing for one (predict has no epochs to count).</summary>
    internal static string EpochPart(int epoch, int epochs) => epochs > 1 ? $"epoch {epoch}/{epochs} · " : "";

    /// <summary>
    /// Long work with epochs of steps: one live bar over all of them, or (--json / not a terminal) a JSON line per
    /// report on stdout, else a line on stderr every few seconds and at the end of each epoch, with elapsed time, ETA
    /// and (with <paramref name="imagesPerStep"/>) images/s.
    /// </summary>
    public static TResult Run<TProgress, TResult>(bool json, string task,
        Func<IProgress<TProgress>, CancellationToken, TResult> work,
        Func<TProgress, (int Epoch, int Epochs, int Step, int Steps, string Status)> describe,
        CancellationToken cancellationToken, double imagesPerStep = 0)
    {
        if (Plain(json))
        {
            var last = DateTime.MinValue;
            var clock = Stopwatch.StartNew();
            return work(Report<TProgress>(p =>
            {
                var d = describe(p);
                if (!json && d.Step != d.Steps && (DateTime.UtcNow - last).TotalSeconds < 5) return;
                last = DateTime.UtcNow;
                if (json)
                    Console.WriteLine(JsonSerializer.Serialize(new { task, epoch = d.Epoch, epochs = d.Epochs, step = d.Step, steps = d.Steps, status = d.Status }));
                else
                    Console.Error.WriteLine(PlainLine(task, d, clock.Elapsed, imagesPerStep));
            }), cancellationToken);
        }
        return Live<TProgress, TResult>(progress => work(progress, cancellationToken), p =>
        {
            var d = describe(p);
            return new ProgressBar(task, (d.Epoch - 1) * d.Steps + d.Step, Math.Max(1, d.Epochs * d.Steps), $"{task} {EpochPart(d.Epoch, d.Epochs)}{d.Status}", imagesPerStep);
        });
    }

    /// <summary>
    /// "adapt: epoch 2/10 step 5/40 loss 0.3 · elapsed 0:12 · ETA 1:40 · 310 img/s" (no epoch part for one epoch;
    /// the step left out when the status already says it, as detect's does).
    /// </summary>
    internal static string PlainLine(string task, (int Epoch, int Epochs, int Step, int Steps, string Status) d, TimeSpan elapsed, double imagesPerStep)
    {
        var where = d.Status.Contains($"step {d.Step}/{d.Steps}", StringComparison.Ordinal)
            ? d.Status
            : $"{(d.Epochs > 1 ? $"epoch {d.Epoch}/{d.Epochs} " : "")}step {d.Step}/{d.Steps} {d.Status}".TrimEnd();
        var done = (double)(Math.Max(0, d.Epoch - 1) * d.Steps + d.Step);
        var total = (double)Math.Max(1, Math.Max(1, d.Epochs) * d.Steps);
        var text = $"{task}: {where} · elapsed {FormatTime(elapsed)}";
        if (done > 0 && elapsed.TotalSeconds > 0)
        {
            text += $" · ETA {FormatTime(TimeSpan.FromSeconds(elapsed.TotalSeconds * Math.Max(0, total - done) / done))}";
            if (imagesPerStep > 0) text += $" · {FormatRate(done * imagesPerStep / elapsed.TotalSeconds)} img/s";
        }
        return text;
    }
}
