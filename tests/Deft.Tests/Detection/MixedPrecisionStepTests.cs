using Deft.Clip;
using Deft.Detection;
using Deft.Peft;
using Deft.Prompts;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Deft.Tests.Detection;

/// <summary>
/// Mixed-precision PEFT training (<c>--dtype bf16</c>, or auto choosing it): the frozen image tower in bfloat16, the
/// trainables, their gradients, the optimizer's momentum, the logits and the losses in float32. Against PyTorch's
/// float32 step (deft-step.safetensors: VPT-deep + LoRA) the gradient of all trainables together keeps cosine ≥ 0.999
/// (each tensor ≥ 0.995); against peft-step.safetensors (adapter, AdaptFormer, SSF, VPT-shallow) every tensor's ≥ 0.999.
/// </summary>
public sealed class MixedPrecisionStepTests(ITestOutputHelper output)
{
    private const double MinGradientCosine = 0.999;
    private const double MinTensorCosine = 0.995;

    private static double Cosine(Tensor expected, Tensor actual)
    {
        using var scope = NewDisposeScope();
        var a = expected.flatten().to(ScalarType.Float64);
        var b = actual.detach().flatten().to(ScalarType.Float64);
        return ((a * b).sum() / (a.norm() * b.norm())).item<double>();
    }

    [Theory]
    [InlineData("warmup", true)]
    [InlineData("select", false)]
    public void ADeftStepWithABf16TowerKeepsFp32TrainablesAndFp32Gradients(string variant, bool warmup)
    {
        var t = Safetensors.Load(Fixtures.Path("deft-step.safetensors"), out var meta);
        using var scope = NewDisposeScope();
        using var clip = ClipLoader.Load(Fixtures.TinyClip);
        clip.ToDType(ScalarType.BFloat16, ClipTowers.Vision);
        using var peft = VisionPeft.Create(new PeftOptions([PeftKind.VptDeep, PeftKind.Lora], VptLength: 2, LoraRank: 4), clip.Config.Vision);
        using var prompts = new DualPromptLearner(DeftStepParityTests.Classes, new PromptOptions(ContextLength: 4),
            new ClipPromptTokenizer(DeftStepParityTests.Tokenizer), clip.TokenEmbedding, clip.Config.Text.ContextLength);
        using var net = new DeftNetwork(clip, peft, prompts);
        var trainables = net.Trainables.ToDictionary(p => DeftNetwork.LegacyName(p.Name) ?? p.Name, p => p.Parameter);
        using (no_grad())
            foreach (var (name, p) in trainables) p.copy_(t[$"init.{name}"]);

        // Frozen weights in bf16 (the whole image tower), everything that trains in fp32.
        Assert.All(clip.Visual.parameters(), p => { Assert.Equal(ScalarType.BFloat16, p.dtype); Assert.False(p.requires_grad); });
        Assert.All(trainables.Values, p => { Assert.Equal(ScalarType.Float32, p.dtype); Assert.True(p.requires_grad); });

        var img = net.ImageFeatures(t["x"]);
        var (posText, negText) = net.TextFeatures();
        var (pos, neg) = net.Logits(img, posText, negText);
        Assert.Equal(ScalarType.Float32, pos.dtype);
        Assert.Equal(ScalarType.Float32, neg.dtype);
        // Logits are 100 × cosines; bf16 products move them by hundredths.
        TensorAssert.Close(t[$"{variant}.pos_logits"], pos, 0.2, "pos_logits");
        TensorAssert.Close(t[$"{variant}.neg_logits"], neg, 0.2, "neg_logits");
        var r = DeftObjective.Compute(pos, neg, t["y"], t["complementary"], warmup);
        Assert.Equal(ScalarType.Float32, r.Loss.dtype);
        Assert.Equal(t[$"{variant}.loss"].item<float>(), r.Loss.item<float>(), 0.02);

        r.Loss.backward();
        var expectedAll = new List<Tensor>();
        var actualAll = new List<Tensor>();
        var worst = (Name: "", Cosine: 1.0);
        foreach (var (name, p) in trainables)
        {
            Assert.NotNull(p.grad);
            Assert.Equal(ScalarType.Float32, p.grad!.dtype);
            var expected = t[$"{variant}.grad.{name}"];
            var cosine = Cosine(expected, p.grad);
            output.WriteLine(FormattableString.Invariant($"{variant} grad.{name}: cosine {cosine:F6}"));
            // Each tensor: bf16 products round the gradient flowing back through them (eps 2⁻⁸); a small gradient
            // that is a sum of cancelling terms (vpt.1 after selection: 0.9965) keeps the least of it.
            Assert.True(cosine >= MinTensorCosine, $"grad.{name}: cosine {cosine:F6} to PyTorch's fp32 gradient");
            if (cosine < worst.Cosine) worst = (name, cosine);
            expectedAll.Add(expected.flatten());
            actualAll.Add(p.grad.flatten());
        }
        // The step's direction, all trainables together, is what the issue pins: cosine ≥ 0.999.
        var total = Cosine(cat(expectedAll), cat(actualAll));
        output.WriteLine(FormattableString.Invariant($"{variant}: {trainables.Count} trainables, gradient cosine to fp32 {total:F6}, lowest {worst.Name} {worst.Cosine:F6}"));
        Assert.True(total >= MinGradientCosine, $"the trainables' gradient has cosine {total:F6} to fp32");

        var parameters = net.Trainables.Select(p => (Tensor)p.Parameter).ToArray();
        using var sgd = new MomentumSgd(parameters, double.Parse(meta["lr"]), double.Parse(meta["momentum"]), double.Parse(meta["weight_decay"]));
        sgd.Step();
        for (var i = 0; i < parameters.Length; i++)
        {
            Assert.Equal(ScalarType.Float32, parameters[i].dtype);
            Assert.Equal(ScalarType.Float32, sgd.GetBuffer(i)!.dtype);
        }
        foreach (var v in t.Values) v.Dispose();
    }

