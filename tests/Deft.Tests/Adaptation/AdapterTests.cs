using Deft.Cli;
using System.Text.Json.Nodes;
using Deft.Adaptation;
using Deft.Clip;
using Deft.Clip.Tokenization;
using Deft.Data;
using Deft.Data.Transforms;
using Deft.Peft;
using TorchSharp;
using static TorchSharp.torch;

namespace Deft.Tests.Adaptation;

public sealed class AdapterTests
{
    private static AdaptOptions Options(string dir, int epochs = 2, double lr = 0.01) => new()
    {
        Model = "random:tiny",
        OutputDirectory = dir,
        Epochs = epochs,
        BatchSize = 16,
        LearningRate = lr,
        Augment = AugmentPreset.None,
        // The official phase 2 (one learning rate, random head); the defaults have tests of their own.
        Recipe = AdaptRecipe.Official,
        HeadInit = HeadInit.Random,
        Workers = 1,
    };

    private static Dictionary<string, Tensor> Saved(string dir) => Deft.Clip.Safetensors.Load(Path.Combine(dir, AdaptedModel.WeightsFile));

    private static void DisposeAll(Dictionary<string, Tensor> d)
    {
        foreach (var t in d.Values) t.Dispose();
    }

    [Fact]
    public void FullFineTuningLearnsAPlantedSetKeepsTheFrozenPartsAndPredictsWhatItReported()
    {
        using var dir = new TempDir("deft-adapt");
        var train = new PlantedColours(128, seed: 1);
        var test = new PlantedColours(64, seed: 2, prefix: "test");
        var result = Adapter.Train(Options(dir.Path, epochs: 3), train, test);
        Console.WriteLine($"Planted colours 128/64: test accuracy per epoch {string.Join(", ", result.Epochs.Select(e => e.TestAccuracy))}");

        Assert.Equal(BackboneKind.Clip, result.Backbone);
        Assert.Equal(3, result.Epochs.Count);
        Assert.Equal(128, result.SelectedSamples);
        Assert.True(result.LastTestAccuracy > 0.8, $"test accuracy {result.LastTestAccuracy} (chance 0.25)");
        Assert.Equal(result.Epochs.Max(e => e.TestAccuracy), result.BestTestAccuracy);
        Assert.Equal(new Hyperparameters(OptimizerKind.Sgd, 0.01, 0.9, 5e-4), result.Hyperparameters);
        Assert.True(result.TrainImagesPerSecond > 0);
        Assert.False(File.Exists(Path.Combine(dir.Path, "checkpoint.safetensors")));
        Assert.True(File.Exists(Path.Combine(dir.Path, "result.json")));

        // Frozen: patch embedding, class/positional embeddings, ln_pre, ln_post, proj equal the untrained model's.
        using var initial = ClipLoader.Load("random:tiny");
        var before = initial.NamedClipParameters().ToDictionary(p => p.Name, p => (Tensor)p.Parameter);
        var after = Saved(dir.Path);
        try
        {
            string[] frozen = ["visual.conv1.weight", "visual.class_embedding", "visual.positional_embedding", "visual.ln_pre.weight",
                "visual.ln_pre.bias", "visual.ln_post.weight", "visual.ln_post.bias", "visual.proj"];
            foreach (var name in frozen) Assert.True(BackboneTests.Same(before[name], after[name]), name);
            var blocks = after.Keys.Where(k => k.StartsWith("visual.transformer.resblocks.", StringComparison.Ordinal)).ToList();
            Assert.Equal(2 * 12, blocks.Count);
            foreach (var name in blocks) Assert.False(BackboneTests.Same(before[name], after[name]), name);
            Assert.Equal([4L, 128], after["head.weight"].shape);
            Assert.DoesNotContain(after.Keys, k => !k.StartsWith("visual.", StringComparison.Ordinal) && !k.StartsWith("head.", StringComparison.Ordinal));
        }
        finally
        {
            DisposeAll(after);
        }

        // Prediction from the saved directory reproduces the last epoch's test accuracy.
        using var model = AdaptedModel.Load(dir.Path);
        Assert.Equal(train.Classes, model.Classes);
        var predictions = model.Predict(test, workers: 1);
        Assert.Equal(test.Count, predictions.Count);
        Assert.Equal(result.LastTestAccuracy!.Value, (double)predictions.Count(p => p.PredictedLabel == p.GivenLabel) / test.Count, 10);
        Assert.All(predictions, p => Assert.InRange(p.Probability, 0.25, 1.0));
        var csvPath = dir.File("predictions.csv");
        model.WriteCsv(csvPath, predictions);
        var lines = File.ReadAllLines(csvPath);
        Assert.Equal("index,source,predicted_label,predicted_name,probability,given_label,given_name", lines[0]);
        Assert.Equal(test.Count + 1, lines.Length);
        var first = lines[1].Split(',');
        Assert.Equal(["0", test.GetSource(0), predictions[0].PredictedLabel.ToString(), test.Classes[predictions[0].PredictedLabel]], first[..4]);
        Assert.Equal([test.GetLabel(0).ToString(), test.Classes[test.GetLabel(0)]], first[5..]);
    }

