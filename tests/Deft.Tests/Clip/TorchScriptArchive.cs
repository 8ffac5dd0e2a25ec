using System.IO.Compression;
using System.Text;
using static TorchSharp.torch;

namespace Deft.Tests.Clip;

/// <summary>
/// Writes a minimal TorchScript archive (what torch.jit.save produces, without methods): one class per module of the
/// state dict's name tree in code/__torch__.py, the module objects pickled in data.pkl, tensor bytes under data/.
/// Lets the tests exercise the TorchScript path without Python.
/// </summary>
internal static class TorchScriptArchive
{
    private sealed class Node
    {
        public List<(string Name, Tensor Tensor)> Parameters { get; } = [];
        public SortedDictionary<string, Node> Children { get; } = new(StringComparer.Ordinal);
        public int Id { get; set; }
    }

    public static void Write(string path, IReadOnlyDictionary<string, Tensor> stateDict)
    {
        var root = new Node();
        foreach (var (key, tensor) in stateDict)
        {
            var parts = key.Split('.');
            var node = root;
            foreach (var part in parts[..^1])
            {
                if (!node.Children.TryGetValue(part, out var child)) node.Children[part] = child = new Node();
                node = child;
            }
            node.Parameters.Add((parts[^1], tensor));
        }
        var nodes = new List<Node>();
        void Number(Node n) { n.Id = nodes.Count; nodes.Add(n); foreach (var c in n.Children.Values) Number(c); }
        Number(root);

        var code = new StringBuilder();
        foreach (var n in nodes)
        {
            code.Append($"class N{n.Id}(Module):\n");
            code.Append($"  __parameters__ = [{string.Concat(n.Parameters.Select(p => $"\"{p.Name}\", "))}]\n");
            code.Append("  __buffers__ = []\n");
            foreach (var (name, _) in n.Parameters) code.Append($"  {name} : Tensor\n");
            code.Append("  training : bool\n");
            foreach (var (name, child) in n.Children)
                code.Append(char.IsDigit(name[0]) ? $"  __annotations__[\"{name}\"] = __torch__.N{child.Id}\n" : $"  {name} : __torch__.N{child.Id}\n");
        }

        var w = new TensorPickleWriter();
        void WriteModule(Node n)
        {
            w.Ascii($"c__torch__\nN{n.Id}\n)"); w.Byte(0x81);
            w.Ascii("}(");
            w.Unicode("training"); w.Byte(0x89);
            foreach (var (name, t) in n.Parameters) { w.Unicode(name); w.WriteTensor(t); }
            foreach (var (name, child) in n.Children) { w.Unicode(name); WriteModule(child); }
            w.Ascii("ub");
        }
        WriteModule(root);
        w.Ascii(".");
        w.WriteArchive(path, ("code/__torch__.py", Encoding.UTF8.GetBytes(code.ToString())), ("constants.pkl", [0x80, 2, (byte)')', (byte)'.']));
    }
}

/// <summary>
/// Writes what <c>torch.save(obj)</c> writes for a dict of tensors (optionally wrapped like a training checkpoint:
/// <c>{"epoch": n, "state_dict": {...}}</c>): data.pkl with persistent storage ids, tensor bytes under data/.
/// </summary>
internal static class TorchSaveArchive
{
    public static void Write(string path, IReadOnlyDictionary<string, Tensor> stateDict, int? checkpointEpoch = null)
    {
        if (stateDict.Values.Any(t => t.dtype != ScalarType.Float32)) throw new ArgumentException("float32 only");
        var w = new TensorPickleWriter();
        void WriteDict()
        {
            w.Ascii("ccollections\nOrderedDict\n)R(");
            foreach (var (k, t) in stateDict) { w.Unicode(k); w.WriteTensor(t); }
            w.Ascii("u");
        }
        if (checkpointEpoch is { } epoch)
        {
            w.Ascii("}(");
            w.Unicode("epoch"); w.Int(epoch);
            w.Unicode("state_dict"); WriteDict();
            w.Ascii("u");
        }
        else WriteDict();
        w.Ascii(".");
        w.WriteArchive(path);
    }
}

/// <summary>
/// Pickle protocol 2 as torch writes it: tensors rebuilt by torch._utils._rebuild_tensor_v2 from persistent storage
/// ids, whose bytes go to archive/data/N beside archive/data.pkl.
/// </summary>
internal sealed class TensorPickleWriter
{
    private readonly List<byte> _pkl = [0x80, 2];
    private readonly List<Tensor> _storages = [];

    public void Byte(byte b) => _pkl.Add(b);
    public void Ascii(string s) => _pkl.AddRange(Encoding.ASCII.GetBytes(s));
    public void Unicode(string s) { var b = Encoding.UTF8.GetBytes(s); _pkl.Add((byte)'X'); _pkl.AddRange(BitConverter.GetBytes(b.Length)); _pkl.AddRange(b); }
    public void Int(long v) { _pkl.Add((byte)'J'); _pkl.AddRange(BitConverter.GetBytes(checked((int)v))); }

    public void WriteTensor(Tensor t)
    {
        var key = _storages.Count.ToString();
        _storages.Add(t.contiguous());
        Ascii("ctorch._utils\n_rebuild_tensor_v2\n(");
        Ascii("("); Unicode("storage"); Ascii($"ctorch\n{StorageName(t.dtype)}\n"); Unicode(key); Unicode("cpu"); Int(t.NumberOfElements); Ascii("tQ");
        Int(0);
        Ascii("("); foreach (var s in t.shape) Int(s); Ascii("t");
        Ascii("("); foreach (var s in t.contiguous().stride()) Int(s); Ascii("t");
        _pkl.Add(0x89);
        Ascii("ccollections\nOrderedDict\n)R");
        Ascii("tR");
    }

    /// <summary>Writes the zip: data.pkl, the extra entries, version, then every storage (disposed afterwards).</summary>
    public void WriteArchive(string path, params (string Name, byte[] Bytes)[] extra)
    {
        using var zip = ZipFile.Open(path, ZipArchiveMode.Create);
        void Entry(string name, byte[] bytes)
        {
            using var s = zip.CreateEntry($"archive/{name}", CompressionLevel.NoCompression).Open();
            s.Write(bytes);
        }
        Entry("data.pkl", [.. _pkl]);
        foreach (var (name, bytes) in extra) Entry(name, bytes);
        Entry("version", "3\n"u8.ToArray());
        for (var i = 0; i < _storages.Count; i++)
        {
            Entry($"data/{i}", _storages[i].bytes.ToArray());
            _storages[i].Dispose();
        }
    }

    private static string StorageName(ScalarType t) => t switch
    {
        ScalarType.Float32 => "FloatStorage",
        ScalarType.Float16 => "HalfStorage",
        ScalarType.BFloat16 => "BFloat16Storage",
        ScalarType.Int64 => "LongStorage",
        _ => throw new ArgumentException(t.ToString()),
    };
}
