using System.Buffers;

namespace Deft.Data.Transforms;

/// <summary>
/// A preprocessing pipeline: geometric steps on 8-bit RGB (<see cref="ImageStep"/> records), then scaling to [0,1]
/// and <see cref="Normalization"/> into a channel-planar float buffer [3, OutputHeight, OutputWidth]. Thread-safe:
/// one pipeline serves every loader worker. Intermediate images come from a pool, so a call allocates nothing per pixel.
/// </summary>
public sealed class ImagePipeline
{
    private readonly ImageStep[] _steps;
    private readonly float[] _lookup;

    public ImagePipeline(IEnumerable<ImageStep> steps, Normalization normalization)
    {
        ArgumentNullException.ThrowIfNull(steps);
        ArgumentNullException.ThrowIfNull(normalization);
        _steps = steps.ToArray();
        foreach (var step in _steps) Validate(step);
        Normalization = normalization;
        _lookup = normalization.BuildLookup();
        (OutputWidth, OutputHeight) = FixedOutputSize(_steps) ?? throw new ArgumentException(
            "The pipeline's output size depends on the input image; end it with CenterCrop, ResizeTo, RandomCropWithPadding or RandomResizedCrop (flips may follow).",
            nameof(steps));
    }

    public IReadOnlyList<ImageStep> Steps => _steps;
    public Normalization Normalization { get; }
    public int OutputWidth { get; }
    public int OutputHeight { get; }
    /// <summary>Floats per image: 3 · OutputHeight · OutputWidth.</summary>
    public int OutputLength => 3 * OutputWidth * OutputHeight;
    /// <summary>Whether the output depends on the <see cref="SampleKey"/>.</summary>
    public bool IsRandom => _steps.Any(s => s.IsRandom);

    /// <summary>
    /// CLIP's evaluation transform (torchvision <c>Resize(r, BICUBIC)</c>, <c>CenterCrop(r)</c>, <c>ToTensor</c>,
    /// <c>Normalize</c>), matching PIL's resampling exactly.
    /// </summary>
    public static ImagePipeline Eval(int resolution, Normalization? normalization = null) =>
        new([new ResizeShorterSide(CheckResolution(resolution)), new CenterCrop(resolution, resolution)], normalization ?? Normalization.Clip);

    /// <summary>The CIFAR recipe: random crop 32 with 4 zero padding, resize to the model resolution, flip, normalise.</summary>
    public static ImagePipeline CifarTrain(int resolution, Normalization? normalization = null) =>
        new([new RandomCropWithPadding(32, 4), new ResizeTo(CheckResolution(resolution), resolution), new RandomHorizontalFlip()],
            normalization ?? Normalization.Clip);

    /// <summary>CLIP-style training: random resized crop (scale 0.08–1, ratio 3/4–4/3, bicubic) and flip.</summary>
    public static ImagePipeline ClipTrain(int resolution, Normalization? normalization = null) =>
        new([new RandomResizedCrop(CheckResolution(resolution)), new RandomHorizontalFlip()], normalization ?? Normalization.Clip);

    /// <summary>The training pipeline the CLI's <c>--augment</c> names (<see cref="AugmentPreset.None"/> is <see cref="Eval"/>).</summary>
    public static ImagePipeline ForTraining(AugmentPreset preset, int resolution, Normalization? normalization = null) => preset switch
    {
        AugmentPreset.None => Eval(resolution, normalization),
        AugmentPreset.Cifar => CifarTrain(resolution, normalization),
        AugmentPreset.Clip => ClipTrain(resolution, normalization),
        AugmentPreset.OfficialSquare or AugmentPreset.OfficialCenter =>
            new([new ResizeTo(OfficialResizeSize(resolution), OfficialResizeSize(resolution), ResampleFilter.Bilinear),
                new RandomCropWithPadding(resolution, 0), new RandomHorizontalFlip()], normalization ?? Normalization.Clip),
        AugmentPreset.OfficialShortSide =>
            new([new ResizeShorterSide(OfficialResizeSize(resolution), ResampleFilter.Bilinear),
                new RandomCropWithPadding(resolution, 0), new RandomHorizontalFlip()], normalization ?? Normalization.Clip),
        AugmentPreset.OfficialCifar =>
            new([new RandomCropWithPadding(32, 4), new ResizeTo(CheckResolution(resolution), resolution, ResampleFilter.Bilinear), new RandomHorizontalFlip()],
                normalization ?? Normalization.Clip),
        _ => throw new DeftException($"Unknown augmentation preset '{preset}'. Valid presets: {string.Join(", ", AugmentPresets.ValidNames)}."),
    };

