using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace Deft.Data.Paper;

/// <summary>A MATLAB array read from a MAT-file: its dimensions (column-major, as MATLAB stores them).</summary>
internal abstract record MatValue(int[] Dims)
{
    public int Count => Dims.Aggregate(1, (a, d) => a * d);
}

/// <summary>A numeric or logical array, converted to double.</summary>
internal sealed record MatNumeric(int[] Dims, double[] Values) : MatValue(Dims);

/// <summary>A char array; a row vector (the common case) is one string.</summary>
internal sealed record MatChar(int[] Dims, string Text) : MatValue(Dims);

/// <summary>A cell array, elements in column-major order.</summary>
internal sealed record MatCell(int[] Dims, MatValue[] Items) : MatValue(Dims);

/// <summary>A struct array: per element (column-major), the value of each field.</summary>
internal sealed record MatStruct(int[] Dims, string[] FieldNames, IReadOnlyDictionary<string, MatValue>[] Elements) : MatValue(Dims);

/// <summary>
/// A reader for level-5 MAT-files (MATLAB's default before v7.3, and what the Stanford Cars devkit ships): numeric,
/// logical, char, cell and struct arrays, compressed (miCOMPRESSED) or not, little-endian. No maintained MAT-file
/// library is served to this project, so this covers exactly the structures the devkit uses; sparse and object
/// arrays, complex data and v7.3 (HDF5) files are refused with a message saying how to re-save the file.
/// </summary>
internal static class MatFile
{
    private const int MiInt8 = 1, MiUInt8 = 2, MiInt16 = 3, MiUInt16 = 4, MiInt32 = 5, MiUInt32 = 6, MiSingle = 7, MiDouble = 9,
        MiInt64 = 12, MiUInt64 = 13, MiMatrix = 14, MiCompressed = 15, MiUtf8 = 16, MiUtf16 = 17;

    private const int MxCell = 1, MxStruct = 2, MxObject = 3, MxChar = 4, MxSparse = 5, MxDouble = 6, MxUInt64 = 15;

    private const string Resave = "Re-save it as a level-5 MAT-file (MATLAB: save(name, '-v7'); Python: scipy.io.savemat(name, scipy.io.loadmat(old))).";

