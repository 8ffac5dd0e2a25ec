using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using Deft.Data;
using SkiaSharp;

namespace Deft.Tests.Data;

/// <summary>Encoders for test images: Skia for PNG/JPEG/WebP, hand-written bytes for what Skia cannot encode.</summary>
internal static class TestImages
{
    /// <summary>A deterministic image whose every pixel differs from its neighbours.</summary>
    public static RgbImage Pattern(int width, int height, int seed = 1)
    {
        var px = new byte[width * height * 3];
        for (var i = 0; i < px.Length; i++) px[i] = (byte)((i * 37 + seed * 101 + i / 3 * 11) % 256);
        return new RgbImage(width, height, px);
    }

    public static RgbImage Solid(int width, int height, byte r, byte g, byte b)
    {
        var px = new byte[width * height * 3];
        for (var i = 0; i < width * height; i++) { px[i * 3] = r; px[i * 3 + 1] = g; px[i * 3 + 2] = b; }
        return new RgbImage(width, height, px);
    }

    public static (byte R, byte G, byte B) At(RgbImage img, int x, int y)
    {
        var o = (y * img.Width + x) * 3;
        return (img.Pixels[o], img.Pixels[o + 1], img.Pixels[o + 2]);
    }

    /// <summary>Encodes RGB (or RGBA when <paramref name="alpha"/> is given) with Skia.</summary>
    public static byte[] SkiaEncode(RgbImage img, SKEncodedImageFormat format, int quality = 100, byte[]? alpha = null)
    {
        var info = new SKImageInfo(img.Width, img.Height, SKColorType.Rgba8888, alpha is null ? SKAlphaType.Opaque : SKAlphaType.Unpremul);
        using var bitmap = new SKBitmap(info);
        var rgba = new byte[img.Width * img.Height * 4];
        for (var p = 0; p < img.Width * img.Height; p++)
        {
            rgba[p * 4] = img.Pixels[p * 3];
            rgba[p * 4 + 1] = img.Pixels[p * 3 + 1];
            rgba[p * 4 + 2] = img.Pixels[p * 3 + 2];
            rgba[p * 4 + 3] = alpha?[p] ?? 255;
        }
        System.Runtime.InteropServices.Marshal.Copy(rgba, 0, bitmap.GetPixels(), rgba.Length);
        using var pixmap = bitmap.PeekPixels();
        using var data = format switch
        {
            SKEncodedImageFormat.Webp => pixmap.Encode(new SKWebpEncoderOptions(SKWebpEncoderCompression.Lossless, 100)),
            _ => pixmap.Encode(format, quality),
        };
        return data?.ToArray() ?? throw new InvalidOperationException($"Skia cannot encode {format}.");
    }

    /// <summary>A minimal PNG: 8-bit gray (color type 0), RGB (2), palette (3) or RGBA (6); no filtering.</summary>
    public static byte[] Png(int width, int height, int colorType, byte[] samples, byte[]? paletteRgb = null)
    {
        var channels = colorType switch { 0 => 1, 2 => 3, 3 => 1, 6 => 4, _ => throw new ArgumentOutOfRangeException(nameof(colorType)) };
        var raw = new MemoryStream();
        for (var y = 0; y < height; y++)
        {
            raw.WriteByte(0);
            raw.Write(samples, y * width * channels, width * channels);
        }
        return PngWithData(width, height, colorType, Zlib(raw.ToArray()), paletteRgb);
    }

    public static byte[] Zlib(byte[] data)
    {
        var z = new MemoryStream();
        using (var zlib = new ZLibStream(z, CompressionLevel.Optimal, leaveOpen: true)) zlib.Write(data);
        return z.ToArray();
    }

