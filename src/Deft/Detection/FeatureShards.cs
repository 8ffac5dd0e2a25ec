using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Deft.Clip;
using Deft.Data;
using static TorchSharp.torch;

namespace Deft.Detection;

/// <summary>
/// Shard <see cref="Index"/> of <see cref="Count"/>, numbered from 0 as a Slurm array (<c>--array=0-(n-1)</c>,
/// <c>$SLURM_ARRAY_TASK_ID</c>) and a Kubernetes Indexed Job (<c>$JOB_COMPLETION_INDEX</c>) number their tasks.
/// A shard is a contiguous run of whole encoding batches of the participating samples, so every image is encoded in
/// the same batch, at the same position, as in an unsharded run (the merge is byte-identical to one run).
/// </summary>
public readonly record struct FeatureShardSpec(int Index, int Count)
{
    /// <summary>Parses <c>i/n</c> (0 ≤ i &lt; n); errors name <see cref="Setting.Shard"/> and say how shards are numbered.</summary>
    public static FeatureShardSpec Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var parts = text.Trim().Split('/');
        if (parts.Length != 2 || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var i)
            || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var n))
            throw new DeftException($"{Setting.Shard} '{text}' is not i/n (shard i of n, numbered from 0, e.g. 0/4 … 3/4).");
        if (n < 1) throw new DeftException($"{Setting.Shard} {text}: the number of shards must be ≥ 1.");
        if (i >= n)
            throw new DeftException($"{Setting.Shard} {text}: shards are numbered from 0, so {n} shard(s) are 0/{n} … {n - 1}/{n}, " +
                $"as a Slurm array 0-{n - 1} numbers its $SLURM_ARRAY_TASK_ID and a Kubernetes Indexed Job its $JOB_COMPLETION_INDEX.");
        return new FeatureShardSpec(i, n);
    }

    /// <summary>
    /// The positions this shard encodes among <paramref name="rows"/> samples encoded <paramref name="batch"/> at a
    /// time: batches ⌊i·B/n⌋ … ⌊(i+1)·B/n⌋ − 1 of the B = ⌈rows/batch⌉ batches.
    /// </summary>
    public (int Start, int Length) Range(int rows, int batch)
    {
        if (batch < 1) throw new ArgumentOutOfRangeException(nameof(batch), batch, "The encoding batch must be ≥ 1.");
        var batches = (rows + batch - 1) / batch;
        if (Count > batches)
            throw new DeftException($"{Setting.Shard} {this}: {rows} sample(s) make {batches} encoding batch(es) of {batch}, and a shard is whole batches: use at most {batches} shard(s).");
        var first = (int)((long)Index * batches / Count);
        var end = (int)((long)(Index + 1) * batches / Count);
        var start = first * batch;
        return (start, Math.Min(rows, end * batch) - start);
    }

    /// <summary>The shard's file name: <c>shard-i-of-n.safetensors</c>.</summary>
    public string FileName => string.Create(CultureInfo.InvariantCulture, $"shard-{Index}-of-{Count}.safetensors");

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Index}/{Count}");
}

