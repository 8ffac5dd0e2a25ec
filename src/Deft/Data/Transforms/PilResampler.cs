using System.Buffers;
using System.Collections.Concurrent;
using System.Numerics;

namespace Deft.Data.Transforms;

/// <summary>Resampling kernels, as PIL names them.</summary>
public enum ResampleFilter
{
    /// <summary>Keys cubic, a = -0.5, support 2 (PIL <c>Image.BICUBIC</c>; CLIP's preprocessing).</summary>
    Bicubic,
    /// <summary>Triangle, support 1 (PIL <c>Image.BILINEAR</c>; torchvision's default for resized crops).</summary>
    Bilinear,
}

/// <summary>A rectangle in pixel coordinates.</summary>
public readonly record struct PixelRect(int X, int Y, int Width, int Height)
{
    public int Right => X + Width;
    public int Bottom => Y + Height;
}

/// <summary>
/// Bit-exact re-implementation of Pillow's 8-bit separable resampling (libImaging/Resample.c, as in Pillow 9.4):
/// the kernel is widened by the downscale factor (antialiasing when shrinking), weights are normalised per output
/// pixel and quantised to 22 fractional bits, the horizontal pass runs first and its result is rounded and clamped
/// to 8 bits before the vertical pass. Matching the integer path exactly is what lets us reproduce PIL-based
/// reference preprocessing to the last bit instead of within a tolerance.
/// </summary>
public static class PilResampler
{
    private const int PrecisionBits = 32 - 8 - 2;
    private const int RoundingBias = 1 << (PrecisionBits - 1);

    /// <summary>
    /// Resizes <paramref name="region"/> of an interleaved RGB image to <paramref name="outWidth"/>×<paramref name="outHeight"/>
    /// (as PIL's <c>image.crop(region).resize(...)</c>), writing only the part <paramref name="window"/> of that result
    /// into <paramref name="destination"/> (interleaved RGB, <c>window.Width·3</c> bytes per row). Computing just the
    /// window makes resize-then-center-crop cost no more than the crop.
    /// </summary>
    public static void Resize(ReadOnlySpan<byte> source, int sourceWidth, int sourceHeight, PixelRect region,
        int outWidth, int outHeight, PixelRect window, Span<byte> destination, ResampleFilter filter = ResampleFilter.Bicubic)
    {
        if (region.Width <= 0 || region.Height <= 0 || region.X < 0 || region.Y < 0 ||
            region.Right > sourceWidth || region.Bottom > sourceHeight)
            throw new ArgumentOutOfRangeException(nameof(region), $"Region {region} lies outside the {sourceWidth}x{sourceHeight} image.");
        if (outWidth <= 0 || outHeight <= 0)
            throw new ArgumentOutOfRangeException(nameof(outWidth), $"Output size must be positive, got {outWidth}x{outHeight}.");
        if (window.Width <= 0 || window.Height <= 0 || window.X < 0 || window.Y < 0 || window.Right > outWidth || window.Bottom > outHeight)
            throw new ArgumentOutOfRangeException(nameof(window), $"Window {window} lies outside the {outWidth}x{outHeight} output.");
        if (source.Length < sourceWidth * sourceHeight * 3)
            throw new ArgumentException($"Source holds {source.Length} bytes, a {sourceWidth}x{sourceHeight} RGB image needs {sourceWidth * sourceHeight * 3}.", nameof(source));
        var rowBytes = window.Width * 3;
        if (destination.Length < rowBytes * window.Height)
            throw new ArgumentException($"Destination holds {destination.Length} bytes, the window needs {rowBytes * window.Height}.", nameof(destination));

        var sourceStride = sourceWidth * 3;
        // PIL skips a pass whose size does not change; the identity kernel would give the same bytes, skipping is faster.
        var needHorizontal = outWidth != region.Width;
        var needVertical = outHeight != region.Height;

        unsafe
        {
            fixed (byte* src = source)
            fixed (byte* dst = destination)
            {
                var regionOrigin = src + region.Y * sourceStride + region.X * 3;
                if (!needVertical)
                {
                    var firstRow = regionOrigin + window.Y * sourceStride;
                    if (needHorizontal)
                        Horizontal(firstRow, sourceStride, window.Height, FilterTaps.Get(region.Width, outWidth, filter), window.X, window.Width, dst, rowBytes);
                    else
                        for (var y = 0; y < window.Height; y++)
                            new ReadOnlySpan<byte>(firstRow + y * sourceStride + window.X * 3, rowBytes).CopyTo(new Span<byte>(dst + y * rowBytes, rowBytes));
                    return;
                }

                var vertical = FilterTaps.Get(region.Height, outHeight, filter);
                var rowFirst = vertical.Start[window.Y];
                var rowLast = vertical.Start[window.Bottom - 1] + vertical.Count[window.Bottom - 1];
                if (!needHorizontal)
                {
                    Vertical(regionOrigin + window.X * 3, sourceStride, vertical, window.Y, window.Height, 0, rowBytes, dst, rowBytes);
                    return;
                }

                var rows = rowLast - rowFirst;
                var temp = ArrayPool<byte>.Shared.Rent(rows * rowBytes);
                try
                {
                    fixed (byte* tmp = temp)
                    {
                        Horizontal(regionOrigin + rowFirst * sourceStride, sourceStride, rows, FilterTaps.Get(region.Width, outWidth, filter),
                            window.X, window.Width, tmp, rowBytes);
                        Vertical(tmp, rowBytes, vertical, window.Y, window.Height, rowFirst, rowBytes, dst, rowBytes);
                    }
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(temp);
                }
            }
        }
    }