    [Theory]
    [InlineData("adapter", PeftKind.Adapter)]
    [InlineData("adaptformer", PeftKind.AdaptFormer)]
    [InlineData("ssf", PeftKind.Ssf)]
    [InlineData("vpt_shallow", PeftKind.VptShallow)]
    public void EveryPeftMethodsGradientsThroughABf16TowerMatchFp32(string method, PeftKind kind)
    {
        var t = Safetensors.Load(Fixtures.Path("peft-step.safetensors"), out var meta);
        using var scope = NewDisposeScope();
        using var clip = ClipLoader.Load(Fixtures.TinyClip);
        clip.ToDType(ScalarType.BFloat16, ClipTowers.Vision);
        using var peft = VisionPeft.Create(new PeftOptions(kind, VptLength: int.Parse(meta["vpt_len"]), AdapterDim: int.Parse(meta["adapter_dim"])), clip.Config.Vision);
        Assert.Empty(peft.Attach(clip)); // nothing of the bf16 tower itself trains
        var trainables = peft.Parameters.ToDictionary(p => p.Name, p => p.Parameter);
        using (no_grad())
            foreach (var (name, p) in trainables) p.copy_(t[$"{method}.init.{name}"]);

        var features = clip.EncodeImage(t["x"]);
        Assert.Equal(ScalarType.Float32, features.dtype);
        (features * t["loss_weights"]).sum().backward();
        foreach (var (name, p) in trainables)
        {
            Assert.Equal(ScalarType.Float32, p.dtype);
            Assert.Equal(ScalarType.Float32, p.grad!.dtype);
            var cosine = Cosine(t[$"{method}.grad.{name}"], p.grad);
            output.WriteLine(FormattableString.Invariant($"{method} grad.{name}: cosine {cosine:F6}"));
            Assert.True(cosine >= MinGradientCosine, $"{method} grad.{name}: cosine {cosine:F6} to PyTorch's fp32 gradient");
        }
        foreach (var v in t.Values) v.Dispose();
    }
}
