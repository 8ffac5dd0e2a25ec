using System.Diagnostics;
using System.Text.Json;
using Deft.Adaptation;
using Deft.Cli;
using Deft.Detection;
using Deft.IO;
using Deft.Methods;

namespace Deft.Tests.Cli;

/// <summary>--out folders: one run at a time (a lock naming its pid), --force removes what the project wrote, interrupted writes leave nothing behind.</summary>
public sealed class OutputDirectoryTests
{
    private static string Temp(string dir, string name) => Path.Combine(dir, $".{name}.{123456789}.{Guid.NewGuid():N}.tmp");

    /// <summary>A pid that belonged to a process which has exited (and been reaped).</summary>
    private static (int Pid, long StartTicks) DeadProcess()
    {
        // Alive long enough to read its start time (an exited, reaped process has none).
        using var p = Process.Start(new ProcessStartInfo("sleep", "0.2") { UseShellExecute = false })!;
        var started = p.StartTime.ToUniversalTime().Ticks;
        p.WaitForExit();
        return (p.Id, started);
    }

    [Fact]
    public void TakingTheFolderRemovesTheTemporaryFilesOfInterruptedWritesOnly()
    {
        using var tmp = new TempDir("out-tmp");
        var leftovers = new[] { Temp(tmp.Path, "samples.csv"), Temp(tmp.Path, "detector.safetensors") };
        foreach (var f in leftovers) File.WriteAllText(f, "half");
        var mine = tmp.WriteText("notes.tmp", "user file");
        var hidden = tmp.WriteText(".draft.tmp", "user file");
        using (OutputDirectory.Lock(tmp.Path))
        {
            Assert.All(leftovers, f => Assert.False(File.Exists(f), f));
            Assert.True(File.Exists(mine));
            Assert.True(File.Exists(hidden));
            Assert.True(File.Exists(Path.Combine(tmp.Path, OutputDirectory.LockFile)));
        }
        Assert.False(File.Exists(Path.Combine(tmp.Path, OutputDirectory.LockFile)));
    }

    [Fact]
    public void AStaleLockOfADeadProcessIsTakenOverWithANotice()
    {
        using var tmp = new TempDir("out-stale");
        var (pid, started) = DeadProcess();
        var lockPath = Path.Combine(tmp.Path, OutputDirectory.LockFile);
        File.WriteAllText(lockPath, JsonSerializer.Serialize(new { Pid = pid, StartTicks = started, Host = Environment.MachineName, Command = "deft detect" }));
        var notices = new List<string>();
        using (OutputDirectory.Lock(tmp.Path, notices.Add))
        {
            var notice = Assert.Single(notices);
            Assert.Contains($"took over the lock of pid {pid}", notice);
            Assert.Contains($"\"Pid\":{Environment.ProcessId}", File.ReadAllText(lockPath));
        }

        // A recycled pid (alive, but started after the lock was written) is stale too.
        File.WriteAllText(lockPath, JsonSerializer.Serialize(new { Pid = Environment.ProcessId == 1 ? 2 : 1, StartTicks = 1L, Host = Environment.MachineName }));
        notices.Clear();
        using (OutputDirectory.Lock(tmp.Path, notices.Add)) Assert.Single(notices);
    }

    [Fact]
    public void AnotherRunHoldingTheFolderIsRefusedNamingItsPidAndNestedCallsShareTheLock()
    {
        using var tmp = new TempDir("out-held");
        IDisposable? other = null;
        // Another call flow (as a second run in this process would be).
        var thread = new Thread(() => other = OutputDirectory.Lock(tmp.Path));
        using (ExecutionContext.SuppressFlow()) thread.Start();
        thread.Join();
        try
        {
            var ex = Assert.Throws<DeftException>(() => OutputDirectory.Lock(tmp.Path));
            Assert.Contains($"pid {Environment.ProcessId}", ex.Message);
            Assert.Contains("in use by another Deft run", ex.Message);
        }
        finally
        {
            other!.Dispose();
        }

        using (OutputDirectory.Lock(tmp.Path))
        {
            using (OutputDirectory.Lock(tmp.Path)) Assert.True(OutputDirectory.IsHeld(tmp.Path));
            Assert.True(OutputDirectory.IsHeld(tmp.Path)); // the inner handle does not release the outer lock
            Assert.True(File.Exists(Path.Combine(tmp.Path, OutputDirectory.LockFile)));
        }
        Assert.False(OutputDirectory.IsHeld(tmp.Path));
    }