    [Fact]
    public void AConstantScheduleKeepsTheLearningRateWhereCosineDecaysIt()
    {
        // main_real_phase2.py never steps its scheduler; main_phase2.py anneals: 0.01 · (1 + cos(π·e/3)) / 2 for e = 0, 1, 2.
        using var dir = new TempDir("deft-adapt-schedule");
        var train = new PlantedColours(32, seed: 1);
        var constant = Adapter.Train(Options(dir.File("constant"), epochs: 3) with { ConstantLearningRate = true }, train, null);
        var cosine = Adapter.Train(Options(dir.File("cosine"), epochs: 3), train, null);
        Assert.Equal([0.01, 0.01, 0.01], constant.Epochs.Select(e => e.LearningRate));
        Assert.Equal([0.01, 0.0075, 0.0025], cosine.Epochs.Select(e => Math.Round(e.LearningRate, 12)));
    }

    [Fact]
    public void FashionMnistSubsetIsLearnedClearlyAboveChance()
    {
        var path = KnownLocations.FashionMnist() ?? throw new InvalidOperationException("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist).");
        var train = new Subset(DatasetFactory.Open(new DatasetOptions(path, "idx", "train")), 300);
        var test = new Subset(DatasetFactory.Open(new DatasetOptions(path, "idx", "test")), 100);
        using var dir = new TempDir("deft-adapt");
        var result = Adapter.Train(Options(dir.Path, epochs: 3) with { BatchSize = 32 }, train, test);
        Console.WriteLine($"Fashion-MNIST 300/100, random:tiny, 3 epochs: test accuracy {result.LastTestAccuracy:0.000}, {result.TrainImagesPerSecond:0} images/s");
        Assert.True(result.LastTestAccuracy > 0.3, $"Fashion-MNIST test accuracy {result.LastTestAccuracy} (chance 0.10)");
    }

    [Fact]
    public void UnselectedSamplesNeverContributeWhateverTheirLabels()
    {
        using var dir = new TempDir("deft-adapt");
        var train = new PlantedColours(48, seed: 3);
        bool Issue(int i) => i % 3 == 0;
        var selA = AdaptTestFiles.WriteSamples(dir.File("a.csv"), train, given: i => Issue(i) ? (train.GetLabel(i) + 1) % 4 : train.GetLabel(i), issue: Issue);
        var selB = AdaptTestFiles.WriteSamples(dir.File("b.csv"), train, given: i => Issue(i) ? (train.GetLabel(i) + 2) % 4 : train.GetLabel(i), issue: Issue);
        // The same noisy labels as A, but every sample selected: training must then differ.
        var selAll = AdaptTestFiles.WriteSamples(dir.File("all.csv"), train, given: i => Issue(i) ? (train.GetLabel(i) + 1) % 4 : train.GetLabel(i));
        var a = Adapter.Train(Options(dir.File("run-a")) with { SelectionPath = selA }, train, null);
        Adapter.Train(Options(dir.File("run-b")) with { SelectionPath = selB }, train, null);
        Adapter.Train(Options(dir.File("run-all")) with { SelectionPath = selAll }, train, null);
        Assert.Equal(32, a.SelectedSamples);
        Assert.Null(a.LastTestAccuracy);

        var wa = Saved(dir.File("run-a"));
        var wb = Saved(dir.File("run-b"));
        var wall = Saved(dir.File("run-all"));
        try
        {
            foreach (var (name, t) in wa) Assert.True(BackboneTests.Same(t, wb[name]), name);
            Assert.False(BackboneTests.Same(wa["head.weight"], wall["head.weight"]));
        }
        finally
        {
            DisposeAll(wa);
            DisposeAll(wb);
            DisposeAll(wall);
        }
    }

