using System.Collections;
using System.IO.Compression;
using System.Text;
using TorchSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace Deft.Clip;

/// <summary>
/// Reads PyTorch checkpoints without Python: <c>torch.save</c> zip archives (a pickled dict of tensors) through
/// TorchSharp.PyBridge's unpickler, after <see cref="TorchPickleGuard"/> has proven the pickle only rebuilds tensors;
/// TorchScript archives through libtorch's own loader (<c>torch.jit.load</c>).
/// </summary>
internal static class TorchCheckpoint
{
    public enum Kind { StateDictPickle, TorchScript }

    /// <summary>Classifies a file by content: a zip with code/ or constants.pkl is TorchScript, a zip with data.pkl a torch.save pickle.</summary>
    public static Kind Detect(string path)
    {
        if (!IsZip(path))
            throw new DeftException($"{path}: not a zip archive. Deft reads PyTorch files written by torch.save in its default " +
                "zip format (PyTorch ≥ 1.6) and TorchScript archives; re-save legacy files with torch.save(state_dict, path) or convert to .safetensors.");
        using var zip = ZipFile.OpenRead(path);
        var names = zip.Entries.Select(e => e.FullName).ToList();
        if (names.Any(n => n.EndsWith("/constants.pkl", StringComparison.Ordinal) || n.Contains("/code/", StringComparison.Ordinal)))
            return Kind.TorchScript;
        if (names.Any(n => n.EndsWith("data.pkl", StringComparison.Ordinal)))
            return Kind.StateDictPickle;
        throw new DeftException($"{path}: a zip archive without data.pkl; not a PyTorch checkpoint.");
    }

    /// <summary>Loads a torch.save state dict (optionally nested under "state_dict"/"model"); the caller owns the tensors.</summary>
    public static Dictionary<string, Tensor> LoadPickledStateDict(string path)
    {
        using (var zip = ZipFile.OpenRead(path))
        {
            foreach (var entry in zip.Entries.Where(e => e.FullName.EndsWith(".pkl", StringComparison.Ordinal)))
            {
                using var s = entry.Open();
                using var buffer = new MemoryStream();
                s.CopyTo(buffer);
                TorchPickleGuard.Check(buffer.GetBuffer().AsSpan(0, (int)buffer.Length), $"{path} ({entry.FullName})");
            }
        }
        Hashtable table;
        try
        {
            using var stream = File.OpenRead(path);
            table = PyTorchUnpickler.UnpickleStateDict(stream, leaveOpen: false);
        }
        catch (Exception ex) when (ex is not DeftException)
        {
            throw new DeftException($"{path}: could not read the PyTorch checkpoint ({ex.GetType().Name}: {ex.Message}). " +
                "Save the state dict itself (torch.save(model.state_dict(), path)) or convert it to .safetensors.", ex);
        }
        return FlattenStateDict(table, path);
    }

    /// <summary>Parameters and buffers of a TorchScript archive (OpenAI's released ViT-*.pt files are TorchScript).</summary>
    public static Dictionary<string, Tensor> LoadTorchScriptStateDict(string path)
    {
        jit.ScriptModule module;
        try
        {
            module = torch.jit.load(path);
        }
        catch (Exception ex)
        {
            throw new DeftException($"{path}: TorchScript archive that libtorch could not load ({ex.Message.Split('\n')[0]}). " +
                "Export a state dict instead: in Python, torch.save(torch.jit.load(path).state_dict(), 'weights.pt'), or convert to .safetensors.", ex);
        }
        using (module)
        {
            var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
            using var noGrad = torch.no_grad();
            foreach (var (name, p) in module.named_parameters()) result[name] = p.detach().clone();
            foreach (var (name, b) in module.named_buffers()) result.TryAdd(name, b.detach().clone());
            if (result.Count == 0)
                throw new DeftException($"{path}: the TorchScript archive has no parameters Deft can read.");
            return result;
        }
    }

    private static Dictionary<string, Tensor> FlattenStateDict(Hashtable table, string path)
    {
        // Training checkpoints wrap the weights: {"epoch": ..., "state_dict": {...}}.
        foreach (var wrapper in new[] { "state_dict", "model", "module" })
            if (table[wrapper] is Hashtable inner && inner.Count > 0) return FlattenStateDict(inner, path);

        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        var others = new List<string>();
        foreach (DictionaryEntry e in table)
        {
            if (e.Key is string key && e.Value is Tensor t) result[key] = t;
            else others.Add($"{e.Key} ({e.Value?.GetType().Name ?? "None"})");
        }
        if (result.Count == 0)
        {
            throw new DeftException($"{path}: the pickle holds no tensors at the top level or under 'state_dict' " +
                $"(found: {string.Join(", ", others.Take(10))}).");
        }
        // Top-level non-tensor entries of a plain state dict (e.g. OpenAI's input_resolution ints) are not weights.
        return result;
    }

    private static bool IsZip(string path)
    {
        Span<byte> magic = stackalloc byte[4];
        using var s = File.OpenRead(path);
        return s.ReadAtLeast(magic, 4, throwOnEndOfStream: false) == 4 && magic[0] == 0x50 && magic[1] == 0x4B && magic[2] == 0x03 && magic[3] == 0x04;
    }
}