/// <summary>
/// What a set of frozen-tower features is computed from, minus the per-sample digests that each shard holds for its
/// own samples: what it is for, the model's identity, the data path's identity, format and split, the data set's size,
/// which samples take part (a hash of their indices), the preprocessing and the tower precision.
/// </summary>
public sealed record FeatureSetIdentity(string Purpose, string Model, string DataHeader, string Format, string Split, int DatasetSamples,
    string IndicesKey, string Preprocessing, string Precision)
{
    /// <summary>Shards of an entry of the detector's feature cache.</summary>
    public const string CachePurpose = "feature-cache";
    /// <summary>Shards of an embed output file.</summary>
    public const string EmbedPurpose = "embed";

    /// <summary>The identity of the features of <paramref name="indices"/> of a data set, through <paramref name="pipeline"/>.</summary>
    public static FeatureSetIdentity Of(string purpose, LoadedClip model, string dataPath, string format, string split, IImageDataset dataset,
        IReadOnlyList<int> indices, string pipeline, string precision) =>
        new(purpose, FeatureCache.ModelIdentity(model), FeatureCache.DataHeader(dataPath), format.ToLowerInvariant(), split.ToLowerInvariant(),
            dataset.Count, FeatureCache.Key(string.Join(",", indices)), pipeline, precision);

    /// <summary>The feature cache's key for these inputs, given the whole set's <see cref="FeatureCache.DataIdentity(string, ReadOnlySpan{byte})"/>.</summary>
    public string CacheKey(string dataIdentity) => FeatureCache.Key(FeatureCache.KeyVersion, Model, dataIdentity, Format, Split,
        DatasetSamples.ToString(CultureInfo.InvariantCulture), IndicesKey, Preprocessing, Precision);

    /// <summary>A short id of the set, the same for every shard of it (the cache's shard folder name).</summary>
    public string SetId => FeatureCache.Key([FeatureCache.KeyVersion, "shard-set", .. Parts().Select(p => p.Value)]);

    /// <summary>The parts by name, as shard files record them and merge errors name them.</summary>
    public IEnumerable<(string Name, string Value)> Parts()
    {
        yield return ("purpose", Purpose);
        yield return ("model", Model);
        yield return ("data", DataHeader);
        yield return ("format", Format);
        yield return ("split", Split);
        yield return ("dataset_samples", DatasetSamples.ToString(CultureInfo.InvariantCulture));
        yield return ("samples", IndicesKey);
        yield return ("preprocessing", Preprocessing);
        yield return ("precision", Precision);
    }

    internal static FeatureSetIdentity Read(IReadOnlyDictionary<string, string> metadata, string path)
    {
        string Get(string name) => metadata.TryGetValue(name, out var v) ? v
            : throw new DeftException($"{path}: not a Deft feature shard (its header lacks '{name}').");
        return new FeatureSetIdentity(Get("purpose"), Get("model"), Get("data"), Get("format"), Get("split"),
            int.Parse(Get("dataset_samples"), CultureInfo.InvariantCulture), Get("samples"), Get("preprocessing"), Get("precision"));
    }
}

/// <summary>
/// The features of one shard (<see cref="FeatureShards.Write"/>): who its rows are, the digests of their images and
/// where it lies in the set. The tensors are owned by this object.
/// </summary>
public sealed class FeatureShard : IDisposable
{
    internal FeatureShard(string path, FeatureSetIdentity identity, FeatureShardSpec spec, int rows, int start, int batch, Tensor features,
        SampleIds ids, byte[] digests, IReadOnlyDictionary<string, string> notes)
    {
        (Path, Identity, Spec, Rows, Start, Batch, Features, Ids, Digests, Notes) = (path, identity, spec, rows, start, batch, features, ids, digests, notes);
    }

    /// <summary>The file it was read from.</summary>
    public string Path { get; }
    public FeatureSetIdentity Identity { get; }
    public FeatureShardSpec Spec { get; }
    /// <summary>Samples in the whole set.</summary>
    public int Rows { get; }
    /// <summary>The position of this shard's first row in the set.</summary>
    public int Start { get; }
    /// <summary>The encoding batch the shard boundaries are whole multiples of.</summary>
    public int Batch { get; }
    /// <summary>[count, E] float32.</summary>
    public Tensor Features { get; }
    public SampleIds Ids { get; }
    /// <summary><see cref="FeatureCache.SampleDigests"/> of the rows.</summary>
    public byte[] Digests { get; }
    /// <summary>What the writer asked to carry to the merged output (embed: the model spec and dtype).</summary>
    public IReadOnlyDictionary<string, string> Notes { get; }

    public void Dispose() => Features.Dispose();
}

/// <summary>A shard written: its file, which shard, its rows (positions <see cref="Start"/>… of <see cref="Rows"/>).</summary>
public sealed record FeatureShardResult(string Path, FeatureShardSpec Spec, int Start, int Length, int Rows);

/// <summary>What <see cref="FeatureShards.Merge"/> built from a complete set of shards. Owns <see cref="Features"/>.</summary>
public sealed class MergedFeatures : IDisposable
{
    internal MergedFeatures(FeatureSetIdentity identity, Tensor features, SampleIds ids, string dataIdentity, int shards, IReadOnlyDictionary<string, string> notes)
    {
        (Identity, Features, Ids, DataIdentity, Shards, Notes) = (identity, features, ids, dataIdentity, shards, notes);
    }

    public FeatureSetIdentity Identity { get; }
    /// <summary>[N, E] float32, rows in the set's order.</summary>
    public Tensor Features { get; }
    public SampleIds Ids { get; }
    /// <summary>The whole set's data identity, computed from the shards' digests.</summary>
    public string DataIdentity { get; }
    /// <summary>How many shards it was merged from.</summary>
    public int Shards { get; }
    public IReadOnlyDictionary<string, string> Notes { get; }
    /// <summary>The feature-cache key an unsharded run with the same inputs uses.</summary>
    public string CacheKey => Identity.CacheKey(DataIdentity);

