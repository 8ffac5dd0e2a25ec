using Deft.Clip;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Deft.Tests.Clip;

/// <summary>
/// The text tower as its own module (open_clip's TextTransformer), lifted into <see cref="ClipModel"/> so CLIP's
/// state dict keeps OpenAI's names, each weight once.
/// </summary>
public sealed class TextTransformerTests
{
    private static readonly string[] BlockKeys =
    [
        "attn.in_proj_weight", "attn.in_proj_bias", "attn.out_proj.weight", "attn.out_proj.bias", "ln_1.weight", "ln_1.bias",
        "mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight", "mlp.c_proj.bias", "ln_2.weight", "ln_2.bias",
    ];

    private static IEnumerable<string> Blocks(string prefix, int layers) =>
        Enumerable.Range(0, layers).SelectMany(i => BlockKeys.Select(k => $"{prefix}transformer.resblocks.{i}.{k}"));

    /// <summary>
    /// OpenAI's CLIP keys in the order the model listed them before the text tower was a module (main at a94c486:
    /// CLIP's own parameters, then visual, transformer, token_embedding, ln_final). Checkpoints and safetensors files are
    /// written in this order.
    /// </summary>
    private static List<string> OpenAiKeys(ClipConfig config) =>
    [
        "positional_embedding", "text_projection", "logit_scale",
        "visual.class_embedding", "visual.positional_embedding", "visual.proj", "visual.conv1.weight",
        "visual.ln_pre.weight", "visual.ln_pre.bias",
        .. Blocks("visual.", config.Vision.Layers),
        "visual.ln_post.weight", "visual.ln_post.bias",
        .. Blocks("", config.Text.Layers),
        "token_embedding.weight", "ln_final.weight", "ln_final.bias",
    ];

    /// <summary>open_clip's TextTransformer keys (the same names the CLIP module lifts them to).</summary>
    private static HashSet<string> TextKeys(ClipConfig config) =>
    [
        "token_embedding.weight", "positional_embedding", .. Blocks("", config.Text.Layers),
        "ln_final.weight", "ln_final.bias", "text_projection",
    ];

    private static void AssertEachWeightOnceWithOpenAiNames(ClipModel model)
    {
        var parameters = model.named_parameters().ToList();
        Assert.Equal(OpenAiKeys(model.Config), parameters.Select(p => p.name));
        Assert.Equal(parameters.Count, parameters.Select(p => p.parameter.Handle).Distinct().Count());
        Assert.Equal(OpenAiKeys(model.Config), model.state_dict().Keys);
        Assert.Equal(parameters.Select(p => p.name), model.NamedClipParameters().Select(p => p.Name));
    }

    /// <summary>Every text weight is the very object CLIP registers under the same name.</summary>
    private static void AssertTextRegistrationIsClips(ClipModel model)
    {
        var clip = model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        var text = model.Text.named_parameters().ToList();
        Assert.Equal(TextKeys(model.Config), text.Select(p => p.name).ToHashSet());
        Assert.Equal(text.Count, text.Select(p => p.name).Distinct().Count());
        Assert.All(text, p => Assert.Same(clip[p.name], p.parameter));
        Assert.Same(clip["text_projection"], model.Text.Projection);
        Assert.Same(clip["positional_embedding"], model.Text.PositionalEmbedding);
    }

    [Fact]
    public void Clip_lists_openai_s_keys_in_the_previous_order_each_weight_once()
    {
        using var fixture = ClipLoader.Load(Fixtures.TinyClip);
        AssertEachWeightOnceWithOpenAiNames(fixture);
        using var random = ClipLoader.Load("random:tiny@1");
        AssertEachWeightOnceWithOpenAiNames(random);
        // tiny: CLIP's 3 + visual's 32 (3 own, conv1, ln_pre, 2 blocks of 12, ln_post) + 24 text blocks + token_embedding + ln_final.
        Assert.Equal(62, random.named_parameters().Count());
    }

    [Fact]
    public void Text_tower_owns_the_text_weights_clip_registers()
    {
        using var model = ClipLoader.Load(Fixtures.TinyClip);
        AssertTextRegistrationIsClips(model);
        Assert.Same(model.Text.Blocks[1], model.TextBlocks[1]);
        Assert.Equal(model.Config.Text, model.Text.Config);
    }

