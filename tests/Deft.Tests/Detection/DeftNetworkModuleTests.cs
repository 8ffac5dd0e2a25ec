using Deft.Clip;
using Deft.Detection;
using Deft.Peft;
using Deft.Prompts;
using TorchSharp;
using static TorchSharp.torch;

namespace Deft.Tests.Detection;

/// <summary>DeftNetwork and VisionPeft as modules: one state-dict name per weight, legacy files still load.</summary>
public sealed class DeftNetworkModuleTests
{
    private static (ClipModel Clip, VisionPeft Peft, DualPromptLearner Prompts) Parts(PeftOptions peftOptions)
    {
        var clip = ClipLoader.Load(Fixtures.TinyClip);
        var peft = VisionPeft.Create(peftOptions, clip.Config.Vision, new Generator(5, CPU));
        var prompts = new DualPromptLearner(DeftStepParityTests.Classes, new PromptOptions(ContextLength: 4),
            new ClipPromptTokenizer(DeftStepParityTests.Tokenizer), clip.TokenEmbedding, clip.Config.Text.ContextLength, new Generator(6, CPU));
        return (clip, peft, prompts);
    }

    [Fact]
    public void Every_weight_has_one_name_and_the_trainables_are_the_ones_requiring_grad()
    {
        var (clip, peft, prompts) = Parts(new PeftOptions([PeftKind.VptDeep, PeftKind.Lora, PeftKind.Ssf], VptLength: 2, LoraRank: 4));
        using var _c = clip;
        using var _p = peft;
        using var _q = prompts;
        var clipCount = clip.named_parameters().Count();
        using var net = new DeftNetwork(clip, peft, prompts);

        var all = net.named_parameters().ToList();
        // Each tensor once: attaching the hooks did not give their weights a second name under CLIP's blocks.
        Assert.Equal(all.Count, all.Select(p => p.parameter.Handle).Distinct().Count());
        Assert.Equal(clipCount, clip.named_parameters().Count());
        Assert.Equal(2 + peft.named_parameters().Count() + clipCount, all.Count);
        Assert.Contains(all, p => p.name == "prompts.pos_ctx");
        Assert.Contains(all, p => p.name == "peft.vpt.1");
        Assert.Contains(all, p => p.name == "peft.lora.0.q_A");
        Assert.Contains(all, p => p.name == "peft.ssf.1.fc2_shift");
        Assert.Contains(all, p => p.name == "clip.visual.transformer.resblocks.0.attn.in_proj_weight");
        Assert.Equal(all.Where(p => p.parameter.requires_grad).Select(p => p.name), net.Trainables.Select(t => t.Name));
        Assert.Equal(["prompts.pos_ctx", "prompts.neg_ctx"], net.Trainables.Take(2).Select(t => t.Name));
        Assert.DoesNotContain(net.Trainables, t => t.Name.StartsWith("clip.", StringComparison.Ordinal));
        Assert.Equal(2 + peft.named_parameters().Count(), net.Trainables.Count);
    }

    [Fact]
    public void Bias_trains_clip_biases_under_their_clip_names()
    {
        var (clip, peft, prompts) = Parts(new PeftOptions(PeftKind.Bias, Partial: 1));
        using var _c = clip;
        using var _p = peft;
        using var _q = prompts;
        using var net = new DeftNetwork(clip, peft, prompts);
        var clipTrained = net.Trainables.Where(t => t.Name.StartsWith("clip.", StringComparison.Ordinal)).Select(t => t.Name).ToList();
        Assert.NotEmpty(clipTrained);
        Assert.All(clipTrained, n => Assert.StartsWith("clip.visual.transformer.resblocks.1.", n));
        Assert.All(clipTrained, n => Assert.EndsWith("bias", n));
    }

    [Fact]
    public void A_detector_file_with_the_names_before_the_module_still_loads()
    {
        var (clip, peft, prompts) = Parts(new PeftOptions([PeftKind.VptDeep, PeftKind.Lora], VptLength: 2, LoraRank: 4));
        using var _c = clip;
        using var _p = peft;
        using var _q = prompts;
        using var net = new DeftNetwork(clip, peft, prompts);
        using var dir = new TempDir("deft-network-module");
        var path = dir.File(DetectorFile.FileName);
        var values = net.Trainables.Select((t, i) => (Legacy: DeftNetwork.LegacyName(t.Name) ?? t.Name, Value: full(t.Parameter.shape, i + 1.0f))).ToList();
        Assert.Contains(values, v => v.Legacy == "pos_ctx");
        Assert.Contains(values, v => v.Legacy == "lora.1.v_B");
        Safetensors.Save(path, values.Select(v => new KeyValuePair<string, Tensor>($"param.{v.Legacy}", v.Value)));

        DetectorFile.LoadInto(path, net.Trainables);
        for (var i = 0; i < values.Count; i++)
            Assert.True(net.Trainables[i].Parameter.eq(values[i].Value).all().item<bool>(), net.Trainables[i].Name);
        foreach (var v in values) v.Value.Dispose();
    }

    [Fact]
    public void Disposing_the_network_leaves_its_parts_usable_and_detached()
    {
        var (clip, peft, prompts) = Parts(new PeftOptions(PeftKind.Lora, LoraRank: 4));
        using var _c = clip;
        using var _p = peft;
        using var _q = prompts;
        var net = new DeftNetwork(clip, peft, prompts);
        Assert.NotNull(clip.Visual.Blocks[0].Peft);
        net.Dispose();
        Assert.Null(clip.Visual.Blocks[0].Peft);
        Assert.All(clip.named_parameters(), p => Assert.False(p.parameter.requires_grad));
        using var noGrad = no_grad();
        using var images = zeros(1, 3, 32, 32);
        using var features = clip.EncodeImage(images);
        Assert.Equal(2L, prompts.PositiveContext.ndim);
        Assert.Equal(8, peft.Parameters.Count); // q_A, q_B, v_A, v_B on both blocks
        Assert.True(peft.Parameters.All(p => p.Parameter.numel() > 0));
    }
}
