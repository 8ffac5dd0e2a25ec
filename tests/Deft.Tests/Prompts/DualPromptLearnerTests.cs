using Deft.Detection;
using Deft.Prompts;
using TorchSharp;
using static TorchSharp.torch;

namespace Deft.Tests.Prompts;

public sealed class DualPromptLearnerTests
{
    /// <summary>CLIP's BPE ids for the words below, standing in for the tokenizer where only the arrangement matters.</summary>
    internal sealed class FixtureTokenizer : IPromptTokenizer
    {
        private static readonly Dictionary<string, int[]> Words = new()
        {
            ["p"] = [335], ["n"] = [333], ["."] = [269], ["apple"] = [3055], ["aquarium fish"] = [16814, 2759],
            ["baby"] = [1794], ["bear"] = [4298], ["beaver"] = [22874], ["a photo of a"] = [320, 1125, 539, 320],
        };
        public IReadOnlyList<int> Encode(string text) => Words[text.ToLowerInvariant()];
        public int StartToken => 49406;
        public int EndToken => 49407;
    }

    private static readonly string[] Classes = ["apple", "aquarium_fish", "baby", "bear", "beaver"];

    [Fact]
    public void PrefixSuffixAndTokenIdsMatchTheOfficialPromptLearner()
    {
        var t = Deft.Clip.Safetensors.Load(Fixtures.Path("deft-step.safetensors"), out var meta);
        var clip = Deft.Clip.Safetensors.Load(Fixtures.TinyClip);
        using var scope = NewDisposeScope();
        Assert.Equal("4", meta["n_ctx"]);
        var embedding = clip["token_embedding.weight"];
        // The tiny CLIP's own tokenizer: the fixture's ids come from the Python tokenizer on the same vocabulary.
        using var learner = new DualPromptLearner(Classes, new PromptOptions(ContextLength: 4), new ClipPromptTokenizer(Fixtures.TinyTokenizer()),
            ids => embedding.index_select(0, ids.flatten()).reshape(ids.shape[0], ids.shape[1], -1), 77);

        Assert.True(learner.TokenIds.eq(t["pos_token_ids"]).all().item<bool>());
        Assert.True(learner.EotIndex.eq(t["neg_token_ids"].argmax(1)).all().item<bool>());
        Assert.True(learner.Prefix.allclose(t["prefix"]));
        Assert.True(learner.Suffix.allclose(t["suffix"]));
        Assert.Equal(13, learner.MaxLength); // "aquarium fish" has six tiny-vocabulary tokens: SOS + 4 + 6 + "." + EOS
        Assert.Equal([4L, 64L], learner.PositiveContext.shape);
        Assert.InRange(learner.PositiveContext.std().item<float>(), 0.015, 0.025);

        learner.LoadContexts(t["init.pos_ctx"], t["init.neg_ctx"]);
        var full = learner.Assemble(learner.PositiveContext, 77);
        var expected = cat([t["prefix"], t["init.pos_ctx"].unsqueeze(0).expand(5, -1, -1), t["suffix"]], 1);
        Assert.True(full.allclose(expected));
        Assert.True(learner.Assemble(learner.NegativeContext).allclose(
            cat([t["prefix"], t["init.neg_ctx"].unsqueeze(0).expand(5, -1, -1), t["suffix"]], 1).narrow(1, 0, 13)));
        foreach (var v in t.Values.Concat(clip.Values)) v.Dispose();
    }

    /// <summary>An embedding whose vector for token id k is k in every component, to read arrangements back.</summary>
    private static Tensor IdEmbedding(Tensor ids) => ids.to(ScalarType.Float32).unsqueeze(-1).expand(-1, -1, 3).clone();

    private static long[] Row(Tensor prompts, int c) =>
        prompts[c].select(1, 0).to(ScalarType.Int64).data<long>().ToArray();

    [Theory]
    [InlineData(ClassTokenPosition.End, new long[] { 49406, -1, -1, -1, -1, 16814, 2759, 269, 49407 })]
    [InlineData(ClassTokenPosition.Middle, new long[] { 49406, -1, -1, 16814, 2759, -1, -1, 269, 49407 })]
    [InlineData(ClassTokenPosition.Front, new long[] { 49406, 16814, 2759, -1, -1, -1, -1, 269, 49407 })]
    public void ClassTokenPositionArrangesNameAndContextLikeCoOp(ClassTokenPosition position, long[] expected)
    {
        using var scope = NewDisposeScope();
        using var learner = new DualPromptLearner(Classes, new PromptOptions(ContextLength: 4, Position: position), new FixtureTokenizer(), IdEmbedding, 77);
        var ctx = full(4, 3, -1f);
        var prompts = learner.Assemble(ctx);
        Assert.Equal([5L, 9L, 3L], prompts.shape);
        Assert.Equal(expected, Row(prompts, 1));
        // A one-token name: the end token moves one place left and padding (0) follows.
        Assert.Equal(0, Row(prompts, 0)[^1]);
    }

    [Fact]
    public void ClassSpecificContextsAndWordInitialisation()
    {
        using var scope = NewDisposeScope();
        using var csc = new DualPromptLearner(Classes, new PromptOptions(ContextLength: 2, ClassSpecific: true), new FixtureTokenizer(), IdEmbedding, 77);
        Assert.Equal([5L, 2L, 3L], csc.PositiveContext.shape);
        Assert.Equal([5L, 7L, 3L], csc.Assemble(csc.NegativeContext).shape);

        using var init = new DualPromptLearner(Classes, new PromptOptions(ContextLength: 16, InitWords: "a photo of a"), new FixtureTokenizer(), IdEmbedding, 77);
        Assert.Equal(4, init.NumContext);
        Assert.Equal([320f, 1125f, 539f, 320f], init.PositiveContext.select(1, 0).data<float>().ToArray());
        Assert.True(init.NegativeContext.equal(init.PositiveContext).all().item<bool>());
        Assert.Equal(new long[] { 49406, 320, 1125, 539, 320, 3055, 269, 49407 }, init.TokenIds[0].narrow(0, 0, 8).data<long>().ToArray());
    }

    [Fact]
    public void PromptsLongerThanTheContextAreRejectedNamingTheClass()
    {
        var ex = Assert.Throws<DeftException>(() =>
            new DualPromptLearner(Classes, new PromptOptions(ContextLength: 73), new FixtureTokenizer(), IdEmbedding, 77));
        Assert.Contains("aquarium fish", ex.Message);
        Assert.Contains("--n-ctx", Deft.Cli.FlagNames.Render(ex));
        Assert.Throws<DeftException>(() => new DualPromptLearner([], new PromptOptions(), new FixtureTokenizer(), IdEmbedding, 77));
    }
}
