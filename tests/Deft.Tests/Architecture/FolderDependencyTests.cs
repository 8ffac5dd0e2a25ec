using System.Text.RegularExpressions;
using Deft.Tests.Hostile;

namespace Deft.Tests.Architecture;

/// <summary>
/// The top-level folders of src/Deft form layers: a folder may use the folders below it, never one that uses it
/// (README, "Project layout"). Dependencies are read from the sources: <c>using Deft.X</c> and <c>Deft.X.</c>
/// qualified names, plus <c>X.Type</c> where X is a sibling folder declaring Type (inside namespace Deft that
/// resolves to Deft.X.Type without a using).
/// </summary>
public sealed class FolderDependencyTests
{
    [Fact]
    public void TopLevelFoldersOfTheLibraryFormNoCycle()
    {
        var graph = LibraryGraph();
        // The scan must see the library's real structure, or a passing test means nothing.
        Assert.Contains("Detection", graph.Edges["Methods"].Keys);
        Assert.Contains("Clip", graph.Edges["Detection"].Keys);
        Assert.Contains("Methods", graph.Edges["Api"].Keys);

        var cycle = FindCycle(graph.Edges.ToDictionary(e => e.Key, e => (IEnumerable<string>)e.Value.Keys));
        Assert.True(cycle is null, cycle is null ? "" :
            "Folders of src/Deft depend on each other in a cycle: " + string.Join(" → ", cycle) + ". Edges: " +
            string.Join("; ", cycle!.Zip(cycle.Skip(1), (a, b) => $"{a} → {b} ({string.Join(", ", graph.Edges[a][b].Take(3))})")));
    }

    [Fact]
    public void CycleFinderNamesTheCycleAndAcceptsALayeredGraph()
    {
        var layered = new Dictionary<string, IEnumerable<string>> { ["A"] = ["B", "C"], ["B"] = ["C"], ["C"] = [] };
        Assert.Null(FindCycle(layered));
        var cyclic = new Dictionary<string, IEnumerable<string>> { ["A"] = ["B"], ["B"] = ["C"], ["C"] = ["A"], ["D"] = ["A"] };
        var cycle = FindCycle(cyclic);
        Assert.NotNull(cycle);
        Assert.Equal(cycle![0], cycle[^1]);
        Assert.Equal(["A", "B", "C"], cycle.Take(3).Order().ToArray());
    }

    [Fact]
    public void ScanFindsQualifiedAndSiblingReferences()
    {
        var types = new Dictionary<string, HashSet<string>> { ["Reporting"] = ["HtmlReport"], ["Clip"] = ["ClipModel"] };
        var refs = References("""
            using Deft.Clip;
            namespace Deft.Detection;
            // Deft.Metrics in a comment is no dependency
            class X { object R => Reporting.HtmlReport.FileName; object P => Peft.Has; string S = "Deft.Noise"; }
            """, "Detection", types);
        Assert.Equal(["Clip", "Reporting"], refs.Order().ToArray());
    }

    private sealed record Graph(Dictionary<string, Dictionary<string, List<string>>> Edges);

    private static Graph LibraryGraph()
    {
        var root = Path.Combine(HostilePickleTests.RepositoryRoot(), "src", "Deft");
        var files = Directory.EnumerateFiles(root, "*.cs", SearchOption.AllDirectories)
            .Select(f => (Path: f, Parts: Path.GetRelativePath(root, f).Split(Path.DirectorySeparatorChar)))
            .Where(f => f.Parts.Length > 1 && f.Parts[0] is not ("bin" or "obj"))
            .Select(f => (f.Path, Folder: f.Parts[0], Text: File.ReadAllText(f.Path)))
            .ToList();
        var types = files.GroupBy(f => f.Folder).ToDictionary(g => g.Key,
            g => g.SelectMany(f => Declaration.Matches(f.Text).Select(m => m.Groups[1].Value)).ToHashSet());
        var edges = types.Keys.ToDictionary(f => f, _ => new Dictionary<string, List<string>>());
        foreach (var (path, folder, text) in files)
            foreach (var target in References(text, folder, types))
            {
                if (!edges[folder].TryGetValue(target, out var examples)) edges[folder][target] = examples = [];
                examples.Add(Path.GetFileName(path));
            }
        return new Graph(edges);
    }

    private static readonly Regex Declaration = new(@"\b(?:class|record|struct|interface|enum)\s+([A-Z]\w*)", RegexOptions.Compiled);
    private static readonly Regex Comment = new(@"//(?!/).*?$|/\*.*?\*/", RegexOptions.Compiled | RegexOptions.Multiline | RegexOptions.Singleline);
    private static readonly Regex StringLiteral = new(@"""(?:[^""\\\n]|\\.)*""", RegexOptions.Compiled);
    private static readonly Regex Qualified = new(@"\bDeft\.([A-Z]\w*)", RegexOptions.Compiled);
    private static readonly Regex Sibling = new(@"(?<![\w.])([A-Z]\w*)\.([A-Z]\w*)", RegexOptions.Compiled);

    /// <summary>The other top-level folders one source file refers to.</summary>
    private static HashSet<string> References(string text, string folder, IReadOnlyDictionary<string, HashSet<string>> types)
    {
        // Line comments and string contents say nothing about dependencies; XML doc comments (crefs) do.
        var code = StringLiteral.Replace(Comment.Replace(text, ""), "\"\"");
        var found = new HashSet<string>();
        foreach (Match m in Qualified.Matches(code))
            if (types.ContainsKey(m.Groups[1].Value)) found.Add(m.Groups[1].Value);
        foreach (Match m in Sibling.Matches(code))
            if (types.TryGetValue(m.Groups[1].Value, out var declared) && declared.Contains(m.Groups[2].Value)) found.Add(m.Groups[1].Value);
        found.Remove(folder);
        return found;
    }

    /// <summary>A cycle as a closed path (first = last), or null when the graph is acyclic.</summary>
    private static List<string>? FindCycle(IReadOnlyDictionary<string, IEnumerable<string>> edges)
    {
        var state = new Dictionary<string, int>(); // 1: on the current path, 2: finished
        var path = new List<string>();
        List<string>? Visit(string node)
        {
            state[node] = 1;
            path.Add(node);
            foreach (var next in edges.TryGetValue(node, out var n) ? n.Order() : Enumerable.Empty<string>())
            {
                if (state.GetValueOrDefault(next) == 1) return [.. path.Skip(path.IndexOf(next)), next];
                if (state.GetValueOrDefault(next) == 0 && Visit(next) is { } found) return found;
            }
            path.RemoveAt(path.Count - 1);
            state[node] = 2;
            return null;
        }
        foreach (var node in edges.Keys.Order())
            if (state.GetValueOrDefault(node) == 0 && Visit(node) is { } cycle) return cycle;
        return null;
    }
}