    /// <summary>A PNG of the given header and one IDAT chunk holding <paramref name="idat"/> as given (header and data may disagree).</summary>
    public static byte[] PngWithData(int width, int height, int colorType, byte[] idat, byte[]? paletteRgb = null)
    {
        var png = new MemoryStream();
        png.Write([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A]);
        var ihdr = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, width);
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), height);
        ihdr[8] = 8;
        ihdr[9] = (byte)colorType;
        Chunk(png, "IHDR", ihdr);
        if (paletteRgb is not null) Chunk(png, "PLTE", paletteRgb);
        Chunk(png, "IDAT", idat);
        Chunk(png, "IEND", []);
        return png.ToArray();
    }

    private static void Chunk(Stream s, string type, byte[] data)
    {
        var len = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(len, data.Length);
        s.Write(len);
        var typeAndData = Encoding.ASCII.GetBytes(type).Concat(data).ToArray();
        s.Write(typeAndData);
        var crc = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(crc, Crc32(typeAndData));
        s.Write(crc);
    }

    private static uint Crc32(byte[] bytes)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var b in bytes)
        {
            crc ^= b;
            for (var k = 0; k < 8; k++) crc = (crc & 1) != 0 ? 0xEDB88320u ^ (crc >> 1) : crc >> 1;
        }
        return ~crc;
    }

    /// <summary>An uncompressed bottom-up BMP: 24-bit when <paramref name="palette"/> is null, else 8-bit indexed.</summary>
    public static byte[] Bmp(int width, int height, byte[] samples, byte[]? palette = null)
    {
        var bpp = palette is null ? 24 : 8;
        var rowBytes = (width * bpp / 8 + 3) / 4 * 4;
        var paletteBytes = palette is null ? 0 : palette.Length / 3 * 4;
        var offset = 14 + 40 + paletteBytes;
        var total = offset + rowBytes * height;
        var b = new byte[total];
        b[0] = (byte)'B'; b[1] = (byte)'M';
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(2), total);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(10), offset);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(14), 40);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(18), width);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(22), height);
        BinaryPrimitives.WriteInt16LittleEndian(b.AsSpan(26), 1);
        BinaryPrimitives.WriteInt16LittleEndian(b.AsSpan(28), (short)bpp);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(34), rowBytes * height);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(38), 2835);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(42), 2835);
        if (palette is not null)
        {
            BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(46), palette.Length / 3);
            for (var i = 0; i < palette.Length / 3; i++)
            {
                b[54 + i * 4] = palette[i * 3 + 2];
                b[54 + i * 4 + 1] = palette[i * 3 + 1];
                b[54 + i * 4 + 2] = palette[i * 3];
            }
        }
        for (var y = 0; y < height; y++)
        {
            var row = offset + (height - 1 - y) * rowBytes;
            for (var x = 0; x < width; x++)
            {
                if (palette is null)
                {
                    var s = (y * width + x) * 3;
                    b[row + x * 3] = samples[s + 2];
                    b[row + x * 3 + 1] = samples[s + 1];
                    b[row + x * 3 + 2] = samples[s];
                }
                else b[row + x] = samples[y * width + x];
            }
        }
        return b;
    }

    /// <summary>
    /// A GIF89a with an 8-colour global table and one full-size frame per index array. The LZW stream sends a clear
    /// code every 4 pixels so the code width never grows: valid, just not compressed.
    /// </summary>
    public static byte[] Gif(int width, int height, byte[] paletteRgb8, params byte[][] frames)
    {
        var s = new MemoryStream();
        s.Write(Encoding.ASCII.GetBytes("GIF89a"));
        WriteU16(s, width);
        WriteU16(s, height);
        s.WriteByte(0xF2); // global table present, 8 entries
        s.WriteByte(0);
        s.WriteByte(0);
        s.Write(paletteRgb8);
        foreach (var indices in frames)
        {
            s.Write([0x21, 0xF9, 0x04, 0x04, 10, 0, 0, 0]); // graphic control: dispose "do not dispose", 0.1 s, no transparency
            s.WriteByte(0x2C);
            WriteU16(s, 0); WriteU16(s, 0); WriteU16(s, width); WriteU16(s, height);
            s.WriteByte(0);
            const int minCodeSize = 3, clear = 8, end = 9, width4 = 4;
            s.WriteByte(minCodeSize);
            var bits = new List<bool>();
            void Emit(int code) { for (var k = 0; k < width4; k++) bits.Add(((code >> k) & 1) != 0); }
            for (var i = 0; i < indices.Length; i++)
            {
                if (i % 4 == 0) Emit(clear);
                Emit(indices[i]);
            }
            Emit(end);
            var bytes = new byte[(bits.Count + 7) / 8];
            for (var i = 0; i < bits.Count; i++) if (bits[i]) bytes[i / 8] |= (byte)(1 << (i % 8));
            for (var o = 0; o < bytes.Length; o += 255)
            {
                var n = Math.Min(255, bytes.Length - o);
                s.WriteByte((byte)n);
                s.Write(bytes, o, n);
            }
            s.WriteByte(0);
        }
        s.WriteByte(0x3B);
        return s.ToArray();
    }

    private static void WriteU16(Stream s, int v) { s.WriteByte((byte)v); s.WriteByte((byte)(v >> 8)); }

    /// <summary>Inserts an EXIF APP1 segment (big-endian TIFF, one Orientation entry) right after a JPEG's SOI.</summary>
    public static byte[] WithExifOrientation(byte[] jpeg, int orientation)
    {
        if (jpeg[0] != 0xFF || jpeg[1] != 0xD8) throw new ArgumentException("Not a JPEG.");
        var tiff = new byte[8 + 2 + 12 + 4];
        tiff[0] = (byte)'M'; tiff[1] = (byte)'M'; tiff[3] = 42;
        BinaryPrimitives.WriteUInt32BigEndian(tiff.AsSpan(4), 8);
        BinaryPrimitives.WriteUInt16BigEndian(tiff.AsSpan(8), 1);
        BinaryPrimitives.WriteUInt16BigEndian(tiff.AsSpan(10), 0x0112);
        BinaryPrimitives.WriteUInt16BigEndian(tiff.AsSpan(12), 3);
        BinaryPrimitives.WriteUInt32BigEndian(tiff.AsSpan(14), 1);
        BinaryPrimitives.WriteUInt16BigEndian(tiff.AsSpan(18), (ushort)orientation);
        var payload = Encoding.ASCII.GetBytes("Exif\0\0").Concat(tiff).ToArray();
        var segment = new byte[4 + payload.Length];
        segment[0] = 0xFF; segment[1] = 0xE1;
        BinaryPrimitives.WriteUInt16BigEndian(segment.AsSpan(2), (ushort)(2 + payload.Length));
        payload.CopyTo(segment, 4);
        return [.. jpeg.AsSpan(0, 2), .. segment, .. jpeg.AsSpan(2)];
    }
}

