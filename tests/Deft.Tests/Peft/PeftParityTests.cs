using Deft.Clip;
using Deft.Peft;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Deft.Tests.Peft;

/// <summary>
/// Each PEFT method on the tiny CLIP's image tower against PyTorch (tests/fixtures/peft-step.safetensors, written by
/// tools/fixtures/make_fixtures.py from the official formulas): with the fixture's initial values, the image features
/// of a fixed batch and the gradient of every trainable parameter for loss = Σ features ⊙ loss_weights.
/// </summary>
public sealed class PeftParityTests(ITestOutputHelper output)
{
    private const double Tolerance = 1e-4;

    private static readonly Lazy<(Dictionary<string, Tensor> T, IReadOnlyDictionary<string, string> Meta)> Fixture = new(() =>
    {
        var t = Safetensors.Load(Fixtures.Path("peft-step.safetensors"), out var meta);
        return (t, meta);
    });

    [Theory]
    [InlineData("adapter", PeftKind.Adapter)]
    [InlineData("adaptformer", PeftKind.AdaptFormer)]
    [InlineData("ssf", PeftKind.Ssf)]
    [InlineData("vpt_shallow", PeftKind.VptShallow)]
    [InlineData("bias", PeftKind.Bias)]
    public void FeaturesAndGradientsMatchPyTorch(string method, PeftKind kind)
    {
        var (t, meta) = Fixture.Value;
        using var scope = NewDisposeScope();
        using var clip = ClipLoader.Load(Fixtures.TinyClip);
        var options = new PeftOptions(kind, VptLength: int.Parse(meta["vpt_len"]), AdapterDim: int.Parse(meta["adapter_dim"]));
        using var peft = VisionPeft.Create(options, clip.Config.Vision);
        var fromClip = peft.Attach(clip);
        var trainables = peft.Parameters.Concat(fromClip).ToDictionary(p => p.Name, p => p.Parameter);

        var prefix = $"{method}.init.";
        var expectedNames = t.Keys.Where(k => k.StartsWith(prefix, StringComparison.Ordinal)).Select(k => k[prefix.Length..]).Order().ToArray();
        Assert.NotEmpty(expectedNames);
        Assert.Equal(expectedNames, trainables.Keys.Order().ToArray());
        using (no_grad())
            foreach (var (name, p) in trainables)
            {
                Assert.Equal(t[prefix + name].shape, p.shape);
                p.copy_(t[prefix + name]);
            }
        if (kind == PeftKind.AdaptFormer)
            Assert.All(trainables.Where(p => p.Key.EndsWith(".scale")), p => Assert.Equal(double.Parse(meta["adaptformer_scale"]), p.Value.item<float>()));

        var features = clip.EncodeImage(t["x"]);
        Close(t[$"{method}.features"], features, Tolerance, "features");
        // The method changes the features (bias tuning starts from the tower's own biases, so it does not).
        if (kind != PeftKind.Bias)
            Assert.True(MaxAbsDiff(t["plain.features"], features) > 1e-2, "the PEFT modules did not change the features");

        var loss = (features * t["loss_weights"]).sum();
        Assert.Equal(t[$"{method}.loss"].item<float>(), loss.item<float>(), 3);
        loss.backward();
        var worst = 0.0;
        foreach (var (name, p) in trainables)
        {
            var expected = t[$"{method}.grad.{name}"];
            Assert.NotNull(p.grad);
            // Relative to the gradient's own scale, as in DeftStepParityTests.
            var scale = Math.Max(1.0, expected.abs().max().item<float>());
            var d = Close(expected, p.grad!, Tolerance * scale, $"grad.{name}");
            worst = Math.Max(worst, d / scale);
        }
        output.WriteLine(FormattableString.Invariant($"{method}: {trainables.Count} parameters, features max |diff| {MaxAbsDiff(t[$"{method}.features"], features):E2}, worst gradient |diff| / max(1, |g|) {worst:E2}"));
    }

    [Fact]
    public void FixtureGradientsAreNotDegenerate()
    {
        var (t, meta) = Fixture.Value;
        foreach (var key in t.Keys.Where(k => k.Contains(".grad.", StringComparison.Ordinal)))
            Assert.True(t[key].abs().max().item<float>() > 0, $"{key} is all zeros");
        Assert.Equal("clip-tiny-openai.safetensors", meta["model"]);
    }

    private static double MaxAbsDiff(Tensor expected, Tensor actual)
    {
        Assert.Equal(expected.shape, actual.shape);
        return (actual.detach().to(ScalarType.Float64) - expected.to(ScalarType.Float64)).abs().max().item<double>();
    }

    private static double Close(Tensor expected, Tensor actual, double tolerance, string what)
    {
        var d = MaxAbsDiff(expected, actual);
        Assert.True(d <= tolerance, $"{what}: max |actual − expected| = {d:g4} > {tolerance:g2}");
        return d;
    }
}
