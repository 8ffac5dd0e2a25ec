using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using Deft.Data;
using Deft.Tests.Data;

namespace Deft.Tests.PaperData;

/// <summary>Small images and the binary side files (MAT v5, NPY) the paper-data tests write.</summary>
internal static class PaperFiles
{
    /// <summary>A 3×2 RGB PNG whose first pixel is (seed, seed+1, seed+2), so a test can tell images apart.</summary>
    public static byte[] Png(int seed)
    {
        var samples = new byte[3 * 2 * 3];
        for (var i = 0; i < samples.Length; i++) samples[i] = (byte)(seed + i);
        return TestImages.Png(3, 2, 2, samples);
    }

    /// <summary>The seed a <see cref="Png"/> image was written with, read back from its first pixel.</summary>
    public static int SeedOf(RgbImage image) => image.Pixels[0];

    public static void Image(TempDir dir, string relative, int seed) => dir.Write(relative, Png(seed));

    /// <summary>A .npy file (format 1.0) of integers with the given dtype descriptor ('&lt;i8', '>i4', '|u1', ...).</summary>
    public static byte[] Npy(string descr, long[] values, string shape)
    {
        var size = int.Parse(descr[2..], System.Globalization.CultureInfo.InvariantCulture);
        var data = new byte[values.Length * size];
        for (var i = 0; i < values.Length; i++)
        {
            var s = data.AsSpan(i * size, size);
            var big = descr[0] == '>';
            switch (size)
            {
                case 1: s[0] = (byte)values[i]; break;
                case 2: if (big) BinaryPrimitives.WriteInt16BigEndian(s, (short)values[i]); else BinaryPrimitives.WriteInt16LittleEndian(s, (short)values[i]); break;
                case 4: if (big) BinaryPrimitives.WriteInt32BigEndian(s, (int)values[i]); else BinaryPrimitives.WriteInt32LittleEndian(s, (int)values[i]); break;
                default: if (big) BinaryPrimitives.WriteInt64BigEndian(s, values[i]); else BinaryPrimitives.WriteInt64LittleEndian(s, values[i]); break;
            }
        }
        var header = $"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}";
        var total = 10 + header.Length + 1;
        header = header.PadRight(header.Length + (64 - total % 64) % 64) + "\n";
        var bytes = new List<byte> { 0x93 };
        bytes.AddRange("NUMPY"u8.ToArray());
        bytes.AddRange([1, 0]);
        bytes.AddRange(BitConverter.GetBytes((ushort)header.Length));
        bytes.AddRange(Encoding.ASCII.GetBytes(header));
        bytes.AddRange(data);
        return [.. bytes];
    }
}

/// <summary>
/// Writes level-5 MAT-files byte by byte, following the MAT-file format reference: a 128-byte header, then one
/// miMATRIX element per variable (optionally inside a zlib miCOMPRESSED element), sub-elements padded to 8 bytes and
/// the 4-byte "small element" form for short data.
/// </summary>
internal static class MatWriter
{
    public const int MiInt8 = 1, MiUInt8 = 2, MiUInt16 = 4, MiInt32 = 5, MiUInt32 = 6, MiDouble = 9, MiMatrix = 14, MiCompressed = 15;
    public const int MxCell = 1, MxStruct = 2, MxChar = 4, MxSparse = 5, MxDouble = 6, MxUInt8 = 9, MxUInt16 = 11;