    private static unsafe void Horizontal(byte* source, int sourceStride, int rows, FilterTaps taps, int firstColumn, int columns,
        byte* destination, int destinationStride)
    {
        fixed (int* weights = taps.Weights)
        fixed (int* starts = taps.Start)
        fixed (int* counts = taps.Count)
        {
            for (var y = 0; y < rows; y++)
            {
                var srcRow = source + y * sourceStride;
                var dst = destination + y * destinationStride;
                for (var xo = 0; xo < columns; xo++, dst += 3)
                {
                    var x = firstColumn + xo;
                    var k = weights + x * taps.KernelSize;
                    var p = srcRow + starts[x] * 3;
                    int s0 = RoundingBias, s1 = RoundingBias, s2 = RoundingBias;
                    var n = counts[x];
                    for (var t = 0; t < n; t++, p += 3)
                    {
                        var w = k[t];
                        s0 += p[0] * w;
                        s1 += p[1] * w;
                        s2 += p[2] * w;
                    }
                    dst[0] = Clip8(s0);
                    dst[1] = Clip8(s1);
                    dst[2] = Clip8(s2);
                }
            }
        }
    }

    /// <summary>
    /// Vertical pass; <paramref name="rowOffset"/> is the source row that <paramref name="source"/> points at.
    /// Accumulates whole rows tap by tap in 32-bit lanes (the same sums as PIL's per-pixel loop, in SIMD).
    /// </summary>
    private static unsafe void Vertical(byte* source, int sourceStride, FilterTaps taps, int firstRow, int rows, int rowOffset,
        int rowBytes, byte* destination, int destinationStride)
    {
        var accumulator = ArrayPool<int>.Shared.Rent(rowBytes);
        try
        {
            fixed (int* weights = taps.Weights)
            fixed (int* acc = accumulator)
            {
                for (var yo = 0; yo < rows; yo++)
                {
                    var y = firstRow + yo;
                    var k = weights + y * taps.KernelSize;
                    var n = taps.Count[y];
                    var top = source + (taps.Start[y] - rowOffset) * sourceStride;
                    new Span<int>(acc, rowBytes).Fill(RoundingBias);
                    for (var t = 0; t < n; t++)
                        MultiplyAdd(top + t * sourceStride, k[t], acc, rowBytes);
                    ClipRow(acc, destination + yo * destinationStride, rowBytes);
                }
            }
        }
        finally
        {
            ArrayPool<int>.Shared.Return(accumulator);
        }
    }

    /// <summary>acc[i] += row[i] · weight for i &lt; length.</summary>
    private static unsafe void MultiplyAdd(byte* row, int weight, int* acc, int length)
    {
        var i = 0;
        if (Vector.IsHardwareAccelerated && length >= Vector<byte>.Count)
        {
            var w = new Vector<int>(weight);
            var lanes = Vector<int>.Count;
            for (; i <= length - Vector<byte>.Count; i += Vector<byte>.Count)
            {
                var bytes = Vector.Load(row + i);
                Vector.Widen(bytes, out var low16, out var high16);
                Vector.Widen(low16, out var a, out var b);
                Vector.Widen(high16, out var c, out var d);
                var p = acc + i;
                Vector.Store(Vector.Load(p) + Vector.AsVectorInt32(a) * w, p);
                Vector.Store(Vector.Load(p + lanes) + Vector.AsVectorInt32(b) * w, p + lanes);
                Vector.Store(Vector.Load(p + 2 * lanes) + Vector.AsVectorInt32(c) * w, p + 2 * lanes);
                Vector.Store(Vector.Load(p + 3 * lanes) + Vector.AsVectorInt32(d) * w, p + 3 * lanes);
            }
        }
        for (; i < length; i++)
            acc[i] += row[i] * weight;
    }

