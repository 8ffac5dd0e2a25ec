using System.Runtime.InteropServices;

namespace Deft.Native;

/// <summary>
/// Keeps large freed blocks inside the process. glibc's malloc serves blocks above its mmap threshold (128 KiB,
/// growing dynamically) with fresh mappings and returns freed heap tops to the OS, so every large tensor pays page
/// faults again (64 MiB malloc+memset+free ×50: 819k minor faults and 2.9 s by default, 16k and 0.3 s with these
/// settings, measured on Debian 12's glibc 2.36). <c>./deft</c> and <c>./test</c> set the same through
/// <c>GLIBC_TUNABLES</c>; an installed tool or a library user gets it from <see cref="Apply"/>.
/// </summary>
public static partial class MallocTuning
{
    private const int MTrimThreshold = -1;
    private const int MMmapThreshold = -3;

    /// <summary>
    /// Sets glibc's mmap and trim thresholds to their maximum unless <c>GLIBC_TUNABLES</c> already chose settings.
    /// Returns what was done, for <c>deft doctor</c>; a no-op on other C libraries and operating systems.
    /// </summary>
    public static string Apply()
    {
        if (Environment.GetEnvironmentVariable("GLIBC_TUNABLES") is { Length: > 0 } tunables) return $"GLIBC_TUNABLES={tunables}";
        if (!OperatingSystem.IsLinux()) return "not Linux: left as it is";
        try
        {
            var ok = mallopt(MMmapThreshold, int.MaxValue) == 1 & mallopt(MTrimThreshold, int.MaxValue) == 1;
            return ok ? "mmap and trim thresholds raised through mallopt" : "mallopt refused the thresholds";
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            return "no glibc mallopt (another C library): left as it is";
        }
    }

    [LibraryImport("libc.so.6")]
    private static partial int mallopt(int param, int value);
}
