namespace Deft.IO;

/// <summary>
/// Writes files so a reader never sees half of one: the content goes to a temporary file in the same directory,
/// which is then renamed over the destination (atomic on POSIX file systems). A crash leaves the old file intact.
/// </summary>
public static class AtomicFile
{
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
        var tmp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            writeTo(tmp);
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
            _tmp = Path.Combine(dir, $".{Path.GetFileName(_path)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
            Stream = new FileStream(_tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None);
        }

        public Stream Stream { get; }

        public void Abort() => _aborted = true;

        public void Dispose()
        {
            Stream.Dispose();
            if (_aborted) { File.Delete(_tmp); return; }
            File.Move(_tmp, _path, overwrite: true);
        }
    }
}
