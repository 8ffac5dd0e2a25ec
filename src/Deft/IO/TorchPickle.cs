using System.Buffers.Binary;
using System.Globalization;
using System.IO.Compression;
using System.Text;
using System.Text.RegularExpressions;
using TorchSharp;
using static TorchSharp.torch;

namespace Deft.IO;

/// <summary>
/// A restricted unpickler for PyTorch zip archives (torch.save and TorchScript's torch.jit.save). It executes
/// nothing: the only callables it knows are the ones that rebuild tensors (torch._utils._rebuild_tensor*,
/// torch.*Storage, collections.OrderedDict, torch.jit._pickle's list/type-tag helpers), which it evaluates itself.
/// TorchScript module classes (<c>__torch__.*</c>) become plain attribute containers; their code/ is never run.
/// Any other global (os.system, builtins.exec, subprocess.call, numpy, ...) or an opcode that could reach one
/// (INST, OBJ, EXT*) is refused with a <see cref="DeftException"/>. Every length field is bounds-checked before use.
/// </summary>
internal sealed class TorchPickle
{
    /// <summary>A TorchScript module object: its class and the attributes its BUILD dict set.</summary>
    internal sealed class ScriptObject(string className)
    {
        public string ClassName { get; } = className;
        public Dictionary<string, object?> Attributes { get; } = new(StringComparer.Ordinal);
    }

    /// <summary>An allowed global (a tensor-rebuilding function, a storage type, a TorchScript class).</summary>
    internal sealed record Global(string Module, string Name)
    {
        public string FullName => $"{Module}.{Name}";
    }

    private sealed record StorageRef(ScalarType DType, string Key, long Numel);

    private sealed class Mark
    {
        public static readonly Mark Instance = new();
    }

    /// <summary>The dictionary key for Python's None (dictionaries cannot hold a null key).</summary>
    /// <summary>The one-line conversion of a TorchScript archive to a plain state dict, for archives Deft cannot read as data.</summary>
    internal const string ConversionCommand =
        "python -c \"import torch; torch.save(torch.jit.load('MODEL.pt', map_location='cpu').state_dict(), 'weights.pt')\" " +
        "(this runs the archive's code: do it only for a file you trust), or convert to .safetensors.";

    internal static readonly object NoneKey = new();

    private static readonly Dictionary<string, ScalarType> Storages = new(StringComparer.Ordinal)
    {
        ["FloatStorage"] = ScalarType.Float32, ["DoubleStorage"] = ScalarType.Float64, ["HalfStorage"] = ScalarType.Float16,
        ["BFloat16Storage"] = ScalarType.BFloat16, ["LongStorage"] = ScalarType.Int64, ["IntStorage"] = ScalarType.Int32,
        ["ShortStorage"] = ScalarType.Int16, ["CharStorage"] = ScalarType.Int8, ["ByteStorage"] = ScalarType.Byte,
        ["BoolStorage"] = ScalarType.Bool,
    };

    private static readonly HashSet<string> AllowedFunctions = new(StringComparer.Ordinal)
    {
        "collections.OrderedDict",
        "torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_parameter",
        "torch._utils._rebuild_parameter_with_state", "torch._tensor._rebuild_from_type_v2",
        "torch.Tensor", "torch.nn.parameter.Parameter", "torch.device",
        "torch.jit._pickle.restore_type_tag", "torch.jit._pickle.build_intlist", "torch.jit._pickle.build_doublelist",
        "torch.jit._pickle.build_boollist", "torch.jit._pickle.build_tensorlist",
    };

    private readonly byte[] _data;
    private readonly string _source;
    private readonly Func<ScalarType, string, long, Tensor> _loadStorage;
    private readonly Dictionary<string, Tensor> _storageCache = new(StringComparer.Ordinal);
    private readonly List<Tensor> _created = [];
    private int _pos;

    private TorchPickle(byte[] data, string source, Func<ScalarType, string, long, Tensor> loadStorage)
    {
        _data = data;
        _source = source;
        _loadStorage = loadStorage;
    }

