using Deft.Clip;
using Deft.Detection;
using Deft.Peft;
using Deft.Prompts;
using Deft.Tests.Detection;
using TorchSharp;
using static TorchSharp.torch;

namespace Deft.Tests.Peft;

/// <summary>Every PEFT method trains: on a real batch (Fashion-MNIST, tiny CLIP) a few SGD steps lower the DeFT loss and move the method's parameters.</summary>
public sealed class PeftTrainingTests
{
    private static readonly Lazy<(Tensor Images, long[] Labels)> Data = new(() => DetectTestData.Batch(32));
    private static readonly string[] Classes = ["T-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle boot"];

    [Theory]
    [InlineData("vpt-deep")]
    [InlineData("vpt-shallow")]
    [InlineData("lora")]
    [InlineData("adapter")]
    [InlineData("adaptformer")]
    [InlineData("ssf")]
    [InlineData("bias")]
    [InlineData("full")]
    [InlineData("none")]
    public void AFewStepsLowerTheLossAndMoveTheMethodsParameters(string method)
    {
        using var scope = NewDisposeScope();
        var (images, labelArray) = Data.Value;
        using var clip = ClipLoader.Load(DetectTestData.TinyModel);
        using var frozen = clip.EncodeImage(images).detach();
        using var generator = new Generator(3);
        using var prompts = new DualPromptLearner(Classes, new PromptOptions(ContextLength: 4), new ClipPromptTokenizer(DeftStepParityTests.Tokenizer),
            clip.TokenEmbedding, clip.Config.Text.ContextLength, generator);
        using var peft = VisionPeft.Create(new PeftOptions(PeftOptions.ParseKinds(method), VptLength: 4, LoraRank: 4, AdapterDim: 8), clip.Config.Vision, generator);
        using var net = new DeftNetwork(clip, peft, prompts);
        var imageTrainables = net.Trainables.Where(t => !t.Name.EndsWith("_ctx")).ToList();
        Assert.Equal(method == "none", imageTrainables.Count == 0);
        var before = imageTrainables.Select(t => t.Parameter.detach().clone()).ToList();

        var labels = tensor(labelArray);
        var complementary = (labels + 1 + tensor(labelArray.Select(l => l % 3).ToArray())) % 10;
        using var sgd = new MomentumSgd(net.Trainables.Select(t => (Tensor)t.Parameter).ToArray(), 0.01, 0.9, 5e-4);
        var losses = new List<float>();
        for (var step = 0; step < 6; step++)
        {
            using var stepScope = NewDisposeScope();
            var (posText, negText) = net.TextFeatures();
            var (pos, neg) = net.Logits(net.ImageFeatures(images), posText, negText);
            var r = DeftObjective.Compute(pos, neg, labels, complementary, warmup: true);
            losses.Add(r.Loss.item<float>());
            r.Loss.backward();
            sgd.Step();
            sgd.ZeroGrad();
        }
        Assert.True(losses[^1] < losses[0] - 0.05, $"{method}: loss {string.Join(" → ", losses.Select(l => l.ToString("F4")))}");

        for (var i = 0; i < imageTrainables.Count; i++)
        {
            var moved = (imageTrainables[i].Parameter - before[i]).abs().max().item<float>();
            Assert.True(moved > 0, $"{method}: {imageTrainables[i].Name} did not change");
        }
        using var adapted = no_grad();
        var shift = (net.ImageFeatures(images) - frozen).abs().max().item<float>();
        if (method == "none") Assert.Equal(0f, shift);
        else Assert.True(shift > 1e-4, $"{method}: image features did not change ({shift})");
    }
}