/// <summary>Writers for the binary data-set formats.</summary>
internal static class DatasetFiles
{
    /// <summary>An IDX file of unsigned bytes with the given dimensions, gzipped when <paramref name="gzip"/>.</summary>
    public static void WriteIdx(string path, int[] dims, byte[] data, bool gzip)
    {
        var header = new byte[4 + 4 * dims.Length];
        header[2] = 0x08;
        header[3] = (byte)dims.Length;
        for (var d = 0; d < dims.Length; d++) BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4 + 4 * d), dims[d]);
        byte[] bytes = [.. header, .. data];
        if (gzip)
        {
            var ms = new MemoryStream();
            using (var gz = new GZipStream(ms, CompressionLevel.Fastest, leaveOpen: true)) gz.Write(bytes);
            bytes = ms.ToArray();
        }
        File.WriteAllBytes(path, bytes);
    }

    /// <summary>Writes MNIST-style files for one split: <paramref name="prefix"/> is "train" or "t10k".</summary>
    public static void WriteIdxSplit(string dir, string prefix, byte[][] images, byte[] labels, int side, bool gzip)
    {
        var ext = gzip ? ".gz" : "";
        WriteIdx(Path.Combine(dir, $"{prefix}-images-idx3-ubyte{ext}"), [images.Length, side, side], [.. images.SelectMany(i => i)], gzip);
        WriteIdx(Path.Combine(dir, $"{prefix}-labels-idx1-ubyte{ext}"), [labels.Length], labels, gzip);
    }

    /// <summary>CIFAR binary records: [coarse,] label, 3072 planar bytes.</summary>
    public static byte[] CifarRecords(IEnumerable<(byte? Coarse, byte Label, byte[] Planar)> records) =>
        [.. records.SelectMany(r => (r.Coarse is { } c ? new[] { c, r.Label } : [r.Label]).Concat(r.Planar))];

    public static byte[] PlanarPattern(int seed)
    {
        var b = new byte[3072];
        for (var i = 0; i < b.Length; i++) b[i] = (byte)((i * 7 + seed * 13) % 251);
        return b;
    }
}
