using Deft.Adaptation;
using Deft.Clip;
using Deft.Data.Transforms;
using Deft.Detection;
using Deft.Methods;
using Deft.Peft;
using Deft.Prompts;
using Deft.Tests.Adaptation;
using Deft.Tests.Detection;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Deft.Tests.Leaks;

/// <summary>
/// Tensor leaks in the training loops: the number of live tensors on the training thread
/// (<see cref="DisposeScopeManager.Statistics"/>, created minus disposed) must not grow from batch to batch. A leak of
/// even one tensor per batch shows as a count that climbs by one every batch; the tests look at 20+ batches.
/// </summary>
public sealed class TrainingLeakTests(ITestOutputHelper output)
{
    private static long Live() => DisposeScopeManager.Statistics.ThreadTotalLiveCount;

    /// <summary>Fails naming the first batch whose count differs from the reference one.</summary>
    private void AssertFlat(IReadOnlyList<long> live, int minimum, string what)
    {
        output.WriteLine($"{what}: live tensors per batch {string.Join(" ", live)}");
        Assert.True(live.Count >= minimum, $"{what}: only {live.Count} batches observed, expected ≥ {minimum}");
        for (var i = 1; i < live.Count; i++)
            Assert.True(live[i] == live[0],
                $"{what}: {live[i]} live tensors at batch {i + 1}, {live[0]} at batch 1 ({live[i] - live[0]:+#;-#;0} in {i} batches): " +
                string.Join(" ", live));
    }

    /// <summary>
    /// Yields pre-made image batches created on the test thread (the real image loader creates its tensors on a
    /// producer thread, which the per-thread statistics would count as foreign), and records the live-tensor count
    /// each time the trainer asks for the next batch, i.e. once the previous step has finished and its batch is disposed.
    /// </summary>
    private sealed class ProbeSource(Tensor images, int batchSize) : TrainingSource
    {
        public List<long> LiveBeforeBatch { get; } = new();
        public long? LiveAtEnd { get; private set; }

        public override int BatchCount => (int)((images.shape[0] + batchSize - 1) / batchSize);

        public override IEnumerable<SourceBatch> TrainEpoch(int epoch, CancellationToken cancellationToken)
        {
            var n = (int)images.shape[0];
            // A fixed per-epoch rotation stands in for the shuffle; every position is visited once per epoch.
            var order = Enumerable.Range(0, n).Select(i => (i + 7 * epoch) % n).ToArray();
            for (var start = 0; start < n; start += batchSize)
            {
                LiveBeforeBatch.Add(Live());
                var positions = order.Skip(start).Take(batchSize).ToArray();
                using var index = tensor(positions.Select(p => (long)p).ToArray());
                var batch = images.index_select(0, index);
                yield return new SourceBatch(positions, batch, null, batch);
            }
            LiveAtEnd = Live();
        }

        public override IEnumerable<SourceBatch> EvalPass(CancellationToken cancellationToken) => throw new NotSupportedException();
    }

    [Fact]
    public void A_deft_training_step_with_an_adapted_tower_leaks_no_tensor()
    {
        // 48 Fashion-MNIST images, batches of 4: 12 steps per epoch, 2 epochs (warm-up, then the selecting branch).
        const int samples = 48, batch = 4;
        var (images, labels) = DetectTestData.Batch(samples);
        using var _ = images;
        using var bundle = ClipBundle.Load(Fixtures.TinyClip, Fixtures.TinyVocabulary);
        var clip = bundle.Model;
        var classes = Enumerable.Range(0, 10).Select(c => $"class {c}").ToArray();
        using var generator = new Generator(0);
        using var prompts = new DualPromptLearner(classes, new PromptOptions(ContextLength: 4), new ClipPromptTokenizer(bundle.Tokenizer),
            clip.TokenEmbedding, clip.Config.Text.ContextLength, generator);
        using var peft = VisionPeft.Create(new PeftOptions(PeftKind.VptDeep, VptLength: 2), clip.Config.Vision, generator);
        using var net = new DeftNetwork(clip, peft, prompts);
        // Every fifth label moved to the next class, true labels known (the trainer then also tracks precision).
        var given = labels.Select((l, i) => i % 5 == 4 ? (int)(l + 1) % 10 : (int)l).ToArray();
        var assignment = new LabelAssignment(Enumerable.Range(0, samples).ToArray(), given, labels.Select(l => (int?)(int)l).ToArray(), 10, "leak test");
        var options = new DetectOptions
        {
            Model = Fixtures.TinyClip, Data = "unused", Format = "idx", OutputDirectory = "unused",
            Peft = new PeftOptions(PeftKind.VptDeep, VptLength: 2), Epochs = 2, Warmup = 1, BatchSize = batch,
        };
        using var sgd = new MomentumSgd(net.Trainables.Select(t => (Tensor)t.Parameter).ToArray(), options.LearningRate, options.Momentum, options.WeightDecay);
        using var source = new ProbeSource(images, batch);
        var trainer = new DeftTrainer(net, assignment, options, source, sgd);
        // One intra-op thread, as detect's thread plan picks for a tower this small.
        var threads = get_num_threads();
        try
        {
            set_num_threads(1);
            trainer.Train();
        }
        finally
        {
            set_num_threads(threads);
        }

        Assert.Equal(2, trainer.State.CompletedEpochs);
        Assert.True(trainer.State.Epochs[^1].Loss < trainer.State.Epochs[0].Loss + 10, "training ran"); // finite, recorded
        // Before the first step the momentum buffers do not exist yet: compare from the second batch on, through the
        // end of the last epoch (24 batches, then the count after the final step).
        var live = source.LiveBeforeBatch.Skip(1).Append(source.LiveAtEnd!.Value).ToList();
        AssertFlat(live, 20, "DeFT training step (VPT-deep)");
        // The first step adds exactly the momentum buffers, one per trainable tensor with a gradient.
        Assert.Equal(net.Trainables.Count, source.LiveBeforeBatch[1] - source.LiveBeforeBatch[0]);
    }

