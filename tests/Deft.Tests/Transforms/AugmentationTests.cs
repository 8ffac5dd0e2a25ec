using Deft.Data;
using Deft.Data.Transforms;

namespace Deft.Tests.Transforms;

public sealed class AugmentationTests
{
    private static readonly RgbImage Cifar = TestImages.Noise(32, 32, seed: 11);

    /// <summary>Runs steps with [0,1] output and returns bytes again (v·255), for exact pixel checks.</summary>
    private static byte[,,] Run(ImagePipeline pipeline, RgbImage image, SampleKey key)
    {
        var values = pipeline.Apply(image, key);
        var (h, w) = (pipeline.OutputHeight, pipeline.OutputWidth);
        var result = new byte[3, h, w];
        for (var c = 0; c < 3; c++)
            for (var y = 0; y < h; y++)
                for (var x = 0; x < w; x++)
                    result[c, y, x] = (byte)Math.Round(values[(c * h + y) * w + x] * 255);
        return result;
    }

    private static ImagePipeline Steps(params ImageStep[] steps) => new(steps, Normalization.Identity);

    [Theory]
    [InlineData(AugmentPreset.Cifar)]
    [InlineData(AugmentPreset.Clip)]
    public void SameKeyGivesSamePixels(AugmentPreset preset)
    {
        var pipeline = ImagePipeline.ForTraining(preset, 64);
        var image = TestImages.Noise(80, 60, seed: 1);
        var key = new SampleKey(Seed: 42, Epoch: 3, Index: 17);
        Assert.Equal(pipeline.Apply(image, key), pipeline.Apply(image, key));
    }

    [Theory]
    [InlineData(AugmentPreset.Cifar)]
    [InlineData(AugmentPreset.Clip)]
    public void ChangingEpochSeedOrIndexChangesTheAugmentation(AugmentPreset preset)
    {
        var pipeline = ImagePipeline.ForTraining(preset, 48);
        var image = TestImages.Noise(40, 40, seed: 2);
        var reference = pipeline.Apply(image, new SampleKey(7, 0, 5));
        Assert.NotEqual(reference, pipeline.Apply(image, new SampleKey(7, 1, 5)));
        Assert.NotEqual(reference, pipeline.Apply(image, new SampleKey(8, 0, 5)));
        Assert.NotEqual(reference, pipeline.Apply(image, new SampleKey(7, 0, 6)));
    }

    [Fact]
    public void RandomCropWithPaddingKeepsShapeAndZeroBorder()
    {
        var pipeline = Steps(new RandomCropWithPadding(32, 4));
        var white = TestImages.Make(32, 32, (_, _, _) => 255);
        var offsets = new HashSet<(int, int)>();
        for (var index = 0; index < 200; index++)
        {
            var crop = Run(pipeline, white, new SampleKey(1, 0, index));
            Assert.Equal(32, crop.GetLength(1));
            Assert.Equal(32, crop.GetLength(2));
            // The image occupies a 32×32 square shifted by (dx, dy) ∈ [−4, 4]²; everything else is zero padding.
            var lit = (from y in Enumerable.Range(0, 32) from x in Enumerable.Range(0, 32) where crop[0, y, x] == 255 select (x, y)).ToList();
            var (minX, maxX) = (lit.Min(p => p.x), lit.Max(p => p.x));
            var (minY, maxY) = (lit.Min(p => p.y), lit.Max(p => p.y));
            var dx = minX > 0 ? minX : maxX - 31;
            var dy = minY > 0 ? minY : maxY - 31;
            Assert.InRange(dx, -4, 4);
            Assert.InRange(dy, -4, 4);
            for (var c = 0; c < 3; c++)
                for (var y = 0; y < 32; y++)
                    for (var x = 0; x < 32; x++)
                    {
                        var inside = x - dx >= 0 && x - dx < 32 && y - dy >= 0 && y - dy < 32;
                        Assert.Equal(inside ? 255 : 0, crop[c, y, x]);
                    }
            offsets.Add((dx, dy));
        }
        // 81 possible offsets; 200 draws should reach most of them, including both extremes.
        Assert.True(offsets.Count > 60, $"only {offsets.Count} distinct offsets");
        Assert.Contains(offsets, o => o.Item1 == -4);
        Assert.Contains(offsets, o => o.Item1 == 4);
        Assert.Contains(offsets, o => o.Item2 == -4);
    }

