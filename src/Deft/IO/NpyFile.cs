using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Deft.IO;

/// <summary>A float32 array read from a <c>.npy</c> file: its values in C (row-major) order and its shape.</summary>
public sealed record NpyArray(float[] Values, int[] Shape);

/// <summary>
/// NumPy's <c>.npy</c> format (version 1.0) for float32 matrices: what <c>numpy.load</c> reads as a C-ordered
/// <c>float32</c> array. Written atomically; little-endian whatever the machine.
/// </summary>
public static partial class NpyFile
{
    private static readonly byte[] Magic = [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    /// <summary>Writes <paramref name="values"/> ([rows, columns] in row-major order) to <paramref name="path"/> as float32, atomically.</summary>
    public static void Write(string path, ReadOnlySpan<float> values, int rows, int columns)
    {
        if (rows < 0 || columns < 0) throw new ArgumentOutOfRangeException(nameof(rows), $"Shape ({rows}, {columns}) is negative.");
        if ((long)rows * columns != values.Length)
            throw new ArgumentException($"{values.Length} values for shape ({rows}, {columns}).", nameof(values));
        var header = Header(rows, columns);
        using var file = AtomicFile.Create(path);
        try
        {
            file.Stream.Write(header);
            // Streamed in chunks: a features file may pass 2 GB, more than one byte array holds.
            var chunk = new byte[1 << 16];
            for (var start = 0; start < values.Length; start += chunk.Length / sizeof(float))
            {
                var part = values.Slice(start, Math.Min(chunk.Length / sizeof(float), values.Length - start));
                for (var i = 0; i < part.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(chunk.AsSpan(i * sizeof(float)), part[i]);
                file.Stream.Write(chunk, 0, part.Length * sizeof(float));
            }
        }
        catch
        {
            file.Abort();
            throw;
        }
    }

    /// <summary>Writes a [rows, columns] matrix as float32 (doubles are rounded to the nearest float).</summary>
    public static void Write(string path, double[,] values)
    {
        ArgumentNullException.ThrowIfNull(values);
        var (rows, columns) = (values.GetLength(0), values.GetLength(1));
        var flat = new float[rows * columns];
        for (var r = 0; r < rows; r++)
            for (var c = 0; c < columns; c++)
                flat[r * columns + c] = (float)values[r, c];
        Write(path, flat, rows, columns);
    }

    /// <summary>Writes a [rows, columns] matrix as float32.</summary>
    public static void Write(string path, float[,] values)
    {
        ArgumentNullException.ThrowIfNull(values);
        var flat = new float[values.Length];
        Buffer.BlockCopy(values, 0, flat, 0, flat.Length * sizeof(float));
        Write(path, flat, values.GetLength(0), values.GetLength(1));
    }

    /// <summary>
    /// Reads a float32 <c>.npy</c> file (little-endian, C order, any number of dimensions, versions 1.0–3.0).
    /// Other dtypes, Fortran order and truncated files throw a <see cref="DeftException"/> naming the file.
    /// </summary>
    public static NpyArray Read(string path)
    {
        if (!File.Exists(path)) throw new DeftException($"{path}: no such .npy file.");
        var bytes = File.ReadAllBytes(path);
        if (bytes.Length < 10 || !bytes.AsSpan(0, 6).SequenceEqual(Magic))
            throw new DeftException($"{path}: not a .npy file (no \\x93NUMPY magic).");
        var major = bytes[6];
        int headerLength, start;
        if (major == 1) (headerLength, start) = (BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(8)), 10);
        else if (major is 2 or 3 && bytes.Length >= 12) (headerLength, start) = ((int)BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(8)), 12);
        else throw new DeftException($"{path}: .npy version {major} is not supported (1.0–3.0 are).");
        if ((long)start + headerLength > bytes.Length) throw new DeftException($"{path}: the .npy header is truncated.");
        var header = Encoding.Latin1.GetString(bytes, start, headerLength);
        var descr = DescrPattern().Match(header);
        if (!descr.Success || descr.Groups[1].Value is not ("<f4" or "=f4" or "f4"))
            throw new DeftException($"{path}: dtype {(descr.Success ? descr.Groups[1].Value : "?")} is not float32 ('<f4'); save with .astype(numpy.float32).");
        if (!FortranPattern().IsMatch(header))
            throw new DeftException($"{path}: the array is in Fortran order; save it with numpy.ascontiguousarray.");
        var shapeMatch = ShapePattern().Match(header);
        if (!shapeMatch.Success) throw new DeftException($"{path}: the .npy header has no shape.");
        var shape = shapeMatch.Groups[1].Value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Select(s => int.Parse(s, NumberStyles.None, CultureInfo.InvariantCulture)).ToArray();
        var count = shape.Aggregate(1L, (a, d) => a * d);
        var body = bytes.AsSpan(start + headerLength);
        if (body.Length != count * sizeof(float))
            throw new DeftException($"{path}: shape ({string.Join(", ", shape)}) needs {count * sizeof(float)} bytes of data, the file has {body.Length}.");
        var values = new float[count];
        for (var i = 0; i < values.Length; i++) values[i] = BinaryPrimitives.ReadSingleLittleEndian(body[(i * sizeof(float))..]);
        return new NpyArray(values, shape);
    }

    /// <summary>The version-1.0 header: magic, version, length, then the dict padded with spaces to a multiple of 64 bytes.</summary>
    private static byte[] Header(int rows, int columns)
    {
        var dict = $"{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows.ToString(CultureInfo.InvariantCulture)}, {columns.ToString(CultureInfo.InvariantCulture)}), }}";
        var unpadded = Magic.Length + 2 + 2 + dict.Length + 1;
        var padded = (unpadded + 63) / 64 * 64;
        var text = dict + new string(' ', padded - unpadded) + "\n";
        var header = new byte[padded];
        Magic.CopyTo(header, 0);
        header[6] = 1;
        header[7] = 0;
        BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(8), (ushort)text.Length);
        Encoding.ASCII.GetBytes(text, header.AsSpan(10));
        return header;
    }

    [GeneratedRegex(@"'descr'\s*:\s*'([^']*)'")]
    private static partial Regex DescrPattern();

    [GeneratedRegex(@"'fortran_order'\s*:\s*False")]
    private static partial Regex FortranPattern();

    [GeneratedRegex(@"'shape'\s*:\s*\(([^)]*)\)")]
    private static partial Regex ShapePattern();
}