    [Fact]
    public void ASelectionWithoutSomeClassWarnsNamingIt()
    {
        using var dir = new TempDir("deft-adapt");
        var train = new PlantedColours(32, seed: 4);
        var sel = AdaptTestFiles.WriteSamples(dir.File("s.csv"), train, issue: i => train.GetLabel(i) == 2);
        var result = Adapter.Train(Options(dir.File("run"), epochs: 1) with { SelectionPath = sel }, train, null);
        var warning = Assert.Single(result.Warnings);
        Assert.Contains("class 2 'blue'", warning);
        Assert.DoesNotContain("'red'", warning);
    }

    [Fact]
    public void ATestSetWithOtherClassesIsRejected()
    {
        using var dir = new TempDir("deft-adapt");
        var train = new PlantedColours(16);
        var test = new PlantedColours(8, classNames: ["red", "green", "navy", "yellow"]);
        var ex = Assert.Throws<DeftException>(() => Adapter.Train(Options(dir.Path), train, test));
        Assert.Contains("classes differ", ex.Message);
        Assert.Contains("class 2 is 'blue' in training, 'navy' in the test set", ex.Message);
    }

    [Fact]
    public void ASelectionFromAnotherDataSetStopsTrainingBeforeItStarts()
    {
        using var dir = new TempDir("deft-adapt");
        var train = new PlantedColours(16, seed: 1);
        var sel = AdaptTestFiles.WriteSamples(dir.File("s.csv"), new PlantedColours(16, seed: 1, prefix: "elsewhere-set"));
        var ex = Assert.Throws<DeftException>(() => Adapter.Train(Options(dir.File("run")) with { SelectionPath = sel }, train, null));
        Assert.Contains("do not match the data set", ex.Message);
        Assert.False(Directory.Exists(dir.File("run")));
    }

    [Fact]
    public void HeadInitTextReproducesTheZeroShotClassifier()
    {
        string[] classes = ["apple", "truck", "dog", "sea", "chair", "house", "tree", "car", "bird", "cat"];
        var build = BackboneLoader.Create("random:tiny", BackboneKind.Clip, classes.Length, null, new PeftOptions(PeftKind.Full), 0);
        using var network = (ClipClassifier)build.Network;
        // A random tower's class token barely sees the image (every image would score the same class); without the
        // class and positional embeddings it attends to the patches only, so predictions vary between images.
        using (no_grad())
            foreach (var (name, p) in network.Clip.NamedClipParameters())
                if (name is "visual.class_embedding" or "visual.positional_embedding") p.zero_();
        var tokenizer = ClipTokenizer.OpenAi();
        using var zeroShot = ZeroShotClassifier.Create(network.Clip, tokenizer, classes, ["a photo of a {}.", "a drawing of a {}."]);
        network.InitializeHeadFromText(zeroShot.ClassEmbeddings);

        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        using var g = new Generator(9);
        var images = randn([24, 3, 32, 32], generator: g);
        var logits = network.Logits(images);
        var features = network.Clip.EncodeImage(images);
        var similarities = zeroShot.Similarities(features);
        Assert.Equal(similarities.argmax(1).data<long>().ToArray(), logits.argmax(1).data<long>().ToArray());
        Assert.True(logits.argmax(1).unique().output.numel() >= 5, "the images should spread over the classes");
        // The documented scale: logits = cosine similarity × ‖f · proj‖ (no logit scale, zero bias).
        Assert.True(logits.allclose(similarities.mul(features.norm(1, keepdim: true)), rtol: 1e-4, atol: 1e-5));
    }

    [Fact]
    public void HeadInitTextThroughTheTrainerStartsFromZeroShot()
    {
        using var dir = new TempDir("deft-adapt");
        var train = new PlantedColours(16);
        // lr 0: the trained head is exactly the initial one.
        var options = Options(dir.Path, epochs: 1, lr: 0) with { HeadInit = HeadInit.Text };
        Adapter.Train(options, train, null);
        var saved = Saved(dir.Path);
        try
        {
            using var clip = ClipLoader.Load("random:tiny");
            using var zeroShot = ZeroShotClassifier.Create(clip, ClipTokenizer.OpenAi(), train.Classes, options.HeadTemplates);
            using var unscaled = zeroShot.ClassEmbeddings.matmul(clip.Visual.Proj.t());
            // The temperature: exp(logit_scale) over the mean ‖ln_post(cls) · proj‖ of the (16 < 256) training images.
            var pipeline = ImagePipeline.Eval(32, ClipBundle.ModelNormalization(ClipLoader.LoadWithInfo("random:tiny")));
            using var images = stack(Enumerable.Range(0, train.Count).Select(i => pipeline.ApplyToTensor(train.GetImage(i))).ToArray());
            using var projected = clip.Visual.EncodePreProjection(images).matmul(clip.Visual.Proj);
            var meanNorm = projected.norm(1).mean().item<float>();
            var scale = Math.Exp(clip.LogitScale.item<float>()) / meanNorm;
            using var expected = unscaled.mul(scale);
            Assert.True(saved["head.weight"].allclose(expected, rtol: 1e-4, atol: 1e-6));
            Assert.Equal(0f, saved["head.bias"].abs().max().item<float>());
        }
        finally
        {
            DisposeAll(saved);
        }
    }