    [Fact]
    public void RandomCropCopiesTheRightPixels()
    {
        // Each pixel encodes its position; a crop must be a shifted window of that pattern.
        var image = TestImages.Make(32, 32, (x, y, c) => c switch { 0 => (byte)(x + 1), 1 => (byte)(y + 1), _ => 9 });
        var crop = Run(Steps(new RandomCropWithPadding(32, 4)), image, new SampleKey(5, 2, 1));
        var (x0, y0) = (-1, -1);
        for (var y = 0; y < 32 && y0 < 0; y++)
            for (var x = 0; x < 32; x++)
                if (crop[2, y, x] == 9) { (x0, y0) = (x - (crop[0, y, x] - 1), y - (crop[1, y, x] - 1)); break; }
        for (var y = 0; y < 32; y++)
            for (var x = 0; x < 32; x++)
            {
                var (sx, sy) = (x - x0, y - y0);
                var inside = sx is >= 0 and < 32 && sy is >= 0 and < 32;
                Assert.Equal(inside ? sx + 1 : 0, crop[0, y, x]);
                Assert.Equal(inside ? sy + 1 : 0, crop[1, y, x]);
            }
    }

    [Fact]
    public void RandomResizedCropStaysInsideTheImageAndWithinScaleAndRatio()
    {
        var step = new RandomResizedCrop(224);
        // The centre fallback, by hand: in-range ratios take the whole image; 100×20 gives height 20, width
        // round(20·4/3) = 27; 28×300 gives width 28, height round(28·4/3) = 37.
        var cases = new (int W, int H, PixelRect Fallback)[]
        {
            (500, 375, new(0, 0, 500, 375)), (32, 32, new(0, 0, 32, 32)), (100, 20, new(36, 0, 27, 20)), (28, 300, new(0, 131, 28, 37)),
        };
        foreach (var (w, h, fallback) in cases)
        {
            var fallbacks = 0;
            for (var index = 0; index < 500; index++)
            {
                var rng = new SampleRandom(new SampleKey(3, 1, index));
                var r = ImagePipeline.RandomResizedCropRegion(step, w, h, ref rng);
                Assert.True(r.X >= 0 && r.Y >= 0 && r.Width > 0 && r.Height > 0 && r.Right <= w && r.Bottom <= h, $"{r} outside {w}x{h}");
                if (r == fallback) fallbacks++;
                // Rounding w and h to integers moves the area and ratio a little off the drawn values on small images.
                var slack = 1.0 / Math.Min(r.Width, r.Height);
                var fraction = (double)r.Width * r.Height / (w * h);
                var ratio = (double)r.Width / r.Height;
                Assert.InRange(fraction, 0.08 * (1 - 2 * slack), 1.0);
                Assert.InRange(ratio, 0.75 * (1 - 2 * slack), 4.0 / 3 * (1 + 2 * slack));
            }
            // Elongated images miss all 10 tries often (≈ 0.87^10 ≈ 25% for 100×20, ≈ 80% for 28×300: a crop at most
            // 28 wide needs scale·ratio ≤ 0.093); square-ish ones almost never.
            if (w * 3 > h * 4 || h * 3 > w * 4) Assert.InRange(fallbacks, 20, 480);
            else Assert.InRange(fallbacks, 0, 5);
        }
    }

    [Fact]
    public void RandomResizedCropFallbackClampsToRatioRange()
    {
        // A 1000×10 strip: no candidate fits (h ≤ 10 forces area ≤ 10·13), so torchvision's fallback applies:
        // full height, width round(10 · 4/3) = 13, centred.
        var rng = new SampleRandom(new SampleKey(0, 0, 0));
        var r = ImagePipeline.RandomResizedCropRegion(new RandomResizedCrop(8, MinScale: 0.5), 1000, 10, ref rng);
        Assert.Equal(new PixelRect((1000 - 13) / 2, 0, 13, 10), r);
    }

    [Fact]
    public void FlipMirrorsAOnePixelStripe()
    {
        var always = Steps(new CenterCrop(9, 5), new RandomHorizontalFlip(1.0));
        var never = Steps(new CenterCrop(9, 5), new RandomHorizontalFlip(0.0));
        var edge = TestImages.Make(9, 5, (x, y, c) => x == 1 ? (byte)200 : (byte)10);
        var flipped = Run(always, edge, default);
        var kept = Run(never, edge, default);
        for (var y = 0; y < 5; y++)
            for (var x = 0; x < 9; x++)
            {
                Assert.Equal(x == 7 ? 200 : 10, flipped[0, y, x]);
                Assert.Equal(x == 1 ? 200 : 10, kept[0, y, x]);
            }

        var centre = TestImages.Make(9, 5, (x, y, c) => x == 4 ? (byte)200 : (byte)10);
        Assert.Equal(Run(never, centre, default), Run(always, centre, default));
    }

