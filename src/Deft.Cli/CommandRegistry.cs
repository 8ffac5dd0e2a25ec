using Deft.Cli.Commands;
using Spectre.Console.Cli;

namespace Deft.Cli;

/// <summary>
/// Every command `deft` has, in the order its help lists them: one <see cref="CommandList.Add{TCommand}"/> per
/// command, with its description and examples (without the leading "deft"); "a b" puts b under the branch a.
/// </summary>
internal static class CommandRegistry
{
    public static CommandList Commands { get; } = Build();

    /// <summary>
    /// The top-level help's examples: the main flow, from looking at the data to a model trained on what detect kept
    /// (detect writes report.html beside samples.csv).
    /// </summary>
    public static IReadOnlyList<string> MainFlowExamples { get; } =
    [
        "data info --data ./images --format folder",
        "detect --model ~/models/clip-vit-base-patch16 --data ./images --format folder --out runs/mine",
        "adapt --model ~/models/clip-vit-base-patch16 --data ./images --format folder --selection runs/mine/samples.csv --test ./test-images --out runs/mine-adapt",
        "predict --model-dir runs/mine-adapt --data ./new-images --format folder --out predictions.csv",
        "demo",
    ];

    private static CommandList Build()
    {
        var commands = new CommandList();
        commands.Add<AdaptCommand>("adapt", "DeFT phase 2: fine-tune a pre-trained model on the samples the detector selected as clean (or on all noisy labels with a robust loss).",
        examples: [
            "adapt --model ViT-B-16.pt --data ./cifar-10 --format cifar10 --selection runs/detect/samples.csv --test ./cifar-10 --out runs/adapt",
            "adapt --model random:tiny --data /usr/share/datasets/fashion-mnist --format idx --selection runs/detect/samples.csv --test /usr/share/datasets/fashion-mnist --out runs/adapt --epochs 3",
            "adapt --model resnet50.safetensors --data ./cifar-10 --format cifar10 --selection all --labels noisy.csv --loss gce --test ./cifar-10 --out runs/gce --resolution 32",
            "adapt --model ViT-B-16.pt --data ./cifar-10 --format cifar10 --selection samples.csv --peft lora --out runs/lora --resume",
        ]);
        commands.Branch("bench", "Measure speed on this machine: the image encoder, matrix products, DeFT steps, pre-training; and the mini benchmark.");
        commands.Add<BenchDetectStepCommand>("bench detect-step", "Time full DeFT phase-1 steps (image forward/backward into PEFT, both prompt sets through the text tower, SGD).",
        examples: ["bench detect-step --model random:ViT-B-16 --peft vpt-deep --batch 8", "bench detect-step --model random:ViT-B-16 --peft none --batch 64 --steps 20 --json"]);
        commands.Add<BenchEncoderCommand>("bench encoder", "Measure CLIP image-encoder throughput: warm-up, then timed forward passes under no_grad.",
        examples: ["bench encoder --model random:ViT-B-16 --dtype bf16", "bench encoder --model random:ViT-B-16 --dtype fp32 --batch 8 --seconds 20 --json"]);
        commands.Add<BenchGemmCommand>("bench gemm", "Time the image tower's largest matrix product in fp32, bf16 and fp16: the GFLOP/s each dtype reaches on this CPU and the encoder images/s it allows at most.",
        examples: ["bench gemm", "bench gemm --preset ViT-L-14 --batch 4 --json"]);
        commands.Add<BenchMiniCommand>("bench mini", "The Fashion-MNIST mini benchmark: DeFT (VPT-deep and cached features) and the baselines per noise setting; writes docs/results/mini.md and .json.",
        examples: ["bench mini", "bench mini --settings sym-0.4 --samples 10000 --methods deft,deft-cached,label-match"]);
        commands.Add<BenchPretrainCommand>("bench pretrain", "Measure contrastive pre-training steps of the mini protocol's tiny CLIP on random data (seconds per step, pairs/s, breakdown).",
        examples: ["bench pretrain --batch 256 --steps 10"]);
        commands.Branch("cache", "The image-feature cache of --peft none and the frozen-feature methods.");
        commands.Add<CacheMergeCommand>("cache merge", "Merge the feature shards that `detect --shard I/N` wrote (all N of a set) into the cache entry one unsharded run writes; detect then loads it instead of encoding.",
        examples: ["cache merge --cache-dir /shared/deft-cache", "cache merge --keep-shards --json"]);
        commands.Add<CompareCommand>("compare", "Compare detect runs (any --method) on the same labels: precision, recall, F1, AUROC, estimated noise rate, wall time, phase-2 accuracy.",
        examples:
        [
            "compare runs/c10-deft runs/c10-label-match runs/c10-small-loss",
            "compare runs/c10-* --out table.md",
            "compare runs/c10-deft runs/c10-gmm --json",
        ]);
        commands.Branch("data", "Inspect a data set.");
        commands.Add<DataInfoCommand>("data info", "Summarise a data set split: samples, classes and their counts, image sizes, unreadable images.",
        examples: [
            "data info --data /usr/share/datasets/fashion-mnist --format idx --split train",
            "data info --data ./images --format folder --on-bad-image skip --json",
            "data info --data ./train.csv --format csv --classes ./classes.txt",
        ]);
        commands.Add<DemoCommand>("demo", "The embedded demo: pre-train a tiny CLIP on captioned Fashion-MNIST (cached), inject 40% symmetric noise into 10,000 other images, detect (Deft's default, the paper's DeFT, CLIP label-match), adapt, compare with training on all noisy labels.",
        examples: ["demo", "demo --out runs/demo --samples 10000"]);
        commands.Add<DetectCommand>("detect", "Phase 1: find mislabeled images with CLIP. Default --method clip-posterior (CLIP's zero-shot prior and a label-noise channel fitted to your labels: the best F1 on every noise type of the mini benchmark, seconds on a CPU); --method deft is the paper's dual prompts with PEFT.",
        examples:
        [
            "detect --model ViT-B-16.safetensors --data data/cifar-10-batches-py --format cifar10 --labels noisy.csv --out runs/c10",
            "detect --method deft --peft vpt-deep --model ViT-B-16.safetensors --data data/cifar-10-batches-py --format cifar10 --labels noisy.csv --out runs/c10-deft",
            "detect --method deft --model random:tiny --data /usr/share/datasets/fashion-mnist --format idx --peft none --epochs 20 --out runs/fm",
            "detect --method small-loss --noise-rate 0.4 --model ViT-B-16.safetensors --data data/cifar-10-batches-py --format cifar10 --labels noisy.csv --out runs/c10-small-loss",
        ]);
        commands.Add<DoctorCommand>("doctor", "Check that this machine can run Deft: .NET, TorchSharp's native library, CPU, data.",
        examples: ["doctor", "doctor --fix"]);
        commands.Add<EmbedCommand>("embed", "Write CLIP image and text features (not normalised, fp32) to a safetensors file.",
        examples: [
            "embed --model random:tiny --synthetic 16 --texts prompts.txt --out features.safetensors",
            "embed --model runs/mini-clip --data /usr/share/datasets/fashion-mnist --format idx --split test --limit 1000 --out f.safetensors",
        ]);
        commands.Add<NoiseCommand>("noise", "Make noisy labels (sym, asym, asym-cifar10, pairflip, str, idn, or from a file) and write a label file.",
        examples:
        [
            "noise --data /usr/share/datasets/fashion-mnist --format idx --mode sym --ratio 0.4 --seed 1 --out runs/sym40.csv",
            "noise --data /usr/share/datasets/fashion-mnist --format idx --mode idn --ratio 0.2 --out runs/idn20.csv --json",
            "noise --data data/cifar100 --format cifar100 --mode file --labels-file CIFAR-100_human.csv --out runs/c100n.csv",
        ]);
        commands.Add<PredictCommand>("predict", "Classify a data set with a model fine-tuned by 'deft adapt'; writes predictions.csv.",
        examples: [
            "predict --model-dir runs/adapt --data /usr/share/datasets/fashion-mnist --format idx --out predictions.csv",
            "predict --model-dir runs/adapt --data ./photos --format folder --split train --out photos.csv --json",
        ]);
        commands.Add<PretrainCommand>("pretrain", "Contrastive CLIP pre-training from image–caption pairs (the mini protocol: captioned Fashion-MNIST).",
        examples: ["pretrain --mini --data /usr/share/datasets/fashion-mnist --out runs/mini-clip"]);
        commands.Add<ReproduceCommand>("reproduce", "Reproduce a table row of the DeFT paper: check the data root, run noise/detect/adapt (resuming where a run stopped) and print the paper's figure beside ours.",
        examples: [
            "reproduce --list",
            "reproduce --dry-run",
            "reproduce cifar100-sym-0.2 --root ~/data/cifar-100 --dry-run",
            "reproduce cifar100n --root ~/data/cifar-100 --model ~/models/clip-vit-base-patch16",
            "reproduce webvision --root ~/data/webvision --model ~/models/clip-vit-base-patch16 --dry-run --images-per-second 40",
        ]);
        commands.Add<RunCommand>("run", "DeFT end to end: detect label issues (phase 1), then fine-tune on the samples kept as clean (phase 2); one directory, one summary.",
        examples: ["run --model runs/mini-clip --data /usr/share/datasets/fashion-mnist --format idx --labels noisy.csv --vpt-len 4 --n-ctx 8 --epochs 5 --adapt-epochs 5 --out runs/fm-run"]);
        commands.Add<ScoreCommand>("score", "Apply a trained detector (a `deft detect` output directory) to data: label quality of every sample in one deterministic pass.",
        examples: ["score --run runs/c10 --data data/cifar-10-batches-py --format cifar10 --split test", "score --run runs/fm --data /usr/share/datasets/fashion-mnist --format idx --labels new.csv --out runs/fm-new"]);
        commands.Add<SubsampleCommand>("subsample", "Draw a class-balanced subset of a split (the official Clothing1M loader's draw) and write it as a label file for --labels.",
        examples: ["subsample --data ~/data/clothing1m --format clothing1m --size 32000 --seed 0 --out runs/clothing1m/subsample/labels.csv"]);
        commands.Add<ZeroShotCommand>("zero-shot", "CLIP zero-shot classification of a data set: top-1/top-5 and per-class accuracy (templates are averaged).",
        examples: ["zero-shot --model runs/mini-clip --data /usr/share/datasets/fashion-mnist --format idx --split test"]);
        return commands;
    }
}

