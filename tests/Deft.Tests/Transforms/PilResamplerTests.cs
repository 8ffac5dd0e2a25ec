using Deft.Data;
using Deft.Data.Transforms;

namespace Deft.Tests.Transforms;

public sealed class PilResamplerTests
{
    private static byte[] Resize(RgbImage image, int outWidth, int outHeight)
    {
        var result = new byte[outWidth * outHeight * 3];
        PilResampler.Resize(image.Pixels, image.Width, image.Height, new PixelRect(0, 0, image.Width, image.Height),
            outWidth, outHeight, new PixelRect(0, 0, outWidth, outHeight), result);
        return result;
    }

    [Fact]
    public void TwoByTwoUpscaleMatchesHandComputedBicubic()
    {
        // Row [100, 200] → 4 wide. Scale 0.5, support 2. Output 0: centre 0.25, taps at x=0,1 with kernel(0.25) = 0.8671875
        // and kernel(1.25) = -0.0703125, normalised to 37/34 and -3/34: 100·37/34 − 200·3/34 = 91.18 → 91.
        // Output 1: centre 0.75, kernel(0.25) and kernel(0.75) = 0.2265625 → 111/140, 29/140: (11100 + 5800)/140 = 120.7 → 121.
        // Outputs 2 and 3 mirror them: 179.3 → 179 and 208.8 → 209.
        byte[] expectedRow = [91, 121, 179, 209];
        var horizontal = TestImages.Make(2, 2, (x, y, c) => x == 0 ? (byte)100 : (byte)200);
        var h = Resize(horizontal, 4, 4);
        for (var y = 0; y < 4; y++)
            for (var x = 0; x < 4; x++)
                for (var c = 0; c < 3; c++)
                    Assert.Equal(expectedRow[x], h[(y * 4 + x) * 3 + c]);

        var vertical = TestImages.Make(2, 2, (x, y, c) => y == 0 ? (byte)100 : (byte)200);
        var v = Resize(vertical, 4, 4);
        for (var y = 0; y < 4; y++)
            for (var x = 0; x < 4; x++)
                Assert.Equal(expectedRow[y], v[(y * 4 + x) * 3]);
    }

    [Fact]
    public void OvershootIsClampedTo8Bits()
    {
        // Row [0, 255]: output 0 is 255·(−3/34) = −22.5 → 0, output 3 is 255·37/34 = 277.5 → 255.
        var image = TestImages.Make(2, 1, (x, y, c) => x == 0 ? (byte)0 : (byte)255);
        var row = Resize(image, 4, 1);
        Assert.Equal([0, 53, 202, 255], Enumerable.Range(0, 4).Select(x => (int)row[x * 3]).ToArray());
    }

    [Theory]
    [InlineData(28, 28, 224, 224)]
    [InlineData(500, 375, 298, 224)]
    [InlineData(7, 13, 3, 29)]
    public void ConstantImageStaysConstant(int w, int h, int outW, int outH)
    {
        var image = TestImages.Make(w, h, (x, y, c) => (byte)(37 + 90 * c));
        var result = Resize(image, outW, outH);
        for (var i = 0; i < result.Length; i++)
            Assert.Equal(37 + 90 * (i % 3), result[i]);
    }

    [Fact]
    public void WindowEqualsCropOfFullResize()
    {
        var image = TestImages.Noise(53, 41, seed: 3);
        var full = Resize(image, 70, 60);
        var window = new PixelRect(9, 5, 31, 44);
        var part = new byte[window.Width * window.Height * 3];
        PilResampler.Resize(image.Pixels, image.Width, image.Height, new PixelRect(0, 0, 53, 41), 70, 60, window, part);
        for (var y = 0; y < window.Height; y++)
            Assert.Equal(full.AsSpan(((y + window.Y) * 70 + window.X) * 3, window.Width * 3).ToArray(),
                part.AsSpan(y * window.Width * 3, window.Width * 3).ToArray());
    }

    [Fact]
    public void RegionEqualsResizeOfCroppedImage()
    {
        var image = TestImages.Noise(40, 30, seed: 4);
        var region = new PixelRect(6, 3, 21, 17);
        var cropped = TestImages.Make(region.Width, region.Height, (x, y, c) => image.Pixels[((y + region.Y) * 40 + x + region.X) * 3 + c]);
        var viaRegion = new byte[32 * 32 * 3];
        PilResampler.Resize(image.Pixels, 40, 30, region, 32, 32, new PixelRect(0, 0, 32, 32), viaRegion);
        Assert.Equal(Resize(cropped, 32, 32), viaRegion);
    }

