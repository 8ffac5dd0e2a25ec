using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Deft.Clip;
using Deft.Data;
using Deft.IO;
using static TorchSharp.torch;

namespace Deft.Detection;

/// <summary>
/// Image features of a frozen tower on disk, keyed by a hash of what determines them, by content:
/// <list type="bullet">
/// <item>the model: a SHA-256 of the weights file's bytes (memoised per process by path, size and modification
/// time) and its architecture; or the random spec;</item>
/// <item>the data: per participating sample its source and that source's content — for an image file its full path,
/// size, modification time and a SHA-256 of its bytes; for a record of a container file (IDX, CIFAR batches) the
/// record and the container's size, modification time and SHA-256, hashed once per file; for anything else a hash
/// of the sample's pixels — plus the manifest's bytes when the data path is a file;</item>
/// <item>the preprocessing and the tower precision.</item>
/// </list>
/// The file carries a SHA-256 of its feature bytes, verified on every read: a file that fails it or cannot be read
/// is recomputed (and overwritten) with a one-line notice, never trusted.
/// </summary>
public static class FeatureCache
{
    /// <summary>Bumped when the key's recipe changes, so older entries are never matched.</summary>
    public const string KeyVersion = "deft-features-3";

    /// <summary>$DEFT_CACHE_DIR, else $XDG_CACHE_HOME/deft, else ~/.cache/deft.</summary>
    public static string DefaultDirectory() => KnownLocations.DefaultCacheDirectory();

    private static readonly ConcurrentDictionary<string, string> WeightsHashes = new(StringComparer.Ordinal);

    /// <summary>What identifies a model's weights: the SHA-256 of the weights file (once per process per path, size and mtime) and the architecture.</summary>
    public static string ModelIdentity(LoadedClip loaded)
    {
        if (loaded.WeightsPath is null) return $"{loaded.Spec}|{loaded.Model.Config}";
        var info = new FileInfo(loaded.WeightsPath);
        var stamp = $"{info.FullName}|{info.Length}|{info.LastWriteTimeUtc.Ticks}";
        var hash = WeightsHashes.GetOrAdd(stamp, _ => HashFile(info.FullName));
        return $"sha256:{hash}|{loaded.Model.Config}";
    }

    /// <summary>
    /// What identifies the pixels of samples <paramref name="indices"/> of <paramref name="dataset"/> opened from
    /// <paramref name="dataPath"/> (see the class summary). Reads every participating image file once.
    /// </summary>
    public static string DataIdentity(IImageDataset dataset, IReadOnlyList<int> indices, string dataPath) =>
        DataIdentity(DataHeader(dataPath), SampleDigests(dataset, indices));

    /// <summary>
    /// The data identity from its parts: the data path's line (<see cref="DataHeader"/>) and the samples' digests in
    /// order (<see cref="SampleDigests"/>). Hashing per-sample digests rather than one stream of lines lets shards of
    /// a set each hash only their own images and a merge compute the whole set's identity from theirs.
    /// </summary>
    public static string DataIdentity(string header, ReadOnlySpan<byte> sampleDigests)
    {
        if (sampleDigests.Length % DigestBytes != 0) throw new ArgumentException($"{sampleDigests.Length} digest bytes is not a whole number of {DigestBytes}-byte digests.", nameof(sampleDigests));
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(Encoding.UTF8.GetBytes(header + "\n"));
        hash.AppendData(sampleDigests);
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    /// <summary>Bytes of one sample's digest in <see cref="SampleDigests"/> (SHA-256).</summary>
    public const int DigestBytes = 32;

    /// <summary>The data path's part of the identity: a manifest or container file's identity (bytes included), else the folder's full path.</summary>
    public static string DataHeader(string dataPath)
    {
        var full = Path.GetFullPath(dataPath);
        return File.Exists(full) ? $"data-file {FileIdentity(full)}" : $"data {full}";
    }

    /// <summary>
    /// Per sample of <paramref name="indices"/>, in order, a SHA-256 of its index, source and that source's content
    /// (the file's identity, or the pixels when no file backs it): <see cref="DigestBytes"/> bytes each.
    /// </summary>
    public static byte[] SampleDigests(IImageDataset dataset, IReadOnlyList<int> indices)
    {
        var sources = new string[indices.Count];
        var fileOf = new string?[indices.Count];
        var files = new Dictionary<string, string?>(StringComparer.Ordinal);
        for (var p = 0; p < indices.Count; p++)
        {
            var source = dataset.GetSource(indices[p]);
            sources[p] = source;
            var file = SourceFile(source);
            fileOf[p] = file;
            if (file is not null) files.TryAdd(file, null);
        }
        var names = files.Keys.ToArray();
        var identities = new string[names.Length];
        Parallel.For(0, names.Length, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount },
            i => identities[i] = FileIdentity(names[i]));
        for (var i = 0; i < names.Length; i++) files[names[i]] = identities[i];

        var digests = new byte[indices.Count * DigestBytes];
        for (var p = 0; p < indices.Count; p++)
        {
            var line = fileOf[p] is { } file
                ? $"{indices[p]} {sources[p]} {files[file]}"
                : $"{indices[p]} {sources[p]} pixels:{Convert.ToHexStringLower(SHA256.HashData(dataset.GetRawPixels(indices[p])))}";
            SHA256.HashData(Encoding.UTF8.GetBytes(line), digests.AsSpan(p * DigestBytes, DigestBytes));
        }
        return digests;
    }