    /// <summary>dst[i] = Clip8(acc[i]), in SIMD where possible.</summary>
    private static unsafe void ClipRow(int* acc, byte* dst, int length)
    {
        var i = 0;
        if (Vector.IsHardwareAccelerated && length >= Vector<byte>.Count)
        {
            var lanes = Vector<int>.Count;
            var zero = Vector<int>.Zero;
            var max = new Vector<int>(255);
            for (; i <= length - Vector<byte>.Count; i += Vector<byte>.Count)
            {
                var p = acc + i;
                var a = Vector.AsVectorUInt32(Vector.Min(Vector.Max(Vector.ShiftRightArithmetic(Vector.Load(p), PrecisionBits), zero), max));
                var b = Vector.AsVectorUInt32(Vector.Min(Vector.Max(Vector.ShiftRightArithmetic(Vector.Load(p + lanes), PrecisionBits), zero), max));
                var c = Vector.AsVectorUInt32(Vector.Min(Vector.Max(Vector.ShiftRightArithmetic(Vector.Load(p + 2 * lanes), PrecisionBits), zero), max));
                var d = Vector.AsVectorUInt32(Vector.Min(Vector.Max(Vector.ShiftRightArithmetic(Vector.Load(p + 3 * lanes), PrecisionBits), zero), max));
                Vector.Store(Vector.Narrow(Vector.Narrow(a, b), Vector.Narrow(c, d)), dst + i);
            }
        }
        for (; i < length; i++)
            dst[i] = Clip8(acc[i]);
    }

    private static byte Clip8(int accumulator)
    {
        var v = accumulator >> PrecisionBits;
        return v < 0 ? (byte)0 : v > 255 ? (byte)255 : (byte)v;
    }

    /// <summary>Quantised filter weights for one (input size, output size, filter), cached: every epoch reuses them.</summary>
    internal sealed class FilterTaps
    {
        private const int CacheLimit = 16_384;
        private static readonly ConcurrentDictionary<(int In, int Out, ResampleFilter Filter), FilterTaps> Cache = new();

        public required int KernelSize { get; init; }
        public required int[] Start { get; init; }
        public required int[] Count { get; init; }
        /// <summary>Row-major [outSize, KernelSize], 22 fractional bits.</summary>
        public required int[] Weights { get; init; }

        public static FilterTaps Get(int inSize, int outSize, ResampleFilter filter)
        {
            var key = (inSize, outSize, filter);
            if (Cache.TryGetValue(key, out var taps)) return taps;
            // Random resized crops produce many input sizes; a crude cap keeps the cache from growing without bound.
            if (Cache.Count >= CacheLimit) Cache.Clear();
            return Cache.GetOrAdd(key, static k => Compute(k.In, k.Out, k.Filter));
        }

        internal static FilterTaps Compute(int inSize, int outSize, ResampleFilter filter)
        {
            var (kernel, baseSupport) = filter switch
            {
                ResampleFilter.Bicubic => ((Func<double, double>)BicubicKernel, 2.0),
                ResampleFilter.Bilinear => (BilinearKernel, 1.0),
                _ => throw new ArgumentOutOfRangeException(nameof(filter), filter, $"Valid filters: {string.Join(", ", Enum.GetNames<ResampleFilter>())}."),
            };
            // PIL computes the box width in float (box coordinates are floats); integral sizes make that exact.
            var scale = (double)(float)inSize / outSize;
            var filterScale = Math.Max(scale, 1.0);
            var support = baseSupport * filterScale;
            var kernelSize = (int)Math.Ceiling(support) * 2 + 1;
            var start = new int[outSize];
            var count = new int[outSize];
            var weights = new int[outSize * kernelSize];
            var real = new double[kernelSize];
            for (var xx = 0; xx < outSize; xx++)
            {
                var center = (xx + 0.5) * scale;
                var invScale = 1.0 / filterScale;
                var xmin = (int)(center - support + 0.5);
                if (xmin < 0) xmin = 0;
                var xmax = (int)(center + support + 0.5);
                if (xmax > inSize) xmax = inSize;
                xmax -= xmin;
                var sum = 0.0;
                for (var x = 0; x < xmax; x++)
                {
                    var w = kernel((x + xmin - center + 0.5) * invScale);
                    real[x] = w;
                    sum += w;
                }
                for (var x = 0; x < xmax; x++)
                {
                    var w = sum != 0.0 ? real[x] / sum : real[x];
                    weights[xx * kernelSize + x] = w < 0
                        ? (int)(-0.5 + w * (1 << PrecisionBits))
                        : (int)(0.5 + w * (1 << PrecisionBits));
                }
                start[xx] = xmin;
                count[xx] = xmax;
            }
            return new FilterTaps { KernelSize = kernelSize, Start = start, Count = count, Weights = weights };
        }

        private static double BicubicKernel(double x)
        {
            const double a = -0.5;
            if (x < 0.0) x = -x;
            if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
            if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
            return 0.0;
        }

        private static double BilinearKernel(double x)
        {
            if (x < 0.0) x = -x;
            return x < 1.0 ? 1.0 - x : 0.0;
        }
    }
}