    private static readonly string[] DetectWrites =
        ["report.html", "samples.csv", "label_issues.csv", "summary.json", "detector.safetensors", "checkpoint.safetensors", "score/samples.csv", "score/report.html"];

    [Fact]
    public void DetectForceRemovesEverythingThePreviousRunWroteBeforeItStartsEvenWhenTheRerunFails()
    {
        using var tmp = new TempDir("out-force");
        var run = Path.Combine(tmp.Path, "run");
        foreach (var f in DetectWrites) tmp.WriteText(Path.Combine("run", f), "previous run");
        var leftover = Temp(run, "summary.json");
        File.WriteAllText(leftover, "half");
        var users = tmp.WriteText("run/notes.txt", "mine");
        var options = new DetectOptions
        {
            Model = "random:tiny@1", Data = Path.Combine(tmp.Path, "no-such-data"), Format = "folder", OutputDirectory = run, Force = true,
        };

        Assert.Throws<DeftException>(() => DeftDetector.Detect(options)); // fails after --force cleared the folder
        foreach (var f in DetectWrites) Assert.False(File.Exists(Path.Combine(run, f)), f);
        Assert.False(Directory.Exists(Path.Combine(run, "score")));
        Assert.False(File.Exists(leftover));
        Assert.True(File.Exists(users));
        Assert.False(File.Exists(Path.Combine(run, OutputDirectory.LockFile)));

        // A report alone is a run too: without --force or --resume it is not overwritten.
        tmp.WriteText("run/report.html", "previous run");
        var ex = Assert.Throws<DeftException>(() => DeftDetector.Detect(options with { Force = false }));
        Assert.Contains("report.html", ex.Message);
        Assert.True(File.Exists(Path.Combine(run, "report.html")));
    }

    [Fact]
    public void AdaptHoldsTheLockAndForceRemovesItsFilesAndTemporaryFiles()
    {
        using var tmp = new TempDir("out-adapt");
        var names = new[] { RunDirectory.RunFile, RunDirectory.CheckpointFile, RunDirectory.ResultFile, AdaptedModel.WeightsFile, AdaptedModel.ConfigFile };
        foreach (var f in names) tmp.WriteText(f, "previous run");
        var leftover = Temp(tmp.Path, AdaptedModel.WeightsFile);
        File.WriteAllText(leftover, "half");
        var users = tmp.WriteText("notes.txt", "mine");
        var train = Transforms.InMemoryDataset.Numbered(5);
        var options = new AdaptOptions { Model = "random:tiny@1", OutputDirectory = tmp.Path };

        var refused = Assert.Throws<DeftException>(() => RunDirectory.Prepare(options, train, null, 5));
        Assert.Contains("--force", FlagNames.Render(refused));
        Assert.False(File.Exists(leftover), "temporary files go even when the run is refused");
        Assert.False(File.Exists(Path.Combine(tmp.Path, OutputDirectory.LockFile)));

        using (var run = RunDirectory.Prepare(options with { Force = true }, train, null, 5))
        {
            foreach (var f in names) Assert.False(File.Exists(Path.Combine(tmp.Path, f)), f);
            Assert.True(File.Exists(users));
            Exception? refused2 = null;
            var thread = new Thread(() => { try { OutputDirectory.Lock(tmp.Path).Dispose(); } catch (DeftException e) { refused2 = e; } });
            using (ExecutionContext.SuppressFlow()) thread.Start();
            thread.Join();
            Assert.Contains($"pid {Environment.ProcessId}", Assert.IsType<DeftException>(refused2).Message);
        }
        Assert.False(File.Exists(Path.Combine(tmp.Path, OutputDirectory.LockFile)));
    }
}
