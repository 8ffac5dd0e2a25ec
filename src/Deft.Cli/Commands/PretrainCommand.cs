using System.ComponentModel;
using System.Globalization;
using Deft.Data;
using Deft.Pretraining;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Deft.Cli.Commands;

internal sealed class PretrainCommand : Command<PretrainCommand.Settings>
{
    internal sealed class Settings : CommandSettings
    {
        [CommandOption("--mini")]
        [Description("The mini protocol: Fashion-MNIST train images with i mod 3 = 0, generated noisy captions, tiny CLIP.")]
        public bool Mini { get; init; }

        [CommandOption("--data <PATH>")]
        [Description("Fashion-MNIST directory (IDX files). Default: the Debian package's location.")]
        public string? Data { get; init; }

        [CommandOption("--out <DIR>")]
        [Description("Model directory to write (open_clip layout + its own vocabulary).")]
        public string? Out { get; init; }

        [CommandOption("--epochs <N>")] [Description(TrainingOptionTexts.Epochs)] [DefaultValue(5)] public int Epochs { get; init; } = 5;
        [CommandOption("--batch <N>")] [Description(TrainingOptionTexts.Batch)] [DefaultValue(256)] public int Batch { get; init; } = 256;
        [CommandOption("--lr <LR>")] [Description(TrainingOptionTexts.LearningRate)] [DefaultValue(5e-4)] public double LearningRate { get; init; } = 5e-4;
        [CommandOption("--weight-decay <WD>")] [Description("AdamW weight decay.")] [DefaultValue(0.1)] public double WeightDecay { get; init; } = 0.1;
        [CommandOption("--seed <N>")] [Description(TrainingOptionTexts.Seed)] [DefaultValue(0)] public int Seed { get; init; }
        [CommandOption("--warmup <FRACTION>")] [Description("Fraction of the steps with a linear learning-rate warm-up.")] [DefaultValue(0.1)] public double Warmup { get; init; } = 0.1;
        [CommandOption("--threads <N>")] [Description("Intra-op threads (default: one per core).")] public int? Threads { get; init; }

        [CommandOption("--limit <N>")]
        [Description("Use only the first N auxiliary images (quick runs).")]
        public int? Limit { get; init; }

        [CommandOption("--json")]
        [Description("JSON lines instead of a progress bar.")]
        public bool Json { get; init; }

        public override ValidationResult Validate()
        {
            if (!Mini) return ValidationResult.Error("Only --mini is available: it pre-trains on captioned Fashion-MNIST.");
            if (string.IsNullOrWhiteSpace(Out)) return ValidationResult.Error("--out DIR is required.");
            if (Epochs < 1 || Batch < 2) return ValidationResult.Error("--epochs must be ≥ 1 and --batch ≥ 2.");
            return ValidationResult.Success();
        }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var dataPath = settings.Data ?? KnownLocations.FashionMnist()
            ?? throw new DeftException("Fashion-MNIST not found: apt-get install -y dataset-fashion-mnist, or pass --data DIR.");
        var train = DatasetFactory.Open(new DatasetOptions(dataPath, "idx", "train"));
        var test = DatasetFactory.Open(new DatasetOptions(dataPath, "idx", "test"));
        var aux = MiniProtocol.AuxiliaryIndices(train.Count);
        if (settings.Limit is { } limit) aux = aux.Take(limit).ToArray();
        if (settings.Threads is { } threads) TorchSharp.torch.set_num_threads(threads);
        var options = new PretrainOptions(settings.Epochs, settings.Batch, settings.LearningRate, settings.WeightDecay, settings.Warmup, Seed: settings.Seed);
        var result = ProgressRunner.Run<PretrainProgress, MiniPretraining.Result>(settings.Json, "pretrain", (progress, ct) => MiniPretraining.Run(train, aux, options, progress, ct),
            p => (p.Epoch, p.Epochs, p.Step, p.StepsPerEpoch,
                $"loss {p.Loss:0.000} scale {p.LogitScale:0.0} lr {p.LearningRate:0.0e0}"), cancellationToken);
        using var model = result.Model;
        var accuracy = MiniPretraining.ZeroShotAccuracy(model, result.Tokenizer, test, Enumerable.Range(0, test.Count).ToArray());
        PretrainedModelDirectory.Save(settings.Out!, model, result.Tokenizer, new Dictionary<string, string>
        {
            ["recipe"] = $"deft-mini-v{MiniPretraining.RecipeVersion}",
            ["mean"] = "[0.286, 0.286, 0.286]",
            ["std"] = "[0.353, 0.353, 0.353]",
            ["zero_shot_top1"] = accuracy.ToString("0.0000", CultureInfo.InvariantCulture),
        });
        var t = result.Training;
        var summary = new Dictionary<string, object>
        {
            ["out"] = Path.GetFullPath(settings.Out!),
            ["samples"] = t.Samples,
            ["epoch_losses"] = t.EpochLosses,
            ["logit_scale"] = t.FinalLogitScale,
            ["seconds"] = t.Elapsed.TotalSeconds,
            ["seconds_per_epoch"] = t.Elapsed.TotalSeconds / settings.Epochs,
            ["zero_shot_top1"] = accuracy,
        };
        if (settings.Json)
            Console.WriteLine(System.Text.Json.JsonSerializer.Serialize(summary));
        else
            AnsiConsole.MarkupLineInterpolated(
                $"Pre-trained on {t.Samples} pairs in {t.Elapsed.TotalSeconds:0.0} s ({t.Elapsed.TotalSeconds / settings.Epochs:0.0} s/epoch); losses {string.Join(" → ", t.EpochLosses.Select(l => l.ToString("0.000", CultureInfo.InvariantCulture)))}; zero-shot top-1 on the test split [bold]{accuracy:P1}[/]. Model: {settings.Out}");
        return 0;
    }
}
