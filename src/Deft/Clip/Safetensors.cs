using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Deft.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace Deft.Clip;

/// <summary>One tensor's entry in a safetensors header.</summary>
public sealed record SafetensorsEntry(string Name, string DType, long[] Shape, long Begin, long End);

/// <summary>
/// Reads and writes the safetensors format (an 8-byte little-endian header length, a JSON header, raw little-endian
/// tensor bytes). Tensors are read straight into TorchSharp memory, so a file costs one copy.
/// </summary>
public static class Safetensors
{
    private const long MaxHeaderBytes = 100L << 20;

    /// <summary>Header only: the tensor entries in file order and the <c>__metadata__</c> strings.</summary>
    public static (IReadOnlyList<SafetensorsEntry> Entries, IReadOnlyDictionary<string, string> Metadata, long DataStart) ReadHeader(string path)
    {
        using var stream = OpenOrThrow(path);
        return ReadHeader(stream, path);
    }

    /// <summary>
    /// Loads every tensor (or those <paramref name="include"/> accepts) on the CPU in the file's dtype. The caller owns
    /// the returned tensors.
    /// </summary>
    public static Dictionary<string, Tensor> Load(string path, Func<string, bool>? include = null) => Load(path, out _, include);

    public static Dictionary<string, Tensor> Load(string path, out IReadOnlyDictionary<string, string> metadata, Func<string, bool>? include = null)
    {
        using var stream = OpenOrThrow(path);
        var (entries, meta, dataStart) = ReadHeader(stream, path);
        metadata = meta;
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            foreach (var e in entries)
            {
                if (include is not null && !include(e.Name)) continue;
                var tensor = torch.empty(e.Shape, ToScalarType(e.DType, path, e.Name));
                result.Add(e.Name, tensor);
                var byteCount = e.End - e.Begin;
                var expected = tensor.NumberOfElements * tensor.ElementSize;
                if (byteCount != expected)
                    throw new DeftException($"{path}: tensor '{e.Name}' has {byteCount} bytes in the file but its shape [{string.Join(", ", e.Shape)}] and dtype {e.DType} need {expected}; the file is damaged.");
                stream.Position = dataStart + e.Begin;
                ReadInto(stream, tensor, byteCount, path, e.Name);
            }
        }
        catch
        {
            foreach (var t in result.Values) t.Dispose();
            throw;
        }
        return result;
    }

    /// <summary>Writes <paramref name="tensors"/> (any device and layout; copied to contiguous CPU memory) atomically.</summary>
    public static void Save(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var items = tensors.ToList();
        var header = new JsonObject();
        if (metadata is { Count: > 0 })
        {
            var meta = new JsonObject();
            foreach (var (k, v) in metadata) meta[k] = v;
            header["__metadata__"] = meta;
        }
        long offset = 0;
        foreach (var (name, t) in items)
        {
            var length = t.NumberOfElements * t.ElementSize;
            header[name] = new JsonObject
            {
                ["dtype"] = ToSafetensorsDType(t.dtype, name),
                ["shape"] = new JsonArray(t.shape.Select(s => (JsonNode)JsonValue.Create(s)!).ToArray()),
                ["data_offsets"] = new JsonArray(JsonValue.Create(offset), JsonValue.Create(offset + length)),
            };
            offset += length;
        }
        var headerBytes = Encoding.UTF8.GetBytes(header.ToJsonString());
        // Pad with spaces to 8 bytes, as the reference implementation does, so tensor data stays aligned.
        var padded = (headerBytes.Length + 7) / 8 * 8;
        AtomicFile.Write(path, tmp =>
        {
            using var stream = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
            Span<byte> len = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)padded);
            stream.Write(len);
            stream.Write(headerBytes);
            for (var i = headerBytes.Length; i < padded; i++) stream.WriteByte((byte)' ');
            foreach (var (_, t) in items)
            {
                // detach() and cpu() make handles of their own; the scope frees them with the contiguous copy.
                using var scope = torch.NewDisposeScope();
                WriteFrom(stream, t.detach().cpu().contiguous());
            }
        });
    }

    internal static ScalarType ToScalarType(string dtype, string path, string name) => dtype switch
    {
        "F64" => ScalarType.Float64,
        "F32" => ScalarType.Float32,
        "F16" => ScalarType.Float16,
        "BF16" => ScalarType.BFloat16,
        "I64" => ScalarType.Int64,
        "I32" => ScalarType.Int32,
        "I16" => ScalarType.Int16,
        "I8" => ScalarType.Int8,
        "U8" => ScalarType.Byte,
        "BOOL" => ScalarType.Bool,
        _ => throw new DeftException($"{path}: tensor '{name}' has dtype '{dtype}', which Deft cannot read (valid: F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL)."),
    };

    private static string ToSafetensorsDType(ScalarType t, string name) => t switch
    {
        ScalarType.Float64 => "F64",
        ScalarType.Float32 => "F32",
        ScalarType.Float16 => "F16",
        ScalarType.BFloat16 => "BF16",
        ScalarType.Int64 => "I64",
        ScalarType.Int32 => "I32",
        ScalarType.Int16 => "I16",
        ScalarType.Int8 => "I8",
        ScalarType.Byte => "U8",
        ScalarType.Bool => "BOOL",
        _ => throw new ArgumentException($"Tensor '{name}' has dtype {t}, which safetensors cannot store."),
    };

    private static FileStream OpenOrThrow(string path)
    {
        if (!File.Exists(path)) throw new DeftException($"Safetensors file not found: {path}");
        return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
    }

    private static (IReadOnlyList<SafetensorsEntry>, IReadOnlyDictionary<string, string>, long) ReadHeader(Stream stream, string path)
    {
        Span<byte> len = stackalloc byte[8];
        if (stream.ReadAtLeast(len, 8, throwOnEndOfStream: false) < 8)
            throw new DeftException($"{path}: too short to be a safetensors file.");
        var headerLength = BinaryPrimitives.ReadUInt64LittleEndian(len);
        if (headerLength == 0 || headerLength > (ulong)Math.Min(MaxHeaderBytes, stream.Length - 8))
            throw new DeftException($"{path}: not a safetensors file (header length {headerLength} is impossible for a {stream.Length}-byte file).");
        var bytes = new byte[headerLength];
        stream.ReadExactly(bytes);
        JsonObject header;
        try
        {
            header = JsonNode.Parse(bytes)?.AsObject() ?? throw new JsonException("empty header");
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            throw new DeftException($"{path}: the safetensors header is not a JSON object ({ex.Message}).", ex);
        }
        var dataStart = 8 + (long)headerLength;
        var dataLength = stream.Length - dataStart;
        var entries = new List<SafetensorsEntry>();
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, node) in header)
        {
            if (name == "__metadata__")
            {
                if (node is JsonObject m)
                    foreach (var (k, v) in m) metadata[k] = v is JsonValue jv && jv.TryGetValue<string>(out var s) ? s : v?.ToJsonString() ?? "";
                continue;
            }
            try
            {
                var o = node!.AsObject();
                var dtype = o["dtype"]!.GetValue<string>();
                var shape = o["shape"]!.AsArray().Select(x => x!.GetValue<long>()).ToArray();
                var offsets = o["data_offsets"]!.AsArray().Select(x => x!.GetValue<long>()).ToArray();
                if (offsets.Length != 2 || offsets[0] < 0 || offsets[1] < offsets[0] || offsets[1] > dataLength || shape.Any(s => s < 0))
                    throw new DeftException($"{path}: tensor '{name}' has data offsets [{string.Join(", ", offsets)}] outside the {dataLength} data bytes; the file is damaged.");
                entries.Add(new SafetensorsEntry(name, dtype, shape, offsets[0], offsets[1]));
            }
            catch (Exception ex) when (ex is NullReferenceException or InvalidOperationException or FormatException)
            {
                throw new DeftException($"{path}: header entry '{name}' lacks dtype, shape or data_offsets; the file is damaged.", ex);
            }
        }
        return (entries, metadata, dataStart);
    }

    private static void ReadInto(Stream stream, Tensor tensor, long byteCount, string path, string name)
    {
        if (byteCount > int.MaxValue) throw new DeftException($"{path}: tensor '{name}' is larger than 2 GiB, which Deft does not load.");
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("safetensors data is little-endian.");
        if (byteCount == 0) return;
        // Tensor.bytes is a span over the tensor's own CPU memory: the file is read straight into it.
        var span = tensor.bytes;
        if (stream.ReadAtLeast(span, span.Length, throwOnEndOfStream: false) < span.Length)
            throw new DeftException($"{path}: file ends inside tensor '{name}'; the file is truncated.");
    }

    private static void WriteFrom(Stream stream, Tensor contiguousCpu)
    {
        if (contiguousCpu.NumberOfElements == 0) return;
        stream.Write(contiguousCpu.bytes);
    }
}
