using Deft.Adaptation;
using Deft.Peft;
using TorchSharp;
using static TorchSharp.torch;

namespace Deft.Tests.Adaptation;

/// <summary>
/// The ConvNeXt and MAE phase-2 backbones against tools/fixtures/make_backbone_fixtures.py (a plain-PyTorch statement
/// of timm's networks, cross-checked against timm itself), and torchvision's ResNet-50 against TorchSharp's port.
/// </summary>
public sealed class ConvNextAndMaeTests
{
    private static readonly PeftOptions Full = new(PeftKind.Full);

    private static Dictionary<string, Tensor> Expected() => Deft.Clip.Safetensors.Load(Fixtures.Path("backbones-expected.safetensors"));

    private static void DisposeAll(Dictionary<string, Tensor> d)
    {
        foreach (var t in d.Values) t.Dispose();
    }

    private static double MaxAbsDiff(Tensor a, Tensor b)
    {
        Assert.Equal(a.shape, b.shape);
        using var d = a.sub(b).abs().max();
        return d.item<float>();
    }

    /// <summary>timm's ConvNeXt keys, written out from its definition (stem, stage downsamples from stage 1, blocks, head).</summary>
    private static List<string> TimmConvNextKeys(int[] depths)
    {
        var keys = new List<string>();
        void WeightBias(string m) => keys.AddRange([$"{m}.weight", $"{m}.bias"]);
        WeightBias("stem.0");
        WeightBias("stem.1");
        for (var i = 0; i < depths.Length; i++)
        {
            if (i > 0) { WeightBias($"stages.{i}.downsample.0"); WeightBias($"stages.{i}.downsample.1"); }
            for (var j = 0; j < depths[i]; j++)
            {
                var p = $"stages.{i}.blocks.{j}.";
                keys.Add(p + "gamma");
                foreach (var m in new[] { "conv_dw", "norm", "mlp.fc1", "mlp.fc2" }) WeightBias(p + m);
            }
        }
        WeightBias("head.norm");
        WeightBias("head.fc");
        return keys;
    }

    [Fact]
    public void ConvNextTinyHasTimmsKeysShapesParameterCountAndInitialisation()
    {
        using var model = new ConvNextClassifier(ConvNextConfig.Tiny, 1000, new Generator(0));
        var shapes = model.SavedState().ToDictionary(s => s.Name, s => s.Tensor.shape);
        Assert.Equal(TimmConvNextKeys([3, 3, 9, 3]).Order(), shapes.Keys.Order());
        // timm.create_model('convnext_tiny', num_classes=1000): 28,589,128 parameters (make_backbone_fixtures.py --xcheck-timm prints it).
        Assert.Equal(28_589_128L, model.Trainables.Sum(t => t.Parameter.numel()));
        Assert.Equal([96L, 3, 4, 4], shapes["stem.0.weight"]);
        Assert.Equal([96L, 1, 7, 7], shapes["stages.0.blocks.0.conv_dw.weight"]);
        Assert.Equal([384L, 192, 2, 2], shapes["stages.2.downsample.1.weight"]);
        Assert.Equal([1536L, 384], shapes["stages.2.blocks.8.mlp.fc1.weight"]);
        Assert.Equal([1000L, 768], shapes["head.fc.weight"]);
        var p = model.Trainables.ToDictionary(t => t.Name, t => t.Parameter);
        // timm's _init_weights: layer scale 1e-6, norms 1/0, linear and conv trunc_normal(0.02) with zero bias.
        Assert.True(p["stages.3.blocks.2.gamma"].eq(1e-6f).all().item<bool>());
        Assert.True(p["stem.1.weight"].eq(1f).all().item<bool>());
        Assert.True(p["head.fc.bias"].eq(0f).all().item<bool>());
        Assert.InRange(p["stages.3.blocks.0.mlp.fc1.weight"].std().item<float>(), 0.019, 0.021);
        Assert.InRange(p["stem.0.weight"].std().item<float>(), 0.018, 0.022);
    }