    public void Dispose() => Features.Dispose();
}

/// <summary>
/// Sharded feature extraction: each shard (<see cref="FeatureShardSpec"/>) encodes its part of a set and writes one
/// safetensors file carrying the features, the rows' ids and image digests, and the set's identity; a merge checks
/// that the files are one complete set and rebuilds exactly what an unsharded run computes.
/// </summary>
public static class FeatureShards
{
    /// <summary>The folder under a feature-cache directory where detect's shards wait for their merge.</summary>
    public const string CacheFolder = "shards";

    private const string FormatVersion = "deft-feature-shard-1";
    private const string NotePrefix = "note.";

    /// <summary>Where the shard <paramref name="spec"/> of <paramref name="identity"/> goes in the cache <paramref name="cacheDirectory"/>.</summary>
    public static string CachePath(string cacheDirectory, FeatureSetIdentity identity, FeatureShardSpec spec) =>
        System.IO.Path.Combine(cacheDirectory, CacheFolder, identity.SetId, spec.FileName);

    /// <summary>The shard files in <paramref name="directory"/> (<c>shard-*-of-*.safetensors</c>), sorted.</summary>
    public static IReadOnlyList<string> Files(string directory) =>
        Directory.Exists(directory)
            ? Directory.GetFiles(directory, "shard-*-of-*.safetensors").Order(StringComparer.Ordinal).ToArray()
            : [];