    /// <summary>
    /// Unpickles <paramref name="pickle"/>; storages are read through <paramref name="loadStorage"/> (dtype, key, element count).
    /// Every tensor the result holds is returned in <paramref name="tensors"/> (the caller owns them).
    /// </summary>
    public static object? Load(byte[] pickle, string source, Func<ScalarType, string, long, Tensor> loadStorage, out List<Tensor> tensors)
    {
        var reader = new TorchPickle(pickle, source, loadStorage);
        try
        {
            var result = reader.Run();
            tensors = reader._created;
            return result;
        }
        catch
        {
            foreach (var t in reader._created) t.Dispose();
            throw;
        }
        finally
        {
            foreach (var s in reader._storageCache.Values) s.Dispose();
        }
    }

    /// <summary>The tensors of a PyTorch zip archive: a state dict (optionally under state_dict/model/module) or a TorchScript module tree.</summary>
    public static Dictionary<string, Tensor> LoadStateDict(string path)
    {
        using var archive = TorchZip.Open(path);
        var root = Load(archive.ReadPickle(), $"{path} ({archive.PickleName})", archive.LoadStorage, out var tensors);
        try
        {
            var result = root switch
            {
                ScriptObject module => FlattenModule(module, archive.ReadDeclarations(), path),
                Dictionary<object, object?> dict => FlattenStateDict(dict, path),
                _ => throw new DeftException($"{path}: the pickle holds a {Describe(root)}, not a dict of tensors or a TorchScript module. " +
                    "Save the state dict itself (torch.save(model.state_dict(), path)) or convert it to .safetensors."),
            };
            foreach (var t in tensors.Except(result.Values, ReferenceEqualityComparer.Instance)) ((Tensor)t!).Dispose();
            return result;
        }
        catch
        {
            foreach (var t in tensors) t.Dispose();
            throw;
        }
    }

    private static Dictionary<string, Tensor> FlattenStateDict(Dictionary<object, object?> table, string path)
    {
        // Training checkpoints wrap the weights: {"epoch": ..., "state_dict": {...}}.
        foreach (var wrapper in new[] { "state_dict", "model", "module" })
        {
            if (table.TryGetValue(wrapper, out var inner) && inner is Dictionary<object, object?> { Count: > 0 } d) return FlattenStateDict(d, path);
            if (table.TryGetValue(wrapper, out inner) && inner is ScriptObject m) return FlattenModule(m, new(), path);
        }
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        var others = new List<string>();
        foreach (var (key, value) in table)
        {
            if (key is string k && value is Tensor t) result[k] = t;
            else others.Add($"{TextClip.Clip(key?.ToString() ?? "None", 60)} ({Describe(value)})");
        }
        if (result.Count == 0)
            throw new DeftException($"{path}: the pickle holds no tensors at the top level or under 'state_dict' " +
                $"(found: {(others.Count == 0 ? "nothing" : string.Join(", ", others.Take(10)))}).");
        return result;
    }

    /// <summary>Parameters and buffers of a TorchScript module tree, named as state_dict() names them.</summary>
    private static Dictionary<string, Tensor> FlattenModule(ScriptObject root, Dictionary<string, HashSet<string>> declared, string path)
    {
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        var visited = new HashSet<ScriptObject>(ReferenceEqualityComparer.Instance);
        void Walk(ScriptObject module, string prefix, int depth)
        {
            if (depth > 64 || !visited.Add(module)) return;
            declared.TryGetValue(module.ClassName, out var names);
            foreach (var (name, value) in module.Attributes)
            {
                if (value is Tensor t && (names is null || names.Contains(name))) result.TryAdd(prefix + name, t);
                else if (value is ScriptObject child) Walk(child, $"{prefix}{name}.", depth + 1);
            }
        }
        Walk(root, "", 0);
        if (result.Count == 0)
            throw new DeftException($"{path}: the TorchScript archive ({root.ClassName}) holds no tensors Deft can read. " +
                "Export a state dict instead (see README, 'Models, weights and tokenizers').");
        return result;
    }

    private static string Describe(object? v) => v switch
    {
        null => "None",
        ScriptObject o => o.ClassName,
        Dictionary<object, object?> => "dict",
        List<object?> => "list",
        object?[] => "tuple",
        _ => v.GetType().Name,
    };

    private DeftException Refuse(string what, int at) =>
        new($"{_source}: refusing to load: the pickle references '{TextClip.Clip(what, 80)}' (byte {at}), which is not part of a tensor " +
            "state dict. Such a file can run code when Python loads it; Deft never executes it. If you trust it, convert the " +
            "weights to .safetensors.");

