using SkiaSharp;

namespace Deft.Data;

/// <summary>
/// Decodes JPEG, PNG, BMP, WebP and GIF (first frame) to 8-bit RGB with SkiaSharp. Grayscale and palette images are
/// expanded to RGB; an alpha channel is dropped without compositing (as PIL's <c>convert("RGB")</c> does, which the
/// reference preprocessing uses); embedded colour profiles are ignored (PIL ignores them too); the EXIF orientation
/// is applied so the image is upright. Thread-safe.
/// </summary>
public static class ImageDecoder
{
    /// <summary>File extensions (lower case, with the dot) the folder reader treats as images.</summary>
    internal static readonly IReadOnlySet<string> Extensions =
        new HashSet<string>(StringComparer.OrdinalIgnoreCase) { ".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif" };

    private const string Supported = "JPEG, PNG, BMP, WebP or GIF";

    /// <summary>PIL's default <c>Image.MAX_IMAGE_PIXELS</c> (1024³ / 4 / 3): larger images are refused as likely decompression bombs.</summary>
    public const long DefaultMaxPixels = 89_478_485;

    private static long _maxPixels = DefaultMaxPixels;

    /// <summary>
    /// The largest image (width × height) <see cref="Decode(byte[], string)"/> decodes; larger ones fail before any
    /// pixel memory is allocated. The CLI sets it from <c>--max-image-pixels</c>.
    /// </summary>
    public static long MaxPixels
    {
        get => Interlocked.Read(ref _maxPixels);
        set
        {
            if (value < 1) throw new DeftException($"The image size limit must be at least 1 pixel (got {value}).");
            Interlocked.Exchange(ref _maxPixels, value);
        }
    }

    /// <summary>Reads and decodes the image file at <paramref name="path"/>.</summary>
    /// <exception cref="DeftException">The file is missing, unreadable, not a supported image, corrupt or truncated.</exception>
    public static RgbImage Decode(string path)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new DeftException($"Image file not found: {path}. Check the path, or restore the file.", ex);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new DeftException($"Cannot read image file {path}: {ex.Message}", ex);
        }
        return Decode(bytes, path);
    }

    /// <summary>Decodes an encoded image held in memory; <paramref name="sourceForMessages"/> names it in errors.</summary>
    /// <exception cref="DeftException">The bytes are not a supported image, or are corrupt or truncated.</exception>
    public static RgbImage Decode(byte[] bytes, string sourceForMessages)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        if (bytes.Length == 0)
            throw new DeftException($"Image {sourceForMessages} is empty (0 bytes). Replace it with a valid {Supported} file, or remove it.");

        using var data = SKData.CreateCopy(bytes);
        using var codec = SKCodec.Create(data)
            ?? throw new DeftException(
                $"Image {sourceForMessages} is not a readable {Supported} file (unknown format or corrupt header). " +
                "Replace or remove it.");

        var width = codec.Info.Width;
        var height = codec.Info.Height;
        if (width <= 0 || height <= 0)
            throw new DeftException($"Image {sourceForMessages} declares an empty size {width}x{height}. Replace or remove it.");
        // The header's size is checked before any pixel memory exists: a 100-byte PNG can claim 10⁹ pixels.
        var pixels = (long)width * height;
        var limit = MaxPixels;
        if (pixels > limit || pixels * 4 > Array.MaxLength)
            throw new DeftException(
                $"Image {sourceForMessages} is too large ({width}×{height} = {pixels:N0} pixels > limit {Math.Min(limit, Array.MaxLength / 4):N0}). " +
                $"If it is a genuine image, raise the limit with {Setting.MaxImagePixels} N; otherwise replace or remove it.");

        // Unpremultiplied RGBA and no colour space: Skia then expands gray/palette/16-bit data and performs no colour
        // management, so the RGB values are the stored ones.
        var info = new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        var rgba = new byte[pixels * 4];
        // Frame 0 of an animated GIF/WebP; the codec's default options decode exactly that frame.
        var result = codec.GetPixels(info, rgba);
        switch (result)
        {
            case SKCodecResult.Success:
                break;
            case SKCodecResult.IncompleteInput:
                throw new DeftException(
                    $"Image {sourceForMessages} is truncated (the data ends before the last row). Re-copy or re-download it.");
            default:
                throw new DeftException(
                    $"Image {sourceForMessages} is corrupt ({codec.EncodedFormat} decoder: {result}). Replace or remove it.");
        }

        var rgb = new byte[pixels * 3];
        for (int p = 0, q = 0; p < rgba.Length; p += 4, q += 3)
        {
            rgb[q] = rgba[p];
            rgb[q + 1] = rgba[p + 1];
            rgb[q + 2] = rgba[p + 2];
        }
        return Orient(new RgbImage(width, height, rgb), codec.EncodedOrigin);
    }

    /// <summary>
    /// Turns an image stored with EXIF orientation <paramref name="origin"/> upright: the EXIF tag says where the
    /// stored first row and column belong, so each displayed pixel is fetched from its stored position.
    /// </summary>
    internal static RgbImage Orient(RgbImage stored, SKEncodedOrigin origin)
    {
        // Values outside 2..8 (absent or malformed tags) mean "as stored".
        if ((int)origin is < 2 or > 8) return stored;
        int w = stored.Width, h = stored.Height;
        var swaps = origin is SKEncodedOrigin.LeftTop or SKEncodedOrigin.RightTop or SKEncodedOrigin.RightBottom or SKEncodedOrigin.LeftBottom;
        int outW = swaps ? h : w, outH = swaps ? w : h;
        var src = stored.Pixels;
        var dst = new byte[src.Length];
        for (var y = 0; y < outH; y++)
        {
            for (var x = 0; x < outW; x++)
            {
                var (sx, sy) = origin switch
                {
                    SKEncodedOrigin.TopRight => (w - 1 - x, y),             // mirrored horizontally
                    SKEncodedOrigin.BottomRight => (w - 1 - x, h - 1 - y),  // rotated 180°
                    SKEncodedOrigin.BottomLeft => (x, h - 1 - y),           // mirrored vertically
                    SKEncodedOrigin.LeftTop => (y, x),                      // transposed
                    SKEncodedOrigin.RightTop => (y, h - 1 - x),             // display = stored turned 90° clockwise
                    SKEncodedOrigin.RightBottom => (w - 1 - y, h - 1 - x),  // transverse
                    SKEncodedOrigin.LeftBottom => (w - 1 - y, x),           // display = stored turned 90° anticlockwise
                    _ => throw new ArgumentOutOfRangeException(nameof(origin), origin, "EXIF orientation must be 1..8."),
                };
                var s = (sy * w + sx) * 3;
                var d = (y * outW + x) * 3;
                dst[d] = src[s];
                dst[d + 1] = src[s + 1];
                dst[d + 2] = src[s + 2];
            }
        }
        return new RgbImage(outW, outH, dst);
    }
}