    [Fact]
    public void Detect_on_the_cached_path_leaks_no_tensor_per_batch_nor_per_run()
    {
        using var tmp = new TempDir("leak-detect");
        var labels = DetectTestData.WriteLabelFile(tmp.Path, 64);
        DetectOptions Options(string name) => new()
        {
            Model = DetectTestData.TinyModel,
            Vocab = Fixtures.TinyVocabulary,
            Data = DetectTestData.FashionMnist,
            Format = "idx",
            Labels = labels,
            OutputDirectory = tmp.File(name),
            Peft = new PeftOptions(PeftKind.None),
            Prompts = new PromptOptions(ContextLength: 4),
            // 64 samples in batches of 32: 2 steps per epoch, both reported (the trainer always reports an
            // epoch's first and last step), 12 epochs: 24 observed batches.
            Epochs = 12,
            Warmup = 1,
            BatchSize = 32,
            CacheDirectory = tmp.File("cache"),
            Workers = 1,
        };

        List<long> Run(string name)
        {
            var live = new List<long>();
            var progress = new TestProgress<DetectProgress>(p => { if (p.Phase == "train") live.Add(Live()); });
            var report = DeftDetector.Detect(Options(name), progress);
            Assert.Equal(64, report.Samples.Count);
            return live;
        }

        // First run: computes and stores the feature cache (on the loader's threads), then trains on it.
        var first = Run("first");
        AssertFlat(first, 24, "detect --peft none, cache computed");
        // Second run: loads the cache. Every tensor it created on this thread must be gone when it returns.
        var before = Live();
        var second = Run("second");
        var after = Live();
        AssertFlat(second, 24, "detect --peft none, cache loaded");
        Assert.True(after == before, $"detect (cache loaded) left {after - before} live tensors behind");
        Assert.True(File.Exists(Path.Combine(tmp.Path, "second", DetectionOutputs.SamplesFile)));
    }

    [Fact]
    public void One_adapt_epoch_leaks_no_tensor_per_batch()
    {
        using var dir = new TempDir("leak-adapt");
        // 96 planted images in batches of 4: 24 steps in the one epoch.
        var train = new PlantedColours(96, seed: 5);
        var live = new List<long>();
        var progress = new TestProgress<AdaptProgress>(p => { if (p.Phase == "train") live.Add(Live()); });
        var options = new AdaptOptions
        {
            Model = "random:tiny", OutputDirectory = dir.Path, Epochs = 1, BatchSize = 4, LearningRate = 0.01,
            Augment = AugmentPreset.None, Workers = 1,
        };
        var result = Adapter.Train(options, train, null, progress);
        Assert.Equal(24, result.Epochs[0].Steps);
        // Each batch's image tensor is made on the loader's producer thread and disposed on this one, which the
        // per-thread count sees as −1 per consumed batch (batch k reports after k − 1 batches were disposed): add
        // those back, so what remains is what the training step itself leaves behind.
        var corrected = live.Select((n, k) => n + k).ToList();
        AssertFlat(corrected, 20, "adapt epoch (full fine-tuning, SGD)");
    }
}
