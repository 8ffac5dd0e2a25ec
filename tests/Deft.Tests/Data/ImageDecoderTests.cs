using Deft.Data;
using SkiaSharp;

namespace Deft.Tests.Data;

public sealed class ImageDecoderTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData(SKEncodedImageFormat.Png, "png")]
    [InlineData(SKEncodedImageFormat.Webp, "webp")]
    public void Lossless_skia_encodings_round_trip_exactly(SKEncodedImageFormat format, string ext)
    {
        var img = TestImages.Pattern(13, 7);
        var path = _dir.Write($"a.{ext}", TestImages.SkiaEncode(img, format));

        var decoded = ImageDecoder.Decode(path);

        Assert.Equal(13, decoded.Width);
        Assert.Equal(7, decoded.Height);
        Assert.Equal(img.Pixels, decoded.Pixels);
    }

    [Fact]
    public void Jpeg_decodes_close_to_the_original()
    {
        var img = TestImages.Solid(24, 16, 200, 40, 90);
        var decoded = ImageDecoder.Decode(TestImages.SkiaEncode(img, SKEncodedImageFormat.Jpeg, 95), "mem.jpg");

        Assert.Equal((24, 16), (decoded.Width, decoded.Height));
        for (var i = 0; i < img.Pixels.Length; i++)
            Assert.InRange(decoded.Pixels[i], img.Pixels[i] - 4, img.Pixels[i] + 4);
    }

    [Fact]
    public void Rgba_png_drops_alpha_keeping_stored_colour()
    {
        var img = TestImages.Pattern(5, 4);
        var alpha = Enumerable.Range(0, 20).Select(i => (byte)(i * 13)).ToArray(); // includes fully transparent pixel 0
        var rgba = new byte[5 * 4 * 4];
        for (var p = 0; p < 20; p++)
        {
            rgba[p * 4] = img.Pixels[p * 3];
            rgba[p * 4 + 1] = img.Pixels[p * 3 + 1];
            rgba[p * 4 + 2] = img.Pixels[p * 3 + 2];
            rgba[p * 4 + 3] = alpha[p];
        }
        var decoded = ImageDecoder.Decode(TestImages.Png(5, 4, 6, rgba), "rgba.png");

        Assert.Equal(img.Pixels, decoded.Pixels);
    }

    [Fact]
    public void Grayscale_png_is_replicated_to_rgb()
    {
        var gray = Enumerable.Range(0, 6 * 3).Select(i => (byte)(i * 14)).ToArray();
        var decoded = ImageDecoder.Decode(TestImages.Png(6, 3, 0, gray), "gray.png");

        Assert.Equal(gray.SelectMany(g => new[] { g, g, g }).ToArray(), decoded.Pixels);
    }

    [Fact]
    public void Palette_png_is_expanded_through_its_palette()
    {
        byte[] palette = [10, 20, 30, 200, 100, 50, 0, 255, 128];
        byte[] indices = [0, 1, 2, 2, 1, 0, 1, 1];
        var decoded = ImageDecoder.Decode(TestImages.Png(4, 2, 3, indices, palette), "palette.png");

        var expected = indices.SelectMany(i => palette.Skip(i * 3).Take(3)).ToArray();
        Assert.Equal(expected, decoded.Pixels);
    }

    [Fact]
    public void Bmp_24_bit_bottom_up_with_row_padding_decodes_exactly()
    {
        var img = TestImages.Pattern(5, 3); // 15 bytes per row: padded to 16
        var decoded = ImageDecoder.Decode(_dir.Write("a.bmp", TestImages.Bmp(5, 3, img.Pixels)));

        Assert.Equal(img.Pixels, decoded.Pixels);
    }

    [Fact]
    public void Bmp_8_bit_palette_decodes_exactly()
    {
        byte[] palette = [255, 0, 0, 0, 255, 0, 0, 0, 255, 17, 34, 51];
        byte[] indices = [0, 1, 2, 3, 3, 2, 1, 0, 1];
        var decoded = ImageDecoder.Decode(TestImages.Bmp(3, 3, indices, palette), "p.bmp");

        Assert.Equal(indices.SelectMany(i => palette.Skip(i * 3).Take(3)).ToArray(), decoded.Pixels);
    }

    [Fact]
    public void Gif_gives_the_first_frame()
    {
        byte[] palette = [0, 0, 0, 255, 255, 255, 255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 8, 7, 100, 110, 120, 60, 70, 80];
        byte[] first = [.. Enumerable.Range(0, 7 * 5).Select(i => (byte)(i % 8))];
        byte[] second = [.. Enumerable.Range(0, 7 * 5).Select(i => (byte)((i + 3) % 8))];
        var gif = TestImages.Gif(7, 5, palette, first, second);

        var decoded = ImageDecoder.Decode(_dir.Write("anim.gif", gif));

        Assert.Equal((7, 5), (decoded.Width, decoded.Height));
        Assert.Equal(first.SelectMany(i => palette.Skip(i * 3).Take(3)).ToArray(), decoded.Pixels);
    }

    // Displayed colours of the stored quadrants (R top-left, G top-right, B bottom-left, W bottom-right) for each
    // EXIF orientation, worked out from the tag's meaning (which side the stored row 0 and column 0 belong on).
    private static readonly (byte, byte, byte) R = (255, 0, 0), G = (0, 255, 0), B = (0, 0, 255), W = (255, 255, 255);

    public static TheoryData<int, bool, (byte, byte, byte)[]> Orientations => new()
    {
        // orientation, sides swapped, displayed { top-left, top-right, bottom-left, bottom-right }
        { 1, false, [R, G, B, W] },
        { 2, false, [G, R, W, B] },
        { 3, false, [W, B, G, R] },
        { 4, false, [B, W, R, G] },
        { 5, true, [R, B, G, W] },
        { 6, true, [B, R, W, G] },
        { 7, true, [W, G, B, R] },
        { 8, true, [G, W, R, B] },
    };

    [Theory]
    [MemberData(nameof(Orientations))]
    public void Exif_orientation_turns_a_jpeg_upright(int orientation, bool swapped, (byte, byte, byte)[] corners)
    {
        const int w = 32, h = 16;
        var px = new byte[w * h * 3];
        for (var y = 0; y < h; y++)
            for (var x = 0; x < w; x++)
            {
                var (r, g, b) = (x < w / 2, y < h / 2) switch
                {
                    (true, true) => R, (false, true) => G, (true, false) => B, _ => W,
                };
                px[(y * w + x) * 3] = r; px[(y * w + x) * 3 + 1] = g; px[(y * w + x) * 3 + 2] = b;
            }
        var jpeg = TestImages.WithExifOrientation(TestImages.SkiaEncode(new RgbImage(w, h, px), SKEncodedImageFormat.Jpeg, 95), orientation);
        var path = _dir.Write($"o{orientation}.jpg", jpeg);

        var img = ImageDecoder.Decode(path);

        Assert.Equal(swapped ? (h, w) : (w, h), (img.Width, img.Height));
        int qx = img.Width / 4, qy = img.Height / 4;
        var centres = new[] { (qx, qy), (3 * qx, qy), (qx, 3 * qy), (3 * qx, 3 * qy) };
        for (var k = 0; k < 4; k++)
        {
            var actual = TestImages.At(img, centres[k].Item1, centres[k].Item2);
            var expected = corners[k];
            Assert.True(Math.Abs(actual.R - expected.Item1) <= 12 && Math.Abs(actual.G - expected.Item2) <= 12 && Math.Abs(actual.B - expected.Item3) <= 12,
                $"orientation {orientation}, corner {k}: expected {expected}, got {actual}");
        }
    }

    // Reference transforms built from two primitives, independent of the decoder's per-orientation formulas.
    private static RgbImage RotateClockwise(RgbImage s)
    {
        var d = new byte[s.Pixels.Length];
        for (var y = 0; y < s.Height; y++)
            for (var x = 0; x < s.Width; x++)
            {
                // Stored row y becomes displayed column (Height-1-y).
                var nx = s.Height - 1 - y;
                var ny = x;
                Array.Copy(s.Pixels, (y * s.Width + x) * 3, d, (ny * s.Height + nx) * 3, 3);
            }
        return new RgbImage(s.Height, s.Width, d);
    }

    private static RgbImage MirrorHorizontally(RgbImage s)
    {
        var d = new byte[s.Pixels.Length];
        for (var y = 0; y < s.Height; y++)
            for (var x = 0; x < s.Width; x++)
                Array.Copy(s.Pixels, (y * s.Width + x) * 3, d, (y * s.Width + (s.Width - 1 - x)) * 3, 3);
        return new RgbImage(s.Width, s.Height, d);
    }

    [Fact]
    public void Orient_matches_rotations_and_mirrors_pixel_for_pixel()
    {
        var s = TestImages.Pattern(5, 3);
        var cw = RotateClockwise(s);
        var r180 = RotateClockwise(cw);
        var ccw = RotateClockwise(r180);
        var expected = new Dictionary<SKEncodedOrigin, RgbImage>
        {
            [SKEncodedOrigin.TopLeft] = s,
            [SKEncodedOrigin.TopRight] = MirrorHorizontally(s),
            [SKEncodedOrigin.BottomRight] = r180,
            [SKEncodedOrigin.BottomLeft] = MirrorHorizontally(r180),
            [SKEncodedOrigin.LeftTop] = MirrorHorizontally(cw),
            [SKEncodedOrigin.RightTop] = cw,
            [SKEncodedOrigin.RightBottom] = MirrorHorizontally(ccw),
            [SKEncodedOrigin.LeftBottom] = ccw,
        };
        foreach (var (origin, want) in expected)
        {
            var got = ImageDecoder.Orient(s, origin);
            Assert.Equal((want.Width, want.Height), (got.Width, got.Height));
            Assert.True(want.Pixels.SequenceEqual(got.Pixels), $"{origin}");
        }
    }

    [Fact]
    public void Missing_file_names_the_path()
    {
        var path = Path.Combine(_dir.Path, "nope.png");
        var ex = Assert.Throws<DeftException>(() => ImageDecoder.Decode(path));
        Assert.Contains(path, ex.Message);
        Assert.Contains("not found", ex.Message);
    }

    [Fact]
    public void Truncated_png_is_reported_as_truncated()
    {
        var png = TestImages.SkiaEncode(TestImages.Pattern(64, 64), SKEncodedImageFormat.Png);
        var path = _dir.Write("cut.png", png[..(png.Length / 2)]);

        var ex = Assert.Throws<DeftException>(() => ImageDecoder.Decode(path));
        Assert.Contains(path, ex.Message);
        Assert.Contains("truncated", ex.Message);
    }

    [Fact]
    public void Truncated_jpeg_is_reported()
    {
        var jpeg = TestImages.SkiaEncode(TestImages.Pattern(64, 64), SKEncodedImageFormat.Jpeg, 90);
        var path = _dir.Write("cut.jpg", jpeg[..(jpeg.Length / 2)]);

        var ex = Assert.Throws<DeftException>(() => ImageDecoder.Decode(path));
        Assert.Contains(path, ex.Message);
    }

    [Fact]
    public void Garbage_and_empty_files_are_reported()
    {
        var garbage = _dir.Write("junk.png", [.. Enumerable.Range(0, 200).Select(i => (byte)(i * 31))]);
        var empty = _dir.Write("empty.jpg", []);

        var ex1 = Assert.Throws<DeftException>(() => ImageDecoder.Decode(garbage));
        Assert.Contains(garbage, ex1.Message);
        var ex2 = Assert.Throws<DeftException>(() => ImageDecoder.Decode(empty));
        Assert.Contains(empty, ex2.Message);
        Assert.Contains("empty", ex2.Message);
    }

    [Fact]
    public void Corrupt_png_body_is_reported()
    {
        var png = TestImages.SkiaEncode(TestImages.Pattern(32, 32), SKEncodedImageFormat.Png);
        // Flip bytes inside the compressed IDAT data, keeping the header intact.
        for (var i = png.Length / 2; i < png.Length / 2 + 40; i++) png[i] ^= 0x5A;
        var ex = Assert.Throws<DeftException>(() => ImageDecoder.Decode(png, "bad-body.png"));
        Assert.Contains("bad-body.png", ex.Message);
    }
}