    [Fact]
    public void LoraTrainsOnlyItsModulesAndTheHead()
    {
        using var dir = new TempDir("deft-adapt");
        var train = new PlantedColours(32, seed: 5);
        var options = Options(dir.Path, epochs: 1, lr: 0.05) with { Peft = new PeftOptions(PeftKind.Lora, LoraRank: 4) };
        Adapter.Train(options, train, null);
        using var initial = ClipLoader.Load("random:tiny");
        var saved = Saved(dir.Path);
        try
        {
            foreach (var (name, p) in initial.NamedClipParameters().Where(p => p.Name.StartsWith("visual.", StringComparison.Ordinal)))
                Assert.True(BackboneTests.Same(p, saved[name]), name);
            var lora = saved.Keys.Where(k => k.StartsWith("peft.lora.", StringComparison.Ordinal)).ToList();
            Assert.Equal(8, lora.Count); // 2 blocks × q_A, q_B, v_A, v_B
            // LoRA's B starts at zero; training moved it.
            Assert.True(saved["peft.lora.1.q_B"].abs().max().item<float>() > 0);
        }
        finally
        {
            DisposeAll(saved);
        }
        using var model = AdaptedModel.Load(dir.Path);
        Assert.Equal(train.Count, model.Predict(train, workers: 1).Count);
    }

    [Fact]
    public void AnInterruptedRunResumesToTheSameModelAndOtherRunsNeedForce()
    {
        using var dir = new TempDir("deft-adapt");
        var train = new PlantedColours(40, seed: 6);
        var test = new PlantedColours(16, seed: 7, prefix: "test");
        var straight = Adapter.Train(Options(dir.File("straight")), train, test);

        var runDir = dir.File("interrupted");
        using var cts = new CancellationTokenSource();
        var progress = new TestProgress<AdaptProgress>(p =>
        {
            if (p.Phase == "train" && p.Epoch == 2 && p.Step == 2) cts.Cancel();
        });
        Assert.ThrowsAny<OperationCanceledException>(() => Adapter.Train(Options(runDir), train, test, progress, cts.Token));
        Assert.True(File.Exists(Path.Combine(runDir, "checkpoint.safetensors")));
        Assert.False(File.Exists(Path.Combine(runDir, AdaptedModel.WeightsFile)));

        // Without --resume or --force the directory is protected; --resume with other settings is refused.
        var ex = Assert.Throws<DeftException>(() => Adapter.Train(Options(runDir), train, test));
        Assert.Contains("holds another run", ex.Message);
        ex = Assert.Throws<DeftException>(() => Adapter.Train(Options(runDir) with { Resume = true, Seed = 5 }, train, test));
        Assert.Contains("seed: 0 then, 5 now", ex.Message);

        var resumed = Adapter.Train(Options(runDir) with { Resume = true }, train, test);
        Assert.Equal(1, resumed.ResumedAfterEpoch);
        Assert.Equal(2, resumed.Epochs.Count);
        Assert.Equal(straight.LastTestAccuracy, resumed.LastTestAccuracy);
        var a = Saved(dir.File("straight"));
        var b = Saved(runDir);
        try
        {
            foreach (var (name, t) in a) Assert.True(BackboneTests.Same(t, b[name]), name);
        }
        finally
        {
            DisposeAll(a);
            DisposeAll(b);
        }

        ex = Assert.Throws<DeftException>(() => Adapter.Train(Options(runDir) with { Resume = true }, train, test));
        Assert.Contains("has finished", ex.Message);
        var forced = Adapter.Train(Options(runDir, epochs: 1) with { Force = true }, train, test);
        Assert.Single(forced.Epochs);
    }