    /// <summary>The file a source names: the source itself, or the container of a "file#record" source; null when no such file exists.</summary>
    private static string? SourceFile(string source)
    {
        if (File.Exists(source)) return Path.GetFullPath(source);
        var hash = source.LastIndexOf('#');
        if (hash > 0 && hash < source.Length - 1 && !source.AsSpan(hash + 1).ContainsAnyExceptInRange('0', '9'))
        {
            var container = source[..hash];
            if (File.Exists(container)) return Path.GetFullPath(container);
        }
        return null;
    }

    /// <summary>Path, size, modification time and SHA-256 of a file's bytes.</summary>
    private static string FileIdentity(string path)
    {
        var info = new FileInfo(path);
        return $"{info.FullName}|{info.Length}|{info.LastWriteTimeUtc.Ticks}|{HashFile(path)}";
    }

    private static string HashFile(string path)
    {
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
            return Convert.ToHexStringLower(SHA256.HashData(stream));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new DeftException($"{path}: cannot read it to check the feature cache ({ex.Message}).", ex);
        }
    }

    public static string Key(params string[] parts)
    {
        var bytes = SHA256.HashData(Encoding.UTF8.GetBytes(string.Join("\n", parts)));
        return Convert.ToHexString(bytes)[..32].ToLowerInvariant();
    }

    /// <summary>SHA-256 of a tensor's bytes (CPU, contiguous), as the cache file records it.</summary>
    internal static string PayloadHash(Tensor features) => PayloadHash([features]);

    /// <summary>SHA-256 of the tensors' bytes (CPU, contiguous) one after another, as cache and shard files record it.</summary>
    internal static string PayloadHash(IEnumerable<Tensor> tensors)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        // detach() and cpu() make handles of their own; the scope frees them with the contiguous copies.
        using var scope = NewDisposeScope();
        foreach (var t in tensors) hash.AppendData(t.detach().cpu().contiguous().bytes);
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    /// <summary>
    /// Loads the cached features for <paramref name="key"/>, or computes, stores and returns them. The caller owns
    /// the result. A file that fails its checksum, holds another key or shape, or cannot be read is recomputed and
    /// <paramref name="notice"/> is told so in one line.
    /// </summary>
    public static (Tensor Features, bool FromCache, string Path) GetOrCompute(string directory, string key, int expectedRows, Func<Tensor> compute,
        Action<string>? notice = null)
    {
        var path = EntryPath(directory, key);
        if (File.Exists(path))
        {
            if (TryLoad(path, key, expectedRows, out var problem) is { } features) return (features, true, path);
            notice?.Invoke($"feature cache {path} {problem}; recomputing the features.");
        }
        var computed = compute();
        try
        {
            Store(directory, key, computed);
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

    /// <summary>The cache file of <paramref name="key"/> in <paramref name="directory"/>.</summary>
    public static string EntryPath(string directory, string key) => System.IO.Path.Combine(directory, $"features-{key}.safetensors");

    /// <summary>
    /// Writes <paramref name="features"/> [rows, E] as the entry of <paramref name="key"/> (atomically): what a run that
    /// computed them writes, and what a merge of shards writes. Returns the path.
    /// </summary>
    public static string Store(string directory, string key, Tensor features)
    {
        var path = EntryPath(directory, key);
        Directory.CreateDirectory(directory);
        AtomicFile.RemoveTemporaryFiles(directory, deadProcessesOnly: true);
        Safetensors.Save(path, [new("features", features)], new Dictionary<string, string>
        {
            ["key"] = key,
            ["rows"] = features.shape[0].ToString(CultureInfo.InvariantCulture),
            ["payload_sha256"] = PayloadHash(features),
        });
        return path;
    }

    /// <summary>Whether <paramref name="path"/> holds intact features for <paramref name="key"/> and <paramref name="rows"/> samples (its checksum verified).</summary>
    public static bool IsValidEntry(string path, string key, int rows)
    {
        if (!File.Exists(path)) return false;
        using var features = TryLoad(path, key, rows, out _);
        return features is not null;
    }

    private static Tensor? TryLoad(string path, string key, int expectedRows, out string problem)
    {
        Dictionary<string, Tensor> loaded;
        IReadOnlyDictionary<string, string> metadata;
        try
        {
            loaded = Safetensors.Load(path, out metadata);
        }
        catch (Exception ex) when (ex is not OperationCanceledException and not OutOfMemoryException)
        {
            // Any failure to parse a cache file (ours or the reader's) means: do not trust it.
            problem = $"is unreadable ({FirstLine(ex.Message)})";
            return null;
        }
        Tensor? keep = null;
        try
        {
            if (metadata.GetValueOrDefault("key") != key) problem = "belongs to other inputs (its key differs)";
            else if (!loaded.TryGetValue("features", out var features) || features.dim() != 2 || features.shape[0] != expectedRows)
                problem = $"does not hold features for {expectedRows} samples";
            else if (metadata.GetValueOrDefault("payload_sha256") is not { } recorded) problem = "carries no checksum";
            else if (!string.Equals(recorded, PayloadHash(features), StringComparison.Ordinal)) problem = "failed its checksum (the file is damaged)";
            else
            {
                problem = "";
                keep = features;
            }
            return keep;
        }
        finally
        {
            foreach (var t in loaded.Values) if (!ReferenceEquals(t, keep)) t.Dispose();
        }
    }

    private static string FirstLine(string message)
    {
        var end = message.IndexOfAny(['\r', '\n']);
        var line = end < 0 ? message : message[..end];
        return line.Length > 200 ? line[..200] + "…" : line;
    }
}
