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
                // ReadHeader has checked that the byte count matches shape × dtype, so nothing huge is allocated here.
                var byteCount = e.End - e.Begin;
                if (byteCount > int.MaxValue) throw new DeftException($"{path}: tensor '{e.Name}' is larger than 2 GiB, which Deft does not load.");
                var tensor = torch.empty(e.Shape, ToScalarType(e.DType, path, e.Name));
                result.Add(e.Name, tensor);
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
        try
        {
            TorchPickle.StrictUtf8.GetCharCount(bytes);
        }
        catch (DecoderFallbackException ex)
        {
            throw new DeftException($"{path}: the safetensors header is not valid UTF-8 (byte {8 + ex.Index}); the file is damaged.", ex);
        }
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(bytes, new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (JsonException ex)
        {
            throw new DeftException($"{path}: the safetensors header is not valid JSON ({ex.Message}).", ex);
        }
        using var _ = document;
        if (document.RootElement.ValueKind != JsonValueKind.Object)
            throw new DeftException($"{path}: the safetensors header is not a JSON object.");
        var dataStart = 8 + (long)headerLength;
        var dataLength = stream.Length - dataStart;
        var entries = new List<SafetensorsEntry>();
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var property in document.RootElement.EnumerateObject())
        {
            var name = property.Name;
            var shown = TextClip.Clip(name, 80);
            if (!seen.Add(name))
                throw new DeftException($"{path}: the safetensors header lists '{shown}' twice; the file is damaged (which copy is meant is ambiguous).");
            var node = property.Value;
            if (name == "__metadata__")
            {
                if (node.ValueKind == JsonValueKind.Object)
                    foreach (var m in node.EnumerateObject())
                        metadata[m.Name] = m.Value.ValueKind == JsonValueKind.String ? m.Value.GetString()! : m.Value.GetRawText();
                continue;
            }
            if (node.ValueKind != JsonValueKind.Object
                || !node.TryGetProperty("dtype", out var dtypeNode) || dtypeNode.ValueKind != JsonValueKind.String
                || !node.TryGetProperty("shape", out var shapeNode) || shapeNode.ValueKind != JsonValueKind.Array
                || !node.TryGetProperty("data_offsets", out var offsetsNode) || offsetsNode.ValueKind != JsonValueKind.Array)
                throw new DeftException($"{path}: header entry '{shown}' lacks dtype, shape or data_offsets; the file is damaged.");
            var dtype = dtypeNode.GetString()!;
            var elementSize = ElementSize(ToScalarType(dtype, path, shown));
            var shape = Integers(shapeNode, path, shown, "shape");
            var offsets = Integers(offsetsNode, path, shown, "data_offsets");
            if (shape.Length > 16 || shape.Any(x => x < 0))
                throw new DeftException($"{path}: tensor '{shown}' has shape [{string.Join(", ", shape.Take(17))}]; the file is damaged.");
            if (offsets.Length != 2 || offsets[0] < 0 || offsets[1] < offsets[0] || offsets[1] > dataLength)
                throw new DeftException($"{path}: tensor '{shown}' has data offsets [{string.Join(", ", offsets.Take(3))}] outside the {dataLength} data bytes; the file is damaged.");
            long expected;
            try
            {
                expected = elementSize;
                foreach (var d in shape) expected = checked(expected * d);
            }
            catch (OverflowException)
            {
                throw new DeftException($"{path}: tensor '{shown}' has shape [{string.Join(", ", shape)}], more elements than any file can hold; the file is damaged.");
            }
            var byteCount = offsets[1] - offsets[0];
            if (byteCount != expected)
                throw new DeftException($"{path}: tensor '{shown}' has {byteCount} bytes in the file but its shape [{string.Join(", ", shape)}] and dtype {dtype} need {expected}; the file is damaged.");
            entries.Add(new SafetensorsEntry(name, dtype, shape, offsets[0], offsets[1]));
        }
        // Each byte belongs to one tensor: overlapping ranges would alias two tensors' data.
        var ordered = entries.Where(e => e.End > e.Begin).OrderBy(e => e.Begin).ToList();
        for (var i = 1; i < ordered.Count; i++)
            if (ordered[i].Begin < ordered[i - 1].End)
                throw new DeftException($"{path}: tensors '{TextClip.Clip(ordered[i - 1].Name, 80)}' (bytes {ordered[i - 1].Begin}..{ordered[i - 1].End}) and " +
                    $"'{TextClip.Clip(ordered[i].Name, 80)}' (bytes {ordered[i].Begin}..{ordered[i].End}) overlap; the file is damaged.");
        return (entries, metadata, dataStart);
    }

    private static long[] Integers(JsonElement array, string path, string name, string field)
    {
        var result = new List<long>();
        foreach (var x in array.EnumerateArray())
        {
            if (x.ValueKind != JsonValueKind.Number || !x.TryGetInt64(out var v))
                throw new DeftException($"{path}: tensor '{name}' has a {field} entry {TextClip.Clip(x.GetRawText(), 30)} that is not an integer; the file is damaged.");
            result.Add(v);
            if (result.Count > 64) break;
        }
        return [.. result];
    }

    private static int ElementSize(ScalarType t) => t switch
    {
        ScalarType.Float64 or ScalarType.Int64 => 8,
        ScalarType.Float32 or ScalarType.Int32 => 4,
        ScalarType.Float16 or ScalarType.BFloat16 or ScalarType.Int16 => 2,
        _ => 1,
    };

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
