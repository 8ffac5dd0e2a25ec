using Deft.Adaptation;
using Deft.Peft;
using TorchSharp;
using static TorchSharp.torch;

namespace Deft.Tests.Adaptation;

public sealed class BackboneTests
{
    private static readonly PeftOptions Full = new(PeftKind.Full);

    internal static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();

    /// <summary>torchvision's resnet50 state-dict parameter names, written out from its definition (stem, four stages, fc).</summary>
    private static List<string> TorchvisionBottleneckParameterNames(int[] layers)
    {
        var names = new List<string> { "conv1.weight", "bn1.weight", "bn1.bias" };
        for (var s = 0; s < 4; s++)
            for (var b = 0; b < layers[s]; b++)
            {
                var p = $"layer{s + 1}.{b}.";
                for (var c = 1; c <= 3; c++) names.AddRange([$"{p}conv{c}.weight", $"{p}bn{c}.weight", $"{p}bn{c}.bias"]);
                if (b == 0) names.AddRange([$"{p}downsample.0.weight", $"{p}downsample.1.weight", $"{p}downsample.1.bias"]);
            }
        names.AddRange(["fc.weight", "fc.bias"]);
        return names;
    }

    private static List<string> TimmVitKeys(int depth)
    {
        var keys = new List<string> { "cls_token", "pos_embed", "patch_embed.proj.weight", "patch_embed.proj.bias" };
        for (var i = 0; i < depth; i++)
            foreach (var m in new[] { "norm1", "attn.qkv", "attn.proj", "norm2", "mlp.fc1", "mlp.fc2" })
                keys.AddRange([$"blocks.{i}.{m}.weight", $"blocks.{i}.{m}.bias"]);
        keys.AddRange(["norm.weight", "norm.bias", "head.weight", "head.bias"]);
        return keys;
    }

    [Fact]
    public void ResNet50HasTorchvisionsKeysShapesAndParameterCount()
    {
        using var ours = new ResNetClassifier(ResNetConfig.ResNet50, 1000, generator: null);
        using var reference = torchvision.models.resnet50(num_classes: 1000);
        var mine = ours.SavedState().ToDictionary(s => s.Name, s => s.Tensor.shape);
        var theirs = reference.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.shape);
        Assert.Equal(theirs.Keys.Order(), mine.Keys.Order());
        foreach (var (k, shape) in theirs) Assert.Equal(shape, mine[k]);

