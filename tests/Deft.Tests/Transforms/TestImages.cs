using System.Buffers.Binary;
using System.Text.Json;
using Deft.Data;
using SkiaSharp;

namespace Deft.Tests.Transforms;

/// <summary>Decodes fixture images with SkiaSharp (the data readers are not part of this area).</summary>
internal static class TestImages
{
    public static RgbImage Decode(string path)
    {
        using var codec = SKCodec.Create(path) ?? throw new InvalidOperationException($"SkiaSharp cannot decode {path}.");
        var info = new SKImageInfo(codec.Info.Width, codec.Info.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        using var bitmap = SKBitmap.Decode(codec, info) ?? throw new InvalidOperationException($"SkiaSharp failed on {path}.");
        var rgba = bitmap.GetPixelSpan();
        var rgb = new byte[info.Width * info.Height * 3];
        for (var p = 0; p < info.Width * info.Height; p++)
        {
            rgb[p * 3] = rgba[p * 4];
            rgb[p * 3 + 1] = rgba[p * 4 + 1];
            rgb[p * 3 + 2] = rgba[p * 4 + 2];
        }
        return new RgbImage(info.Width, info.Height, rgb);
    }

    /// <summary>An image whose every pixel is (f(x,y), g(x,y), h(x,y)).</summary>
    public static RgbImage Make(int width, int height, Func<int, int, int, byte> value)
    {
        var pixels = new byte[width * height * 3];
        for (var y = 0; y < height; y++)
            for (var x = 0; x < width; x++)
                for (var c = 0; c < 3; c++)
                    pixels[(y * width + x) * 3 + c] = value(x, y, c);
        return new RgbImage(width, height, pixels);
    }

    /// <summary>A pseudo-random image (fixed by <paramref name="seed"/>).</summary>
    public static RgbImage Noise(int width, int height, int seed)
    {
        var pixels = new byte[width * height * 3];
        new Random(seed).NextBytes(pixels);
        return new RgbImage(width, height, pixels);
    }
}

/// <summary>Minimal safetensors reader for float32 tensors: 8-byte little-endian header length, JSON header, raw data.</summary>
internal static class SafetensorsFile
{
    public static Dictionary<string, (long[] Shape, float[] Data)> ReadFloat32(string path)
    {
        var bytes = File.ReadAllBytes(path);
        var headerLength = (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        using var header = JsonDocument.Parse(bytes.AsMemory(8, headerLength));
        var dataStart = 8 + headerLength;
        var result = new Dictionary<string, (long[], float[])>();
        foreach (var entry in header.RootElement.EnumerateObject())
        {
            if (entry.Name == "__metadata__") continue;
            if (entry.Value.GetProperty("dtype").GetString() != "F32")
                throw new InvalidDataException($"{path}: {entry.Name} is not F32.");
            var shape = entry.Value.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            var offsets = entry.Value.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            var data = new float[(offsets[1] - offsets[0]) / 4];
            for (var i = 0; i < data.Length; i++)
                data[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(dataStart + offsets[0] + i * 4));
            result[entry.Name] = (shape, data);
        }
        return result;
    }
}

/// <summary>An in-memory data set; <paramref name="failAt"/> makes <see cref="GetImage"/> throw for those indices.</summary>
internal sealed class InMemoryDataset(IReadOnlyList<RgbImage> images, IReadOnlyList<int> labels, ISet<int>? failAt = null) : IImageDataset
{
    public int Count => images.Count;
    public IReadOnlyList<string> Classes { get; } = Enumerable.Range(0, labels.Count == 0 ? 1 : labels.Max() + 1).Select(i => $"class{i}").ToArray();
    public int GetLabel(int index) => labels[index];

    public RgbImage GetImage(int index) =>
        failAt?.Contains(index) == true ? throw new InvalidDataException("corrupt test image") : images[index];

    public string GetSource(int index) => $"memory#{index}";

    /// <summary>n small images, each filled with its own index (R), so batches can be checked sample by sample.</summary>
    public static InMemoryDataset Numbered(int n, int size = 8, ISet<int>? failAt = null) =>
        new(Enumerable.Range(0, n).Select(i => TestImages.Make(size, size, (x, y, c) => c == 0 ? (byte)i : (byte)(x * 7 + y))).ToArray(),
            Enumerable.Range(0, n).Select(i => i % 5).ToArray(), failAt);
}
