using System.Runtime.InteropServices;

namespace Deft.Native;

/// <summary>One copy of libLibTorchSharp.so and what was found or done to it.</summary>
public sealed record NativeLibraryCopy(string Path, VersionRequirementState Before, VersionRequirementState After);

/// <summary>The libstdc++ situation on this machine and the copies of TorchSharp's native library we know of.</summary>
public sealed record TorchNativeReport(
    string? SystemLibStdCxx,
    bool SystemHasRequiredVersion,
    IReadOnlyList<NativeLibraryCopy> Copies)
{
    /// <summary>True when TorchSharp can be loaded: libstdc++ is new enough or every copy is patched.</summary>
    public bool Loadable => SystemHasRequiredVersion || Copies.All(c => c.After != VersionRequirementState.Required);
}

/// <summary>
/// Makes TorchSharp's native library loadable on distributions whose libstdc++ predates GLIBCXX_3.4.32
/// (Debian 12, Ubuntu 22.04). Must run before the first call into TorchSharp (the CLI and the test assembly do so
/// at start-up); patching a library that is already loaded has no effect on this process.
/// </summary>
public static class TorchNativeSetup
{
    public const string RequiredVersion = "GLIBCXX_3.4.32";
    public const string NativeLibraryName = "libLibTorchSharp.so";
    private static readonly object Gate = new();
    private static TorchNativeReport? _applied;

    /// <summary>Finds the system libstdc++ (the one the loader would pick).</summary>
    public static string? FindSystemLibStdCxx()
    {
        string[] candidates =
        [
            "/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "/usr/lib/aarch64-linux-gnu/libstdc++.so.6",
            "/usr/lib64/libstdc++.so.6", "/usr/lib/libstdc++.so.6", "/lib/x86_64-linux-gnu/libstdc++.so.6",
        ];
        return candidates.FirstOrDefault(File.Exists);
    }

    /// <summary>True when the library at <paramref name="libstdcxx"/> defines <paramref name="version"/>.</summary>
    public static bool LibraryDefinesVersion(string libstdcxx, string version)
    {
        // The version name appears in .gnu.version_d as a NUL-terminated string; a byte search is exact enough.
        var needle = System.Text.Encoding.ASCII.GetBytes(version + "\0");
        var bytes = File.ReadAllBytes(libstdcxx);
        return bytes.AsSpan().IndexOf(needle) >= 0;
    }

    /// <summary>Copies of libLibTorchSharp.so next to this program and in the NuGet package cache.</summary>
    public static IReadOnlyList<string> FindNativeLibraryCopies()
    {
        var found = new List<string>();
        var baseDir = AppContext.BaseDirectory;
        // TorchSharp loads from runtimes/<rid>/native, or consolidates the NuGet copies into cpu/ when that fails.
        foreach (var rel in new[] { NativeLibraryName, Path.Combine("runtimes", RuntimeDir, "native", NativeLibraryName), Path.Combine("cpu", NativeLibraryName) })
        {
            var p = Path.Combine(baseDir, rel);
            if (File.Exists(p)) found.Add(Path.GetFullPath(p));
        }
        var nugetRoot = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
            ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        var torchsharp = Path.Combine(nugetRoot, "torchsharp");
        if (Directory.Exists(torchsharp))
        {
            foreach (var versionDir in Directory.GetDirectories(torchsharp))
            {
                var p = Path.Combine(versionDir, "runtimes", RuntimeDir, "native", NativeLibraryName);
                if (File.Exists(p)) found.Add(Path.GetFullPath(p));
            }
        }
        return found.Distinct().ToList();
    }

    private static string RuntimeDir => RuntimeInformation.OSArchitecture == Architecture.Arm64 ? "linux-arm64" : "linux-x64";

    /// <summary>Inspects (and with <paramref name="fix"/> patches) every copy. Idempotent; Linux only.</summary>
    public static TorchNativeReport Check(bool fix)
    {
        if (!OperatingSystem.IsLinux())
            return new TorchNativeReport(null, true, []);
        var libstdcxx = FindSystemLibStdCxx();
        var hasVersion = libstdcxx is not null && LibraryDefinesVersion(libstdcxx, RequiredVersion);
        var copies = new List<NativeLibraryCopy>();
        foreach (var path in FindNativeLibraryCopies())
        {
            var before = ElfVersionPatcher.Inspect(path, RequiredVersion);
            var after = before;
            if (fix && !hasVersion && before == VersionRequirementState.Required)
            {
                try { after = ElfVersionPatcher.MarkWeak(path, RequiredVersion); }
                catch (UnauthorizedAccessException) { /* read-only copy: reported as still required */ }
                catch (IOException) { }
            }
            copies.Add(new NativeLibraryCopy(path, before, after));
        }
        return new TorchNativeReport(libstdcxx, hasVersion, copies);
    }

    /// <summary>
    /// Applies the fix once per process where needed. Call before the first TorchSharp call.
    /// </summary>
    public static TorchNativeReport EnsureLoadable()
    {
        lock (Gate)
        {
            return _applied ??= Check(fix: true);
        }
    }
}
