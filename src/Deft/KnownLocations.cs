namespace Deft;

/// <summary>Where Deft looks for data and vocabulary files that are not named explicitly.</summary>
public static class KnownLocations
{
    /// <summary>Debian's dataset-fashion-mnist package installs here.</summary>
    public const string DebianFashionMnist = "/usr/share/datasets/fashion-mnist";

    /// <summary>Fashion-MNIST directory: $DEFT_FASHION_MNIST, else Debian's location; null when absent.</summary>
    public static string? FashionMnist()
    {
        var env = Environment.GetEnvironmentVariable("DEFT_FASHION_MNIST");
        foreach (var dir in new[] { env, DebianFashionMnist })
        {
            if (!string.IsNullOrEmpty(dir) && Directory.Exists(dir) &&
                Directory.EnumerateFiles(dir, "train-images-idx3-ubyte*").Any())
                return dir;
        }
        return null;
    }

    /// <summary>
    /// CLIP's BPE vocabulary (bpe_simple_vocab_16e6.txt.gz): $DEFT_CLIP_VOCAB, else a <c>shared/clip</c> folder in
    /// the current directory or any parent of it or of the program (the project keeps it beside the checkout).
    /// </summary>
    public static string? ClipVocabulary()
    {
        var env = Environment.GetEnvironmentVariable("DEFT_CLIP_VOCAB");
        if (!string.IsNullOrEmpty(env) && File.Exists(env)) return Path.GetFullPath(env);
        return FindUpwards(Path.Combine("shared", "clip", "bpe_simple_vocab_16e6.txt.gz"));
    }

    /// <summary>The shared fixtures folder (<c>shared/fixtures</c> beside the checkout); null when absent.</summary>
    public static string? SharedFixtures()
    {
        var env = Environment.GetEnvironmentVariable("DEFT_SHARED");
        if (!string.IsNullOrEmpty(env) && Directory.Exists(Path.Combine(env, "fixtures"))) return Path.Combine(env, "fixtures");
        return FindUpwards(Path.Combine("shared", "fixtures"));
    }

    /// <summary>Looks for <paramref name="relative"/> in the current directory, the program's directory and their parents.</summary>
    public static string? FindUpwards(string relative)
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, relative);
                if (File.Exists(candidate) || Directory.Exists(candidate)) return candidate;
            }
        }
        return null;
    }
}
