namespace Deft;

/// <summary>
/// Where Deft looks for files that are not named explicitly. A <c>DEFT_*</c> variable that is set must point at
/// something usable: a wrong one is an error naming the variable, never a silent fall-back to another copy.
/// </summary>
public static class KnownLocations
{
    /// <summary>Debian's dataset-fashion-mnist package installs here.</summary>
    public const string DebianFashionMnist = "/usr/share/datasets/fashion-mnist";

    public const string FashionMnistVariable = "DEFT_FASHION_MNIST";
    public const string ClipVocabularyVariable = "DEFT_CLIP_VOCAB";

    /// <summary>Deft's cache folder (features, the mini protocol's pre-trained model): one variable for both.</summary>
    public const string CacheVariable = "DEFT_CACHE_DIR";

    /// <summary>The older name of <see cref="CacheVariable"/> (the mini workspace's); still read when that is unset.</summary>
    public const string DeprecatedCacheVariable = "DEFT_CACHE";

    /// <summary>Fashion-MNIST directory: $DEFT_FASHION_MNIST when set (it must hold the idx files), else Debian's location; null when absent.</summary>
    public static string? FashionMnist()
    {
        if (Variable(FashionMnistVariable) is { } env)
        {
            if (!HasFashionMnist(env))
                throw new DeftException($"{FashionMnistVariable}={env}: no Fashion-MNIST there (expected a directory with " +
                                        "train-images-idx3-ubyte.gz and its siblings). Fix or unset the variable.");
            return Path.GetFullPath(env);
        }
        return HasFashionMnist(DebianFashionMnist) ? DebianFashionMnist : null;
    }

    private static bool HasFashionMnist(string dir) =>
        Directory.Exists(dir) && Directory.EnumerateFiles(dir, "train-images-idx3-ubyte*").Any();

    /// <summary>
    /// A user-chosen CLIP vocabulary: $DEFT_CLIP_VOCAB when set (a bpe_simple_vocab_16e6.txt.gz file or a Hugging Face
    /// tokenizer directory; it must exist), else null: CLIP's own vocabulary ships inside the library
    /// (<see cref="Clip.Tokenization.ClipTokenizer.OpenAi"/>).
    /// </summary>
    public static string? ClipVocabulary()
    {
        if (Variable(ClipVocabularyVariable) is not { } env) return null;
        if (!File.Exists(env) && !Directory.Exists(env))
            throw new DeftException($"{ClipVocabularyVariable}={env}: no such file or directory. Point it at a " +
                                    "bpe_simple_vocab_16e6.txt.gz or a folder with vocab.json + merges.txt, or unset it to use the built-in vocabulary.");
        return Path.GetFullPath(env);
    }

    /// <summary>
    /// A cache directory from <paramref name="variable"/> when set (it must be a directory or creatable; a path that
    /// is a file is an error naming the variable), else <paramref name="fallback"/>. Either cache variable name means
    /// <see cref="CacheVariable"/>, then <see cref="DeprecatedCacheVariable"/>: one name per concept.
    /// </summary>
    public static string CacheDirectory(string variable, string fallback)
    {
        if (variable is CacheVariable or DeprecatedCacheVariable)
            variable = Variable(CacheVariable) is null && Variable(DeprecatedCacheVariable) is not null ? DeprecatedCacheVariable : CacheVariable;
        if (Variable(variable) is not { } env) return fallback;
        if (File.Exists(env))
            throw new DeftException($"{variable}={env}: this is a file, not a directory. Point it at a cache folder or unset it.");
        return Path.GetFullPath(env);
    }

    /// <summary>$DEFT_CACHE_DIR, else $XDG_CACHE_HOME/deft, else ~/.cache/deft.</summary>
    public static string DefaultCacheDirectory()
    {
        var xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        var root = !string.IsNullOrEmpty(xdg) ? xdg : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
        return CacheDirectory(CacheVariable, Path.Combine(root, "deft"));
    }

    /// <summary>The variable's value, null when unset or empty.</summary>
    public static string? Variable(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } v ? v : null;
}