    [Fact]
    public void SameSizeIsIdentity()
    {
        var image = TestImages.Noise(17, 9, seed: 5);
        Assert.Equal(image.Pixels, Resize(image, 17, 9));
    }

    [Fact]
    public void DownscaleAveragesAStripeInsteadOfAliasingIt()
    {
        // Alternating 0/255 columns halved: with antialiasing (support widened ×2) every output is near the mean;
        // point sampling would give all 0 or all 255.
        var image = TestImages.Make(64, 4, (x, y, c) => x % 2 == 0 ? (byte)0 : (byte)255);
        var result = Resize(image, 32, 4);
        for (var x = 2; x < 30; x++)
            Assert.InRange(result[(1 * 32 + x) * 3], 110, 145);
    }

    [Theory]
    [InlineData(53, 41, 70, 60, ResampleFilter.Bicubic)]
    [InlineData(500, 375, 298, 224, ResampleFilter.Bicubic)]
    [InlineData(31, 200, 97, 11, ResampleFilter.Bicubic)]
    [InlineData(64, 48, 123, 77, ResampleFilter.Bilinear)]
    [InlineData(90, 90, 33, 33, ResampleFilter.Bilinear)]
    public void MatchesAPlainTranscriptionOfPillowsLoops(int w, int h, int outW, int outH, ResampleFilter filter)
    {
        // The production code computes only a window and accumulates rows in SIMD; this reference is the textbook
        // per-pixel form of Resample.c (both passes on the full image), so any shortcut that changes a byte shows up.
        var image = TestImages.Noise(w, h, seed: w * 1000 + h);
        var expected = ReferenceResize(image, outW, outH, filter);
        var actual = new byte[outW * outH * 3];
        PilResampler.Resize(image.Pixels, w, h, new PixelRect(0, 0, w, h), outW, outH, new PixelRect(0, 0, outW, outH), actual, filter);
        Assert.Equal(expected, actual);
    }

    private static byte[] ReferenceResize(RgbImage image, int outW, int outH, ResampleFilter filter)
    {
        var horizontal = outW == image.Width ? image.Pixels : Pass(image.Pixels, image.Width, image.Height, outW, horizontalPass: true, filter);
        return outH == image.Height ? horizontal : Pass(horizontal, outW, image.Height, outH, horizontalPass: false, filter);
    }

    private static byte[] Pass(byte[] src, int w, int h, int outSize, bool horizontalPass, ResampleFilter filter)
    {
        var inSize = horizontalPass ? w : h;
        var (ow, oh) = horizontalPass ? (outSize, h) : (w, outSize);
        var dst = new byte[ow * oh * 3];
        double support0 = filter == ResampleFilter.Bicubic ? 2 : 1;
        double Kernel(double x)
        {
            x = Math.Abs(x);
            if (filter == ResampleFilter.Bilinear) return x < 1 ? 1 - x : 0;
            return x < 1 ? (1.5 * x - 2.5) * x * x + 1 : x < 2 ? (((x - 5) * x + 8) * x - 4) * -0.5 : 0;
        }
        var scale = (double)inSize / outSize;
        var fs = Math.Max(scale, 1);
        var support = support0 * fs;
        for (var o = 0; o < outSize; o++)
        {
            var center = (o + 0.5) * scale;
            var lo = Math.Max(0, (int)(center - support + 0.5));
            var hi = Math.Min(inSize, (int)(center + support + 0.5));
            var ws = Enumerable.Range(lo, hi - lo).Select(i => Kernel((i - center + 0.5) / fs)).ToArray();
            var total = ws.Sum();
            var q = ws.Select(v => v / total).Select(v => (int)(v < 0 ? v * (1 << 22) - 0.5 : v * (1 << 22) + 0.5)).ToArray();
            var others = horizontalPass ? h : w;
            for (var j = 0; j < others; j++)
                for (var c = 0; c < 3; c++)
                {
                    var acc = 1 << 21;
                    for (var t = 0; t < q.Length; t++)
                    {
                        var (x, y) = horizontalPass ? (lo + t, j) : (j, lo + t);
                        acc += src[(y * w + x) * 3 + c] * q[t];
                    }
                    var (ox, oy) = horizontalPass ? (o, j) : (j, o);
                    dst[(oy * ow + ox) * 3 + c] = (byte)Math.Clamp(acc >> 22, 0, 255);
                }
        }
        return dst;
    }
}