    /// <summary>
    /// Writes shard <paramref name="spec"/> atomically: <paramref name="features"/> [count, E] of the rows
    /// <paramref name="ids"/> at positions <paramref name="start"/>… of a set of <paramref name="rows"/>, their
    /// <paramref name="digests"/>, and the set's identity.
    /// </summary>
    public static void Write(string path, FeatureSetIdentity identity, FeatureShardSpec spec, int rows, int start, int batch, Tensor features,
        SampleIds ids, byte[] digests, IReadOnlyDictionary<string, string>? notes = null)
    {
        ArgumentNullException.ThrowIfNull(identity);
        ArgumentNullException.ThrowIfNull(features);
        ArgumentNullException.ThrowIfNull(ids);
        ArgumentNullException.ThrowIfNull(digests);
        var count = ids.Count;
        if (features.dim() != 2 || features.shape[0] != count || digests.Length != count * FeatureCache.DigestBytes)
            throw new ArgumentException($"A shard of {count} rows needs [{count}, E] features and {count} digests.");
        var pathBytes = new List<byte>();
        var pathEnds = new long[count];
        for (var r = 0; r < count; r++)
        {
            pathBytes.AddRange(Encoding.UTF8.GetBytes(ids.Paths[r]));
            pathEnds[r] = pathBytes.Count;
        }
        using var scope = NewDisposeScope();
        var tensors = new List<KeyValuePair<string, Tensor>>
        {
            new("features", features),
            new("indices", tensor(ids.Indices.Select(i => (long)i).ToArray())),
            new("given_labels", tensor(ids.GivenLabels.Select(l => (long)l).ToArray())),
            new("true_labels", tensor(Enumerable.Range(0, count).Select(r => (long)(ids.TrueLabels?[r] ?? -1)).ToArray())),
            new("paths", tensor(pathBytes.ToArray())),
            new("path_ends", tensor(pathEnds)),
            new("sample_digests", tensor(digests).reshape(count, FeatureCache.DigestBytes)),
        };
        var metadata = new Dictionary<string, string>();
        foreach (var (name, value) in identity.Parts()) metadata[name] = value;
        metadata["deft.feature_shard"] = FormatVersion;
        metadata["shard"] = spec.Index.ToString(CultureInfo.InvariantCulture);
        metadata["shards"] = spec.Count.ToString(CultureInfo.InvariantCulture);
        metadata["rows"] = rows.ToString(CultureInfo.InvariantCulture);
        metadata["start"] = start.ToString(CultureInfo.InvariantCulture);
        metadata["batch"] = batch.ToString(CultureInfo.InvariantCulture);
        metadata["payload_sha256"] = FeatureCache.PayloadHash(tensors.Select(t => t.Value));
        if (notes is not null) foreach (var (key, value) in notes) metadata[NotePrefix + key] = value;
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!);
        Safetensors.Save(path, tensors, metadata);
    }

    /// <summary>Reads a shard file, verifying its checksum; errors name the file.</summary>
    public static FeatureShard Read(string path)
    {
        Dictionary<string, Tensor> loaded;
        IReadOnlyDictionary<string, string> metadata;
        try
        {
            loaded = Safetensors.Load(path, out metadata);
        }
        catch (DeftException ex)
        {
            throw new DeftException($"{path}: cannot read this feature shard ({ex.Message}); write it again (rerun its shard).", ex);
        }
        Tensor? keep = null;
        try
        {
            if (metadata.GetValueOrDefault("deft.feature_shard") != FormatVersion)
                throw new DeftException($"{path}: not a Deft feature shard of this version (expected {FormatVersion}).");
            string[] names = ["features", "indices", "given_labels", "true_labels", "paths", "path_ends", "sample_digests"];
            foreach (var name in names)
                if (!loaded.ContainsKey(name)) throw new DeftException($"{path}: the feature shard lacks its '{name}' tensor; the file is damaged.");
            if (metadata.GetValueOrDefault("payload_sha256") != FeatureCache.PayloadHash(names.Select(n => loaded[n])))
                throw new DeftException($"{path}: the feature shard failed its checksum (the file is damaged); rerun its shard.");
            int Int(string name) => int.TryParse(metadata.GetValueOrDefault(name), NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v
                : throw new DeftException($"{path}: the feature shard's '{name}' is missing or not a number.");
            var identity = FeatureSetIdentity.Read(metadata, path);
            var spec = new FeatureShardSpec(Int("shard"), Int("shards"));
            var indices = loaded["indices"].data<long>().Select(i => (int)i).ToArray();
            var given = loaded["given_labels"].data<long>().Select(i => (int)i).ToArray();
            var truth = loaded["true_labels"].data<long>().Select(i => i < 0 ? (int?)null : (int)i).ToArray();
            var bytes = loaded["paths"].data<byte>().ToArray();
            var ends = loaded["path_ends"].data<long>().ToArray();
            var paths = new string[ends.Length];
            for (var r = 0; r < ends.Length; r++)
            {
                var begin = r == 0 ? 0 : (int)ends[r - 1];
                paths[r] = Encoding.UTF8.GetString(bytes, begin, (int)ends[r] - begin);
            }
            var features = loaded["features"];
            if (features.dim() != 2 || features.shape[0] != indices.Length || given.Length != indices.Length || truth.Length != indices.Length || paths.Length != indices.Length)
                throw new DeftException($"{path}: the feature shard's tensors disagree on its row count; the file is damaged.");
            keep = features;
            var notes = metadata.Where(kv => kv.Key.StartsWith(NotePrefix, StringComparison.Ordinal))
                .ToDictionary(kv => kv.Key[NotePrefix.Length..], kv => kv.Value, StringComparer.Ordinal);
            return new FeatureShard(path, identity, spec, Int("rows"), Int("start"), Int("batch"), features,
                new SampleIds(indices, paths, given, truth), loaded["sample_digests"].data<byte>().ToArray(), notes);
        }
        finally
        {
            foreach (var t in loaded.Values) if (!ReferenceEquals(t, keep)) t.Dispose();
        }
    }

    /// <summary>
    /// Checks that <paramref name="files"/> are one complete set — the same identity, all n shards present once, each
    /// where its spec puts it, together exactly the set's samples — and concatenates them. <paramref name="where"/>
    /// names the shards' folder in errors.
    /// </summary>
    public static MergedFeatures Merge(IReadOnlyList<string> files, string where)
    {
        ArgumentNullException.ThrowIfNull(files);
        if (files.Count == 0) throw new DeftException($"{where}: no feature shards (shard-I-of-N.safetensors) to merge.");
        var shards = new List<FeatureShard>();
        try
        {
            foreach (var file in files) shards.Add(Read(file));
            var first = shards[0];
            foreach (var s in shards.Skip(1))
            {
                var differing = first.Identity.Parts().Zip(s.Identity.Parts()).FirstOrDefault(p => p.First.Value != p.Second.Value);
                if (differing.First.Name is { } part)
                    throw new DeftException($"{s.Path} does not belong with {first.Path}: its {part} differs ({Shorten(differing.Second.Value)} against {Shorten(differing.First.Value)}). " +
                        "Every shard of a set must be encoded from the same model, data, samples, preprocessing and precision; remove the foreign shard or rerun it with the set's settings.");
                if (s.Spec.Count != first.Spec.Count || s.Rows != first.Rows || s.Batch != first.Batch)
                    throw new DeftException($"{s.Path} is shard {s.Spec} of {s.Rows} samples in batches of {s.Batch}, but {first.Path} is shard {first.Spec} of {first.Rows} in batches of {first.Batch}: they were not cut from the same split. Rerun every shard with the same shard count and batch.");
            }
            var n = first.Spec.Count;
            var byIndex = new FeatureShard?[n];
            foreach (var s in shards)
            {
                if (byIndex[s.Spec.Index] is { } twin)
                    throw new DeftException($"Shard {s.Spec} appears twice: {twin.Path} and {s.Path}; remove one.");
                byIndex[s.Spec.Index] = s;
            }
            var missing = Enumerable.Range(0, n).Where(i => byIndex[i] is null).ToArray();
            if (missing.Length > 0)
                throw new DeftException($"{where}: shard(s) {string.Join(", ", missing.Select(i => $"{i}/{n}"))} missing (present: {string.Join(", ", shards.Select(s => s.Spec.Index).Order())}); " +
                    "run them (their array tasks) and merge again.");
            var ordered = byIndex.Select(s => s!).ToArray();
            foreach (var s in ordered)
            {
                var (start, length) = s.Spec.Range(s.Rows, s.Batch);
                if (s.Start != start || s.Ids.Count != length)
                    throw new DeftException($"{s.Path}: shard {s.Spec} holds rows {s.Start}..{s.Start + s.Ids.Count - 1}, but its place in the set is rows {start}..{start + length - 1}; the file is not what a shard writes.");
            }
            var indices = ordered.SelectMany(s => s.Ids.Indices).ToArray();
            if (FeatureCache.Key(string.Join(",", indices)) != first.Identity.IndicesKey)
                throw new DeftException($"{where}: the shards' samples do not make up the set they name (an overlap, a gap or another order); rerun the shards.");
            var digests = ordered.SelectMany(s => s.Digests).ToArray();
            var ids = new SampleIds(indices, ordered.SelectMany(s => s.Ids.Paths).ToArray(), ordered.SelectMany(s => s.Ids.GivenLabels).ToArray(),
                ordered.SelectMany(s => s.Ids.TrueLabels!).ToArray());
            var features = cat(ordered.Select(s => s.Features).ToArray(), 0);
            return new MergedFeatures(first.Identity, features, ids, FeatureCache.DataIdentity(first.Identity.DataHeader, digests), n, first.Notes);
        }
        finally
        {
            foreach (var s in shards) s.Dispose();
        }
    }

    /// <summary>What merging one shard folder of a cache did: the entry written, or why not.</summary>
    public sealed record CacheMergeResult(string ShardFolder, string? EntryPath, int Shards, int Rows, string? Error);

    /// <summary>
    /// Merges every complete set of shards under <paramref name="cacheDirectory"/>/shards into the cache entry an
    /// unsharded run writes (atomically), then removes the set's shards unless <paramref name="keepShards"/>. A set that
    /// is incomplete or mixed is left as it is and reported with the reason.
    /// </summary>
    public static IReadOnlyList<CacheMergeResult> MergeIntoCache(string cacheDirectory, bool keepShards = false)
    {
        var root = System.IO.Path.Combine(cacheDirectory, CacheFolder);
        if (!Directory.Exists(root)) return [];
        var results = new List<CacheMergeResult>();
        foreach (var folder in Directory.GetDirectories(root).Order(StringComparer.Ordinal))
        {
            try
            {
                var files = Files(folder);
                using var merged = Merge(files, folder);
                if (merged.Identity.Purpose != FeatureSetIdentity.CachePurpose)
                    throw new DeftException($"{folder}: these are {merged.Identity.Purpose} shards, not feature-cache shards.");
                if (merged.Identity.SetId != System.IO.Path.GetFileName(folder))
                    throw new DeftException($"{folder}: its shards belong to set {merged.Identity.SetId}, not to this folder; move them there.");
                var entry = FeatureCache.Store(cacheDirectory, merged.CacheKey, merged.Features);
                if (!FeatureCache.IsValidEntry(entry, merged.CacheKey, merged.Ids.Count))
                    throw new DeftException($"{entry}: the merged cache entry does not read back intact; the shards are kept.");
                if (!keepShards) Directory.Delete(folder, recursive: true);
                results.Add(new CacheMergeResult(folder, entry, merged.Shards, merged.Ids.Count, null));
            }
            catch (DeftException ex)
            {
                results.Add(new CacheMergeResult(folder, null, 0, 0, ex.Message));
            }
        }
        return results;
    }

    private static string Shorten(string value) => value.Length > 120 ? value[..120] + "…" : value;
}