    private DeftException Damaged(string what) => new($"{_source}: not a valid pickle ({what}); the file is damaged or truncated.");

    private object? Run()
    {
        var stack = new List<object?>();
        var marks = new Stack<int>();
        var memo = new Dictionary<long, object?>();
        while (true)
        {
            if (_pos >= _data.Length) throw Damaged("it ends without a STOP opcode");
            var at = _pos;
            var op = _data[_pos++];
            switch (op)
            {
                case (byte)'.': // STOP
                    if (stack.Count == 0) throw Damaged("STOP with an empty stack");
                    return stack[^1];
                case 0x80: Take(1); break; // PROTO
                case 0x95: Take(8); break; // FRAME
                case (byte)'(': marks.Push(stack.Count); stack.Add(Mark.Instance); break;
                case (byte)'0': Pop(stack); break;
                case (byte)'1': PopMark(stack, marks); break;
                case (byte)'2': stack.Add(Peek(stack)); break;
                case (byte)'N': stack.Add(null); break;
                case 0x88: stack.Add(true); break;
                case 0x89: stack.Add(false); break;
                case (byte)'I': stack.Add(ParseIntLine(Line())); break;
                case (byte)'L': stack.Add(ParseIntLine(Line().TrimEnd('L'))); break;
                case (byte)'J': stack.Add((long)BinaryPrimitives.ReadInt32LittleEndian(Take(4))); break;
                case (byte)'K': stack.Add((long)Take(1)[0]); break;
                case (byte)'M': stack.Add((long)BinaryPrimitives.ReadUInt16LittleEndian(Take(2))); break;
                case 0x8a: stack.Add(ParseLong(Take(Take(1)[0]))); break; // LONG1
                case 0x8b: stack.Add(ParseLong(Take(Length(4)))); break; // LONG4
                case (byte)'F':
                    stack.Add(double.TryParse(Line(), NumberStyles.Float, CultureInfo.InvariantCulture, out var f) ? f : throw Damaged($"bad FLOAT at byte {at}"));
                    break;
                case (byte)'G': stack.Add(BinaryPrimitives.ReadDoubleBigEndian(Take(8))); break;
                case (byte)'S': stack.Add(Unquote(Line(), at)); break;
                case (byte)'T': stack.Add(Latin1(Take(Length(4)))); break;
                case (byte)'U': stack.Add(Latin1(Take(Take(1)[0]))); break;
                case (byte)'V': stack.Add(Line()); break;
                case (byte)'X': stack.Add(Utf8(Take(Length(4)), at)); break;
                case 0x8c: stack.Add(Utf8(Take(Take(1)[0]), at)); break;
                case 0x8d: stack.Add(Utf8(Take(Length(8)), at)); break;
                case (byte)'B': stack.Add(Take(Length(4)).ToArray()); break;
                case (byte)'C': stack.Add(Take(Take(1)[0]).ToArray()); break;
                case 0x8e: case 0x96: stack.Add(Take(Length(8)).ToArray()); break;
                case (byte)')': stack.Add(Array.Empty<object?>()); break;
                case (byte)'t': stack.Add(PopMark(stack, marks).ToArray()); break;
                case 0x85: { var a = Pop(stack); stack.Add(new[] { a }); break; }
                case 0x86: { var b = Pop(stack); var a = Pop(stack); stack.Add(new[] { a, b }); break; }
                case 0x87: { var c = Pop(stack); var b = Pop(stack); var a = Pop(stack); stack.Add(new[] { a, b, c }); break; }
                case (byte)']': stack.Add(new List<object?>()); break;
                case (byte)'l': stack.Add(PopMark(stack, marks)); break;
                case (byte)'a': { var v = Pop(stack); AsList(Peek(stack), at).Add(v); break; }
                case (byte)'e': { var items = PopMark(stack, marks); AsList(Peek(stack), at).AddRange(items); break; }
                case 0x8f: stack.Add(new List<object?>()); break; // EMPTY_SET: a list is enough here
                case 0x90: { var items = PopMark(stack, marks); AsList(Peek(stack), at).AddRange(items); break; }
                case 0x91: stack.Add(PopMark(stack, marks)); break;
                case (byte)'}': stack.Add(new Dictionary<object, object?>()); break;
                case (byte)'d': { var items = PopMark(stack, marks); var d = new Dictionary<object, object?>(); SetItems(d, items, at); stack.Add(d); break; }
                case (byte)'s': { var v = Pop(stack); var k = Pop(stack); SetItems(AsDict(Peek(stack), at), [k, v], at); break; }
                case (byte)'u': { var items = PopMark(stack, marks); SetItems(AsDict(Peek(stack), at), items, at); break; }
                case (byte)'g': stack.Add(Get(memo, ParseIntLine(Line()), at)); break;
                case (byte)'h': stack.Add(Get(memo, Take(1)[0], at)); break;
                case (byte)'j': stack.Add(Get(memo, BinaryPrimitives.ReadUInt32LittleEndian(Take(4)), at)); break;
                case (byte)'p': memo[ParseIntLine(Line())] = Peek(stack); break;
                case (byte)'q': memo[Take(1)[0]] = Peek(stack); break;
                case (byte)'r': memo[BinaryPrimitives.ReadUInt32LittleEndian(Take(4))] = Peek(stack); break;
                case 0x94: memo[memo.Count] = Peek(stack); break;
                case (byte)'c':
                {
                    var module = Line();
                    var name = Line();
                    stack.Add(ResolveGlobal(module, name, at));
                    break;
                }
                case 0x93: // STACK_GLOBAL: resolved and checked like GLOBAL
                {
                    var name = Pop(stack);
                    var module = Pop(stack);
                    if (module is not string m || name is not string n) throw Damaged($"STACK_GLOBAL without two strings at byte {at}");
                    stack.Add(ResolveGlobal(m, n, at));
                    break;
                }
                case (byte)'R':
                {
                    var args = Pop(stack);
                    var callable = Pop(stack);
                    stack.Add(Reduce(callable, args as object?[] ?? throw Damaged($"REDUCE without an argument tuple at byte {at}"), at));
                    break;
                }
                case 0x81: // NEWOBJ
                {
                    Pop(stack);
                    var cls = Pop(stack);
                    stack.Add(NewObject(cls, at));
                    break;
                }
                case 0x92: // NEWOBJ_EX
                {
                    Pop(stack);
                    Pop(stack);
                    var cls = Pop(stack);
                    stack.Add(NewObject(cls, at));
                    break;
                }
                case (byte)'b':
                {
                    var state = Pop(stack);
                    Build(Peek(stack), state, at);
                    break;
                }
                case (byte)'Q': stack.Add(PersistentLoad(Pop(stack), at)); break;
                case (byte)'P': case (byte)'i': case (byte)'o': case 0x82: case 0x83: case 0x84: case 0x97: case 0x98:
                    throw new DeftException($"{_source}: refusing to load: pickle opcode 0x{op:x2} (byte {at}) builds objects Deft does not allow " +
                        "in a tensor state dict. Re-save with torch.save(state_dict, path) or convert to .safetensors.");
                default:
                    throw Damaged($"unknown opcode 0x{op:x2} at byte {at}");
            }
            if (stack.Count > 50_000_000) throw Damaged("the stack grows without bound");
        }
    }