    /// <summary>
    /// The evaluation transform that goes with a training preset: the official loaders' own for the <c>official-*</c>
    /// presets, all bilinear (s = r · 8/7, i.e. 256 at r = 224): <see cref="AugmentPreset.OfficialSquare"/>
    /// Resize((r, r)); <see cref="AugmentPreset.OfficialCenter"/> Resize((s, s)) → CenterCrop(r);
    /// <see cref="AugmentPreset.OfficialShortSide"/> Resize(s) (shorter side) → CenterCrop(r); <see cref="AugmentPreset.OfficialCifar"/>
    /// Resize((r, r)) as the square one (CIFAR images are square). CLIP's (<see cref="Eval"/>)
    /// for the other presets.
    /// </summary>
    public static ImagePipeline EvalFor(AugmentPreset preset, int resolution, Normalization? normalization = null) => preset switch
    {
        AugmentPreset.OfficialSquare or AugmentPreset.OfficialCifar =>
            new([new ResizeTo(CheckResolution(resolution), resolution, ResampleFilter.Bilinear)], normalization ?? Normalization.Clip),
        AugmentPreset.OfficialCenter =>
            new([new ResizeTo(OfficialResizeSize(resolution), OfficialResizeSize(resolution), ResampleFilter.Bilinear), new CenterCrop(resolution, resolution)],
                normalization ?? Normalization.Clip),
        AugmentPreset.OfficialShortSide =>
            new([new ResizeShorterSide(OfficialResizeSize(resolution), ResampleFilter.Bilinear), new CenterCrop(resolution, resolution)],
                normalization ?? Normalization.Clip),
        _ => Eval(resolution, normalization),
    };

    /// <summary>
    /// The official loaders resize to 256 before cropping 224 (a fixed 256 in their code, where the crop is the model
    /// resolution); the same ratio at other resolutions keeps a crop larger than the resized image impossible.
    /// </summary>
    private static int OfficialResizeSize(int resolution) => (int)Math.Round(CheckResolution(resolution) * 256.0 / 224.0);

    /// <summary>Parses the CLI spelling (<see cref="AugmentPresets.ValidNames"/>, any case).</summary>
    public static AugmentPreset ParsePreset(string name) =>
        AugmentPresets.TryParse(name)
            ?? throw new DeftException($"Unknown {Setting.Augment} value '{name}'. Valid values: {string.Join(", ", AugmentPresets.ValidNames)}.");

    /// <summary>Runs the pipeline and returns a new [3, H, W] buffer (convenience; loaders use the span overload).</summary>
    public float[] Apply(RgbImage image, SampleKey key = default)
    {
        var result = new float[OutputLength];
        Apply(image, result, key);
        return result;
    }

    /// <summary>Runs the pipeline into a new CPU tensor [3, OutputHeight, OutputWidth] (for single images; the caller owns it).</summary>
    public TorchSharp.torch.Tensor ApplyToTensor(RgbImage image, SampleKey key = default)
    {
        var tensor = TorchSharp.torch.empty([3, OutputHeight, OutputWidth], TorchSharp.torch.ScalarType.Float32);
        try
        {
            Apply(image, System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(tensor.bytes), key);
            return tensor;
        }
        catch
        {
            tensor.Dispose();
            throw;
        }
    }

