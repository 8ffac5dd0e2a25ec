using Deft.Clip;
using Deft.Peft;
using TorchSharp;
using static TorchSharp.torch;

namespace Deft.Tests.Peft;

public sealed class PeftModuleTests
{
    private static bool Eq(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();

    private static readonly ClipVisionConfig Tiny = new(32, 8, 128, 2, 2);

    [Fact]
    public void KindsParseFromTheirCliNamesAndRejectOthersListingValidValues()
    {
        foreach (var name in PeftKinds.ValidNames) Assert.Equal(name, PeftKinds.Parse(name).ToName());
        Assert.Equal(PeftKind.VptDeep, PeftKinds.Parse("VPT_DEEP"));
        var ex = Assert.Throws<DeftException>(() => PeftKinds.Parse("prefix"));
        Assert.Contains("vpt-deep, vpt-shallow, lora, adapter, adaptformer, ssf, bias, full, none", ex.Message);
    }

    [Fact]
    public void PartialIsCheckedAgainstTheTower()
    {
        Assert.Throws<DeftException>(() => VisionPeft.Create(new PeftOptions(PeftKind.Lora, Partial: 3), Tiny));
        Assert.Throws<DeftException>(() => VisionPeft.Create(new PeftOptions(PeftKind.Lora, Partial: 0), Tiny));
        Assert.Throws<DeftException>(() => VisionPeft.Create(new PeftOptions(PeftKind.None, Partial: 1), Tiny));
        using var peft = VisionPeft.Create(new PeftOptions(PeftKind.Lora, Partial: 1, LoraRank: 4), Tiny);
        Assert.Null(peft.BlockHook(0));
        Assert.NotNull(peft.BlockHook(1));
        Assert.Equal(["lora.1.q_A", "lora.1.q_B", "lora.1.v_A", "lora.1.v_B"], peft.Parameters.Select(p => p.Name).Order());
    }

    [Fact]
    public void VptInitialisationRangeAndNamesFollowTheOfficialCode()
    {
        using var g = new Generator(1);
        using var peft = VisionPeft.Create(new PeftOptions(PeftKind.VptDeep, VptLength: 50), Tiny, g);
        Assert.Equal(["vpt.0", "vpt.1"], peft.Parameters.Select(p => p.Name));
        var bound = Math.Sqrt(6.0 / (3 * 8 * 8 + 128));
        foreach (var (_, p) in peft.Parameters)
        {
            Assert.Equal([50L, 128L], p.shape);
            Assert.True(p.abs().max().item<float>() <= bound);
            Assert.True(p.abs().max().item<float>() > 0.9 * bound); // uniform over the whole range
        }
        // The fixture's initial prompts come from the same distribution.
        var t = Deft.Clip.Safetensors.Load(Fixtures.Path("deft-step.safetensors"));
        Assert.True(t["init.vpt.0"].abs().max().item<float>() <= bound);
        foreach (var v in t.Values) v.Dispose();
    }

    [Fact]
    public void DeepVptReplacesThePreviousBlocksPromptsAndShallowOnlyPromptsBlockZero()
    {
        using var scope = NewDisposeScope();
        using var deep = VisionPeft.Create(new PeftOptions(PeftKind.VptDeep, VptLength: 3), Tiny);
        var injector = deep.PromptInjector!;
        var x = randn(2, 17, 128);
        var x0 = injector.BeforeBlock(0, x, 17);
        Assert.Equal([2L, 20L, 128L], x0.shape);
        Assert.True(Eq(x0.narrow(1, 0, 17), x));
        Assert.True(Eq(x0[1].narrow(0, 17, 3), deep.Parameters[0].Parameter));
        var x1 = injector.BeforeBlock(1, x0, 17);
        Assert.Equal([2L, 20L, 128L], x1.shape);
        Assert.True(Eq(x1[0].narrow(0, 17, 3), deep.Parameters[1].Parameter));

        using var shallow = VisionPeft.Create(new PeftOptions(PeftKind.VptShallow, VptLength: 3), Tiny);
        var s0 = shallow.PromptInjector!.BeforeBlock(0, x, 17);
        Assert.Equal([2L, 20L, 128L], s0.shape);
        Assert.Same(s0, shallow.PromptInjector!.BeforeBlock(1, s0, 17));
        Assert.Single(shallow.Parameters);
    }

    [Fact]
    public void LoraAddsScaledLowRankUpdatesToQueryAndValueOnly()
    {
        using var scope = NewDisposeScope();
        using var g = new Generator(3);
        using var peft = VisionPeft.Create(new PeftOptions(PeftKind.Lora, LoraRank: 4), Tiny, g);
        var hook = peft.BlockHook(0)!;
        var x = randn(2, 5, 128);
        Assert.Equal(0f, hook.QkvDelta(x)!.abs().max().item<float>()); // B starts at zero

        var p = peft.Parameters.Where(q => q.Name.StartsWith("lora.0.")).ToDictionary(q => q.Name[7..], q => q.Parameter);
        // A ~ kaiming_uniform(a=√5) with fan_in = r: U(±1/√r).
        Assert.True(p["q_A"].abs().max().item<float>() <= 0.5f);
        Assert.True(p["q_A"].abs().max().item<float>() > 0.45f);
        using (no_grad()) { p["q_B"].normal_(); p["v_B"].normal_(); }
        var delta = hook.QkvDelta(x)!;
        Assert.Equal([2L, 5L, 384L], delta.shape);
        Assert.True(delta.narrow(-1, 0, 128).allclose(x.matmul(p["q_A"]).matmul(p["q_B"]) / 4, rtol: 1e-5, atol: 1e-5));
        Assert.Equal(0f, delta.narrow(-1, 128, 128).abs().max().item<float>());
        Assert.True(delta.narrow(-1, 256, 128).allclose(x.matmul(p["v_A"]).matmul(p["v_B"]) / 4, rtol: 1e-5, atol: 1e-5));
    }

    [Theory]
    [InlineData(PeftKind.Adapter)]
    [InlineData(PeftKind.AdaptFormer)]
    public void AdaptersStartAsTheIdentityAndTrainTheirBottleneck(PeftKind kind)
    {
        using var scope = NewDisposeScope();
        using var peft = VisionPeft.Create(new PeftOptions(kind, AdapterDim: 4), Tiny);
        var hook = peft.BlockHook(1)!;
        var x = randn(2, 5, 128);
        var mlp = randn(2, 5, 128);
        Assert.True(Eq(hook.MlpBranch(x, mlp), mlp));
        var names = peft.Parameters.Where(p => p.Name.Contains(".1.")).Select(p => p.Name[(p.Name.IndexOf(".1.") + 3)..]).Order().ToArray();
        var expected = new List<string> { "down.bias", "down.weight", "ln.bias", "ln.weight", "up.bias", "up.weight" };
        if (kind == PeftKind.AdaptFormer) expected.Add("scale");
        Assert.Equal(expected.Order(), names);

        var p = peft.Parameters.Where(q => q.Name.Contains(".1.")).ToDictionary(q => q.Name[(q.Name.IndexOf(".1.") + 3)..], q => q.Parameter);
        using (no_grad()) p["up.weight"].normal_();
        var input = kind == PeftKind.Adapter ? mlp : x;
        var h = nn.functional.relu(nn.functional.linear(nn.functional.layer_norm(input, [128], p["ln.weight"], p["ln.bias"]), p["down.weight"], p["down.bias"]));
        var expectedOut = mlp + nn.functional.linear(h, p["up.weight"], p["up.bias"]);
        Assert.True(hook.MlpBranch(x, mlp).allclose(expectedOut, rtol: 1e-4, atol: 1e-4));
        // Down projection: kaiming_normal(a=√5) → std √(1/3)/√128.
        var std = p["down.weight"].std().item<float>();
        Assert.InRange(std, 0.8 * Math.Sqrt(1.0 / 3 / 128), 1.2 * Math.Sqrt(1.0 / 3 / 128));
    }

    [Fact]
    public void SsfScalesAndShiftsEverySite()
    {
        using var scope = NewDisposeScope();
        using var g = new Generator(5);
        using var peft = VisionPeft.Create(new PeftOptions(PeftKind.Ssf), Tiny, g);
        var hook = peft.BlockHook(0)!;
        var p = peft.Parameters.Where(q => q.Name.StartsWith("ssf.0.")).ToDictionary(q => q.Name[6..], q => q.Parameter);
        Assert.Equal(8, p.Count);
        Assert.Equal([384L], p["qkv_scale"].shape);
        Assert.Equal([512L], p["fc1_shift"].shape);
        Assert.InRange(p["qkv_scale"].mean().item<float>(), 0.99, 1.01);
        Assert.InRange(p["qkv_scale"].std().item<float>(), 0.015, 0.025);
        var h = randn(2, 5, 512);
        Assert.True(hook.AfterFc1(h).allclose(h * p["fc1_scale"] + p["fc1_shift"], rtol: 1e-6, atol: 1e-6));
        var a = randn(2, 5, 128);
        Assert.True(hook.AfterAttentionOut(a).allclose(a * p["attn_out_scale"] + p["attn_out_shift"], rtol: 1e-6, atol: 1e-6));
        Assert.True(hook.AfterFc2(a).allclose(a * p["fc2_scale"] + p["fc2_shift"], rtol: 1e-6, atol: 1e-6));
    }

    [Fact]
    public void BiasAndFullChooseClipParametersAndPartialLimitsThem()
    {
        using var bias = VisionPeft.Create(new PeftOptions(PeftKind.Bias), Tiny);
        Assert.Empty(bias.Parameters);
        Assert.True(bias.TrainsClipParameter("transformer.resblocks.0.attn.in_proj_bias"));
        Assert.True(bias.TrainsClipParameter("ln_post.bias"));
        Assert.False(bias.TrainsClipParameter("transformer.resblocks.0.attn.in_proj_weight"));
        using var full = VisionPeft.Create(new PeftOptions(PeftKind.Full, Partial: 1), Tiny);
        Assert.False(full.TrainsClipParameter("transformer.resblocks.0.mlp.c_fc.weight"));
        Assert.True(full.TrainsClipParameter("transformer.resblocks.1.mlp.c_fc.weight"));
        Assert.False(full.TrainsClipParameter("conv1.weight"));
        using var none = VisionPeft.Create(new PeftOptions(PeftKind.None), Tiny);
        Assert.False(none.TrainsClipParameter("transformer.resblocks.1.ln_1.bias"));
    }
}