    /// <summary>The top-level variables by name.</summary>
    public static IReadOnlyDictionary<string, MatValue> Read(string path)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new DeftException($"Cannot read {path}: {ex.Message}", ex);
        }
        return Read(bytes, path);
    }

    public static IReadOnlyDictionary<string, MatValue> Read(byte[] bytes, string source)
    {
        if (bytes.Length < 128)
            throw new DeftException($"{source}: {bytes.Length} bytes is too short for a MAT-file (the header alone is 128). The file is truncated; download it again.");
        var text = Encoding.ASCII.GetString(bytes, 0, 116);
        if (text.StartsWith("MATLAB 7.3", StringComparison.Ordinal))
            throw new DeftException($"{source} is a v7.3 (HDF5) MAT-file, which Deft does not read. {Resave}");
        if (!text.StartsWith("MATLAB 5.0", StringComparison.Ordinal))
            throw new DeftException($"{source} is not a level-5 MAT-file (its header does not start with 'MATLAB 5.0 MAT-file'). {Resave}");
        if (bytes[126] == (byte)'M' && bytes[127] == (byte)'I')
            throw new DeftException($"{source} is a big-endian MAT-file, which Deft does not read. {Resave}");
        if (bytes[126] != (byte)'I' || bytes[127] != (byte)'M')
            throw new DeftException($"{source}: the MAT-file header's endian indicator is damaged. Download the file again.");

        var variables = new Dictionary<string, MatValue>(StringComparer.Ordinal);
        var reader = new Cursor(bytes, 128, bytes.Length, source);
        while (reader.Remaining >= 8)
        {
            var (type, data) = reader.Element(padded: false);
            if (type == MiCompressed)
            {
                var inflated = Inflate(data, source, reader.LastElementStart);
                var inner = new Cursor(inflated, 0, inflated.Length, source + " (compressed element)");
                var (innerType, innerData) = inner.Element(padded: true);
                if (innerType != MiMatrix) continue;
                var (name, value) = ReadMatrix(innerData, source);
                variables[name] = value;
            }
            else if (type == MiMatrix)
            {
                var (name, value) = ReadMatrix(data, source);
                variables[name] = value;
            }
            // Other top-level elements carry no variable; skip them.
        }
        return variables;
    }

    private static byte[] Inflate(ReadOnlyMemory<byte> data, string source, int offset)
    {
        try
        {
            using var z = new ZLibStream(new MemoryStream(data.ToArray()), CompressionMode.Decompress);
            using var output = new MemoryStream();
            z.CopyTo(output);
            return output.ToArray();
        }
        catch (InvalidDataException ex)
        {
            throw new DeftException($"{source}: the compressed variable at byte {offset} is corrupt ({ex.Message}). Download the file again.", ex);
        }
    }

    private static (string Name, MatValue Value) ReadMatrix(ReadOnlyMemory<byte> data, string source)
    {
        if (data.Length == 0) return ("", new MatNumeric([0, 0], []));
        var c = new Cursor(data.ToArray(), 0, data.Length, source);
        var (flagsType, flags) = c.Element(padded: true);
        if (flagsType != MiUInt32 || flags.Length < 8) throw c.Corrupt("array flags");
        var flagWord = BinaryPrimitives.ReadUInt32LittleEndian(flags.Span);
        var mxClass = (int)(flagWord & 0xFF);
        var complex = (flagWord & 0x0800) != 0;

        var (dimsType, dimsData) = c.Element(padded: true);
        if (dimsType != MiInt32 || dimsData.Length % 4 != 0 || dimsData.Length == 0) throw c.Corrupt("dimensions");
        var dims = new int[dimsData.Length / 4];
        for (var i = 0; i < dims.Length; i++)
        {
            dims[i] = BinaryPrimitives.ReadInt32LittleEndian(dimsData.Span[(i * 4)..]);
            if (dims[i] < 0) throw c.Corrupt("dimensions");
        }
        var count = dims.Aggregate(1L, (a, d) => a * d);
        if (count > int.MaxValue) throw c.Corrupt("dimensions");

        var (nameType, nameData) = c.Element(padded: true);
        if (nameType is not (MiInt8 or MiUInt8)) throw c.Corrupt("array name");
        var name = Encoding.ASCII.GetString(nameData.Span);

        MatValue value = mxClass switch
        {
            MxCell => ReadCell(c, dims, (int)count, source),
            MxStruct => ReadStruct(c, dims, (int)count, source),
            MxChar => ReadChar(c, dims, (int)count),
            >= MxDouble and <= MxUInt64 when !complex => ReadNumeric(c, dims, (int)count),
            >= MxDouble and <= MxUInt64 => throw new DeftException($"{source}: variable '{name}' is complex; Deft reads real arrays only. {Resave}"),
            MxSparse => throw new DeftException($"{source}: variable '{name}' is a sparse matrix, which Deft does not read. Store it as a full matrix. {Resave}"),
            MxObject => throw new DeftException($"{source}: variable '{name}' is a MATLAB object, which Deft does not read. Store it as a struct. {Resave}"),
            _ => throw new DeftException($"{source}: variable '{name}' has MATLAB array class {mxClass}, which Deft does not read. {Resave}"),
        };
        return (name, value);
    }

    private static MatCell ReadCell(Cursor c, int[] dims, int count, string source)
    {
        var items = new MatValue[count];
        for (var i = 0; i < count; i++)
        {
            var (type, data) = c.Element(padded: true);
            if (type != MiMatrix) throw c.Corrupt($"cell element {i}");
            items[i] = ReadMatrix(data, source).Value;
        }
        return new MatCell(dims, items);
    }

    private static MatStruct ReadStruct(Cursor c, int[] dims, int count, string source)
    {
        var (lenType, lenData) = c.Element(padded: true);
        if (lenType != MiInt32 || lenData.Length < 4) throw c.Corrupt("struct field name length");
        var nameLength = BinaryPrimitives.ReadInt32LittleEndian(lenData.Span);
        var (namesType, namesData) = c.Element(padded: true);
        if (namesType is not (MiInt8 or MiUInt8) || nameLength <= 0 || namesData.Length % nameLength != 0) throw c.Corrupt("struct field names");
        var fields = new string[namesData.Length / nameLength];
        for (var f = 0; f < fields.Length; f++)
            fields[f] = Encoding.ASCII.GetString(namesData.Span.Slice(f * nameLength, nameLength)).TrimEnd('\0');

        var elements = new IReadOnlyDictionary<string, MatValue>[count];
        for (var e = 0; e < count; e++)
        {
            var element = new Dictionary<string, MatValue>(StringComparer.Ordinal);
            foreach (var field in fields)
            {
                var (type, data) = c.Element(padded: true);
                if (type != MiMatrix) throw c.Corrupt($"field '{field}' of struct element {e}");
                element[field] = ReadMatrix(data, source).Value;
            }
            elements[e] = element;
        }
        return new MatStruct(dims, fields, elements);
    }

    private static MatChar ReadChar(Cursor c, int[] dims, int count)
    {
        if (count == 0 && c.Remaining == 0) return new MatChar(dims, "");
        var (type, data) = c.Element(padded: true);
        var chars = type switch
        {
            MiUInt16 or MiUtf16 => Encoding.Unicode.GetString(data.Span),
            MiUtf8 or MiUInt8 or MiInt8 => Encoding.UTF8.GetString(data.Span),
            _ => throw c.Corrupt("char data"),
        };
        if (dims.Length == 2 && dims[0] > 1 && chars.Length == count)
        {
            // Column-major m×n: row r is chars[r], chars[r + m], ...; rows joined by newlines.
            var rows = new string[dims[0]];
            for (var r = 0; r < dims[0]; r++)
                rows[r] = new string([.. Enumerable.Range(0, dims[1]).Select(j => chars[r + j * dims[0]])]);
            chars = string.Join('\n', rows);
        }
        return new MatChar(dims, chars);
    }

    private static MatNumeric ReadNumeric(Cursor c, int[] dims, int count)
    {
        if (count == 0) return new MatNumeric(dims, []);
        var (type, data) = c.Element(padded: true);
        var size = type switch
        {
            MiInt8 or MiUInt8 => 1,
            MiInt16 or MiUInt16 => 2,
            MiInt32 or MiUInt32 or MiSingle => 4,
            MiDouble or MiInt64 or MiUInt64 => 8,
            _ => throw c.Corrupt("numeric data"),
        };
        if (data.Length != count * size) throw c.Corrupt($"numeric data ({data.Length} bytes for {count} values of {size} bytes)");
        var s = data.Span;
        var values = new double[count];
        for (var i = 0; i < count; i++)
        {
            var v = s[(i * size)..];
            values[i] = type switch
            {
                MiInt8 => (sbyte)v[0],
                MiUInt8 => v[0],
                MiInt16 => BinaryPrimitives.ReadInt16LittleEndian(v),
                MiUInt16 => BinaryPrimitives.ReadUInt16LittleEndian(v),
                MiInt32 => BinaryPrimitives.ReadInt32LittleEndian(v),
                MiUInt32 => BinaryPrimitives.ReadUInt32LittleEndian(v),
                MiSingle => BinaryPrimitives.ReadSingleLittleEndian(v),
                MiDouble => BinaryPrimitives.ReadDoubleLittleEndian(v),
                MiInt64 => BinaryPrimitives.ReadInt64LittleEndian(v),
                _ => BinaryPrimitives.ReadUInt64LittleEndian(v),
            };
        }
        return new MatNumeric(dims, values);
    }

    /// <summary>Walks data elements: an 8-byte tag (type, byte count) or the 4-byte "small element" form.</summary>
    private sealed class Cursor(byte[] bytes, int start, int end, string source)
    {
        private readonly int _start = start;
        private int _pos = start;

        public int Remaining => end - _pos;
        public int LastElementStart { get; private set; }

        public (int Type, ReadOnlyMemory<byte> Data) Element(bool padded)
        {
            LastElementStart = _pos;
            if (Remaining < 8) throw Corrupt("element tag");
            var first = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(_pos));
            if ((first >> 16) != 0)
            {
                // Small element: the byte count sits in the upper half of the type word, the data in the next 4 bytes.
                var smallSize = (int)(first >> 16);
                if (smallSize > 4) throw Corrupt("small element");
                var data = new ReadOnlyMemory<byte>(bytes, _pos + 4, smallSize);
                _pos += 8;
                return ((int)(first & 0xFFFF), data);
            }
            var size = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(_pos + 4));
            if (size > (uint)(Remaining - 8)) throw Corrupt($"element of {size} bytes (only {Remaining - 8} left)");
            var payload = new ReadOnlyMemory<byte>(bytes, _pos + 8, (int)size);
            _pos += 8 + (int)size;
            if (padded) _pos = Math.Min(end, _start + (_pos - _start + 7) / 8 * 8);
            return ((int)first, payload);
        }

        public DeftException Corrupt(string what) =>
            new($"{source}: the MAT-file is truncated or corrupt near byte {LastElementStart} ({what}). Download it again.");
    }
}