/// <summary>The commands as data, so the CLI can configure Spectre from them and look a command line's command up.</summary>
internal sealed class CommandList
{
    /// <summary>One command: its path ("detect", "bench mini") and type; <see cref="Configure"/> is its AddCommand call.</summary>
    internal sealed record Entry(string Path, Type CommandType, Action<IConfigurator> AddToRoot, Action<IConfigurator<CommandSettings>> AddToBranch);

    private readonly List<Entry> _entries = [];
    private readonly Dictionary<string, string> _branches = new(StringComparer.Ordinal);

    public IReadOnlyList<Entry> Entries => _entries;

    /// <summary>The branches ("bench", "data") and their descriptions.</summary>
    public IReadOnlyDictionary<string, string> Branches => _branches;

    public void Branch(string name, string description) => _branches.Add(name, description);

    public void Add<TCommand>(string path, string description, string[]? examples = null) where TCommand : class, ICommand, ICommandLimiter<CommandSettings>
    {
        var words = path.Split(' ');
        if (words.Length > 2 || (words.Length == 2 && !_branches.ContainsKey(words[0])))
            throw new InvalidOperationException($"'{path}': a command is a name or 'branch name' under a declared branch.");
        if (_entries.Any(e => e.Path == path)) throw new InvalidOperationException($"'{path}' is registered twice.");
        var name = words[^1];
        var exampleWords = (examples ?? []).Select(e => e.Split(' ', StringSplitOptions.RemoveEmptyEntries)).ToArray();
        _entries.Add(new Entry(path, typeof(TCommand),
            root => Describe(root.AddCommand<TCommand>(name), description, exampleWords),
            branch => Describe(branch.AddCommand<TCommand>(name), description, exampleWords)));
    }