/// <summary>
/// Proves, before anything unpickles it, that a pickle only names the globals a tensor state dict needs
/// (torch._utils._rebuild_tensor*, torch.*Storage, collections.OrderedDict). Any other global — os.system,
/// builtins.eval, subprocess.Popen — or an opcode that can reach one indirectly (STACK_GLOBAL, INST, OBJ, EXT*) is
/// rejected. The .NET unpickler cannot run Python in any case; this turns a hostile file into a clear error instead
/// of an object graph of unknown classes.
/// </summary>
internal static class TorchPickleGuard
{
    private static readonly HashSet<string> AllowedGlobals = new(StringComparer.Ordinal)
    {
        "collections.OrderedDict",
        "torch._utils._rebuild_tensor",
        "torch._utils._rebuild_tensor_v2",
        "torch._utils._rebuild_parameter",
        "torch.FloatStorage", "torch.DoubleStorage", "torch.HalfStorage", "torch.BFloat16Storage",
        "torch.LongStorage", "torch.IntStorage", "torch.ShortStorage", "torch.CharStorage", "torch.ByteStorage", "torch.BoolStorage",
    };

    public static void Check(ReadOnlySpan<byte> pickle, string source)
    {
        var pos = 0;
        while (pos < pickle.Length)
        {
            var at = pos;
            var op = pickle[pos++];
            switch (op)
            {
                case (byte)'.': return; // STOP
                // No argument.
                case (byte)'(': case (byte)'0': case (byte)'1': case (byte)'2': case (byte)'N': case (byte)'Q': case (byte)'R':
                case (byte)'a': case (byte)'b': case (byte)'d': case (byte)'}': case (byte)'e': case (byte)'l': case (byte)']':
                case (byte)'s': case (byte)'t': case (byte)')': case (byte)'u': case 0x85: case 0x86: case 0x87: case 0x88:
                case 0x89: case 0x8f: case 0x90: case 0x91: case 0x94:
                    break;
                case (byte)'K': case (byte)'h': case (byte)'q': case 0x80: pos += 1; break; // BININT1, BINGET, BINPUT, PROTO
                case (byte)'M': pos += 2; break; // BININT2
                case (byte)'J': case (byte)'j': case (byte)'r': pos += 4; break; // BININT, LONG_BINGET, LONG_BINPUT
                case (byte)'G': pos += 8; break; // BINFLOAT
                case 0x95: pos += 8; break; // FRAME
                case (byte)'F': case (byte)'I': case (byte)'L': case (byte)'S': case (byte)'V': case (byte)'g': case (byte)'p':
                    pos = SkipLine(pickle, pos, source, at);
                    break;
                case (byte)'U': case (byte)'C': case 0x8a: case 0x8c: // 1-byte length
                    pos = Need(pickle, pos, 1, source, at);
                    pos += 1 + pickle[pos];
                    break;
                case (byte)'T': case (byte)'X': case (byte)'B': case 0x8b: // 4-byte length
                    pos = Need(pickle, pos, 4, source, at);
                    pos += 4 + (int)Math.Min(BitConverter.ToUInt32(pickle.Slice(pos, 4)), int.MaxValue - 8);
                    break;
                case 0x8d: case 0x8e: case 0x96: // 8-byte length
                    pos = Need(pickle, pos, 8, source, at);
                    pos += 8 + (int)Math.Min(BitConverter.ToUInt64(pickle.Slice(pos, 8)), int.MaxValue - 16);
                    break;
                case (byte)'c': // GLOBAL module\nname\n
                {
                    var moduleEnd = SkipLine(pickle, pos, source, at);
                    var nameEnd = SkipLine(pickle, moduleEnd, source, at);
                    var module = Encoding.ASCII.GetString(pickle[pos..(moduleEnd - 1)]);
                    var name = Encoding.ASCII.GetString(pickle[moduleEnd..(nameEnd - 1)]);
                    var global = $"{module}.{name}";
                    if (!AllowedGlobals.Contains(global))
                        throw new DeftException($"{source}: refusing to load: the pickle references '{global}' (byte {at}), which is not " +
                            "part of a tensor state dict. Such a file can run code when Python loads it; Deft never executes it. " +
                            "If you trust it, convert the weights to .safetensors.");
                    pos = nameEnd;
                    break;
                }
                case 0x93: // STACK_GLOBAL
                case (byte)'i': case (byte)'o': case 0x81: case 0x92: case 0x82: case 0x83: case 0x84: case (byte)'P': case 0x97: case 0x98:
                    throw new DeftException($"{source}: refusing to load: pickle opcode 0x{op:x2} (byte {at}) builds objects Deft does not allow " +
                        "in a tensor state dict. Re-save with torch.save(state_dict, path) or convert to .safetensors.");
                default:
                    throw new DeftException($"{source}: not a valid pickle (unknown opcode 0x{op:x2} at byte {at}).");
            }
            if (pos > pickle.Length) break;
        }
        throw new DeftException($"{source}: the pickle ends without a STOP opcode; the file is truncated.");
    }

    private static int SkipLine(ReadOnlySpan<byte> pickle, int pos, string source, int at)
    {
        var nl = pickle[pos..].IndexOf((byte)'\n');
        if (nl < 0) throw new DeftException($"{source}: the pickle is truncated (opcode at byte {at}).");
        return pos + nl + 1;
    }

    private static int Need(ReadOnlySpan<byte> pickle, int pos, int count, string source, int at) =>
        pos + count <= pickle.Length ? pos : throw new DeftException($"{source}: the pickle is truncated (opcode at byte {at}).");
}