    [Fact]
    public void FlipHappensAboutHalfTheTime()
    {
        var pipeline = Steps(new CenterCrop(4, 1), new RandomHorizontalFlip());
        var image = TestImages.Make(4, 1, (x, y, c) => (byte)(x * 50));
        var flips = Enumerable.Range(0, 400).Count(i => Run(pipeline, image, new SampleKey(9, 0, i))[0, 0, 0] == 150);
        Assert.InRange(flips, 150, 250);
    }

    [Fact]
    public void CifarPresetHasModelResolutionAndCifarSteps()
    {
        var pipeline = ImagePipeline.CifarTrain(224);
        Assert.Equal((224, 224), (pipeline.OutputWidth, pipeline.OutputHeight));
        Assert.Equal(new ImageStep[] { new RandomCropWithPadding(32, 4), new ResizeTo(224, 224), new RandomHorizontalFlip(0.5) }, pipeline.Steps);
        var result = pipeline.Apply(Cifar, new SampleKey(1, 0, 0));
        Assert.Equal(3 * 224 * 224, result.Length);
    }

    [Fact]
    public void NormalizationMatchesTorchvisionFormula()
    {
        var pipeline = ImagePipeline.Eval(2);
        var image = TestImages.Make(2, 2, (x, y, c) => (byte)(x * 255));
        var values = pipeline.Apply(image);
        var clip = Normalization.Clip;
        for (var c = 0; c < 3; c++)
        {
            Assert.Equal((0f - clip.Mean[c]) / clip.Std[c], values[c * 4]);
            Assert.Equal((1f - clip.Mean[c]) / clip.Std[c], values[c * 4 + 1]);
        }
    }

    [Fact]
    public void EvalHandlesPortraitAndSmallImages()
    {
        // 200×300 → 224×336 → rows 56..279; 28×28 upscales straight to 224×224.
        Assert.Equal((224, 336), ImagePipeline.ResizedSize(new ResizeShorterSide(224), 200, 300));
        Assert.Equal((298, 224), ImagePipeline.ResizedSize(new ResizeShorterSide(224), 500, 375));
        Assert.Equal(37, ImagePipeline.CenterOffset(298, 224));
        Assert.Equal(0, ImagePipeline.CenterOffset(225, 224));   // round(0.5) = 0 (half to even)
        Assert.Equal(2, ImagePipeline.CenterOffset(227, 224));   // round(1.5) = 2
        var gray = TestImages.Make(28, 28, (x, y, c) => (byte)(x * 9));
        Assert.Equal(3 * 224 * 224, ImagePipeline.Eval(224).Apply(gray).Length);
    }

    [Fact]
    public void PresetNamesParseAndInvalidOnesListValidValues()
    {
        Assert.Equal(AugmentPreset.Cifar, ImagePipeline.ParsePreset("CIFAR"));
        Assert.Equal(AugmentPreset.None, ImagePipeline.ParsePreset("none"));
        var ex = Assert.Throws<DeftException>(() => ImagePipeline.ParsePreset("autoaugment"));
        Assert.Contains("none, cifar, clip", ex.Message);
    }

    [Fact]
    public void PipelineWithoutFixedOutputSizeIsRejected()
    {
        Assert.Throws<ArgumentException>(() => new ImagePipeline([new ResizeShorterSide(224)], Normalization.Clip));
    }

    [Fact]
    public void ApplyDoesNotModifyTheSourceImage()
    {
        var image = TestImages.Noise(32, 32, seed: 12);
        var before = (byte[])image.Pixels.Clone();
        var pipeline = Steps(new CenterCrop(32, 32), new RandomHorizontalFlip(1.0));
        pipeline.Apply(image);
        Assert.Equal(before, image.Pixels);
    }

    [Fact]
    public void TensorOutputHoldsTheSameValuesAsTheArray()
    {
        var pipeline = ImagePipeline.ClipTrain(16);
        var image = TestImages.Noise(30, 20, seed: 13);
        var key = new SampleKey(4, 2, 1);
        using var tensor = pipeline.ApplyToTensor(image, key);
        Assert.Equal([3L, 16, 16], tensor.shape);
        Assert.Equal(pipeline.Apply(image, key), tensor.data<float>().ToArray());
    }
}