    /// <summary>Runs the pipeline on <paramref name="image"/>, writing [3, OutputHeight, OutputWidth] into <paramref name="destination"/>.</summary>
    public void Apply(RgbImage image, Span<float> destination, SampleKey key = default)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (destination.Length < OutputLength)
            throw new ArgumentException($"Destination holds {destination.Length} floats, the pipeline writes {OutputLength}.", nameof(destination));
        var rng = new SampleRandom(key);
        var frame = Frame.Borrow(image);
        try
        {
            for (var i = 0; i < _steps.Length; i++)
            {
                var step = _steps[i];
                // Resize followed by a center crop: resample only the cropped window (exactly the same pixels).
                if (i + 1 < _steps.Length && _steps[i + 1] is CenterCrop crop && step is ResizeShorterSide or ResizeTo)
                {
                    var (w, h) = ResizedSize(step, frame.Width, frame.Height);
                    if (w >= crop.Width && h >= crop.Height)
                    {
                        var window = new PixelRect(CenterOffset(w, crop.Width), CenterOffset(h, crop.Height), crop.Width, crop.Height);
                        frame = Resample(frame, new PixelRect(0, 0, frame.Width, frame.Height), w, h, window, FilterOf(step));
                        i++;
                        continue;
                    }
                }
                frame = ApplyStep(step, frame, ref rng);
            }
            if (frame.Width != OutputWidth || frame.Height != OutputHeight)
                throw new InvalidOperationException($"Pipeline produced {frame.Width}x{frame.Height}, expected {OutputWidth}x{OutputHeight}.");
            WriteNormalized(frame, destination);
        }
        finally
        {
            frame.Release();
        }
    }

    public override string ToString() => $"{string.Join(" → ", _steps.Select(s => s.ToString()))} → normalize {Normalization.Mean}/{Normalization.Std}";

    private static Frame ApplyStep(ImageStep step, Frame frame, ref SampleRandom rng)
    {
        switch (step)
        {
            case ResizeShorterSide or ResizeTo:
            {
                var (w, h) = ResizedSize(step, frame.Width, frame.Height);
                return Resample(frame, new PixelRect(0, 0, frame.Width, frame.Height), w, h, new PixelRect(0, 0, w, h), FilterOf(step));
            }
            case CenterCrop crop:
            {
                // torchvision pads a too-small image so that it sits at ((cw − w) // 2, (ch − h) // 2), then crops at 0.
                var x = crop.Width > frame.Width ? -((crop.Width - frame.Width) / 2) : CenterOffset(frame.Width, crop.Width);
                var y = crop.Height > frame.Height ? -((crop.Height - frame.Height) / 2) : CenterOffset(frame.Height, crop.Height);
                return Crop(frame, x, y, crop.Width, crop.Height);
            }
            case RandomCropWithPadding rc:
            {
                var paddedW = frame.Width + 2 * rc.Padding;
                var paddedH = frame.Height + 2 * rc.Padding;
                if (paddedW < rc.Size || paddedH < rc.Size)
                    throw new DeftException($"Random crop {rc.Size} with padding {rc.Padding} needs an image of at least {rc.Size - 2 * rc.Padding} pixels a side, got {frame.Width}x{frame.Height}.");
                // Same draw order as torchvision: the row offset, then the column offset.
                var top = rng.NextInt(0, paddedH - rc.Size + 1);
                var left = rng.NextInt(0, paddedW - rc.Size + 1);
                return Crop(frame, left - rc.Padding, top - rc.Padding, rc.Size, rc.Size);
            }
            case RandomResizedCrop rrc:
            {
                var region = RandomResizedCropRegion(rrc, frame.Width, frame.Height, ref rng);
                return Resample(frame, region, rrc.Size, rrc.Size, new PixelRect(0, 0, rrc.Size, rrc.Size), rrc.Filter);
            }
            case RandomHorizontalFlip flip:
                // Always draw, so later steps see the same stream whatever the outcome.
                return rng.NextDouble() < flip.Probability ? FlipHorizontal(frame) : frame;
            default:
                throw new NotSupportedException($"Unknown image step {step.GetType().Name}.");
        }
    }

    /// <summary>torchvision's <c>RandomResizedCrop.get_params</c>, drawing from <paramref name="rng"/>.</summary>
    internal static PixelRect RandomResizedCropRegion(RandomResizedCrop step, int width, int height, ref SampleRandom rng)
    {
        var area = (double)width * height;
        var logMin = Math.Log(step.MinRatio);
        var logMax = Math.Log(step.MaxRatio);
        for (var attempt = 0; attempt < 10; attempt++)
        {
            var targetArea = area * rng.NextDouble(step.MinScale, step.MaxScale);
            var aspect = Math.Exp(rng.NextDouble(logMin, logMax));
            // Python's round() rounds halves to even, as Math.Round does by default.
            var w = (int)Math.Round(Math.Sqrt(targetArea * aspect));
            var h = (int)Math.Round(Math.Sqrt(targetArea / aspect));
            if (w > 0 && w <= width && h > 0 && h <= height)
            {
                var top = rng.NextInt(0, height - h + 1);
                var left = rng.NextInt(0, width - w + 1);
                return new PixelRect(left, top, w, h);
            }
        }
        var ratio = (double)width / height;
        int cw, ch;
        if (ratio < Math.Min(step.MinRatio, step.MaxRatio))
        {
            cw = width;
            ch = (int)Math.Round(cw / Math.Min(step.MinRatio, step.MaxRatio));
        }
        else if (ratio > Math.Max(step.MinRatio, step.MaxRatio))
        {
            ch = height;
            cw = (int)Math.Round(ch * Math.Max(step.MinRatio, step.MaxRatio));
        }
        else
        {
            cw = width;
            ch = height;
        }
        return new PixelRect((width - cw) / 2, (height - ch) / 2, cw, ch);
    }

    /// <summary>torchvision's <c>_compute_resized_output_size</c> for an int size (truncating the long side).</summary>
    internal static (int Width, int Height) ResizedSize(ImageStep step, int width, int height)
    {
        switch (step)
        {
            case ResizeTo to:
                return (to.Width, to.Height);
            case ResizeShorterSide shorter:
            {
                var (s, l) = width <= height ? (width, height) : (height, width);
                var longSide = (int)((long)shorter.Size * l / s);
                return width <= height ? (shorter.Size, longSide) : (longSide, shorter.Size);
            }
            default:
                throw new ArgumentException($"{step} is not a resize.", nameof(step));
        }
    }

    /// <summary><c>int(round((size − crop) / 2.0))</c> with Python's half-to-even rounding.</summary>
    internal static int CenterOffset(int size, int crop) => (int)Math.Round((size - crop) / 2.0);

    private static ResampleFilter FilterOf(ImageStep step) => step switch
    {
        ResizeShorterSide s => s.Filter,
        ResizeTo t => t.Filter,
        _ => ResampleFilter.Bicubic,
    };

    private static Frame Resample(Frame frame, PixelRect region, int outWidth, int outHeight, PixelRect window, ResampleFilter filter)
    {
        var result = Frame.Rent(window.Width, window.Height);
        PilResampler.Resize(frame.Span, frame.Width, frame.Height, region, outWidth, outHeight, window, result.Span, filter);
        frame.Release();
        return result;
    }

    /// <summary>Crops the rectangle at (<paramref name="x"/>, <paramref name="y"/>); parts outside the image become zero.</summary>
    private static Frame Crop(Frame frame, int x, int y, int width, int height)
    {
        if (x == 0 && y == 0 && width == frame.Width && height == frame.Height) return frame;
        var result = Frame.Rent(width, height);
        var dst = result.Span;
        var src = frame.Span;
        var x0 = Math.Max(0, x);
        var x1 = Math.Min(frame.Width, x + width);
        var y0 = Math.Max(0, y);
        var y1 = Math.Min(frame.Height, y + height);
        if (x0 >= x1 || y0 >= y1 || x0 != x || x1 != x + width || y0 != y || y1 != y + height) dst.Clear();
        for (var sy = y0; sy < y1; sy++)
            src.Slice((sy * frame.Width + x0) * 3, (x1 - x0) * 3).CopyTo(dst.Slice(((sy - y) * width + (x0 - x)) * 3));
        frame.Release();
        return result;
    }

    private static Frame FlipHorizontal(Frame frame)
    {
        var result = frame.Owned ? frame : Frame.Rent(frame.Width, frame.Height);
        var src = frame.Span;
        var dst = result.Span;
        var w = frame.Width;
        for (var y = 0; y < frame.Height; y++)
        {
            var row = y * w * 3;
            for (int a = 0, b = w - 1; a <= b; a++, b--)
            {
                // Read both ends before writing, so the in-place case works.
                byte r0 = src[row + a * 3], g0 = src[row + a * 3 + 1], b0 = src[row + a * 3 + 2];
                byte r1 = src[row + b * 3], g1 = src[row + b * 3 + 1], b1 = src[row + b * 3 + 2];
                dst[row + a * 3] = r1; dst[row + a * 3 + 1] = g1; dst[row + a * 3 + 2] = b1;
                dst[row + b * 3] = r0; dst[row + b * 3 + 1] = g0; dst[row + b * 3 + 2] = b0;
            }
        }
        if (!ReferenceEquals(result.Buffer, frame.Buffer)) frame.Release();
        return result;
    }

    private void WriteNormalized(Frame frame, Span<float> destination)
    {
        var plane = frame.Width * frame.Height;
        var src = frame.Span;
        var lut = _lookup.AsSpan();
        var r = destination[..plane];
        var g = destination.Slice(plane, plane);
        var b = destination.Slice(2 * plane, plane);
        var lr = lut[..256];
        var lg = lut.Slice(256, 256);
        var lb = lut.Slice(512, 256);
        for (var p = 0; p < plane; p++)
        {
            r[p] = lr[src[3 * p]];
            g[p] = lg[src[3 * p + 1]];
            b[p] = lb[src[3 * p + 2]];
        }
    }

    private static void Validate(ImageStep step)
    {
        static void Positive(int v, string what, ImageStep s)
        {
            if (v <= 0) throw new ArgumentException($"{s}: {what} must be positive, got {v}.");
        }
        switch (step)
        {
            case null:
                throw new ArgumentNullException(nameof(step));
            case ResizeShorterSide s:
                Positive(s.Size, "Size", s);
                break;
            case ResizeTo t:
                Positive(t.Width, "Width", t);
                Positive(t.Height, "Height", t);
                break;
            case CenterCrop c:
                Positive(c.Width, "Width", c);
                Positive(c.Height, "Height", c);
                break;
            case RandomCropWithPadding rc:
                Positive(rc.Size, "Size", rc);
                if (rc.Padding < 0) throw new ArgumentException($"{rc}: Padding must be ≥ 0, got {rc.Padding}.");
                break;
            case RandomResizedCrop rrc:
                Positive(rrc.Size, "Size", rrc);
                if (!(rrc.MinScale > 0 && rrc.MinScale <= rrc.MaxScale && rrc.MaxScale <= 1))
                    throw new ArgumentException($"{rrc}: need 0 < MinScale ≤ MaxScale ≤ 1.");
                if (!(rrc.MinRatio > 0 && rrc.MinRatio <= rrc.MaxRatio))
                    throw new ArgumentException($"{rrc}: need 0 < MinRatio ≤ MaxRatio.");
                break;
            case RandomHorizontalFlip f:
                if (!(f.Probability >= 0 && f.Probability <= 1)) throw new ArgumentException($"{f}: Probability must lie in [0, 1].");
                break;
            default:
                throw new NotSupportedException($"Unknown image step {step.GetType().Name}.");
        }
    }

    private static (int, int)? FixedOutputSize(IEnumerable<ImageStep> steps)
    {
        (int, int)? size = null;
        foreach (var step in steps)
        {
            size = step switch
            {
                ResizeShorterSide => null,
                ResizeTo t => (t.Width, t.Height),
                CenterCrop c => (c.Width, c.Height),
                RandomCropWithPadding rc => (rc.Size, rc.Size),
                RandomResizedCrop rrc => (rrc.Size, rrc.Size),
                _ => size,
            };
        }
        return size;
    }

    private static int CheckResolution(int resolution) =>
        resolution > 0 ? resolution : throw new DeftException($"Model resolution must be positive, got {resolution}.");

    /// <summary>The image between steps: the caller's pixels (never written) or a pooled buffer we own.</summary>
    private readonly struct Frame
    {
        private Frame(byte[] buffer, int width, int height, bool owned)
        {
            Buffer = buffer;
            Width = width;
            Height = height;
            Owned = owned;
        }

        public byte[] Buffer { get; }
        public int Width { get; }
        public int Height { get; }
        public bool Owned { get; }
        public Span<byte> Span => Buffer.AsSpan(0, Width * Height * 3);

        public static Frame Borrow(RgbImage image) => new(image.Pixels, image.Width, image.Height, owned: false);

        public static Frame Rent(int width, int height) => new(ArrayPool<byte>.Shared.Rent(width * height * 3), width, height, owned: true);

        public void Release()
        {
            if (Owned) ArrayPool<byte>.Shared.Return(Buffer);
        }
    }
}