    public static byte[] File(bool compress, params byte[][] variables)
    {
        var header = new byte[128];
        Encoding.ASCII.GetBytes("MATLAB 5.0 MAT-file, written by Deft tests".PadRight(116)).CopyTo(header, 0);
        BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(124), 0x0100);
        header[126] = (byte)'I';
        header[127] = (byte)'M';
        var bytes = new List<byte>(header);
        foreach (var v in variables)
        {
            if (!compress) { bytes.AddRange(v); continue; }
            var z = new MemoryStream();
            using (var zlib = new ZLibStream(z, CompressionLevel.Optimal, leaveOpen: true)) zlib.Write(v);
            bytes.AddRange(Tag(MiCompressed, (int)z.Length));
            bytes.AddRange(z.ToArray());
        }
        return [.. bytes];
    }

    public static byte[] Tag(int type, int size)
    {
        var tag = new byte[8];
        BinaryPrimitives.WriteInt32LittleEndian(tag, type);
        BinaryPrimitives.WriteInt32LittleEndian(tag.AsSpan(4), size);
        return tag;
    }

    /// <summary>A data element, padded to 8 bytes.</summary>
    public static byte[] Element(int type, byte[] data) =>
        [.. Tag(type, data.Length), .. data, .. new byte[(8 - data.Length % 8) % 8]];

    /// <summary>The small data element form: type and size in one word, up to 4 data bytes in the next.</summary>
    public static byte[] Small(int type, byte[] data)
    {
        var element = new byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(element, (uint)(data.Length << 16 | type));
        data.CopyTo(element, 4);
        return element;
    }

    public static byte[] Matrix(string name, int mxClass, int[] dims, params byte[][] body)
    {
        var flags = new byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(flags, (uint)mxClass);
        var dimBytes = new byte[dims.Length * 4];
        for (var i = 0; i < dims.Length; i++) BinaryPrimitives.WriteInt32LittleEndian(dimBytes.AsSpan(i * 4), dims[i]);
        var nameBytes = Encoding.ASCII.GetBytes(name);
        byte[] content = [.. Element(MiUInt32, flags), .. Element(MiInt32, dimBytes),
            .. (nameBytes.Length is > 0 and <= 4 ? Small(MiInt8, nameBytes) : Element(MiInt8, nameBytes)), .. body.SelectMany(b => b)];
        return [.. Tag(MiMatrix, content.Length), .. content];
    }

    public static byte[] UInt8(byte value, string name = "") => Matrix(name, MxUInt8, [1, 1], Small(MiUInt8, [value]));

    public static byte[] UInt16(ushort value, string name = "") => Matrix(name, MxUInt16, [1, 1], Small(MiUInt16, BitConverter.GetBytes(value)));

    public static byte[] Double(double value, string name = "") => Matrix(name, MxDouble, [1, 1], Element(MiDouble, BitConverter.GetBytes(value)));

    /// <summary>A double array whose values are stored as uint8, as MATLAB does when they fit.</summary>
    public static byte[] DoublesAsUInt8(byte[] values, string name = "") => Matrix(name, MxDouble, [1, values.Length], Element(MiUInt8, values));

    public static byte[] Char(string text, string name = "") => Matrix(name, MxChar, [1, text.Length], Element(MiUInt16, Encoding.Unicode.GetBytes(text)));

    public static byte[] Cell(string name, params byte[][] items) => Matrix(name, MxCell, [1, items.Length], items);

    public static byte[] Struct(string name, string[] fields, params byte[][][] elements)
    {
        const int nameLength = 32;
        var names = new byte[fields.Length * nameLength];
        for (var f = 0; f < fields.Length; f++) Encoding.ASCII.GetBytes(fields[f]).CopyTo(names, f * nameLength);
        return Matrix(name, MxStruct, [1, elements.Length],
            [Small(MiInt32, BitConverter.GetBytes(nameLength)), Element(MiInt8, names), .. elements.SelectMany(e => e)]);
    }

    private static readonly string[] CarFields = ["bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2", "class", "fname"];

    /// <summary>A cars_*_annos.mat 'annotations' struct: one element per (fname, class 1-based).</summary>
    public static byte[] CarAnnotations(bool withClass, params (string File, int Class)[] rows)
    {
        var fields = withClass ? CarFields : [.. CarFields.Where(f => f != "class")];
        byte[][] Values(int i, (string File, int Class) row)
        {
            var values = new List<byte[]> { UInt16((ushort)(10 + i)), UInt8(20), UInt16(300), Double(200.0) };
            if (withClass) values.Add(UInt8((byte)row.Class));
            values.Add(Char(row.File));
            return [.. values];
        }
        return Struct("annotations", fields, [.. rows.Select((r, i) => Values(i, r))]);
    }

    public static byte[] CarMeta(params string[] names) => Cell("class_names", [.. names.Select(n => Char(n))]);
}