    [Fact]
    public void TheLossOptionTrainsOnAllNoisyLabelsWithTheChosenLoss()
    {
        using var dir = new TempDir("deft-adapt");
        var train = new PlantedColours(32, seed: 8);
        var ce = Adapter.Train(Options(dir.File("ce"), epochs: 1), train, null);
        var gce = Adapter.Train(Options(dir.File("gce"), epochs: 1) with { Loss = RobustLossKind.GCE, SelectionPath = "all" }, train, null);
        var elr = Adapter.Train(Options(dir.File("elr"), epochs: 1) with { Loss = RobustLossKind.ELR }, train, null);
        Assert.Equal(32, gce.SelectedSamples);
        Assert.Equal(32, elr.SelectedSamples);
        // GCE's loss is (1 − p^q)/q ≤ 1/q, CE's is −log p: on the same first epoch they differ.
        Assert.NotEqual(ce.Epochs[0].TrainLoss, gce.Epochs[0].TrainLoss, 6);
        Assert.NotEqual(ce.Epochs[0].TrainLoss, elr.Epochs[0].TrainLoss, 6);
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(dir.File("elr"), AdaptedModel.ConfigFile)))!;
        Assert.Equal("elr", (string?)config["training"]!["loss"]);
        Assert.Equal("all", (string?)config["training"]!["selection"]);
    }

    [Fact]
    public void TrainingOnAllUsesTheLabelFilesSamplesAndLabels()
    {
        using var dir = new TempDir("deft-adapt");
        var train = new PlantedColours(40, seed: 12);
        var labels = dir.File("noisy.csv");
        // 24 of the 40 samples, each relabelled to the next class: the model learns the shifted labels.
        File.WriteAllText(labels, "index,label,true_label\n" + string.Concat(Enumerable.Range(0, 24).Select(i => $"{i},{(train.GetLabel(i) + 1) % 4},{train.GetLabel(i)}\n")));
        var result = Adapter.Train(Options(dir.File("run"), epochs: 3) with { LabelsPath = labels }, train, null);
        Assert.Equal(24, result.TrainSamples);
        Assert.Contains(result.Notes, n => n.Contains("covers 24 of the data set's 40 samples"));
        using var model = AdaptedModel.Load(dir.File("run"));
        var predictions = model.Predict(train, indices: Enumerable.Range(24, 16).ToArray(), workers: 1);
        // Unseen samples of the same colours are predicted with the shifted label.
        Assert.True(predictions.Count(p => p.PredictedLabel == (train.GetLabel(p.Index) + 1) % 4) >= 12,
            string.Join(", ", predictions.Select(p => $"{p.Index}:{p.PredictedLabel}/{train.GetLabel(p.Index)}")));

        var ex = Assert.Throws<DeftException>(() => Adapter.Train(Options(dir.File("run2")) with { LabelsPath = labels, SelectionPath = labels }, train, null));
        Assert.Contains("--labels applies to --selection all", FlagNames.Render(ex));
    }

    [Theory]
    [InlineData("random:resnet-tiny", BackboneKind.Auto, BackboneKind.ResNet, OptimizerKind.AdamW, "layer1.0.downsample.0.weight")]
    [InlineData("random:vit-tiny", BackboneKind.Auto, BackboneKind.Vit, OptimizerKind.Sgd, "blocks.1.attn.qkv.weight")]
    [InlineData("random:convnext-toy", BackboneKind.Auto, BackboneKind.ConvNext, OptimizerKind.AdamW, "stages.1.downsample.1.weight")]
    [InlineData("random:vit-tiny", BackboneKind.Mae, BackboneKind.Mae, OptimizerKind.AdamW, "blocks.1.attn.qkv.weight")]
    [InlineData("fixture:convnext-toy-fb.pth", BackboneKind.ConvNext, BackboneKind.ConvNext, OptimizerKind.AdamW, "stages.2.blocks.1.gamma")]
    [InlineData("fixture:mae-vit-tiny.pth", BackboneKind.Auto, BackboneKind.Mae, OptimizerKind.AdamW, "head.weight")]
    public void PhaseTwoBackbonesTrainAndPredictFromTheirDirectory(string spec, BackboneKind backbone, BackboneKind expectedKind, OptimizerKind optimizer, string savedKey)
    {
        using var dir = new TempDir("deft-adapt");
        var train = new PlantedColours(32, seed: 9);
        var test = new PlantedColours(16, seed: 10, prefix: "test");
        var modelSpec = spec.StartsWith("fixture:", StringComparison.Ordinal) ? Fixtures.Path(spec["fixture:".Length..]) : spec;
        var result = Adapter.Train(Options(dir.Path, epochs: 1) with { Model = modelSpec, Backbone = backbone, LearningRate = null, Resolution = 32 }, train, test);
        Assert.Equal(expectedKind, result.Backbone);
        Assert.Equal(optimizer, result.Hyperparameters.Optimizer);
        using var model = AdaptedModel.Load(dir.Path);
        Assert.Equal(expectedKind, model.Backbone);
        var predictions = model.Predict(test, workers: 1);
        Assert.Equal(result.LastTestAccuracy!.Value, (double)predictions.Count(p => p.PredictedLabel == p.GivenLabel) / test.Count, 10);
        var saved = Saved(dir.Path);
        try
        {
            Assert.Contains(savedKey, saved.Keys);
        }
        finally
        {
            DisposeAll(saved);
        }
    }

    [Fact]
    public void AutoAugmentationKeepsTheCifarRecipeAt32PxAndLeavesSmallerImagesUnaugmented()
    {
        Assert.Equal(AugmentSpec.None, Adapter.DefaultAugment(new PlantedColours(2, size: 28)));
        Assert.Equal(AugmentSpec.Cifar, Adapter.DefaultAugment(new PlantedColours(2, size: 32)));
        Assert.Equal(AugmentSpec.Clip, Adapter.DefaultAugment(new PlantedColours(2, size: 96)));
        Assert.Equal(AugmentSpec.None, AugmentSpec.ForImageSize(16));

        // Fashion-MNIST (28 px) at the mini CLIP's 28 px: a ±4-px shift at the image's own scale and a flip, no resize.
        Assert.Equal<ImageStep>([new RandomCropWithPadding(28, 4), new RandomHorizontalFlip()], AugmentSpec.Shift.Build(28, 28).Steps);
        // ... and the official recipe shrinks it: the 32-px crop of the padded 28-px image resized back to 28.
        Assert.Equal<ImageStep>([new RandomCropWithPadding(32, 4), new ResizeTo(28, 28), new RandomHorizontalFlip()], AugmentSpec.Cifar.Build(28, 28).Steps);
        // At a larger model resolution the shifted crop is resized up.
        Assert.Equal<ImageStep>([new RandomCropWithPadding(28, 4), new ResizeTo(224, 224), new RandomHorizontalFlip()], AugmentSpec.Shift.Build(28, 224).Steps);
        // CIFAR (32 px) keeps exactly the official steps, and shift would be the same there.
        Assert.Equal(ImagePipeline.CifarTrain(224).Steps, AugmentSpec.Cifar.Build(32, 224).Steps);
        Assert.Equal(ImagePipeline.CifarTrain(224).Steps, AugmentSpec.Shift.Build(32, 224).Steps);
    }

    [Fact]
    public void AugmentStepListsParseIntoTheirPipelinesAndBadOnesAreRefused()
    {
        Assert.Equal(AugmentSpec.Cifar, AugmentSpec.Parse(" CIFAR "));
        Assert.Equal(AugmentSpec.Cifar, (AugmentSpec)AugmentPreset.Cifar);
        Assert.Equal(AugmentSpec.Cifar.Build(28, 28).Steps, AugmentSpec.Parse("crop:32:4+flip").Build(28, 28).Steps);
        Assert.Equal<ImageStep>([new CenterCrop(32, 32), new ResizeTo(28, 28)], AugmentSpec.Parse("center:32").Build(28, 28).Steps);
        // Flip only: the evaluation transform, then the flip.
        Assert.Equal<ImageStep>([.. ImagePipeline.Eval(28).Steps, new RandomHorizontalFlip()], AugmentSpec.Parse("flip").Build(28, 28).Steps);
        Assert.Equal(ImagePipeline.Eval(28).Steps, AugmentSpec.None.Build(28, 28).Steps);
        foreach (var bad in new[] { "crop:28", "crop:0:4", "spin", "crop:28:4+", "center:x" })
            Assert.Contains("Valid values: auto, none, cifar, clip, shift", Assert.Throws<DeftException>(() => AugmentSpec.Parse(bad)).Message);

        // center:32 on a 28-px image: the image sits in the middle of a zero border (2 px each side) and is shrunk back to 28.
        var image = new RgbImage(28, 28, Enumerable.Repeat((byte)255, 28 * 28 * 3).ToArray());
        var pixels = AugmentSpec.Parse("center:32").Build(28, 28, new Normalization(new(0, 0, 0), new(1, 1, 1))).Apply(image);
        Assert.True(pixels[0] < 0.1f, $"corner {pixels[0]}: padding");
        Assert.Equal(1f, pixels[14 * 28 + 14], 3);
    }

    [Fact]
    public void ClipRunsDefaultToTheZeroShotHeadAndTheDefaultRecipeAndOfficialGivesBothBack()
    {
        var plain = new AdaptOptions { Model = "m", OutputDirectory = "o" };
        Assert.Equal(HeadInit.Text, Adapter.ResolveHeadInit(plain, BackboneKind.Clip));
        Assert.Equal(AdaptRecipes.Default, Adapter.ResolveRecipe(plain, BackboneKind.Clip));
        Assert.Equal(HeadInit.Random, Adapter.ResolveHeadInit(plain with { HeadInit = HeadInit.Random }, BackboneKind.Clip));
        Assert.Equal(HeadInit.Random, Adapter.ResolveHeadInit(plain with { Recipe = AdaptRecipe.Official }, BackboneKind.Clip));
        Assert.Equal(HeadInit.Text, Adapter.ResolveHeadInit(plain with { Recipe = AdaptRecipe.Official, HeadInit = HeadInit.Text }, BackboneKind.Clip));
        Assert.Equal(HeadInit.Random, Adapter.ResolveHeadInit(plain, BackboneKind.ResNet));
        Assert.Equal(AdaptRecipe.Official, Adapter.ResolveRecipe(plain, BackboneKind.Vit));

        Assert.Equal(AdaptRecipe.LpFt, AdaptRecipes.Parse("LP-FT"));
        Assert.Equal("low-tower-lr", AdaptRecipe.LowTowerLr.ToName());
        Assert.Contains("Valid values: official, lp-ft, low-tower-lr, linear-probe", Assert.Throws<DeftException>(() => AdaptRecipes.Parse("fast")).Message);
        Assert.Equal(new RecipeSettings(1, 0), AdaptRecipe.Official.Settings());
        Assert.Equal(new RecipeSettings(0.1, 0), AdaptRecipe.LowTowerLr.Settings());
        Assert.Equal(new RecipeSettings(0.5, 2), AdaptRecipe.LowTowerLr.Settings(plain with { TowerLearningRateScale = 0.5, HeadOnlyEpochs = 2 }));
    }

    [Fact]
    public void TheDefaultRunStartsFromZeroShotAndReportsItsTestAccuracyBeforeEpochOne()
    {
        // The repository's tiny CLIP (32 px) with its own vocabulary; lr 0 keeps the starting model through the epoch.
        using var dir = new TempDir("deft-adapt");
        string[] names = ["apple", "truck", "dog", "sea"];
        var train = new PlantedColours(24, seed: 3, classNames: names);
        var test = new PlantedColours(40, seed: 4, prefix: "test", classNames: names);
        var options = new AdaptOptions
        {
            Model = Fixtures.TinyClip, Vocabulary = Fixtures.TinyVocabulary, OutputDirectory = dir.Path, Epochs = 1, BatchSize = 8,
            LearningRate = 0, Workers = 1,
        };
        var result = Adapter.Train(options, train, test);
        Assert.Equal(HeadInit.Text, result.HeadInit);
        Assert.Equal(AdaptRecipes.Default, result.Recipe);
        Assert.Equal("cifar", result.Augment);

        // The zero-shot classifier, computed here from the text tower: its accuracy on the test set.
        using var clip = ClipLoader.Load(Fixtures.TinyClip);
        using var zeroShot = ZeroShotClassifier.Create(clip, Fixtures.TinyTokenizer(), names, options.HeadTemplates);
        var pipeline = ImagePipeline.Eval(32, ClipBundle.ModelNormalization(ClipLoader.LoadWithInfo(Fixtures.TinyClip)));
        using var images = stack(Enumerable.Range(0, test.Count).Select(i => pipeline.ApplyToTensor(test.GetImage(i))).ToArray());
        long[] predicted;
        using (no_grad())
        using (var similarities = zeroShot.Similarities(clip.EncodeImage(images)))
            predicted = similarities.argmax(1).data<long>().ToArray();
        var expected = (double)Enumerable.Range(0, test.Count).Count(i => predicted[i] == test.GetLabel(i)) / test.Count;
        Console.WriteLine($"tiny CLIP zero-shot on planted colours: {expected}");
        Assert.Equal(expected, result.StartTestAccuracy!.Value, 12);
        // lr 0: the trained model is the starting one.
        Assert.Equal(expected, result.LastTestAccuracy!.Value, 12);
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(dir.Path, "result.json")))!;
        Assert.Equal(expected, (double)json["start_test_accuracy"]!, 12);
        Assert.Equal("low-tower-lr", (string?)json["recipe"]);

        // A random head has no zero-shot accuracy to report.
        var random = Adapter.Train(options with { OutputDirectory = dir.File("random"), HeadInit = HeadInit.Random }, train, test);
        Assert.Null(random.StartTestAccuracy);
        Assert.Null(JsonNode.Parse(File.ReadAllText(Path.Combine(dir.File("random"), "result.json")))!["start_test_accuracy"]);
    }

    [Fact]
    public void GroupedOptimizerStepsTheTowerAtItsFraction()
    {
        using var tower = new TorchSharp.Modules.Parameter(ones(3));
        using var head = new TorchSharp.Modules.Parameter(ones(2));
        using var optimizer = new GroupedOptimizer(OptimizerKind.Sgd, [("t", tower)], [("h", head)], 0.1, 0.1, 0, 0);
        tower.grad = ones(3);
        head.grad = ones(2);
        optimizer.Step();
        Assert.Equal([0.99f, 0.99f, 0.99f], tower.data<float>().ToArray());
        Assert.Equal([0.9f, 0.9f], head.data<float>().ToArray());
        optimizer.LearningRate = 0.2;
        Assert.Equal(0.2, optimizer.LearningRate);
        Assert.Equal(0.02, optimizer.TowerLearningRate, 12);
    }

    [Theory]
    [InlineData(AdaptRecipe.LinearProbe, 2)]
    [InlineData(AdaptRecipe.LpFt, 1)]
    public void RecipesThatFreezeTheTowerLeaveItUntouchedWhileTheHeadLearns(AdaptRecipe recipe, int epochs)
    {
        using var dir = new TempDir("deft-adapt");
        var train = new PlantedColours(32, seed: 5);
        var result = Adapter.Train(Options(dir.Path, epochs: epochs, lr: 0.05) with { Recipe = recipe }, train, null);
        Assert.Equal(recipe, result.Recipe);
        using var initial = ClipLoader.Load("random:tiny");
        var saved = Saved(dir.Path);
        try
        {
            foreach (var (name, p) in initial.NamedClipParameters().Where(p => p.Name.StartsWith("visual.", StringComparison.Ordinal)))
                Assert.True(BackboneTests.Same(p, saved[name]), name);
            Assert.True(result.Epochs[^1].TrainLoss < result.Epochs[0].TrainLoss || epochs == 1);
        }
        finally
        {
            DisposeAll(saved);
        }
        // One epoch more and LP-FT's tower trains.
        if (recipe == AdaptRecipe.LpFt)
        {
            Adapter.Train(Options(dir.File("two"), epochs: 2, lr: 0.05) with { Recipe = recipe }, train, null);
            var after = Saved(dir.File("two"));
            try
            {
                Assert.False(BackboneTests.Same(initial.NamedClipParameters().First(p => p.Name == "visual.transformer.resblocks.0.attn.in_proj_weight").Parameter,
                    after["visual.transformer.resblocks.0.attn.in_proj_weight"]));
            }
            finally
            {
                DisposeAll(after);
            }
        }
    }

    [Fact]
    public void RecipesOtherThanOfficialAreRefusedForOtherBackbones()
    {
        using var dir = new TempDir("deft-adapt");
        var ex = Assert.Throws<DeftException>(() => Adapter.Train(Options(dir.File("a")) with { Model = "random:resnet-tiny", Recipe = AdaptRecipe.LowTowerLr }, new PlantedColours(8), null));
        Assert.Contains("--recipe low-tower-lr", FlagNames.Render(ex));
    }

    [Fact]
    public void PeftAndTextHeadAreRefusedForOtherBackbones()
    {
        using var dir = new TempDir("deft-adapt");
        var train = new PlantedColours(8);
        var ex = Assert.Throws<DeftException>(() => Adapter.Train(Options(dir.File("a")) with { Model = "random:resnet-tiny", Peft = new PeftOptions(PeftKind.Lora) }, train, null));
        Assert.Contains("--peft applies to the CLIP backbone only", FlagNames.Render(ex));
        ex = Assert.Throws<DeftException>(() => Adapter.Train(Options(dir.File("b")) with { Model = "random:vit-tiny", HeadInit = HeadInit.Text }, train, null));
        Assert.Contains("--head-init text", FlagNames.Render(ex));
    }
}