    private object ResolveGlobal(string module, string name, int at)
    {
        var full = $"{module}.{name}";
        if (module == "torch" && Storages.ContainsKey(name)) return new Global(module, name);
        if (AllowedFunctions.Contains(full)) return new Global(module, name);
        // TorchScript module classes: plain attribute containers here (their code/ is never run).
        if ((module == "__torch__" || module.StartsWith("__torch__.", StringComparison.Ordinal)) && IsIdentifier(name)) return new Global(module, name);
        throw Refuse(full, at);
    }

    private static bool IsIdentifier(string s) => s.Length > 0 && s.All(c => char.IsAsciiLetterOrDigit(c) || c == '_');

    private static bool IsScriptClass(Global g) => g.Module == "__torch__" || g.Module.StartsWith("__torch__.", StringComparison.Ordinal);

    private object NewObject(object? cls, int at)
    {
        if (cls is Global g && IsScriptClass(g)) return new ScriptObject(g.FullName);
        if (cls is Global { FullName: "collections.OrderedDict" }) return new Dictionary<object, object?>();
        throw Damaged($"NEWOBJ of {Describe(cls)} at byte {at}");
    }

    private void Build(object? target, object? state, int at)
    {
        switch (target)
        {
            case ScriptObject o when state is Dictionary<object, object?> d:
                foreach (var (k, v) in d)
                    if (k is string name) o.Attributes[name] = v;
                break;
            case ScriptObject o:
                throw new DeftException($"{_source}: refusing to load: TorchScript class '{TextClip.Clip(o.ClassName, 80)}' (byte {at}) restores " +
                    "its state through __setstate__, which is code; Deft reads tensor data only and never runs an archive's code. " +
                    "Export a state dict instead: " + ConversionCommand);
            case Tensor:
                break; // torch.save of a tensor with Python attributes: the state is not weights.
            case Dictionary<object, object?> d when state is Dictionary<object, object?> s:
                foreach (var (k, v) in s) d[k] = v;
                break;
            default:
                throw Damaged($"BUILD on a {Describe(target)} at byte {at}");
        }
    }

