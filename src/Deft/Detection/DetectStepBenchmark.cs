using System.Diagnostics;
using Deft.Clip;
using Deft.Peft;
using Deft.Prompts;
using TorchSharp;
using static TorchSharp.torch;

namespace Deft.Detection;

/// <summary>Settings of <see cref="DetectStepBenchmark.Run"/>.</summary>
public sealed record DetectStepBenchmarkOptions
{
    public string Model { get; init; } = "random:ViT-B-16";
    public string? Vocab { get; init; }
    public PeftOptions Peft { get; init; } = PeftOptions.Default;
    public int Batch { get; init; } = 8;
    public int Steps { get; init; } = 3;
    public int WarmupSteps { get; init; } = 1;
    public int Classes { get; init; } = 10;
    public int ContextLength { get; init; } = 16;
    /// <summary>The image tower's precision; Auto is resolved by <see cref="PrecisionCalibration"/> (the result names the choice).</summary>
    public TowerPrecision Precision { get; init; } = TowerPrecision.Fp32;
    /// <summary>For the frozen-tower path: the number of cached features an epoch visits (epochs/minute is derived).</summary>
    public int EpochSamples { get; init; } = 40_000;
    /// <summary>Intra-op threads; null: what detect would use for training (<see cref="ThreadPlan"/>).</summary>
    public int? Threads { get; init; }
    /// <summary>Encode every prompt in full instead of sharing the classes' common leading tokens.</summary>
    public bool FullText { get; init; }
}

/// <summary>What one measured phase-1 step costs.</summary>
public sealed record DetectStepBenchmarkResult(
    string Model, string Peft, int Batch, int Steps, int Classes, int ContextLength, int Threads, string Precision,
    double SecondsPerStep, double ImagesPerSecond, double FastestStepSeconds, IReadOnlyList<double> StepSeconds, bool CachedFeatures, double? EpochsPerMinute, int EpochSamples,
    long? PeakResidentBytes = null);

/// <summary>
/// Times full DeFT phase-1 steps: image forward and backward through the frozen tower into the PEFT modules, both
/// prompt sets through the text tower, the loss and the SGD step. With <c>--peft none</c> the image side is a cached
/// feature batch (the fast path), and the result includes epochs per minute over <see cref="DetectStepBenchmarkOptions.EpochSamples"/>.
/// </summary>
public static class DetectStepBenchmark
{
    public static DetectStepBenchmarkResult Run(DetectStepBenchmarkOptions o, Action<string>? log = null)
    {
        if (o.Batch < 1 || o.Steps < 1) throw new DeftException($"{Setting.BatchSize} and {Setting.Steps} must be ≥ 1 (got {o.Batch}, {o.Steps}).");
        if (o.Classes < 2) throw new DeftException($"{Setting.ClassCount} must be ≥ 2, got {o.Classes}.");
        using var bundle = ClipBundle.Load(o.Model, o.Vocab);
        var clip = bundle.Model;
        var (precision, note) = TowerPrecisions.Resolve(o.Precision, clip, o.Peft, o.Batch,
            ThreadPlan.Choose(o.Threads, o.Peft, o.Batch, clip.Config.Vision, get_num_threads()).Training, cacheDirectory: null);
        if (note is not null) log?.Invoke(note);
        if (precision == TowerPrecision.Bf16) clip.ToDType(ScalarType.BFloat16, ClipTowers.Vision);
        var names = Enumerable.Range(0, o.Classes).Select(i => CifarNames[i % CifarNames.Length] + (i >= CifarNames.Length ? $" {i / CifarNames.Length}" : "")).ToArray();
        using var generator = new Generator(0);
        using var prompts = new DualPromptLearner(names, new PromptOptions(o.ContextLength), new ClipPromptTokenizer(bundle.Tokenizer),
            clip.TokenEmbedding, clip.Config.Text.ContextLength, generator);
        using var peft = VisionPeft.Create(o.Peft, clip.Config.Vision, generator);
        using var net = new DeftNetwork(clip, peft, prompts) { UseSharedPrefix = !o.FullText };
        using var sgd = new MomentumSgd(net.Trainables.Select(t => (Tensor)t.Parameter).ToArray(), 0.03, 0.9, 5e-4);

        var cached = !o.Peft.AdaptsImageTower;
        var r = clip.Config.Vision.ImageSize;
        using var images = cached ? null : randn([o.Batch, 3, r, r], generator: generator);
        using var features = cached ? randn([o.Batch, clip.Config.EmbedDim], generator: generator) : null;
        using var labels = randint(0, o.Classes, [o.Batch], generator: generator);
        using var complementary = (labels + randint(1, o.Classes, [o.Batch], generator: generator)) % o.Classes;

        void Step()
        {
            using var scope = NewDisposeScope();
            var img = features ?? net.ImageFeatures(images!);
            var (posText, negText) = net.TextFeatures();
            var (pos, neg) = net.Logits(img, posText, negText);
            var loss = DeftObjective.Compute(pos, neg, labels, complementary, warmup: true);
            loss.Loss.backward();
            sgd.Step();
            sgd.ZeroGrad();
        }

        var coreThreads = get_num_threads();
        var threads = ThreadPlan.Choose(o.Threads, o.Peft, o.Batch, clip.Config.Vision, coreThreads, ThreadPlan.TextMacs(clip.Config.Text, net.TextTokensPerStep)).Training;
        var times = new List<double>();
        try
        {
            set_num_threads(threads);
            for (var i = 0; i < o.WarmupSteps; i++) Step();
            for (var i = 0; i < o.Steps; i++)
            {
                var clock = Stopwatch.StartNew();
                Step();
                times.Add(clock.Elapsed.TotalSeconds);
                log?.Invoke($"step {i + 1}/{o.Steps}: {times[^1]:F3} s");
            }
        }
        finally
        {
            set_num_threads(coreThreads);
        }
        var perStep = times.Average();
        double? epochsPerMinute = cached ? 60.0 / (perStep * Math.Ceiling((double)o.EpochSamples / o.Batch)) : null;
        return new DetectStepBenchmarkResult(o.Model, o.Peft.Name, o.Batch, o.Steps, o.Classes, prompts.NumContext, threads,
            precision.ToName(), perStep, o.Batch / perStep, times.Min(), times, cached, epochsPerMinute, o.EpochSamples,
            Native.ProcessMemory.PeakResidentBytes());
    }

    private static readonly string[] CifarNames = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];
}
