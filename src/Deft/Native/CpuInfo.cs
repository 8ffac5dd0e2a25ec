namespace Deft.Native;

/// <summary>What /proc/cpuinfo says about the processor: its model name and feature flags (empty where it is absent).</summary>
public static class CpuInfo
{
    /// <summary>The first "model name" line, else the OS architecture.</summary>
    public static string ModelName()
    {
        var line = FirstLine("model name");
        return line is null ? System.Runtime.InteropServices.RuntimeInformation.OSArchitecture.ToString() : line.Split(':', 2)[1].Trim();
    }

    /// <summary>The first "flags" line's features (avx2, avx512f, avx512_bf16, amx_bf16, …).</summary>
    public static IReadOnlySet<string> Flags()
    {
        var line = FirstLine("flags");
        return line is null ? new HashSet<string>() : line.Split(':', 2)[1].Split(' ', StringSplitOptions.RemoveEmptyEntries).ToHashSet(StringComparer.Ordinal);
    }

    private static string? FirstLine(string key)
    {
        try
        {
            return File.Exists("/proc/cpuinfo")
                ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith(key, StringComparison.Ordinal) && l.Contains(':'))
                : null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { return null; }
    }
}
