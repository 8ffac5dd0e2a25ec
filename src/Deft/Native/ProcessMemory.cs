using System.Globalization;

namespace Deft.Native;

/// <summary>The process's own memory figures, as the kernel counts them (Linux /proc; null elsewhere).</summary>
public static class ProcessMemory
{
    /// <summary>
    /// Peak resident set size of this process so far (VmHWM), in bytes: what `/usr/bin/time -v` reports as maximum
    /// resident set size. Null where /proc/self/status is missing or has no such line.
    /// </summary>
    public static long? PeakResidentBytes() => ReadStatusKilobytes("/proc/self/status", "VmHWM:");

    /// <summary>The value of a "Name:   N kB" line of a /proc status file, in bytes.</summary>
    internal static long? ReadStatusKilobytes(string path, string field)
    {
        try
        {
            foreach (var line in File.ReadLines(path))
            {
                if (!line.StartsWith(field, StringComparison.Ordinal)) continue;
                var parts = line[field.Length..].Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
                return parts.Length == 2 && parts[1] == "kB" && long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var kb)
                    ? kb * 1024 : null;
            }
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return null;
    }
}
