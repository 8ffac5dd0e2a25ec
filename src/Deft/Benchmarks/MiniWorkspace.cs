using System.Globalization;
using Deft.Data;
using Deft.Noise;
using Deft.Pretraining;

namespace Deft.Benchmarks;

/// <summary>One noise setting of the mini protocol, e.g. sym 0.4.</summary>
public sealed record MiniSetting(NoiseMode Mode, double Ratio)
{
    public string Name => string.Create(CultureInfo.InvariantCulture, $"{Mode.Name()}-{Ratio:0.0#}");

    /// <summary>The protocol's settings: sym 0.2 / 0.4 / 0.6, asym 0.4, idn 0.4.</summary>
    public static IReadOnlyList<MiniSetting> All { get; } =
    [
        new(NoiseMode.Sym, 0.2), new(NoiseMode.Sym, 0.4), new(NoiseMode.Sym, 0.6), new(NoiseMode.Asym, 0.4), new(NoiseMode.Idn, 0.4),
    ];

    /// <summary>"sym-0.4" → the setting; the error lists the valid names.</summary>
    public static MiniSetting Parse(string name)
    {
        var dash = name.LastIndexOf('-');
        if (dash > 0 && double.TryParse(name[(dash + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture, out var ratio))
        {
            var mode = NoiseModes.Parse(name[..dash]);
            if (mode != NoiseMode.File) return new MiniSetting(mode, ratio);
        }
        throw new DeftException($"Unknown setting '{name}'. Use MODE-RATIO, e.g. {string.Join(", ", All.Select(s => s.Name))}.");
    }
}

/// <summary>
/// The files the mini protocol shares between runs: the Fashion-MNIST splits, the pre-trained tiny CLIP (cached,
/// keyed by recipe version and options) and the noisy label files of the downstream images.
/// </summary>
public sealed class MiniWorkspace
{
    private MiniWorkspace(string fashionMnist, string cacheDirectory, IImageDataset train, IImageDataset test)
    {
        FashionMnist = fashionMnist;
        CacheDirectory = cacheDirectory;
        Train = train;
        Test = test;
    }

    public string FashionMnist { get; }
    public string CacheDirectory { get; }
    public IImageDataset Train { get; }
    public IImageDataset Test { get; }

    /// <summary>$DEFT_CACHE, else ~/.cache/deft.</summary>
    public static string DefaultCacheDirectory() =>
        KnownLocations.CacheDirectory("DEFT_CACHE", Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "deft"));

    public static MiniWorkspace Open(string? fashionMnist = null, string? cacheDirectory = null)
    {
        var path = fashionMnist ?? KnownLocations.FashionMnist()
            ?? throw new DeftException($"Fashion-MNIST not found: apt-get install -y dataset-fashion-mnist, or pass {Setting.Data} DIR.");
        var train = DatasetFactory.Open(new DatasetOptions(path, "idx", "train"));
        var test = DatasetFactory.Open(new DatasetOptions(path, "idx", "test"));
        return new MiniWorkspace(path, cacheDirectory ?? DefaultCacheDirectory(), train, test);
    }

    /// <summary>
    /// The train and test splits with the prompt class names of <paramref name="classesFile"/> (as
    /// <see cref="MiniRuns.WriteClassNames"/> writes them): phase 2's zero-shot head is built from the data set's class
    /// names, and the tiny CLIP was pre-trained on these ("t-shirt", not IDX's "T-shirt/top": 74.3% zero-shot against 83.5%).
    /// </summary>
    public (IImageDataset Train, IImageDataset Test) WithPromptNames(string classesFile) =>
        (DatasetFactory.Open(new DatasetOptions(FashionMnist, "idx", "train", ClassesFile: classesFile)),
         DatasetFactory.Open(new DatasetOptions(FashionMnist, "idx", "test", ClassesFile: classesFile)));

    /// <summary>The first <paramref name="limit"/> downstream indices (all 40,000 when null).</summary>
    public IReadOnlyList<int> Downstream(int? limit = null)
    {
        var all = MiniProtocol.DownstreamIndices(Train.Count);
        return limit is { } n && n < all.Count ? all.Take(n).ToArray() : all;
    }

    /// <summary>
    /// The pre-trained tiny CLIP's directory, training it first when the cache has none for this recipe
    /// (minutes on 2 cores; later calls reuse it). Returns (directory, whether it was trained now).
    /// </summary>
    public (string Directory, bool Trained) EnsurePretrainedModel(PretrainOptions options, IProgress<PretrainProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        var key = string.Create(CultureInfo.InvariantCulture,
            $"mini-clip-v{MiniPretraining.RecipeVersion}-e{options.Epochs}-b{options.BatchSize}-lr{options.LearningRate:0.####e0}-wd{options.WeightDecay}-w{options.WarmupFraction}-s{options.Seed}");
        var dir = Path.Combine(CacheDirectory, key);
        if (File.Exists(Path.Combine(dir, PretrainedModelDirectory.WeightsFile)) && File.Exists(Path.Combine(dir, PretrainedModelDirectory.ConfigFile)))
            return (dir, false);
        var result = MiniPretraining.Run(Train, MiniProtocol.AuxiliaryIndices(Train.Count), options, progress, cancellationToken);
        using var model = result.Model;
        PretrainedModelDirectory.Save(dir, model, result.Tokenizer, new Dictionary<string, string>
        {
            ["recipe"] = key,
            ["mean"] = "[0.286, 0.286, 0.286]",
            ["std"] = "[0.353, 0.353, 0.353]",
        });
        return (dir, true);
    }

    /// <summary>Injects <paramref name="setting"/>'s noise into <paramref name="downstream"/> and writes the label file.</summary>
    public NoisyLabels WriteNoisyLabels(MiniSetting setting, IReadOnlyList<int> downstream, ulong seed, string path)
    {
        var subset = new SubsetDataset(Train, downstream);
        var noisy = LabelNoise.Apply(subset, new NoiseOptions(setting.Mode, setting.Ratio, seed));
        LabelFile.Write(path, downstream, noisy.Labels, noisy.TrueLabels);
        return noisy;
    }
}
