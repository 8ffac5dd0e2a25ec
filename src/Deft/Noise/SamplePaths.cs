using Deft.Data;

namespace Deft.Noise;

/// <summary>
/// Finds a data-set sample by the path a label file names: an absolute path, or one relative to the data root,
/// normalised (<c>./</c>, <c>..</c>, doubled separators); failing that, a relative path that ends exactly one
/// sample's source (<c>cat/001.png</c> for <c>ROOT/train/cat/001.png</c>). Container formats' sources
/// (<c>file#record</c>) match as written.
/// </summary>
public sealed class SamplePaths
{
    private readonly IImageDataset _data;
    private Dictionary<string, int>? _byFullPath;
    private Dictionary<string, List<int>>? _byFileName;
    private string[] _sources = [];

    /// <param name="data">The data set whose <see cref="IImageDataset.GetSource"/> paths are matched.</param>
    /// <param name="root">The data root relative paths start at: a directory, or a manifest file (its directory); null: the current directory.</param>
    public SamplePaths(IImageDataset data, string? root)
    {
        ArgumentNullException.ThrowIfNull(data);
        var full = root is null ? Directory.GetCurrentDirectory() : Path.GetFullPath(root);
        Root = File.Exists(full) ? Path.GetDirectoryName(full)! : full;
        _data = data;
    }

    /// <summary>Indexes the sources on first use: index-form label files never pay for it.</summary>
    private (Dictionary<string, int> ByFullPath, Dictionary<string, List<int>> ByFileName) Index()
    {
        if (_byFullPath is not null && _byFileName is not null) return (_byFullPath, _byFileName);
        var byFullPath = new Dictionary<string, int>(StringComparer.Ordinal);
        var byFileName = new Dictionary<string, List<int>>(StringComparer.Ordinal);
        _sources = new string[_data.Count];
        for (var i = 0; i < _sources.Length; i++)
        {
            var source = _sources[i] = _data.GetSource(i);
            byFullPath.TryAdd(Normalize(source), i);
            var name = Path.GetFileName(source);
            if (!byFileName.TryGetValue(name, out var list)) byFileName[name] = list = [];
            list.Add(i);
        }
        (_byFullPath, _byFileName) = (byFullPath, byFileName);
        return (byFullPath, byFileName);
    }

    /// <summary>The directory relative paths start at.</summary>
    public string Root { get; }

    /// <summary>
    /// The index of the sample <paramref name="path"/> names, or null when none does. <paramref name="ambiguous"/>
    /// receives two sources a relative path ends, when it ends several (then null is returned).
    /// </summary>
    public int? Find(string path, out (string First, string Second)? ambiguous)
    {
        ArgumentNullException.ThrowIfNull(path);
        ambiguous = null;
        var (byFullPath, byFileName) = Index();
        if (byFullPath.TryGetValue(Normalize(path), out var exact)) return exact;
        if (Path.IsPathRooted(path)) return null;
        var combined = Normalize(Path.Combine(Root, path));
        if (byFullPath.TryGetValue(combined, out exact)) return exact;
        var relative = path.Replace('\\', '/').TrimStart('.', '/');
        if (relative.Length == 0 || !byFileName.TryGetValue(Path.GetFileName(relative), out var candidates)) return null;
        var suffix = "/" + Normalize(relative).TrimStart('/');
        int? found = null;
        foreach (var c in candidates)
        {
            if (!Normalize(_sources[c]).EndsWith(suffix, StringComparison.Ordinal)) continue;
            if (found is { } earlier)
            {
                ambiguous = (_sources[earlier], _sources[c]);
                return null;
            }
            found = c;
        }
        return found;
    }

    private static string Normalize(string path)
    {
        try
        {
            return Path.IsPathRooted(path) ? Path.GetFullPath(path) : path.Replace("//", "/");
        }
        catch (ArgumentException)
        {
            return path;
        }
    }
}
