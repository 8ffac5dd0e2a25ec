using Deft.Clip;
using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace Deft.Tests.Clip;

public sealed class ClipModelTests
{
    private const long StartOfText = 49406, EndOfText = 49407;

    /// <summary>Rows of SOT, random ids, EOT at different positions, zero padding to 77 — like CLIP's tokenizer output.</summary>
    private static Tensor RandomTokens(int rows, int seed)
    {
        var rng = new Random(seed);
        var ids = new long[rows, 77];
        for (var r = 0; r < rows; r++)
        {
            var words = 1 + rng.Next(40);
            ids[r, 0] = StartOfText;
            for (var i = 1; i <= words; i++) ids[r, i] = 1 + rng.Next(49000);
            ids[r, words + 1] = EndOfText;
        }
        return torch.tensor(ids);
    }

    [Fact]
    public void Text_encoding_cut_at_the_last_end_of_text_equals_the_full_context()
    {
        using var model = ClipLoader.Load("random:tiny@1");
        using var tokens = RandomTokens(6, seed: 3);
        using var noGrad = torch.no_grad();
        using var cut = model.EncodeText(tokens);
        using var full = model.EncodeText(tokens, cutAtEndOfText: false);
        TensorAssert.Close(full, cut, 1e-5, "cut vs full text features");

        using var reference = new TinyReference();
        using var fixture = ClipLoader.Load(Fixtures.TinyClip);
        using var cutFixture = fixture.EncodeText(reference.TokenIds);
        using var fullFixture = fixture.EncodeText(reference.TokenIds, cutAtEndOfText: false);
        TensorAssert.Close(fullFixture, cutFixture, 1e-5, "cut vs full on the fixture's prompts");
    }

    [Fact]
    public void Encoding_token_embeddings_equals_encoding_token_ids()
    {
        using var model = ClipLoader.Load("random:tiny@2");
        using var tokens = RandomTokens(4, seed: 5);
        using var noGrad = torch.no_grad();
        using var embeddings = model.TokenEmbedding(tokens);
        Assert.Equal(new long[] { 4, 77, 128 }, embeddings.shape);
        using var eot = tokens.argmax(-1);
        using var viaEmbeddings = model.EncodeTextEmbeddings(embeddings, eot);
        using var viaIds = model.EncodeText(tokens);
        TensorAssert.Close(viaIds, viaEmbeddings, 1e-6, "EncodeTextEmbeddings vs EncodeText");
    }

    [Fact]
    public void Text_gradient_reaches_the_embeddings_up_to_end_of_text_only()
    {
        using var model = ClipLoader.Load("random:tiny@4");
        model.FreezeAll();
        using var tokens = RandomTokens(2, seed: 9);
        using var embeddings = model.TokenEmbedding(tokens).detach().requires_grad_(true);
        using var eot = tokens.argmax(-1);
        using var features = model.EncodeTextEmbeddings(embeddings, eot);
        using var loss = features.square().sum();
        loss.backward();
        using var grad = embeddings.grad!;
        Assert.NotNull(grad);
        var eotIndex = eot.data<long>().ToArray();
        for (var r = 0; r < 2; r++)
        {
            using var row = grad[r];
            using var before = row.narrow(0, 0, eotIndex[r] + 1).abs().sum();
            using var after = row.narrow(0, eotIndex[r] + 1, 77 - eotIndex[r] - 1).abs().sum();
            Assert.True(before.item<float>() > 0, "positions up to EOT receive gradient");
            Assert.Equal(0f, after.item<float>());
        }
        Assert.All(model.NamedClipParameters(), p => Assert.Null(p.Parameter.grad));
    }

    [Fact]
    public void Random_models_are_deterministic_per_seed()
    {
        using var a = ClipLoader.Load("random:tiny@11");
        using var b = ClipLoader.Load("random:tiny@11");
        using var c = ClipLoader.Load("random:tiny@12");
        var pa = a.NamedClipParameters().ToDictionary(p => p.Name, p => p.Parameter);
        var pb = b.NamedClipParameters().ToDictionary(p => p.Name, p => p.Parameter);
        var pc = c.NamedClipParameters().ToDictionary(p => p.Name, p => p.Parameter);
        Assert.All(pa, kv => Assert.True(kv.Value.allclose(pb[kv.Key], 0, 0), kv.Key));
        Assert.False(pa["visual.transformer.resblocks.0.attn.in_proj_weight"].allclose(pc["visual.transformer.resblocks.0.attn.in_proj_weight"], 0, 0));
        Assert.Equal(Math.Log(1 / 0.07), pa["logit_scale"].item<float>(), 5);
    }

