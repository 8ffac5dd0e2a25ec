using Deft.Clip;
using Deft.Prompts;
using Deft.Tests.Detection;
using TorchSharp;
using static TorchSharp.torch;

namespace Deft.Tests.Prompts;

public sealed class SharedPrefixTextEncoderTests
{
    [Theory]
    [InlineData("fixture")]
    [InlineData("random:tiny@3")]
    public void FeaturesAndContextGradientsMatchTheFullTextTower(string model)
    {
        using var scope = NewDisposeScope();
        using var clip = ClipLoader.Load(model == "fixture" ? DetectTestData.TinyModel : model);
        string[] classes = ["apple", "aquarium_fish", "maple tree", "lawn mower", "bee"];
        using var generator = new Generator(2);
        using var prompts = new DualPromptLearner(classes, new PromptOptions(ContextLength: 6), new ClipPromptTokenizer(DeftStepParityTests.Tokenizer),
            clip.TokenEmbedding, clip.Config.Text.ContextLength, generator);
        Assert.True(SharedPrefixTextEncoder.Applies(prompts, clip));
        using var encoder = new SharedPrefixTextEncoder(clip, prompts);
        // SOS + 6 context tokens once per prompt set; per class and set the tokens from the name through the longest EOS.
        Assert.Equal(2L * 7 + 2L * classes.Length * (prompts.MaxLength - 7), encoder.TokensPerCall);

        var (pos, neg) = encoder.Encode(prompts.PositiveContext, prompts.NegativeContext);
        var weights = randn(2, classes.Length, clip.Config.EmbedDim, generator: generator);
        (pos * weights[0] + (neg * weights[1]).square()).sum().backward();
        var gradPos = prompts.PositiveContext.grad!.clone();
        var gradNeg = prompts.NegativeContext.grad!.clone();
        prompts.PositiveContext.grad = null;
        prompts.NegativeContext.grad = null;

        var refPos = clip.EncodeTextEmbeddings(prompts.Assemble(prompts.PositiveContext), prompts.EotIndex);
        var refNeg = clip.EncodeTextEmbeddings(prompts.Assemble(prompts.NegativeContext), prompts.EotIndex);
        (refPos * weights[0] + (refNeg * weights[1]).square()).sum().backward();

        TensorAssert.Close(refPos, pos, 1e-5, "positive features");
        TensorAssert.Close(refNeg, neg, 1e-5, "negative features");
        var scale = Math.Max(1.0, prompts.PositiveContext.grad!.abs().max().item<float>());
        TensorAssert.Close(prompts.PositiveContext.grad!, gradPos, 1e-5 * scale, "positive context gradient");
        TensorAssert.Close(prompts.NegativeContext.grad!, gradNeg, 1e-5 * Math.Max(1.0, prompts.NegativeContext.grad!.abs().max().item<float>()), "negative context gradient");
        Assert.True(gradPos.abs().max().item<float>() > 0);
    }

    [Fact]
    public void OnlySharedContextsWithTheNameAtTheEndQualify()
    {
        using var clip = ClipLoader.Load("random:tiny@1");
        string[] classes = ["apple", "bee"];
        var tok = new ClipPromptTokenizer(DeftStepParityTests.Tokenizer);
        using var front = new DualPromptLearner(classes, new PromptOptions(4, ClassTokenPosition.Front), tok, clip.TokenEmbedding, 77);
        using var csc = new DualPromptLearner(classes, new PromptOptions(4, ClassSpecific: true), tok, clip.TokenEmbedding, 77);
        Assert.False(SharedPrefixTextEncoder.Applies(front, clip));
        Assert.False(SharedPrefixTextEncoder.Applies(csc, clip));
    }
}