    [Theory]
    [InlineData(ClipTowers.Text)]
    [InlineData(ClipTowers.Both)]
    public void Bf16_conversion_keeps_the_keys_and_the_lifted_registration(ClipTowers towers)
    {
        using var model = ClipLoader.Load(Fixtures.TinyClip);
        model.ToDType(ScalarType.BFloat16, towers);

        AssertEachWeightOnceWithOpenAiNames(model);
        AssertTextRegistrationIsClips(model);
        Assert.Equal(ScalarType.BFloat16, model.Text.DType);
        Assert.Equal(ScalarType.BFloat16, model.TextDType);
        Assert.All(model.Text.named_parameters(), p => Assert.Equal(ScalarType.BFloat16, p.parameter.dtype));
        Assert.Equal(ScalarType.Float32, model.LogitScale.dtype);

        using var reference = new TinyReference();
        using var noGrad = torch.no_grad();
        using var features = model.Text.EncodeText(reference.TokenIds);
        Assert.Equal(ScalarType.Float32, features.dtype);
        Assert.True(TensorAssert.MinRowCosine(reference.TextFeatures, features) >= 0.999);
    }

    [Fact]
    public void TorchSharp_to_on_clip_keeps_the_text_tower_in_step()
    {
        using var model = ClipLoader.Load(Fixtures.TinyClip);
        model.to(ScalarType.Float64);
        AssertEachWeightOnceWithOpenAiNames(model);
        AssertTextRegistrationIsClips(model);
        Assert.Equal(ScalarType.Float64, model.Text.DType);
        Assert.All(model.named_parameters(), p => Assert.Equal(ScalarType.Float64, p.parameter.dtype));
    }

    [Fact]
    public void Text_tower_encodes_the_fixture_prompts_as_pytorch_and_as_the_inline_encoder_did()
    {
        using var reference = new TinyReference();
        using var model = ClipLoader.Load(Fixtures.TinyClip);
        using var noGrad = torch.no_grad();
        using var text = model.Text.EncodeText(reference.TokenIds);
        TensorAssert.Close(reference.TextFeatures, text, 1e-4, "text_features");
        using var clip = model.EncodeText(reference.TokenIds);
        Assert.True(Identical(clip, text), "ClipModel.EncodeText is the text tower's");
        using var previous = InlineEncoder(model, reference.TokenIds);
        Assert.True(Identical(previous, text), $"inline encoder differs by {TensorAssert.MaxAbsDiff(text, previous)}");

        using var embeddings = model.Text.TokenEmbedding(reference.TokenIds);
        using var eot = reference.TokenIds.argmax(-1);
        using var viaEmbeddings = model.Text.EncodeTextEmbeddings(embeddings, eot);
        Assert.True(Identical(viaEmbeddings, text), "embeddings path = token-id path");
    }

    [Fact]
    public void Text_tower_rejects_what_clip_rejected()
    {
        using var model = ClipLoader.Load("random:tiny");
        using var floats = torch.zeros(1, 5);
        Assert.Contains("integers", Assert.Throws<DeftException>(() => model.Text.EncodeText(floats)).Message);
        using var tooLong = torch.zeros(new long[] { 1, 78 }, ScalarType.Int64);
        Assert.Contains("[N, L ≤ 77]", Assert.Throws<DeftException>(() => model.Text.EncodeText(tooLong)).Message);
        using var embeddings = torch.zeros(2, 5, 128);
        using var eot = torch.tensor(new long[] { 1, 5 });
        Assert.Contains("[0, 5)", Assert.Throws<DeftException>(() => model.Text.EncodeTextEmbeddings(embeddings, eot)).Message);
    }

    private static bool Identical(Tensor a, Tensor b)
    {
        if (!a.shape.SequenceEqual(b.shape) || a.dtype != b.dtype) return false;
        using var same = a.eq(b).all();
        return same.item<bool>();
    }

    /// <summary>
    /// The text encoding ClipModel implemented inline at a94c486, written out from the state dict: token embedding rows,
    /// + positional_embedding[:L], causal blocks, EOT gather, ln_final, projection (L = max EOT + 1).
    /// </summary>
    private static Tensor InlineEncoder(ClipModel model, Tensor tokenIds)
    {
        using var scope = torch.NewDisposeScope();
        var p = model.named_parameters().ToDictionary(x => x.name, x => (Tensor)x.parameter);
        var ids = tokenIds.to(ScalarType.Int64);
        var eot = ids.argmax(-1);
        var length = eot.max().item<long>() + 1;
        long n = ids.shape[0], width = model.Config.Text.Width;
        var x = p["token_embedding.weight"].index_select(0, ids.narrow(1, 0, length).reshape(-1)).view(n, length, width)
            .add(p["positional_embedding"].narrow(0, 0, length));
        foreach (var block in model.TextBlocks) x = block.Forward(x, causal: true);
        var pooled = x.gather(1, eot.view(n, 1, 1).expand(n, 1, width)).squeeze(1);
        var normed = F.layer_norm(pooled, [width], p["ln_final.weight"], p["ln_final.bias"], model.Config.LayerNormEps);
        return normed.matmul(p["text_projection"]).MoveToOuterDisposeScope();
    }
}