    private static void Describe(ICommandConfigurator command, string description, string[][] examples)
    {
        command.WithDescription(description);
        foreach (var example in examples) command.WithExample(example);
    }

    /// <summary>Adds every command to <paramref name="config"/>, the branches' ones inside their AddBranch.</summary>
    public void Configure(IConfigurator config)
    {
        var added = new HashSet<string>(StringComparer.Ordinal);
        foreach (var entry in _entries)
        {
            if (!entry.Path.Contains(' ')) { entry.AddToRoot(config); continue; }
            var branch = entry.Path.Split(' ')[0];
            if (!added.Add(branch)) continue;
            config.AddBranch(branch, b =>
            {
                b.SetDescription(_branches[branch]);
                foreach (var member in _entries.Where(e => e.Path.StartsWith(branch + " ", StringComparison.Ordinal))) member.AddToBranch(b);
            });
        }
    }

    /// <summary>The command <paramref name="args"/> names (the longest path it starts with), if any.</summary>
    public Entry? Find(IReadOnlyList<string> args) =>
        _entries.Select(e => (Entry: e, Words: e.Path.Split(' ')))
            .Where(x => x.Words.Length <= args.Count && x.Words.Select((w, i) => w == args[i]).All(b => b))
            .OrderByDescending(x => x.Words.Length)
            .Select(x => x.Entry)
            .FirstOrDefault();
}