    private object? Reduce(object? callable, object?[] args, int at)
    {
        if (callable is not Global g) throw Damaged($"REDUCE of a {Describe(callable)} at byte {at}");
        switch (g.FullName)
        {
            case "collections.OrderedDict":
                if (args.Length == 0) return new Dictionary<object, object?>();
                // OrderedDict(iterable of pairs): a list, or a tuple (TorchSharp.PyBridge writes OrderedDict(()))
                if (args.Length == 1 && (args[0] as IEnumerable<object?> ?? (args[0] as object?[])) is { } pairs && pairs.All(p => p is object?[] { Length: 2 }))
                {
                    var d = new Dictionary<object, object?>();
                    foreach (var p in pairs.Cast<object?[]>()) d[p[0] ?? NoneKey] = p[1];
                    return d;
                }
                break;
            case "torch._utils._rebuild_tensor_v2" when args.Length is 6 or 7:
            case "torch._utils._rebuild_tensor" when args.Length == 4:
                return RebuildTensor(args[0], args[1], args[2], args[3], at);
            case "torch._utils._rebuild_parameter" when args.Length == 3 && args[0] is Tensor:
            case "torch._utils._rebuild_parameter_with_state" when args.Length == 4 && args[0] is Tensor:
                return args[0];
            case "torch._tensor._rebuild_from_type_v2" when args.Length == 4 && args[0] is Global f && args[2] is object?[] inner
                                                             && args[1] is Global { FullName: "torch.Tensor" or "torch.nn.parameter.Parameter" }:
                return Reduce(f, inner, at);
            case "torch.device" when args.Length >= 1 && args[0] is string:
                return args[0];
            case "torch.jit._pickle.restore_type_tag" when args.Length == 2:
                return args[0];
            case "torch.jit._pickle.build_intlist" or "torch.jit._pickle.build_doublelist" or "torch.jit._pickle.build_boollist"
                or "torch.jit._pickle.build_tensorlist" when args.Length == 1 && args[0] is List<object?>:
                return args[0];
        }
        throw new DeftException($"{_source}: refusing to load: the pickle calls '{TextClip.Clip(g.FullName, 80)}' with arguments Deft does not " +
            $"expect (byte {at}). Save the state dict itself (torch.save(model.state_dict(), path)) or convert it to .safetensors.");
    }

    private object PersistentLoad(object? pid, int at)
    {
        if (pid is object?[] { Length: 5 } t && t[0] is "storage" && t[1] is Global { Module: "torch" } type
            && Storages.TryGetValue(type.Name, out var dtype) && t[2] is string key && t[4] is long numel && numel >= 0)
            return new StorageRef(dtype, key, numel);
        throw Damaged($"a persistent id other than ('storage', torch.*Storage, key, location, numel) at byte {at}");
    }

