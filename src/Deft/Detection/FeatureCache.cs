using System.Security.Cryptography;
using System.Text;
using Deft.Clip;
using TorchSharp;
using static TorchSharp.torch;

namespace Deft.Detection;

/// <summary>
/// Image features of a frozen tower on disk, keyed by a hash of what determines them: the model file's identity
/// (path, size, modification time; or the random spec), the data (path, format, split, the participating indices),
/// the preprocessing and the tower precision. A key that matches loads instead of recomputing.
/// </summary>
public static class FeatureCache
{
    /// <summary>$DEFT_CACHE_DIR, else $XDG_CACHE_HOME/deft, else ~/.cache/deft.</summary>
    public static string DefaultDirectory()
    {
        var xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        var root = !string.IsNullOrEmpty(xdg) ? xdg : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
        return KnownLocations.CacheDirectory("DEFT_CACHE_DIR", Path.Combine(root, "deft"));
    }

    /// <summary>What identifies a model's weights without reading them.</summary>
    public static string ModelIdentity(LoadedClip loaded)
    {
        if (loaded.WeightsPath is null) return loaded.Spec;
        var info = new FileInfo(loaded.WeightsPath);
        return $"{info.FullName}|{info.Length}|{info.LastWriteTimeUtc.Ticks}";
    }

    public static string Key(params string[] parts)
    {
        var bytes = SHA256.HashData(Encoding.UTF8.GetBytes(string.Join("\n", parts)));
        return Convert.ToHexString(bytes)[..32].ToLowerInvariant();
    }

    /// <summary>Loads the cached features for <paramref name="key"/>, or computes, stores and returns them. The caller owns the result.</summary>
    public static (Tensor Features, bool FromCache, string Path) GetOrCompute(string directory, string key, int expectedRows, Func<Tensor> compute)
    {
        var path = System.IO.Path.Combine(directory, $"features-{key}.safetensors");
        if (File.Exists(path))
        {
            try
            {
                var loaded = Safetensors.Load(path, out var metadata);
                if (metadata.GetValueOrDefault("key") == key && loaded.TryGetValue("features", out var features) && features.shape[0] == expectedRows)
                {
                    foreach (var (name, t) in loaded) if (name != "features") t.Dispose();
                    return (features, true, path);
                }
                foreach (var t in loaded.Values) t.Dispose();
            }
            catch (DeftException)
            {
                // A damaged cache entry is recomputed and overwritten.
            }
        }
        var computed = compute();
        try
        {
            Directory.CreateDirectory(directory);
            Safetensors.Save(path, [new("features", computed)], new Dictionary<string, string> { ["key"] = key });
        }
        catch (IOException)
        {
            // The cache is an optimisation: a read-only or full disk must not stop the run.
        }
        catch (UnauthorizedAccessException)
        {
        }
        return (computed, false, path);
    }
}