    [Theory]
    [InlineData("convnext-toy-timm.safetensors", BackboneKind.Auto)]
    [InlineData("convnext-toy-timm.safetensors", BackboneKind.ConvNext)]
    [InlineData("convnext-toy-fb.pth", BackboneKind.Auto)]
    public void ConvNextFromTimmOrFacebookKeysGivesTheReferenceLogits(string file, BackboneKind kind)
    {
        var expected = Expected();
        try
        {
            var build = BackboneLoader.Create(Fixtures.Path(file), kind, 5, resolution: 32, Full, headSeed: 0);
            using var network = (ConvNextClassifier)build.Network;
            Assert.Equal(BackboneKind.ConvNext, network.Kind);
            Assert.Equal([1, 1, 2, 1], network.Config.Depths);
            Assert.Equal([8, 16, 24, 32], network.Config.Dims);
            Assert.Equal(AdaptNetworkHelpers.ImageNet, build.Normalization);
            if (file.EndsWith(".pth", StringComparison.Ordinal))
                Assert.Contains(build.Notes, n => n.Contains("facebookresearch's ConvNeXt keys"));
            else
                Assert.Empty(build.Notes); // 5 classes in the file too: the head is loaded
            using var noGrad = no_grad();
            foreach (var training in new[] { false, true }) // no dropout, drop path or batch statistics: one function
            {
                network.SetTraining(training);
                using var logits = network.Logits(expected["convnext.images"]);
                Assert.True(MaxAbsDiff(logits, expected["convnext.logits"]) < 1e-5, $"{file} training={training}: {MaxAbsDiff(logits, expected["convnext.logits"]):e2}");
            }
        }
        finally
        {
            DisposeAll(expected);
        }
    }

    [Fact]
    public void ConvNextFacebookRenamingFollowsTimm()
    {
        using var t = zeros(1);
        var fb = new[]
        {
            "downsample_layers.0.0.weight", "downsample_layers.0.1.bias", "downsample_layers.2.0.weight", "downsample_layers.3.1.bias",
            "stages.0.0.dwconv.weight", "stages.2.7.pwconv1.weight", "stages.2.7.pwconv2.bias", "stages.1.0.norm.weight", "stages.3.2.gamma",
            "norm.weight", "head.bias",
        }.ToDictionary(k => k, _ => t);
        var renamed = BackboneLoader.FacebookConvNextToTimm(fb).Keys.ToList();
        Assert.Equal(new[]
        {
            "stem.0.weight", "stem.1.bias", "stages.2.downsample.0.weight", "stages.3.downsample.1.bias",
            "stages.0.blocks.0.conv_dw.weight", "stages.2.blocks.7.mlp.fc1.weight", "stages.2.blocks.7.mlp.fc2.bias", "stages.1.blocks.0.norm.weight",
            "stages.3.blocks.2.gamma", "head.norm.weight", "head.fc.bias",
        }, renamed);
    }

    [Fact]
    public void ConvNextWithAnotherClassCountGetsAFreshTimmHeadAndEverythingElseLoaded()
    {
        var build = BackboneLoader.Create(Fixtures.Path("convnext-toy-timm.safetensors"), BackboneKind.Auto, 3, resolution: 32, Full, headSeed: 4);
        using var network = build.Network;
        Assert.Contains(build.Notes, n => n.Contains("head.fc [5, 32]") && n.Contains("new 3-class head"));
        var file = Deft.Clip.Safetensors.Load(Fixtures.Path("convnext-toy-timm.safetensors"));
        try
        {
            foreach (var (name, tensor) in network.SavedState())
            {
                if (name == "head.fc.weight") { Assert.Equal([3L, 32], tensor.shape); Assert.InRange(tensor.std().item<float>(), 0.01, 0.03); continue; }
                if (name == "head.fc.bias") { Assert.True(tensor.eq(0f).all().item<bool>()); continue; }
                Assert.True(BackboneTests.Same(file[name], tensor), name);
            }
        }
        finally
        {
            DisposeAll(file);
        }
    }