    private Tensor RebuildTensor(object? storage, object? offsetValue, object? sizeValue, object? strideValue, int at)
    {
        if (storage is not StorageRef s || offsetValue is not long offset || sizeValue is not object?[] size || strideValue is not object?[] stride
            || size.Length != stride.Length || size.Length > 64 || size.Any(x => x is not long) || stride.Any(x => x is not long))
            throw Damaged($"_rebuild_tensor with arguments other than (storage, offset, size, stride) at byte {at}");
        var shape = size.Select(x => (long)x!).ToArray();
        var strides = stride.Select(x => (long)x!).ToArray();
        if (offset < 0 || shape.Any(x => x < 0) || strides.Any(x => x < 0))
            throw Damaged($"a tensor with a negative offset, size or stride at byte {at}");
        long numel = 1, last = offset;
        try
        {
            checked
            {
                foreach (var x in shape) numel *= x;
                for (var i = 0; i < shape.Length; i++) if (shape[i] > 0) last += (shape[i] - 1) * strides[i];
            }
        }
        catch (OverflowException)
        {
            throw Damaged($"a tensor whose size overflows at byte {at}");
        }
        if (numel > 0 && last >= s.Numel)
            throw new DeftException($"{_source}: a tensor of shape [{string.Join(", ", shape)}] (byte {at}) reaches element {last} of " +
                $"storage '{TextClip.Clip(s.Key, 40)}', which has {s.Numel}; the file is damaged.");
        Tensor result;
        if (numel == 0) result = torch.empty(shape, s.DType);
        else
        {
            var cacheKey = $"{s.Key}\0{s.DType}";
            if (!_storageCache.TryGetValue(cacheKey, out var full)) _storageCache[cacheKey] = full = _loadStorage(s.DType, s.Key, s.Numel);
            if (full.NumberOfElements < s.Numel)
                throw new DeftException($"{_source}: storage '{TextClip.Clip(s.Key, 40)}' holds {full.NumberOfElements} elements where the pickle says {s.Numel}; the file is damaged.");
            using var view = full.as_strided(shape, strides, offset);
            result = view.contiguous().clone();
        }
        _created.Add(result);
        return result;
    }

    private static void SetItems(Dictionary<object, object?> d, List<object?> items, int at)
    {
        if (items.Count % 2 != 0) throw new DeftException($"not a valid pickle (odd SETITEMS at byte {at})");
        for (var i = 0; i < items.Count; i += 2) d[items[i] ?? NoneKey] = items[i + 1];
    }

    private List<object?> AsList(object? v, int at) => v as List<object?> ?? throw Damaged($"APPEND to a {Describe(v)} at byte {at}");

    private Dictionary<object, object?> AsDict(object? v, int at) => v as Dictionary<object, object?> ?? throw Damaged($"SETITEM on a {Describe(v)} at byte {at}");

    private object? Get(Dictionary<long, object?> memo, long key, int at) =>
        memo.TryGetValue(key, out var v) ? v : throw Damaged($"memo entry {key} read before it was written, byte {at}");

    private object? Pop(List<object?> stack)
    {
        if (stack.Count == 0 || stack[^1] is Mark) throw Damaged($"stack underflow at byte {_pos - 1}");
        var v = stack[^1];
        stack.RemoveAt(stack.Count - 1);
        return v;
    }

    private object? Peek(List<object?> stack) =>
        stack.Count == 0 || stack[^1] is Mark ? throw Damaged($"stack underflow at byte {_pos - 1}") : stack[^1];

    private List<object?> PopMark(List<object?> stack, Stack<int> marks)
    {
        if (marks.Count == 0) throw Damaged($"no MARK before byte {_pos - 1}");
        var m = marks.Pop();
        if (m >= stack.Count) throw Damaged($"MARK lost at byte {_pos - 1}");
        var items = stack.GetRange(m + 1, stack.Count - m - 1);
        stack.RemoveRange(m, stack.Count - m);
        return items;
    }

    private ReadOnlySpan<byte> Take(long count)
    {
        if (count < 0 || count > _data.Length - _pos) throw Damaged($"a length of {count} bytes at byte {_pos} runs past the end of the {_data.Length}-byte pickle");
        var span = _data.AsSpan(_pos, (int)count);
        _pos += (int)count;
        return span;
    }

    private long Length(int width)
    {
        var at = _pos;
        var raw = width == 4 ? BinaryPrimitives.ReadUInt32LittleEndian(Take(4)) : BinaryPrimitives.ReadUInt64LittleEndian(Take(8));
        if (raw > (ulong)(_data.Length - _pos)) throw Damaged($"a length of {raw} bytes at byte {at} runs past the end of the {_data.Length}-byte pickle");
        return (long)raw;
    }

    private string Line()
    {
        var nl = _data.AsSpan(_pos).IndexOf((byte)'\n');
        if (nl < 0) throw Damaged($"a text argument at byte {_pos} has no end of line");
        var s = Encoding.Latin1.GetString(_data, _pos, nl);
        _pos += nl + 1;
        return s;
    }

