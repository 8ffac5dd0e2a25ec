using Deft.Data.Transforms;
using Xunit.Abstractions;

namespace Deft.Tests.Transforms;

/// <summary>
/// The evaluation transform against PIL 9.4 (tests/fixtures/preprocess): the fixture holds PIL's 8-bit resize + crop
/// ([3, 224, 224] uint8), normalised here with the mean/std of its metadata as torchvision's ToTensor + Normalize do.
/// </summary>
public sealed class ClipEvalParityTests(ITestOutputHelper output)
{
    private static readonly Lazy<Dictionary<string, (long[] Shape, float[] Data)>> Expected = new(ReadExpected);

    private static Dictionary<string, (long[] Shape, float[] Data)> ReadExpected()
    {
        var tensors = Deft.Clip.Safetensors.Load(Fixtures.Path("preprocess/expected.safetensors"), out var meta);
        var mean = System.Text.Json.JsonSerializer.Deserialize<float[]>(meta["mean"])!;
        var std = System.Text.Json.JsonSerializer.Deserialize<float[]>(meta["std"])!;
        var result = new Dictionary<string, (long[], float[])>();
        foreach (var (name, t) in tensors)
        {
            Assert.Equal(TorchSharp.torch.ScalarType.Byte, t.dtype);
            var bytes = t.data<byte>().ToArray();
            var plane = bytes.Length / 3;
            result[name] = (t.shape, bytes.Select((b, i) => (b / 255f - mean[i / plane]) / std[i / plane]).ToArray());
            t.Dispose();
        }
        return result;
    }

    public static TheoryData<string> FixtureNames() =>
        ["img0.png", "img0.jpg", "img1.png", "img1.jpg", "img2.png", "img2.jpg", "img3.png", "img3.jpg", "gray28.png"];

    [Theory]
    [MemberData(nameof(FixtureNames))]
    public void Eval224MatchesPilReference(string name)
    {
        var (shape, expected) = Expected.Value[name];
        Assert.Equal([3L, 224, 224], shape);
        var image = TestImages.Decode(Fixtures.Path(Path.Combine("preprocess", name)));

        var actual = ImagePipeline.Eval(224).Apply(image);

        Assert.Equal(expected.Length, actual.Length);
        double sum = 0, max = 0;
        var differing = 0;
        for (var i = 0; i < actual.Length; i++)
        {
            var d = Math.Abs(actual[i] - expected[i]);
            sum += d;
            max = Math.Max(max, d);
            if (d > 1e-5) differing++;
        }
        var mad = sum / actual.Length;
        output.WriteLine(FormattableString.Invariant(
            $"{name} ({image.Width}x{image.Height}): MAD {mad:E3}, max |diff| {max:E3}, values off by >1e-5: {differing} of {actual.Length}"));
        // One 8-bit step is 1/255/std ≈ 0.015 in normalised units, and a resampler with other rounding lands near a
        // MAD of 0.01. PIL's integer path is reproduced exactly, so every value must agree to float32 rounding.
        Assert.True(mad <= 1e-6, $"{name}: mean absolute difference {mad} exceeds 1e-6");
        Assert.True(max <= 1e-5, $"{name}: largest difference {max} exceeds 1e-5 (some pixel is off by an 8-bit step)");
    }

    [Fact]
    public void FixtureTensorsAreNotTriviallyEqual()
    {
        // Guards the parity test against a degenerate reference: the images must differ from each other.
        var a = Expected.Value["img0.png"].Data;
        var b = Expected.Value["img1.png"].Data;
        Assert.True(a.Zip(b, (x, y) => Math.Abs(x - y)).Average() > 0.05);
    }
}