    [Fact]
    public void ConvNextWeightsWithAMissingOrForeignTensorAreRejectedNamingIt()
    {
        using var dir = new TempDir("deft-convnext");
        var file = Deft.Clip.Safetensors.Load(Fixtures.Path("convnext-toy-timm.safetensors"));
        try
        {
            var missing = dir.File("missing.safetensors");
            Deft.Clip.Safetensors.Save(missing, file.Where(kv => kv.Key != "stages.2.blocks.1.mlp.fc2.weight"));
            var ex = Assert.Throws<DeftException>(() => BackboneLoader.Create(missing, BackboneKind.Auto, 5, 32, Full, 0));
            Assert.Contains("timm ConvNeXt", ex.Message);
            Assert.Contains("missing key(s): stages.2.blocks.1.mlp.fc2.weight", ex.Message);

            using var grn = zeros(24);
            var v2 = dir.File("v2.safetensors");
            Deft.Clip.Safetensors.Save(v2, file.Append(new("stages.2.blocks.0.mlp.grn.weight", grn)));
            ex = Assert.Throws<DeftException>(() => BackboneLoader.Create(v2, BackboneKind.ConvNext, 5, 32, Full, 0));
            Assert.Contains("unexpected key(s): stages.2.blocks.0.mlp.grn.weight", ex.Message);

            ex = Assert.Throws<DeftException>(() => BackboneLoader.Create(Fixtures.Path("convnext-toy-timm.safetensors"), BackboneKind.ResNet, 5, 32, Full, 0));
            Assert.Contains("--backbone convnext", Deft.Cli.FlagNames.Render(ex));

            ex = Assert.Throws<DeftException>(() => BackboneLoader.Create(Fixtures.Path("convnext-toy-timm.safetensors"), BackboneKind.Auto, 5, 16, Full, 0));
            Assert.Contains("at least 32 px", ex.Message);
        }
        finally
        {
            DisposeAll(file);
        }
    }

    [Fact]
    public void MaeCheckpointWrappedUnderModelLoadsTheEncoderWithAFreshHeadAndMaesStatistics()
    {
        var expected = Expected();
        var build = BackboneLoader.Create(Fixtures.Path("mae-vit-tiny.pth"), BackboneKind.Auto, 5, resolution: null, Full, headSeed: 7);
        using var network = (VitClassifier)build.Network;
        try
        {
            Assert.Equal(BackboneKind.Mae, network.Kind);
            Assert.Equal(new VitConfig(32, 8, 64, 2, 1, 2.0), network.Config);
            Assert.Equal(AdaptNetworkHelpers.ImageNet, build.Normalization);
            Assert.Contains(build.Notes, n => n.Contains("head absent") && n.Contains("new 5-class head"));
            Assert.Contains(build.Notes, n => n.Contains("no classifier head") && n.Contains("vit_base_patch16_224.mae"));
            var state = network.SavedState().ToDictionary(s => s.Name, s => s.Tensor);
            var (w, b) = (state["head.weight"], state["head.bias"]);
            // timm's head for num_classes=C: trunc_normal(0.02), zero bias.
            Assert.True(b.eq(0f).all().item<bool>());
            Assert.InRange(w.std().item<float>(), 0.016, 0.024);
            // Every other weight came from the file: the logits are the reference encoder's features through that head.
            using var noGrad = no_grad();
            network.SetTraining(false);
            using var logits = network.Logits(expected["mae.images"]);
            using var reference = expected["mae.features"].matmul(w.t()).add(b);
            Assert.True(MaxAbsDiff(logits, reference) < 1e-5, $"{MaxAbsDiff(logits, reference):e2}");

            // The same file as a plain ViT: augreg's statistics, the same fresh head.
            using var asVit = BackboneLoader.Create(Fixtures.Path("mae-vit-tiny.pth"), BackboneKind.Vit, 5, null, Full, 7).Network;
            Assert.Equal(BackboneKind.Vit, asVit.Kind);
            using var vitLogits = asVit.Logits(expected["mae.images"]);
            Assert.True(MaxAbsDiff(vitLogits, logits) == 0);
        }
        finally
        {
            DisposeAll(expected);
        }
    }

    [Fact]
    public void MaeLeavesThePretrainingDecoderOutAndVitNamesIt()
    {
        using var dir = new TempDir("deft-mae");
        var file = Deft.Clip.ClipLoader.ReadStateDict(Fixtures.Path("mae-vit-tiny.pth"));
        try
        {
            using var maskToken = zeros(1, 1, 32);
            using var decoderEmbed = zeros(32, 64);
            var full = dir.File("mae_visualize.safetensors");
            Deft.Clip.Safetensors.Save(full, file.Append(new("mask_token", maskToken)).Append(new("decoder_embed.weight", decoderEmbed)));
            var build = BackboneLoader.Create(full, BackboneKind.Mae, 5, null, Full, 0);
            using (build.Network)
            {
                Assert.Equal(BackboneKind.Mae, build.Network.Kind);
                Assert.Contains(build.Notes, n => n.Contains("2 MAE decoder tensor(s)"));
            }
            var ex = Assert.Throws<DeftException>(() => BackboneLoader.Create(full, BackboneKind.Vit, 5, null, Full, 0));
            Assert.Contains("unexpected key(s): ", ex.Message);
            Assert.Contains("decoder_embed.weight", ex.Message);
        }
        finally
        {
            DisposeAll(file);
        }
    }

