using System.Text.RegularExpressions;

namespace Deft.IO;

/// <summary>
/// Writes files so a reader never sees half of one: the content goes to a temporary file in the same directory,
/// which is then renamed over the destination (atomic on POSIX file systems). A crash leaves the old file intact.
/// </summary>
public static partial class AtomicFile
{
    /// <summary>The name of a temporary file: <c>.NAME.PID.GUID.tmp</c>.</summary>
    [GeneratedRegex(@"^\.(?<name>.+)\.(?<pid>[0-9]+)\.[0-9a-f]{32}\.tmp$", RegexOptions.CultureInvariant)]
    private static partial Regex TemporaryName();

    private static string TemporaryPath(string dir, string full) =>
        Path.Combine(dir, $".{Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");

    /// <summary>
    /// Deletes the temporary files that interrupted writes left in <paramref name="directory"/> (not its sub-folders):
    /// all of them, or with <paramref name="deadProcessesOnly"/> those whose writing process is gone (for a folder
    /// that several runs share, like the feature cache). Returns the names removed.
    /// </summary>
    public static IReadOnlyList<string> RemoveTemporaryFiles(string directory, bool deadProcessesOnly = false)
    {
        var removed = new List<string>();
        if (!Directory.Exists(directory)) return removed;
        foreach (var path in Directory.EnumerateFiles(directory, ".*.tmp"))
        {
            var name = Path.GetFileName(path);
            var match = TemporaryName().Match(name);
            if (!match.Success) continue;
            if (deadProcessesOnly && int.TryParse(match.Groups["pid"].ValueSpan, out var pid) && ProcessIsRunning(pid)) continue;
            try
            {
                File.Delete(path);
                removed.Add(name);
            }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
        return removed;
    }

    private static bool ProcessIsRunning(int pid)
    {
        if (pid == Environment.ProcessId) return true;
        try
        {
            using var p = System.Diagnostics.Process.GetProcessById(pid);
            return !p.HasExited;
        }
        catch (ArgumentException) { return false; }
        catch (InvalidOperationException) { return false; }
    }

    public static void WriteAllText(string path, string contents) =>
        Write(path, tmp => File.WriteAllText(tmp, contents));

    public static void WriteAllBytes(string path, ReadOnlySpan<byte> bytes)
    {
        var copy = bytes.ToArray();
        Write(path, tmp => File.WriteAllBytes(tmp, copy));
    }

    /// <summary>Runs <paramref name="writeTo"/> on a temporary path, then moves it to <paramref name="path"/>.</summary>
    public static void Write(string path, Action<string> writeTo)
    {
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(dir);
        var tmp = TemporaryPath(dir, full);
        try
        {
            writeTo(tmp);
            TestHooks.PauseBefore($"rename:{Path.GetFileName(full)}");
            File.Move(tmp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }

    /// <summary>Opens a stream on a temporary file; disposing the returned handle commits it (rename) unless <see cref="Committer.Abort"/>.</summary>
    public static Committer Create(string path) => new(path);

    public sealed class Committer : IDisposable
    {
        private readonly string _path;
        private readonly string _tmp;
        private bool _aborted;

        internal Committer(string path)
        {
            _path = Path.GetFullPath(path);
            var dir = Path.GetDirectoryName(_path)!;
            Directory.CreateDirectory(dir);
            _tmp = TemporaryPath(dir, _path);
            Stream = new FileStream(_tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None);
        }

        public Stream Stream { get; }

        public void Abort() => _aborted = true;

        public void Dispose()
        {
            Stream.Dispose();
            if (_aborted) { File.Delete(_tmp); return; }
            TestHooks.PauseBefore($"rename:{Path.GetFileName(_path)}");
            File.Move(_tmp, _path, overwrite: true);
        }
    }
}
