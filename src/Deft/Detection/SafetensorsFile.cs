using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Deft.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace Deft.Detection;

/// <summary>
/// The safetensors format (8-byte little-endian header length, JSON header, raw little-endian tensor data) with its
/// string metadata, which the detector files use to carry the configuration needed to rebuild a run.
/// </summary>
public static class SafetensorsFile
{
    /// <summary>Reads every tensor (CPU, owned by the caller) and the metadata of <paramref name="path"/>.</summary>
    public static (Dictionary<string, Tensor> Tensors, Dictionary<string, string> Metadata) Read(string path)
    {
        if (!File.Exists(path)) throw new DeftException($"{path}: file not found.");
        using var stream = File.OpenRead(path);
        Span<byte> lengthBytes = stackalloc byte[8];
        if (stream.Read(lengthBytes) != 8) throw new DeftException($"{path}: not a safetensors file (shorter than 8 bytes).");
        var headerLength = BinaryPrimitives.ReadUInt64LittleEndian(lengthBytes);
        if (headerLength > (ulong)Math.Min(stream.Length - 8, 100_000_000))
            throw new DeftException($"{path}: not a safetensors file (header length {headerLength} exceeds the file).");
        var headerBytes = new byte[headerLength];
        stream.ReadExactly(headerBytes);
        JsonObject header;
        try { header = JsonNode.Parse(headerBytes)?.AsObject() ?? throw new JsonException("empty header"); }
        catch (JsonException ex) { throw new DeftException($"{path}: not a safetensors file (header is not JSON: {ex.Message}).", ex); }

        var dataStart = 8 + (long)headerLength;
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            foreach (var (name, node) in header)
            {
                if (name == "__metadata__")
                {
                    foreach (var (key, value) in node!.AsObject()) metadata[key] = value?.GetValue<string>() ?? "";
                    continue;
                }
                var entry = node!.AsObject();
                var dtype = ParseDType(entry["dtype"]!.GetValue<string>(), path, name);
                var shape = entry["shape"]!.AsArray().Select(s => s!.GetValue<long>()).ToArray();
                var offsets = entry["data_offsets"]!.AsArray().Select(s => s!.GetValue<long>()).ToArray();
                var length = offsets[1] - offsets[0];
                var tensor = empty(shape, dtype);
                if (tensor.NumberOfElements * tensor.ElementSize != length)
                {
                    tensor.Dispose();
                    throw new DeftException($"{path}: tensor '{name}' has {length} bytes, its shape and dtype need {tensor.NumberOfElements * tensor.ElementSize}.");
                }
                tensors[name] = tensor;
                if (length == 0) continue;
                var buffer = new byte[length];
                stream.Position = dataStart + offsets[0];
                stream.ReadExactly(buffer);
                tensor.bytes = buffer;
            }
        }
        catch
        {
            foreach (var t in tensors.Values) t.Dispose();
            throw;
        }
        return (tensors, metadata);
    }

    /// <summary>Writes <paramref name="tensors"/> (any device; copied to CPU) and <paramref name="metadata"/> atomically.</summary>
    public static void Write(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var ordered = tensors.ToList();
        var header = new JsonObject();
        if (metadata is { Count: > 0 })
        {
            var md = new JsonObject();
            foreach (var (k, v) in metadata) md[k] = v;
            header["__metadata__"] = md;
        }
        long offset = 0;
        foreach (var (name, tensor) in ordered)
        {
            var length = tensor.NumberOfElements * tensor.ElementSize;
            header[name] = new JsonObject
            {
                ["dtype"] = FormatDType(tensor.dtype, name),
                ["shape"] = new JsonArray(tensor.shape.Select(s => (JsonNode)s).ToArray()),
                ["data_offsets"] = new JsonArray(offset, offset + length),
            };
            offset += length;
        }
        var headerText = header.ToJsonString();
        // The format asks for the data to start 8-byte aligned; pad the header with spaces.
        var padded = headerText + new string(' ', (8 - Encoding.UTF8.GetByteCount(headerText) % 8) % 8);
        var headerBytes = Encoding.UTF8.GetBytes(padded);

        using var file = AtomicFile.Create(path);
        Span<byte> lengthBytes = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(lengthBytes, (ulong)headerBytes.Length);
        file.Stream.Write(lengthBytes);
        file.Stream.Write(headerBytes);
        foreach (var (_, tensor) in ordered)
        {
            if (tensor.NumberOfElements == 0) continue;
            using var cpu = tensor.detach().cpu().contiguous();
            file.Stream.Write(cpu.bytes);
        }
    }

    private static ScalarType ParseDType(string dtype, string path, string name) => dtype switch
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
        _ => throw new DeftException($"{path}: tensor '{name}' has dtype {dtype}; supported: F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL."),
    };

    private static string FormatDType(ScalarType dtype, string name) => dtype switch
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
        _ => throw new ArgumentException($"Tensor '{name}' has dtype {dtype}, which safetensors cannot store.", nameof(dtype)),
    };
}