    [Fact]
    public void RandomPresetsBuildConvNextAndMae()
    {
        var convnext = BackboneLoader.Create("random:convnext-toy@2", BackboneKind.Auto, 3, null, Full, 0);
        using (convnext.Network)
        {
            Assert.Equal(BackboneKind.ConvNext, convnext.Network.Kind);
            Assert.Equal(32, convnext.Network.Resolution);
            Assert.Equal(AdaptNetworkHelpers.ImageNet, convnext.Normalization);
        }
        var mae = BackboneLoader.Create("random:vit-tiny", BackboneKind.Mae, 3, null, Full, 0);
        using (mae.Network)
        {
            Assert.Equal(BackboneKind.Mae, mae.Network.Kind);
            Assert.Equal(AdaptNetworkHelpers.ImageNet, mae.Normalization);
        }
        var ex = Assert.Throws<DeftException>(() => BackboneLoader.Create("random:resnet50", BackboneKind.ConvNext, 3, null, Full, 0));
        Assert.Contains("convnext_tiny, convnext-t, convnext-toy", ex.Message);
    }

    [Fact]
    public void OfficialPhaseTwoOptimizerSettingsForConvNextAndMae()
    {
        var none = new AdaptOptions { Model = "random:convnext-toy", OutputDirectory = "unused" };
        Assert.Equal(new Hyperparameters(OptimizerKind.AdamW, 1e-4, 0, 1e-4), Hyperparameters.For(BackboneKind.ConvNext, none));
        Assert.Equal(new Hyperparameters(OptimizerKind.AdamW, 1e-4, 0, 1e-3), Hyperparameters.For(BackboneKind.Mae, none));
    }

    /// <summary>
    /// A torchvision ResNet-50 state dict (TorchSharp's port of torchvision.models.resnet50, with random weights and
    /// batch-norm statistics), saved as DistributedDataParallel saves it (module. prefix): the loader takes it as
    /// the torchvision/timm layout and computes what torchvision computes (stride on the 3×3 convolution, v1.5).
    /// </summary>
    [Fact]
    public void TorchvisionResNet50StateDictLoadsAndMatchesTorchvisionsForward()
    {
        using var dir = new TempDir("deft-resnet");
        using var g = new Generator(5);
        using var reference = torchvision.models.resnet50(num_classes: 10);
        using (no_grad())
            foreach (var (name, t) in reference.state_dict())
            {
                if (!t.is_floating_point()) continue;
                using var r = name.EndsWith("running_var", StringComparison.Ordinal) ? rand(t.shape, generator: g).add_(0.5)
                    : name.EndsWith("running_mean", StringComparison.Ordinal) || t.dim() == 1 ? randn(t.shape, generator: g).mul_(0.1).add_(name.EndsWith(".weight", StringComparison.Ordinal) ? 1 : 0)
                    : randn(t.shape, generator: g).mul_(Math.Sqrt(1.0 / (t.numel() / t.shape[0])));
                t.copy_(r);
            }
        var path = dir.File("resnet50-ddp.safetensors");
        Deft.Clip.Safetensors.Save(path, reference.state_dict().Where(kv => kv.Value.is_floating_point())
            .Select(kv => new KeyValuePair<string, Tensor>("module." + kv.Key, kv.Value)));

        var build = BackboneLoader.Create(path, BackboneKind.Auto, 10, resolution: 64, Full, headSeed: 0);
        using var ours = (ResNetClassifier)build.Network;
        Assert.Equal(ResNetConfig.ResNet50.Layers, ours.Config.Layers);
        Assert.Empty(build.Notes);
        Assert.Equal(AdaptNetworkHelpers.ImageNet, build.Normalization);
        reference.eval();
        ours.SetTraining(false);
        using var noGrad = no_grad();
        using var images = randn([2, 3, 64, 64], generator: g);
        using var expected = reference.forward(images);
        using var logits = ours.Logits(images);
        using var scale = expected.abs().max();
        Assert.True(MaxAbsDiff(logits, expected) <= 1e-5 * Math.Max(1, scale.item<float>()), $"{MaxAbsDiff(logits, expected):e2} at scale {scale.item<float>():g3}");
    }
}