        var parameterNames = ours.Trainables.Select(t => t.Name).ToList();
        Assert.Equal(TorchvisionBottleneckParameterNames([3, 4, 6, 3]), parameterNames);
        // torchvision.models.resnet50(): 25,557,032 parameters.
        Assert.Equal(25_557_032L, ours.Trainables.Sum(t => t.Parameter.numel()));
        Assert.Contains("layer1.0.bn1.running_mean", mine.Keys);
        Assert.Contains("layer4.2.bn3.running_var", mine.Keys);
        Assert.Equal([64L, 3, 7, 7], mine["conv1.weight"]);
        Assert.Equal([2048L, 1024, 1, 1], mine["layer4.0.downsample.0.weight"]);
    }

    [Fact]
    public void VitB16HasTimmsKeysAndParameterCount()
    {
        using var vit = new VitClassifier(VitConfig.B16, 1000, generator: null);
        Assert.Equal(TimmVitKeys(12).Order(), vit.SavedState().Select(s => s.Name).Order());
        // timm vit_base_patch16_224: 86,567,656 parameters.
        Assert.Equal(86_567_656L, vit.Trainables.Sum(t => t.Parameter.numel()));
        var shapes = vit.SavedState().ToDictionary(s => s.Name, s => s.Tensor.shape);
        Assert.Equal([1L, 197, 768], shapes["pos_embed"]);
        Assert.Equal([2304L, 768], shapes["blocks.11.attn.qkv.weight"]);
        Assert.Equal([768L, 3, 16, 16], shapes["patch_embed.proj.weight"]);
    }

    [Fact]
    public void TinyResNetRunsAndRoundTripsThroughASafetensorsFileWithTorchvisionNames()
    {
        using var dir = new TempDir("deft-adapt");
        using var g = new Generator(1);
        using var pretrained = new ResNetClassifier(ResNetConfig.Tiny, 1000, g);
        Assert.Equal(TorchvisionBottleneckParameterNames([1, 1, 1, 1]), pretrained.Trainables.Select(t => t.Name));
        var path = dir.File("resnet.safetensors");
        Deft.Clip.Safetensors.Save(path, pretrained.SavedState().Select(s => new KeyValuePair<string, Tensor>(s.Name, s.Tensor)));

        var build = BackboneLoader.Create(path, BackboneKind.Auto, 4, resolution: 32, Full, headSeed: 0);
        using var loaded = (ResNetClassifier)build.Network;
        Assert.Equal(BackboneKind.ResNet, loaded.Kind);
        Assert.Equal(ResNetConfig.Tiny.Layers, loaded.Config.Layers);
        Assert.Equal(8, loaded.Config.WidthPerGroup);
        Assert.Contains(build.Notes, n => n.Contains("fc [1000, 2048]") && n.Contains("new 4-class head"));
        var a = pretrained.SavedState().ToDictionary(s => s.Name, s => s.Tensor);
        foreach (var (name, t) in loaded.SavedState())
        {
            if (name.StartsWith("fc.", StringComparison.Ordinal)) { Assert.Equal(4, t.shape[0]); continue; }
            Assert.True(Same(a[name], t), name);
        }

        using var scope = NewDisposeScope();
        loaded.SetTraining(false);
        using var noGrad = no_grad();
        var images = randn([3, 3, 32, 32], generator: g);
        var logits = loaded.Logits(images);
        Assert.Equal([3L, 4], logits.shape);
        // Evaluation mode uses running statistics: a sample's logits do not depend on its batch.
        Assert.True(logits[0].allclose(loaded.Logits(images.narrow(0, 0, 1))[0], rtol: 1e-4, atol: 1e-5));
    }

    [Fact]
    public void TinyVitRunsAndRoundTripsThroughASafetensorsFileWithTimmNames()
    {
        using var dir = new TempDir("deft-adapt");
        using var g = new Generator(2);
        using var pretrained = new VitClassifier(VitConfig.Tiny, 4, g);
        Assert.Equal(TimmVitKeys(2).Order(), pretrained.SavedState().Select(s => s.Name).Order());
        var path = dir.File("vit.safetensors");
        Deft.Clip.Safetensors.Save(path, pretrained.SavedState().Select(s => new KeyValuePair<string, Tensor>(s.Name, s.Tensor)));

        var build = BackboneLoader.Create(path, BackboneKind.Vit, 4, resolution: null, Full, headSeed: 0);
        using var loaded = (VitClassifier)build.Network;
        Assert.Equal(VitConfig.Tiny, loaded.Config);
        Assert.Empty(build.Notes); // same class count: the head is loaded too
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var images = randn([2, 3, 32, 32], generator: g);
        Assert.True(Same(pretrained.Logits(images), loaded.Logits(images)));
        Assert.Equal([2L, 4], loaded.Logits(images).shape);
    }

    [Fact]
    public void VitPositionsAreResampledForAnotherResolution()
    {
        using var dir = new TempDir("deft-adapt");
        using var vit = new VitClassifier(VitConfig.Tiny, 4, new Generator(3));
        var state = vit.SavedState().ToDictionary(s => s.Name, s => s.Tensor);
        using (no_grad())
        {
            state["pos_embed"].narrow(1, 1, 16).fill_(0.25f); // a constant grid stays constant under bicubic resampling
            state["pos_embed"][0, 0].fill_(-1f);
        }
        var path = dir.File("vit.safetensors");
        Deft.Clip.Safetensors.Save(path, state.Select(kv => new KeyValuePair<string, Tensor>(kv.Key, kv.Value)));
        var build = BackboneLoader.Create(path, BackboneKind.Auto, 4, resolution: 64, Full, headSeed: 0);
        using var loaded = build.Network;
        Assert.Contains(build.Notes, n => n.Contains("4×4 to a 8×8 grid"));
        var pos = loaded.SavedState().Single(s => s.Name == "pos_embed").Tensor;
        Assert.Equal([1L, 65, 128], pos.shape);
        Assert.True(pos[0, 0].eq(-1f).all().item<bool>());
        Assert.True(pos.narrow(1, 1, 64).sub(0.25f).abs().max().item<float>() < 1e-5);
        using var images = randn(1, 3, 64, 64);
        using var logits = loaded.Logits(images);
        Assert.Equal([1L, 4], logits.shape);
    }

    [Fact]
    public void AFileMatchingNoLayoutSaysWhatWasTriedAndWhichKeysDidNotMatch()
    {
        using var dir = new TempDir("deft-adapt");
        var path = dir.File("mystery.safetensors");
        using (var a = zeros(3, 3))
        using (var b = zeros(3))
            Deft.Clip.Safetensors.Save(path, [new("encoder.stem.weight", a), new("encoder.stem.bias", b)]);
        var ex = Assert.Throws<DeftException>(() => BackboneLoader.Create(path, BackboneKind.Auto, 4, null, Full, 0));
        Assert.Contains("match no known layout", ex.Message);
        foreach (var layout in new[] { "OpenAI/open_clip CLIP", "Hugging Face CLIP", "torchvision/timm ResNet", "timm ViT" })
            Assert.Contains(layout, ex.Message);
        Assert.Contains("First unmatched keys: encoder.stem.weight, encoder.stem.bias", ex.Message);
    }

    [Fact]
    public void AFileOfAnotherFamilyThanTheRequestedBackboneIsRejected()
    {
        using var dir = new TempDir("deft-adapt");
        using var resnet = new ResNetClassifier(ResNetConfig.Tiny, 4, null);
        var path = dir.File("resnet.safetensors");
        Deft.Clip.Safetensors.Save(path, resnet.SavedState().Select(s => new KeyValuePair<string, Tensor>(s.Name, s.Tensor)));
        var ex = Assert.Throws<DeftException>(() => BackboneLoader.Create(path, BackboneKind.Vit, 4, null, Full, 0));
        Assert.Contains("do not follow the vit layout", ex.Message);
        Assert.Contains("timm ViT", ex.Message);
        Assert.Contains("--backbone resnet", Deft.Cli.FlagNames.Render(ex));
        Assert.Contains("conv1.weight", ex.Message);
    }

    [Fact]
    public void ResNetWeightsWithAMissingTensorAreRejectedNamingIt()
    {
        using var dir = new TempDir("deft-adapt");
        using var resnet = new ResNetClassifier(ResNetConfig.Tiny, 4, null);
        var path = dir.File("resnet.safetensors");
        Deft.Clip.Safetensors.Save(path, resnet.SavedState().Where(s => s.Name != "layer2.0.conv2.weight")
            .Select(s => new KeyValuePair<string, Tensor>(s.Name, s.Tensor)));
        var ex = Assert.Throws<DeftException>(() => BackboneLoader.Create(path, BackboneKind.Auto, 4, null, Full, 0));
        Assert.Contains("missing key(s): layer2.0.conv2.weight", ex.Message);
    }

    [Fact]
    public void RandomPresetsChooseTheirFamily()
    {
        using (var b = BackboneLoader.Create("random:resnet-tiny@1", BackboneKind.Auto, 3, null, Full, 0).Network) Assert.Equal(BackboneKind.ResNet, b.Kind);
        using (var b = BackboneLoader.Create("random:vit-tiny", BackboneKind.Auto, 3, null, Full, 0).Network) Assert.Equal(BackboneKind.Vit, b.Kind);
        using (var b = BackboneLoader.Create("random:tiny", BackboneKind.Auto, 3, null, Full, 0).Network) Assert.Equal(BackboneKind.Clip, b.Kind);
        var ex = Assert.Throws<DeftException>(() => BackboneLoader.Create("random:resnet-huge", BackboneKind.Auto, 3, null, Full, 0));
        Assert.Contains("resnet50, resnet-tiny", ex.Message);
    }
}
