using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Deft.Data.Paper;

/// <summary>
/// Reads a one-dimensional integer array from a NumPy <c>.npy</c> file (format versions 1-3): the magic
/// <c>\x93NUMPY</c>, a version, a little-endian header length, a Python-literal header dict
/// (<c>{'descr': '&lt;i8', 'fortran_order': False, 'shape': (50000,), }</c>) and the raw values.
/// Integer dtypes of 1, 2, 4 or 8 bytes in either byte order are accepted; a shape of (N,) or (N, 1).
/// </summary>
internal static partial class NpyFile
{
    [GeneratedRegex(@"'descr'\s*:\s*'([<>|=])([iu])(\d)'")]
    private static partial Regex Descr();

    [GeneratedRegex(@"'shape'\s*:\s*\(([^)]*)\)")]
    private static partial Regex Shape();

    public static long[] ReadIntegers(string path)
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
        ReadOnlySpan<byte> magic = [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];
        if (bytes.Length < 10 || !bytes.AsSpan(0, 6).SequenceEqual(magic))
            throw new DeftException($"{path} is not a .npy file (it does not start with \\x93NUMPY). Save the array with numpy.save.");
        var major = bytes[6];
        int headerLength, headerStart;
        if (major == 1) { headerLength = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(8)); headerStart = 10; }
        else if (major is 2 or 3 && bytes.Length >= 12) { headerLength = (int)BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(8)); headerStart = 12; }
        else throw new DeftException($"{path}: .npy format version {major} is not supported (1-3 are). Save the array with numpy.save.");
        if (headerLength < 0 || headerStart + headerLength > bytes.Length)
            throw new DeftException($"{path}: the .npy header runs past the end of the file. The file is truncated; save it again.");
        var header = (major == 3 ? Encoding.UTF8 : Encoding.Latin1).GetString(bytes, headerStart, headerLength);

        var descr = Descr().Match(header);
        if (!descr.Success)
            throw new DeftException($"{path}: the array's dtype is not an integer type (header: {TextClip.Clip(header.Trim(), 200)}). Save the labels as integers: numpy.save(path, labels.astype('int64')).");
        var size = int.Parse(descr.Groups[3].Value, CultureInfo.InvariantCulture);
        if (size is not (1 or 2 or 4 or 8))
            throw new DeftException($"{path}: integer size {size} is not supported. Save the labels as int64.");
        var unsigned = descr.Groups[2].Value == "u";
        var bigEndian = descr.Groups[1].Value == ">";

        var shape = Shape().Match(header);
        if (!shape.Success) throw new DeftException($"{path}: the .npy header has no shape. Save the array with numpy.save.");
        var dims = shape.Groups[1].Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(d => long.Parse(d, CultureInfo.InvariantCulture)).ToArray();
        if (dims.Length is 0 or > 2 || (dims.Length == 2 && dims[1] != 1 && dims[0] != 1))
            throw new DeftException($"{path}: expected a one-dimensional array, found shape ({shape.Groups[1].Value}). Save labels.reshape(-1).");
        // fortran_order is irrelevant: a (N,) or (N, 1) array has the same values in either order.

        var count = dims.Aggregate(1L, (a, d) => a * d);
        var dataStart = headerStart + headerLength;
        if (bytes.Length - dataStart != count * size)
            throw new DeftException($"{path}: {bytes.Length - dataStart} data bytes for {count} values of {size} bytes. The file is truncated; save it again.");

        var values = new long[count];
        for (var i = 0; i < count; i++)
        {
            var s = bytes.AsSpan(dataStart + i * size, size);
            values[i] = (size, unsigned, bigEndian) switch
            {
                (1, false, _) => (sbyte)s[0],
                (1, true, _) => s[0],
                (2, false, false) => BinaryPrimitives.ReadInt16LittleEndian(s),
                (2, false, true) => BinaryPrimitives.ReadInt16BigEndian(s),
                (2, true, false) => BinaryPrimitives.ReadUInt16LittleEndian(s),
                (2, true, true) => BinaryPrimitives.ReadUInt16BigEndian(s),
                (4, false, false) => BinaryPrimitives.ReadInt32LittleEndian(s),
                (4, false, true) => BinaryPrimitives.ReadInt32BigEndian(s),
                (4, true, false) => BinaryPrimitives.ReadUInt32LittleEndian(s),
                (4, true, true) => BinaryPrimitives.ReadUInt32BigEndian(s),
                (8, _, false) => BinaryPrimitives.ReadInt64LittleEndian(s),
                _ => BinaryPrimitives.ReadInt64BigEndian(s),
            };
        }
        return values;
    }
}