    private long ParseIntLine(string s) => s switch
    {
        "00" => 0,
        "01" => 1,
        _ => long.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var v) ? v : throw Damaged($"'{TextClip.Clip(s, 40)}' is not an integer"),
    };

    private long ParseLong(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length == 0) return 0;
        if (bytes.Length > 8) throw Damaged($"an integer of {bytes.Length} bytes (more than 64 bits)");
        long v = 0;
        for (var i = bytes.Length - 1; i >= 0; i--) v = (v << 8) | bytes[i];
        if (bytes.Length < 8 && (bytes[^1] & 0x80) != 0) v -= 1L << (8 * bytes.Length);
        return v;
    }

    private string Utf8(ReadOnlySpan<byte> bytes, int at)
    {
        try
        {
            return StrictUtf8.GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            throw Damaged($"a string at byte {at} is not valid UTF-8");
        }
    }

    private static string Latin1(ReadOnlySpan<byte> bytes) => Encoding.Latin1.GetString(bytes);

    private string Unquote(string s, int at) =>
        s.Length >= 2 && (s[0] == '\'' || s[0] == '"') && s[^1] == s[0] ? s[1..^1] : throw Damaged($"a STRING without quotes at byte {at}");

    internal static readonly Encoding StrictUtf8 = new UTF8Encoding(false, throwOnInvalidBytes: true);
}

/// <summary>A PyTorch zip archive opened for reading: its data.pkl, its storages under data/, its TorchScript code/ declarations.</summary>
internal sealed class TorchZip : IDisposable
{
    private const long MaxPickleBytes = 1L << 30;
    private readonly ZipArchive _zip;
    private readonly string _path;
    private readonly string _prefix;

    private TorchZip(ZipArchive zip, string path, string prefix, string pickleName)
    {
        _zip = zip;
        _path = path;
        _prefix = prefix;
        PickleName = pickleName;
    }

    public string PickleName { get; }

    public static TorchZip Open(string path)
    {
        ZipArchive zip;
        try
        {
            zip = ZipFile.OpenRead(path);
        }
        catch (InvalidDataException ex)
        {
            throw new DeftException($"{path}: the zip archive is damaged or truncated ({ex.Message}). Download or save the file again.", ex);
        }
        try
        {
            // data.pkl sits in the archive's one top folder (archive/, or the model's name in OpenAI's files).
            var pickles = zip.Entries.Where(e => e.FullName.EndsWith("/data.pkl", StringComparison.Ordinal) && e.FullName.Count(c => c == '/') == 1)
                .Select(e => e.FullName).ToList();
            if (pickles.Count == 0)
                pickles = zip.Entries.Where(e => e.FullName == "data.pkl").Select(e => e.FullName).ToList();
            if (pickles.Count == 0) throw new DeftException($"{path}: a zip archive without data.pkl; not a PyTorch checkpoint.");
            if (pickles.Count > 1) throw new DeftException($"{path}: a zip archive with {pickles.Count} data.pkl files ({string.Join(", ", pickles.Take(3))}); not a PyTorch checkpoint.");
            var name = pickles[0];
            var archive = new TorchZip(zip, path, name[..^"data.pkl".Length], name);
            var order = archive.Find("byteorder");
            if (order is not null)
            {
                var text = Encoding.ASCII.GetString(archive.ReadAll(order, 16)).Trim();
                if (text != "little")
                    throw new DeftException($"{path}: the archive's tensors are stored in '{TextClip.Clip(text, 20)}' byte order; Deft reads little-endian files only.");
            }
            return archive;
        }
        catch
        {
            zip.Dispose();
            throw;
        }
    }

    public void Dispose() => _zip.Dispose();

    public byte[] ReadPickle() => ReadAll(Find("data.pkl")!, MaxPickleBytes);

