using System.Diagnostics;
using System.Text;

namespace Deft.Tests;

/// <summary>
/// Runs `deft` as a child process (<c>dotnet Deft.Cli.dll ...</c> from the test output folder, where the project
/// reference puts it), for what an in-process run cannot show: a real SIGKILL, two processes on one folder. Output
/// lines of stdout and stderr are collected as they arrive; <see cref="WaitFor"/> blocks until one matches.
/// </summary>
internal sealed class CliProcess : IDisposable
{
    /// <summary>glibc's malloc as the suite runs it: freed tensor memory is not returned piecemeal to the OS.</summary>
    public const string GlibcTunables = "glibc.malloc.mmap_threshold=2147483647:glibc.malloc.trim_threshold=2147483647";

    private readonly Process _process;
    private readonly List<string> _lines = [];
    private readonly object _gate = new();
    private int _openStreams = 2;

    private CliProcess(Process process)
    {
        _process = process;
        _process.OutputDataReceived += (_, e) => Add(e.Data);
        _process.ErrorDataReceived += (_, e) => Add(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public static string CliDll => Path.Combine(AppContext.BaseDirectory, "Deft.Cli.dll");

    public int Id => _process.Id;

    /// <summary>Everything printed so far, stdout and stderr interleaved as they arrived.</summary>
    public string Output
    {
        get { lock (_gate) return string.Join("\n", _lines); }
    }

    /// <summary>
    /// Starts <c>dotnet Deft.Cli.dll args</c>. <paramref name="environment"/> adds or (null value) removes variables;
    /// DEFT_TEST_PAUSE_BEFORE is never inherited from the test process.
    /// </summary>
    public static CliProcess Start(IEnumerable<string> args, IReadOnlyDictionary<string, string?>? environment = null, string? workingDirectory = null)
    {
        if (!File.Exists(CliDll)) throw new InvalidOperationException($"{CliDll} is missing; the test project references Deft.Cli, so a build puts it there.");
        var info = new ProcessStartInfo(DotnetHost())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = false,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Path.GetTempPath(),
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        info.ArgumentList.Add(CliDll);
        foreach (var a in args) info.ArgumentList.Add(a);
        info.Environment["GLIBC_TUNABLES"] = GlibcTunables;
        info.Environment.Remove(TestHooks.PauseVariable);
        info.Environment["NO_COLOR"] = "1";
        foreach (var (name, value) in environment ?? new Dictionary<string, string?>())
        {
            if (value is null) info.Environment.Remove(name);
            else info.Environment[name] = value;
        }
        return new CliProcess(Process.Start(info) ?? throw new InvalidOperationException("dotnet did not start."));
    }

    /// <summary>Runs to completion; returns the exit code and the output.</summary>
    public static (int ExitCode, string Output) Run(IEnumerable<string> args, IReadOnlyDictionary<string, string?>? environment = null,
        TimeSpan? timeout = null)
    {
        using var p = Start(args, environment);
        var code = p.WaitForExit(timeout ?? TimeSpan.FromSeconds(120));
        return (code, p.Output);
    }

    /// <summary>Waits until a line matching <paramref name="match"/> arrives; false when the process exits or the time runs out first.</summary>
    public bool WaitFor(Func<string, bool> match, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        lock (_gate)
        {
            var seen = 0;
            while (true)
            {
                for (; seen < _lines.Count; seen++)
                    if (match(_lines[seen])) return true;
                if (_openStreams == 0) return false;
                var left = deadline - DateTime.UtcNow;
                if (left <= TimeSpan.Zero) return false;
                Monitor.Wait(_gate, left);
            }
        }
    }

    /// <summary>SIGKILL (no handler runs, nothing is flushed) and reap.</summary>
    public void Kill()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        _process.WaitForExit();
    }

    /// <summary>Waits for the exit (killing it after <paramref name="timeout"/> and failing) and returns the exit code.</summary>
    public int WaitForExit(TimeSpan timeout)
    {
        if (!_process.WaitForExit(timeout))
        {
            Kill();
            throw new TimeoutException($"deft did not finish within {timeout.TotalSeconds:F0} s. Output:\n{Output}");
        }
        _process.WaitForExit(); // drains the redirected streams
        return _process.ExitCode;
    }

    public void Dispose()
    {
        try { Kill(); }
        catch (InvalidOperationException) { }
        _process.Dispose();
    }

    private void Add(string? line)
    {
        lock (_gate)
        {
            if (line is null) _openStreams--;
            else _lines.Add(line);
            Monitor.PulseAll(_gate);
        }
    }

    /// <summary>The dotnet host that runs this test process (the SDK sets DOTNET_HOST_PATH), else dotnet from PATH.</summary>
    private static string DotnetHost()
    {
        if (Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host)) return host;
        if (Environment.ProcessPath is { } self && Path.GetFileNameWithoutExtension(self) == "dotnet") return self;
        return "dotnet";
    }
}
