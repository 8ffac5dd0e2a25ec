using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace Deft.IO;

/// <summary>
/// An output directory (<c>--out</c>) held by one run: <see cref="Lock"/> creates <c>.deft.lock</c> exclusively
/// (O_EXCL) with the holder's pid and start time and removes it on dispose, so a second run into the same folder
/// fails at once naming the first's pid; a lock whose process is gone (killed) is taken over with a notice. Taking the
/// lock also removes the temporary files an interrupted <see cref="AtomicFile"/> write left behind.
/// <para>
/// The lock is re-entrant within one logical call flow (the CLI command holds it while the library call it makes
/// takes it again), not across threads or processes.
/// </para>
/// </summary>
public static class OutputDirectory
{
    public const string LockFile = ".deft.lock";

    private static readonly AsyncLocal<HashSet<string>?> Held = new();

    /// <summary>
    /// Takes the lock of <paramref name="directory"/> (created if missing) for the returned handle's lifetime and
    /// removes leftover temporary files. Throws <see cref="DeftException"/> naming the holder when another live process
    /// (or another run in this process) holds it.
    /// </summary>
    public static IDisposable Lock(string directory, Action<string>? notice = null)
    {
        var dir = Path.GetFullPath(directory);
        if (File.Exists(dir)) throw new DeftException($"{Setting.OutputDirectory} {dir} is a file; pass a directory.");
        var held = Held.Value;
        if (held is not null && held.Contains(dir)) return new Handle(dir, owner: false);
        Directory.CreateDirectory(dir);
        var lockPath = Path.Combine(dir, LockFile);
        for (var attempt = 0; ; attempt++)
        {
            if (TryCreate(lockPath)) break;
            var holder = ReadHolder(lockPath);
            if (holder is null && attempt < 3) { Thread.Sleep(20); continue; } // being written or just removed: look again
            if (holder is { } h && IsAlive(h))
                throw new DeftException($"{dir} is in use by another Deft run (pid {h.Pid}{(h.Command is { Length: > 0 } c ? $", {c}" : "")}, " +
                                        $"since {h.StartedUtc:u}). Wait for it to finish, or choose another {Setting.OutputDirectory}. If no such run exists, delete {lockPath}.");
            if (attempt >= 5) throw new DeftException($"{lockPath}: could not take the lock of {dir}; delete the file if no Deft run uses the folder.");
            // Stale: its process is gone. Move it aside (only one taker can) and try again.
            var aside = $"{lockPath}.{Environment.ProcessId}.{Guid.NewGuid():N}.stale";
            try
            {
                File.Move(lockPath, aside);
                File.Delete(aside);
                notice?.Invoke(holder is { } old
                    ? $"{dir}: took over the lock of pid {old.Pid}, which is no longer running (an interrupted run)."
                    : $"{dir}: replaced an unreadable lock file {LockFile}.");
            }
            catch (FileNotFoundException) { }
            catch (IOException) { }
        }
        Held.Value = Held.Value is { } current ? [.. current, dir] : new HashSet<string>(StringComparer.Ordinal) { dir };
        AtomicFile.RemoveTemporaryFiles(dir);
        return new Handle(dir, owner: true);
    }

    /// <summary>Whether this call flow holds the lock of <paramref name="directory"/>.</summary>
    public static bool IsHeld(string directory) => Held.Value?.Contains(Path.GetFullPath(directory)) == true;

    /// <summary>
    /// Deletes <paramref name="names"/> (files, or folders given with a trailing '/') in <paramref name="directory"/>
    /// where they exist, and every temporary file an <see cref="AtomicFile"/> write left; returns what it removed.
    /// </summary>
    public static IReadOnlyList<string> Remove(string directory, IEnumerable<string> names)
    {
        var removed = new List<string>();
        if (!Directory.Exists(directory)) return removed;
        foreach (var name in names)
        {
            var path = Path.Combine(directory, name.TrimEnd('/'));
            if (name.EndsWith('/'))
            {
                if (Directory.Exists(path)) { Directory.Delete(path, recursive: true); removed.Add(name); }
            }
            else if (File.Exists(path))
            {
                File.Delete(path);
                removed.Add(name);
            }
        }
        removed.AddRange(AtomicFile.RemoveTemporaryFiles(directory));
        return removed;
    }

    private static bool TryCreate(string lockPath)
    {
        FileStream stream;
        try
        {
            stream = new FileStream(lockPath, FileMode.CreateNew, FileAccess.Write, FileShare.Read);
        }
        catch (IOException) when (File.Exists(lockPath))
        {
            return false;
        }
        using (stream)
        {
            using var process = Process.GetCurrentProcess();
            var holder = new Holder(Environment.ProcessId, StartTicks(process), Environment.MachineName, CommandLine());
            JsonSerializer.Serialize(stream, holder);
        }
        return true;
    }

    private static string CommandLine()
    {
        var args = Environment.GetCommandLineArgs();
        var command = args.Skip(1).FirstOrDefault(a => !a.EndsWith(".dll", StringComparison.OrdinalIgnoreCase));
        return command is null ? "" : $"deft {command}";
    }

    private static Holder? ReadHolder(string lockPath)
    {
        try
        {
            var text = File.ReadAllText(lockPath);
            return JsonSerializer.Deserialize<Holder>(text);
        }
        catch (Exception ex) when (ex is IOException or JsonException or UnauthorizedAccessException or NotSupportedException)
        {
            return null;
        }
    }

    /// <summary>A holder on another machine cannot be checked and counts as alive.</summary>
    private static bool IsAlive(Holder holder)
    {
        if (!string.Equals(holder.Host, Environment.MachineName, StringComparison.Ordinal)) return true;
        if (holder.Pid == Environment.ProcessId) return true; // this process: another run in it holds the folder
        try
        {
            using var process = Process.GetProcessById(holder.Pid);
            if (process.HasExited) return false;
            // A recycled pid belongs to a process started later.
            return Math.Abs(StartTicks(process) - holder.StartTicks) < TimeSpan.TicksPerSecond * 2;
        }
        catch (ArgumentException)
        {
            return false;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return true;
        }
    }

    private static long StartTicks(Process process)
    {
        try
        {
            return process.StartTime.ToUniversalTime().Ticks;
        }
        catch (Exception ex) when (ex is InvalidOperationException or NotSupportedException or System.ComponentModel.Win32Exception)
        {
            return 0;
        }
    }

    private sealed record Holder(int Pid, long StartTicks, string Host, string? Command)
    {
        public DateTime StartedUtc => new(Math.Max(0, StartTicks), DateTimeKind.Utc);
    }

    private sealed class Handle(string directory, bool owner) : IDisposable
    {
        private bool _disposed;

        public void Dispose()
        {
            if (_disposed || !owner) return;
            _disposed = true;
            if (Held.Value is { } held && held.Contains(directory))
                Held.Value = new HashSet<string>(held.Where(d => d != directory), StringComparer.Ordinal);
            try { File.Delete(Path.Combine(directory, LockFile)); }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
    }
}