    /// <summary>One storage's elements from data/KEY, checked against the size the zip declares before anything is allocated.</summary>
    public Tensor LoadStorage(ScalarType dtype, string key, long numel)
    {
        if (key.Length == 0 || key.Length > 64 || !key.All(char.IsAsciiLetterOrDigit))
            throw new DeftException($"{_path}: storage key '{TextClip.Clip(key, 40)}' is not a storage name; the file is damaged.");
        var entry = Find($"data/{key}") ?? throw new DeftException($"{_path}: storage data/{key} is missing from the archive; the file is truncated or damaged.");
        var elementSize = dtype switch
        {
            ScalarType.Float64 or ScalarType.Int64 => 8,
            ScalarType.Float32 or ScalarType.Int32 => 4,
            ScalarType.Float16 or ScalarType.BFloat16 or ScalarType.Int16 => 2,
            _ => 1,
        };
        long bytes;
        try { bytes = checked(numel * elementSize); }
        catch (OverflowException) { throw new DeftException($"{_path}: storage data/{key} claims {numel} elements; the file is damaged."); }
        if (entry.Length < bytes || bytes > Array.MaxLength)
            throw new DeftException($"{_path}: storage data/{key} holds {entry.Length} bytes where its {numel} {dtype} elements need {bytes}; the file is damaged.");
        CheckDeclaredSize(entry);
        var tensor = torch.empty([numel], dtype);
        try
        {
            if (bytes > 0)
            {
                using var s = entry.Open();
                var span = tensor.bytes;
                if (s.ReadAtLeast(span, span.Length, throwOnEndOfStream: false) < span.Length)
                    throw new DeftException($"{_path}: storage data/{key} ends early; the file is truncated.");
            }
            return tensor;
        }
        catch (InvalidDataException ex)
        {
            tensor.Dispose();
            throw new DeftException($"{_path}: storage data/{key} is damaged ({ex.Message}).", ex);
        }
        catch
        {
            tensor.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The parameter and buffer names each TorchScript class declares in code/ (<c>__parameters__ = ["weight", ...]</c>),
    /// read as text: other tensor attributes (constants such as attn_mask) are not part of state_dict().
    /// </summary>
    public Dictionary<string, HashSet<string>> ReadDeclarations()
    {
        var result = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
        var codePrefix = _prefix + "code/";
        foreach (var entry in _zip.Entries.Where(e => e.FullName.StartsWith(codePrefix, StringComparison.Ordinal) && e.FullName.EndsWith(".py", StringComparison.Ordinal)))
        {
            string text;
            try { text = PrefixedText(ReadAll(entry, 64L << 20)); }
            catch (DeftException) { continue; }
            var module = entry.FullName[codePrefix.Length..^3].Replace('/', '.');
            string? current = null;
            foreach (var line in text.Split('\n'))
            {
                var cls = ClassLine.Match(line);
                if (cls.Success)
                {
                    current = $"{module}.{cls.Groups[1].Value}";
                    result.TryAdd(current, new HashSet<string>(StringComparer.Ordinal));
                    continue;
                }
                if (current is null) continue;
                var decl = DeclarationLine.Match(line);
                if (decl.Success)
                    foreach (Match name in QuotedName.Matches(decl.Groups[1].Value)) result[current].Add(name.Groups[1].Value);
            }
        }
        return result;
    }

    private static string PrefixedText(byte[] bytes) => Encoding.UTF8.GetString(bytes);

    private static readonly Regex ClassLine = new(@"^class\s+([A-Za-z0-9_.]+)\s*\(", RegexOptions.CultureInvariant);
    private static readonly Regex DeclarationLine = new(@"^\s+__(?:parameters|buffers)__\s*=\s*\[(.*)\]", RegexOptions.CultureInvariant);
    private static readonly Regex QuotedName = new("\"([^\"]*)\"", RegexOptions.CultureInvariant);

    private ZipArchiveEntry? Find(string relative) => _zip.GetEntry(_prefix + relative);

    private void CheckDeclaredSize(ZipArchiveEntry entry)
    {
        // torch writes entries uncompressed; a deflated one cannot expand more than ~1032 times.
        if (entry.Length > Math.Max(entry.CompressedLength, 1) * 1100)
            throw new DeftException($"{_path}: entry {entry.FullName} claims {entry.Length} bytes from {entry.CompressedLength} compressed; the file is damaged.");
    }

    private byte[] ReadAll(ZipArchiveEntry entry, long max)
    {
        if (entry.Length > max) throw new DeftException($"{_path}: entry {entry.FullName} is {entry.Length} bytes, more than the {max} Deft reads.");
        CheckDeclaredSize(entry);
        try
        {
            using var s = entry.Open();
            var buffer = new byte[entry.Length];
            var read = s.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
            if (read < buffer.Length) throw new DeftException($"{_path}: entry {entry.FullName} ends early; the file is truncated.");
            return buffer;
        }
        catch (InvalidDataException ex)
        {
            throw new DeftException($"{_path}: entry {entry.FullName} is damaged ({ex.Message}).", ex);
        }
    }
}
