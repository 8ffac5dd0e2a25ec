using Deft.Clip;
using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace Deft.Tests.Clip;

public sealed class ClipHookTests
{
    /// <summary>SSF-like hook: scales the attention output per channel; ones make it the identity.</summary>
    private sealed class ScaleHook : nn.Module, IVisionBlockPeft
    {
        [ComponentName(Name = "scale")] private readonly Parameter _scale;

        public ScaleHook(long width, float value = 1f) : base(nameof(ScaleHook))
        {
            _scale = new Parameter(torch.full(width, value));
            RegisterComponents();
        }

        public Parameter Scale => _scale;
        public Tensor AfterAttentionOut(Tensor attnOut) => attnOut * _scale;
    }

    /// <summary>Records every hook call with its argument shapes; changes nothing.</summary>
    private sealed class ProbeHook : IVisionBlockPeft
    {
        public List<string> Calls { get; } = [];
        private static string S(Tensor t) => string.Join("x", t.shape);
        public Tensor? QkvDelta(Tensor lnX) { Calls.Add($"QkvDelta {S(lnX)}"); return null; }
        public Tensor AfterQkv(Tensor qkv) { Calls.Add($"AfterQkv {S(qkv)}"); return qkv; }
        public Tensor AfterAttentionOut(Tensor o) { Calls.Add($"AfterAttentionOut {S(o)}"); return o; }
        public Tensor AfterFc1(Tensor h) { Calls.Add($"AfterFc1 {S(h)}"); return h; }
        public Tensor AfterFc2(Tensor h) { Calls.Add($"AfterFc2 {S(h)}"); return h; }
        public Tensor MlpBranch(Tensor x, Tensor m) { Calls.Add($"MlpBranch {S(x)} {S(m)}"); return m; }
    }

    /// <summary>Adds a fixed vector to q|k|v: the same as adding it to in_proj_bias.</summary>
    private sealed class ConstantDelta(Tensor delta) : IVisionBlockPeft
    {
        public Tensor? QkvDelta(Tensor lnX) => delta.expand(lnX.shape[0], lnX.shape[1], delta.shape[0]);
    }

    private sealed class RecordingInjector(int extra) : IVisionPromptInjector
    {
        public List<(int Layer, long Tokens, int Original)> Calls { get; } = [];

        public Tensor BeforeBlock(int layer, Tensor x, int originalLength)
        {
            Calls.Add((layer, x.shape[1], originalLength));
            if (extra == 0 || layer > 0) return x;
            using var prompts = torch.ones(x.shape[0], extra, x.shape[2]);
            return torch.cat([x, prompts], 1);
        }
    }

    [Fact]
    public void Identity_hooks_change_nothing_and_their_parameters_are_not_registered_in_clip()
    {
        using var reference = new TinyReference();
        using var model = ClipLoader.Load(Fixtures.TinyClip);
        model.FreezeAll();
        var clipNames = model.named_parameters().Select(p => p.name).ToList();
        var hooks = model.Visual.Blocks.Select(b => { var h = new ScaleHook(128); b.Peft = h; return h; }).ToList();

        // One name per weight: the hook's own ("scale"), never a second one under CLIP's blocks.
        Assert.Equal(clipNames, model.named_parameters().Select(p => p.name));
        Assert.Equal(clipNames, model.NamedClipParameters().Select(p => p.Name));
        Assert.All(hooks, h => Assert.Equal(["scale"], h.named_parameters().Select(p => p.name)));
        Assert.All(hooks, h => Assert.True(h.Scale.requires_grad));

        using (var noGrad = torch.no_grad())
        using (var features = model.EncodeImage(reference.Images))
            TensorAssert.Close(reference.ImageFeatures, features, 1e-4, "image features with identity hooks");

        // Strict CLIP loading still works with hooks attached.
        var weights = Safetensors.Load(Fixtures.TinyClip);
        try { ClipLoader.LoadStateDict(model, weights, "fixture"); }
        finally { foreach (var t in weights.Values) t.Dispose(); }

        foreach (var h in hooks) h.Dispose();
    }

    [Fact]
    public void Hooks_are_called_in_the_documented_order_and_shapes()
    {
        using var model = ClipLoader.Load("random:tiny");
        var probe = new ProbeHook();
        model.Visual.Blocks[1].Peft = probe;
        using var noGrad = torch.no_grad();
        using var images = torch.zeros(3, 3, 32, 32);
        using var _ = model.EncodeImage(images);
        Assert.Equal(
        [
            "QkvDelta 3x17x128", "AfterQkv 3x17x384", "AfterAttentionOut 3x17x128",
            "AfterFc1 3x17x512", "AfterFc2 3x17x128", "MlpBranch 3x17x128 3x17x128",
        ], probe.Calls);
    }

    [Fact]
    public void Qkv_delta_acts_like_a_bias_change()
    {
        using var images = torch.randn(2, 3, 32, 32, generator: new torch.Generator(3, torch.CPU));
        using var delta = torch.randn(384, generator: new torch.Generator(4, torch.CPU)) * 0.1;
        using var hooked = ClipLoader.Load("random:tiny@8");
        hooked.Visual.Blocks[0].Peft = new ConstantDelta(delta);
        using var edited = ClipLoader.Load("random:tiny@8");
        using (torch.no_grad())
            edited.Visual.Blocks[0].Attention.InProjBias.add_(delta);
        using var noGrad = torch.no_grad();
        using var a = hooked.EncodeImage(images);
        using var b = edited.EncodeImage(images);
        using var plain = ClipLoader.Load("random:tiny@8");
        using var c = plain.EncodeImage(images);
        TensorAssert.Close(b, a, 1e-5, "delta hook vs edited bias");
        Assert.True(TensorAssert.MaxAbsDiff(c, a) > 1e-3, "the delta must change the output");
    }

    [Fact]
    public void Prompt_injector_runs_before_every_block_and_extra_tokens_change_the_output()
    {
        using var images = torch.randn(2, 3, 32, 32, generator: new torch.Generator(5, torch.CPU));
        using var model = ClipLoader.Load("random:tiny@6");
        using var noGrad = torch.no_grad();
        using var plain = model.EncodeImage(images);

        var passThrough = new RecordingInjector(0);
        model.Visual.PromptInjector = passThrough;
        using var same = model.EncodeImage(images);
        TensorAssert.Close(plain, same, 0, "pass-through injector");
        Assert.Equal([(0, 17L, 17), (1, 17L, 17)], passThrough.Calls);

        var shallow = new RecordingInjector(2);
        model.Visual.PromptInjector = shallow;
        using var prompted = model.EncodeImage(images);
        Assert.Equal([(0, 17L, 17), (1, 19L, 17)], shallow.Calls);
        Assert.True(TensorAssert.MaxAbsDiff(plain, prompted) > 1e-4);
    }

    [Fact]
    public void Gradients_reach_hook_parameters_through_a_frozen_tower()
    {
        using var model = ClipLoader.Load("random:tiny@7");
        model.FreezeAll();
        using var hook = new ScaleHook(128, 1.5f);
        model.Visual.Blocks[0].Peft = hook;
        using var images = torch.randn(2, 3, 32, 32, generator: new torch.Generator(6, torch.CPU));
        using var features = model.EncodeImage(images);
        using var loss = features.square().sum();
        loss.backward();
        Assert.NotNull(hook.Scale.grad);
        using var gradNorm = hook.Scale.grad!.norm();
        Assert.True(gradNorm.item<float>() > 0);
        Assert.All(model.NamedClipParameters(), p => Assert.Null(p.Parameter.grad));
    }
}
