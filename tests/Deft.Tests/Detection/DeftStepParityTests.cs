using Deft.Clip;
using Deft.Clip.Tokenization;
using Deft.Detection;
using Deft.Peft;
using Deft.Prompts;
using TorchSharp;
using static TorchSharp.torch;

namespace Deft.Tests.Detection;

/// <summary>
/// One DeFT phase-1 step on the tiny CLIP against PyTorch (deft-step.safetensors): VPT-deep length 2 and LoRA rank 4
/// on q and v, five classes, n_ctx 4. Logits, p_clean, selection, losses, every gradient and every parameter after
/// one SGD step (momentum 0.9, weight decay 5e-4, lr 0.03).
/// </summary>
public sealed class DeftStepParityTests
{
    internal static readonly string[] Classes = ["apple", "aquarium_fish", "baby", "bear", "beaver"];

    internal static ClipTokenizer Tokenizer => _tokenizer.Value;
    private static readonly Lazy<ClipTokenizer> _tokenizer = new(Fixtures.TinyTokenizer);

    [Theory]
    [InlineData("warmup", true)]
    [InlineData("select", false)]
    public void OneStepMatchesPyTorch(string variant, bool warmup)
    {
        var t = Safetensors.Load(Fixtures.Path("deft-step.safetensors"), out var meta);
        using var scope = NewDisposeScope();
        Assert.Equal("2", meta["vpt_len"]);
        Assert.Equal("4", meta["lora_dim"]);
        using var clip = ClipLoader.Load(Fixtures.TinyClip);
        using var peft = VisionPeft.Create(new PeftOptions([PeftKind.VptDeep, PeftKind.Lora], VptLength: 2, LoraRank: 4), clip.Config.Vision);
        using var prompts = new DualPromptLearner(Classes, new PromptOptions(ContextLength: 4), new ClipPromptTokenizer(Tokenizer),
            clip.TokenEmbedding, clip.Config.Text.ContextLength);
        using var net = new DeftNetwork(clip, peft, prompts);

        Assert.True(prompts.TokenIds.eq(t["pos_token_ids"]).all().item<bool>());
        // The fixture uses the names trainables had before DeftNetwork was a module (pos_ctx, lora.0.q_A).
        var trainables = net.Trainables.ToDictionary(p => DeftNetwork.LegacyName(p.Name) ?? p.Name, p => p.Parameter);
        var expectedNames = t.Keys.Where(k => k.StartsWith("init.")).Select(k => k[5..]).Order().ToArray();
        Assert.Equal(expectedNames, trainables.Keys.Order().ToArray());
        using (no_grad())
            foreach (var (name, p) in trainables) p.copy_(t[$"init.{name}"]);

        var img = net.ImageFeatures(t["x"]);
        var (posText, negText) = net.TextFeatures();
        var (pos, neg) = net.Logits(img, posText, negText);
        TensorAssert.Close(t[$"{variant}.pos_logits"], pos, 1e-4, "pos_logits");
        TensorAssert.Close(t[$"{variant}.neg_logits"], neg, 1e-4, "neg_logits");

        var r = DeftObjective.Compute(pos, neg, t["y"], t["complementary"], warmup);
        TensorAssert.Close(t[$"{variant}.p_clean"], r.CleanProbability, 1e-4, "p_clean");
        Assert.True(r.Selected.eq(t[$"{variant}.selected"]).all().item<bool>());
        Assert.Equal(t[$"{variant}.loss"].item<float>(), r.Loss.item<float>(), 1e-4);
        Assert.Equal(t[$"{variant}.loss_cls"].item<float>(), r.ClassificationLoss.item<float>(), 1e-4);
        Assert.Equal(t[$"{variant}.loss_neg"].item<float>(), r.NegativeLoss.item<float>(), 1e-4);

        r.Loss.backward();
        foreach (var (name, p) in trainables)
        {
            var expected = t[$"{variant}.grad.{name}"];
            Assert.NotNull(p.grad);
            // Relative to the gradient's own scale: large gradients carry proportionally larger rounding.
            var scale = Math.Max(1.0, expected.abs().max().item<float>());
            TensorAssert.Close(expected, p.grad!, 1e-4 * scale, $"grad.{name}");
        }

        using var sgd = new MomentumSgd(net.Trainables.Select(p => (Tensor)p.Parameter).ToArray(),
            double.Parse(meta["lr"]), double.Parse(meta["momentum"]), double.Parse(meta["weight_decay"]));
        sgd.Step();
        foreach (var (name, p) in trainables)
            TensorAssert.Close(t[$"{variant}.after_sgd.{name}"], p, 1e-4, $"after_sgd.{name}");
        foreach (var v in t.Values) v.Dispose();
    }
}