    [Fact]
    public void Random_model_activations_have_a_sane_scale()
    {
        using var model = ClipLoader.Load("random:tiny@5");
        using var noGrad = torch.no_grad();
        using var images = torch.randn(2, 3, 32, 32, generator: new torch.Generator(1, torch.CPU));
        using var features = model.EncodeImage(images);
        using var norms = features.norm(1);
        Assert.All(norms.data<float>().ToArray(), n => Assert.InRange(n, 0.1f, 100f));
        Assert.False(features.isnan().any().item<bool>());
    }

    [Fact]
    public void Bf16_towers_agree_with_fp32_by_cosine()
    {
        using var reference = new TinyReference();
        using var fp32 = ClipLoader.Load(Fixtures.TinyClip);
        using var bf16 = ClipLoader.Load(Fixtures.TinyClip, new ClipLoadOptions { DType = ScalarType.BFloat16 });
        Assert.Equal(ScalarType.BFloat16, bf16.Visual.DType);
        Assert.Equal(ScalarType.BFloat16, bf16.TextDType);
        Assert.Equal(ScalarType.Float32, bf16.LogitScale.dtype);
        using var noGrad = torch.no_grad();
        using var img32 = fp32.EncodeImage(reference.Images);
        using var img16 = bf16.EncodeImage(reference.Images);
        Assert.Equal(ScalarType.Float32, img16.dtype);
        Assert.True(TensorAssert.MinRowCosine(img32, img16) >= 0.999, $"image cosine {TensorAssert.MinRowCosine(img32, img16)}");
        using var txt32 = fp32.EncodeText(reference.TokenIds);
        using var txt16 = bf16.EncodeText(reference.TokenIds);
        Assert.True(TensorAssert.MinRowCosine(txt32, txt16) >= 0.999, $"text cosine {TensorAssert.MinRowCosine(txt32, txt16)}");
    }

    [Fact]
    public void Bf16_vit_b32_image_features_agree_with_fp32_by_cosine()
    {
        using var model = ClipLoader.Load("random:ViT-B-32@1");
        using var images = torch.randn(1, 3, 224, 224, generator: new torch.Generator(2, torch.CPU));
        using var noGrad = torch.no_grad();
        using var fp32 = model.EncodeImage(images);
        model.ToDType(ScalarType.BFloat16, ClipTowers.Vision);
        Assert.Equal(ScalarType.BFloat16, model.Visual.DType);
        Assert.Equal(ScalarType.Float32, model.TextDType);
        using var bf16 = model.EncodeImage(images);
        var cosine = TensorAssert.MinRowCosine(fp32, bf16);
        Assert.True(cosine >= 0.999, $"ViT-B/32 bf16 vs fp32 cosine {cosine}");
    }

    [Fact]
    public void Encoding_does_not_leak_tensors()
    {
        using var model = ClipLoader.Load(Fixtures.TinyClip);
        using var reference = new TinyReference();
        using var noGrad = torch.no_grad();
        var live = new List<long>();
        for (var batch = 0; batch < 20; batch++)
        {
            using (var image = model.EncodeImage(reference.Images))
            using (var text = model.EncodeText(reference.TokenIds))
            using (var embeddings = model.TokenEmbedding(reference.TokenIds))
            using (var eot = reference.TokenIds.argmax(-1))
            using (var prompted = model.EncodeTextEmbeddings(embeddings, eot))
            using (var logits = model.Logits(image, text))
            {
            }
            live.Add(DisposeScopeManager.Statistics.ThreadTotalLiveCount);
        }
        Assert.All(live.Skip(1), n => Assert.Equal(live[0], n));
    }

    [Fact]
    public void Wrong_image_size_is_a_clear_error()
    {
        using var model = ClipLoader.Load("random:tiny");
        using var images = torch.zeros(1, 3, 64, 64);
        var ex = Assert.Throws<DeftException>(() => model.EncodeImage(images));
        Assert.Contains("[B, 3, 32, 32]", ex.Message);
    }

    [Fact]
    public void ToDType_keeps_fields_and_registered_parameters_in_step()
    {
        using var model = ClipLoader.Load("random:tiny@3");
        model.ToDType(ScalarType.BFloat16, ClipTowers.Text);
        var parameters = model.NamedClipParameters().ToList();
        Assert.All(parameters.Where(p => !p.Name.StartsWith("visual.") && p.Name != "logit_scale"),
            p => Assert.Equal(ScalarType.BFloat16, p.Parameter.dtype));
        Assert.All(parameters.Where(p => p.Name.StartsWith("visual.")), p => Assert.Equal(ScalarType.Float32, p.Parameter.dtype));
        // The forward path reads the fields; they must be the registered (converted) tensors.
        Assert.Equal(ScalarType.BFloat16, model.TextDType);
        Assert.Same(parameters.Single(p => p.Name == "text_projection").Parameter, model.TextProjection);
        Assert.Same(parameters.Single(p => p.Name == "positional_embedding").Parameter, model.PositionalEmbedding);
    }
}
