using System.ComponentModel;
using System.Globalization;
using Deft.Adaptation;
using Deft.Cli.Binding;
using Deft.Data;
using Deft.Data.Transforms;
using Deft.Peft;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Deft.Cli.Commands;

internal sealed class AdaptCommand : Command<AdaptCommand.Settings>
{
    internal sealed class Settings : DataSettings
    {
        [CommandOption("--split <SPLIT>")] [Description(DataOptionTexts.Split)] [DefaultValue("train")]
        public string Split { get; init; } = "train";

        [CommandOption("--model <SPEC>")]
        [Description("random:<preset>[[@seed]] (CLIP: tiny, ViT-B-16…; resnet50, resnet-tiny; vit_base_patch16_224, vit-tiny; convnext_tiny, convnext-toy), a CLIP directory, or a .safetensors/.pth state dict (CLIP, torchvision/timm ResNet, timm ViT, MAE ViT without a head, timm or facebookresearch ConvNeXt).")]
        public string? Model { get; init; }

        [CommandOption("--backbone <KIND>")]
        [Description("auto (from the weights' keys or the preset; a timm ViT without a head is taken as mae), clip, resnet, vit, convnext or mae (a timm ViT with MAE's statistics and optimizer).")]
        [DefaultValue("auto")] [TypeConverter(typeof(KebabCaseEnumConverter<BackboneKind>))]
        public BackboneKind Backbone { get; init; } = BackboneKind.Auto;

        [CommandOption("--selection <FILE>")]
        [Description("The detector's samples.csv (trains on rows with is_label_issue false, with their given_label), or 'all' for every sample with its own label. Default: all.")]
        public string? Selection { get; init; }

        [CommandOption("--labels <FILE>")]
        [Description("With --selection all: a label file (index,label[[,true_label]] as `deft noise` writes, or path,label[[,true_label]] with absolute paths or their unique endings) with the noisy labels to train on and the samples that take part. Default: the data set's labels.")]
        public string? Labels { get; init; }

        [CommandOption("--test <PATH>")]
        [Description("The test data set (same format); accuracy is measured after every epoch.")]
        public string? Test { get; init; }

        [CommandOption("--test-split <SPLIT>")]
        [Description("Split of the --test data set that is tested on after every epoch.")]
        [DefaultValue("test")]
        public string TestSplit { get; init; } = "test";

        [CommandOption("--out <DIR>")]
        [Description("Run directory: model.safetensors + adapt_config.json, result.json, run.json, per-epoch checkpoint.")]
        public string? Out { get; init; }

        [CommandOption("--epochs <N>")] [Description(TrainingOptionTexts.Epochs)] [DefaultValue(10)] public int Epochs { get; init; } = 10;
        [CommandOption("--batch <N>")] [Description(TrainingOptionTexts.Batch)] [DefaultValue(64)] public int Batch { get; init; } = 64;

        [CommandOption("--optimizer <NAME>")]
        [Description("sgd or adamw. Default: the backbone's (CLIP and ViT sgd; ResNet, ConvNeXt and MAE adamw).")]
        [TypeConverter(typeof(KebabCaseEnumConverter<OptimizerKind>))]
        public OptimizerKind? Optimizer { get; init; }

        [CommandOption("--lr <LR>")]
        [Description("Default: CLIP 5e-4, ResNet 1e-3, ViT 1e-2, ConvNeXt and MAE 1e-4 (the official code's).")]
        public double? LearningRate { get; init; }

        [CommandOption("--weight-decay <WD>")]
        [Description("Default: CLIP 5e-4, ResNet and ViT 1e-5, ConvNeXt 1e-4, MAE 1e-3.")]
        public double? WeightDecay { get; init; }

        [CommandOption("--momentum <M>")]
        [Description("SGD momentum. Default: CLIP 0.9, ViT 0.")]
        public double? Momentum { get; init; }

        [CommandOption("--loss <LOSS>")]
        [Description("ce, gce, sce or elr (robust losses for training on all noisy labels).")]
        [DefaultValue("ce")] [TypeConverter(typeof(KebabCaseEnumConverter<RobustLossKind>))]
        public RobustLossKind Loss { get; init; } = RobustLossKind.CE;

        [CommandOption("--label-smoothing <EPS>")]
        [Description("Label smoothing of the cross-entropy: the target is (1 − EPS) · one-hot + EPS / classes (torch's label_smoothing). ce only.")]
        [DefaultValue(0.0)]
        public double LabelSmoothing { get; init; }

        [CommandOption("--unselected <USE>")]
        [Description("What the samples the detector flagged do: drop (the paper: no part in the loss) or pseudo-label (semi-supervised: a flagged sample whose suggested label differs from its given one and has suggested_probability ≥ --pseudo-threshold trains with the suggested label, weighted by --pseudo-weight; needs --selection samples.csv; true labels are never read).")]
        [DefaultValue("drop")] [TypeConverter(typeof(KebabCaseEnumConverter<UnselectedSamples>))]
        public UnselectedSamples Unselected { get; init; } = UnselectedSamples.Drop;

        [CommandOption("--pseudo-threshold <P>")]
        [Description("With --unselected pseudo-label: the detector's probability of its suggested label a flagged sample needs to join.")]
        [DefaultValue(PseudoLabelOptions.DefaultMinProbability)]
        public double PseudoThreshold { get; init; } = PseudoLabelOptions.DefaultMinProbability;

        [CommandOption("--pseudo-weight <W>")]
        [Description("With --unselected pseudo-label: a pseudo-labelled sample's loss weight (kept samples weigh 1; a batch's loss is the mean of weight · loss). Other than 1: ce only.")]
        [DefaultValue(1.0)]
        public double PseudoWeight { get; init; } = 1.0;

        [CommandOption("--lr-rule <RULE>")]
        [Description("CLIP: fixed (--lr and --epochs as given) or scaled (the official ViT-B/16 settings carried over: lr × batch/64, tower lr × 768/width, epochs raised to at least 500 optimizer steps, at most 100 epochs). See docs/results/phase2.md.")]
        [DefaultValue("fixed")] [TypeConverter(typeof(KebabCaseEnumConverter<LearningRateRule>))]
        public LearningRateRule LrRule { get; init; } = LearningRateRule.Fixed;

        [CommandOption("--head-init <INIT>")]
        [Description("CLIP head: auto (text, except random under --recipe official), text (the zero-shot classifier: normalised class text embeddings · projᵀ times the logit scale over the mean projected-feature norm, bias 0; its test accuracy is measured before epoch 1) or random (nn.Linear default, as the official code).")]
        [DefaultValue("auto")] [TypeConverter(typeof(KebabCaseEnumConverter<HeadInit>.OrAuto))]
        public HeadInit? HeadInit { get; init; }

        [CommandOption("--schedule <SCHEDULE>")]
        [Description("Learning rate over the epochs: cosine (main_phase2.py) or constant (main_real_phase2.py never steps its scheduler).")]
        [DefaultValue("cosine")] [TypeConverter(typeof(KebabCaseEnumConverter<LearningRateSchedule>))]
        public LearningRateSchedule Schedule { get; init; } = LearningRateSchedule.Cosine;

        [CommandOption("--recipe <NAME>")]
        [Description("CLIP: how tower and head train. low-tower-lr (default: the tower at lr/10), official (one lr for all, random head), lp-ft (head only for the first epoch), linear-probe (tower frozen). Other backbones: official. See docs/results/phase2.md.")]
        [TypeConverter(typeof(KebabCaseEnumConverter<AdaptRecipe>.OrAuto))]
        public AdaptRecipe? Recipe { get; init; }

        [CommandOption("--tower-lr-scale <F>")]
        [Description("Overrides the recipe's tower learning rate factor (tower lr = lr · F; 0 freezes the tower).")]
        public double? TowerLrScale { get; init; }

        [CommandOption("--head-epochs <N>")]
        [Description("Overrides the recipe's head-only epochs at the start (the tower is frozen for them).")]
        public int? HeadEpochs { get; init; }

        [CommandOption("--holdout <FRAC>")]
        [Description("Hold out this fraction of the selected training samples (stratified by given label, seeded by --seed) as validation: never trained on, scored against their given labels before epoch 1 and after every epoch. Choose settings on it, not on --test. Default: none.")]
        public double? Holdout { get; init; }

        [CommandOption("--wise-ft <ALPHA>")]
        [Description("WiSE-FT: save (1 − α) · zero-shot + α · fine-tuned weights (needs the text head). auto: the α of 0, 0.1, …, 1 best on --holdout; or a number in [[0, 1]]. Default: off.")]
        public string? WiseFt { get; init; }

        [CommandOption("--threads <N>")]
        [Description("Intra-op threads for the tensor maths (default: libtorch's, one per core).")]
        public int? Threads { get; init; }

        [CommandOption("--templates <TEXT>")]
        [Description("Prompt template(s) for --head-init text, with {} for the class name (repeatable). Default: \"a photo of a {}.\"")]
        public string[]? Templates { get; init; }

        [CommandOption("--vocab <PATH>")]
        [Description("CLIP vocabulary for --head-init text (bpe_simple_vocab_16e6.txt.gz or a Hugging Face directory). Default: the model's own, else $DEFT_CLIP_VOCAB, else CLIP's built-in one.")]
        public string? Vocab { get; init; }

        [CommandOption("--peft <KINDS>")]
        [Description("CLIP only: full (default: every transformer block trains), or vpt-deep, vpt-shallow, lora, adapter, adaptformer, ssf, bias (only those modules and the head train); join with '+'.")]
        public string? Peft { get; init; }

        [CommandOption("--partial <K>")] [Description("PEFT on the last K blocks only.")] public int? Partial { get; init; }
        [CommandOption("--vpt-len <N>")] [Description(PeftOptionTexts.VptLength)] [DefaultValue(20)] public int VptLength { get; init; } = 20;
        [CommandOption("--lora-rank <N>")] [Description(PeftOptionTexts.LoraRank)] [DefaultValue(8)] public int LoraRank { get; init; } = 8;
        [CommandOption("--adapter-dim <N>")] [Description(PeftOptionTexts.AdapterDim)] [DefaultValue(8)] public int AdapterDim { get; init; } = 8;

        [CommandOption("--augment <PRESET>")]
        [Description("auto (cifar at 32 px, none below, clip above), cifar (random crop 32 + padding 4, resize, flip: the official recipe), shift (random crop at the image's own size + padding 4, resize, flip), clip (random resized crop + flip), none, official-square / official-center / official-short-side (the official CUB/Cars/Tiny-ImageNet, WebVision and Clothing1M loaders, which also set the test transform), or steps joined by '+': crop:S:P, center:S, flip (e.g. crop:28:4+flip).")]
        [DefaultValue("auto")]
        public string Augment { get; init; } = "auto";

        [CommandOption("--mean <R,G,B>")]
        [Description("Image normalisation mean (default: the backbone's: CLIP's statistics for CLIP, ImageNet's for ResNet, ConvNeXt and MAE, 0.5 for timm's augreg ViT).")]
        public string? Mean { get; init; }

        [CommandOption("--std <R,G,B>")]
        [Description("Image normalisation standard deviation (default: the backbone's).")]
        public string? Std { get; init; }

        [CommandOption("--resolution <PX>")]
        [Description("Input size. Default: the model's (CLIP, ViT; a ViT's positions are resampled for another size), 224 for ResNet weights.")]
        public int? Resolution { get; init; }

        [CommandOption("--seed <N>")] [Description(TrainingOptionTexts.Seed)] [DefaultValue(0L)] public long Seed { get; init; }

        [CommandOption("--limit <N>")]
        [Description("Train on the first N training samples only (quick runs, throughput checks).")]
        public int? Limit { get; init; }

        [CommandOption("--workers <N>")]
        [Description("Image decoding threads (default: one per core).")]
        public int? Workers { get; init; }

        [CommandOption("--resume")]
        [Description("Continue the interrupted run in --out from its last checkpoint (same settings required).")]
        public bool Resume { get; init; }

        [CommandOption("--force")]
        [Description("Overwrite the run files in --out when it holds another run.")]
        public bool Force { get; init; }

        [CommandOption("--json")]
        [Description("JSON lines for progress and a JSON summary instead of the tables.")]
        public bool Json { get; init; }

        public override ValidationResult Validate()
        {
            if (string.IsNullOrWhiteSpace(Model)) return ValidationResult.Error("--model is required (random:tiny, a CLIP directory, or a weights file).");
            if (string.IsNullOrWhiteSpace(Data)) return ValidationResult.Error("--data PATH is required.");
            if (string.IsNullOrWhiteSpace(Format)) return ValidationResult.Error($"--format is required: one of {string.Join(", ", DatasetFactory.Formats)}.");
            if (string.IsNullOrWhiteSpace(Out)) return ValidationResult.Error("--out DIR is required.");
            if (Epochs < 1 || Batch < 1) return ValidationResult.Error("--epochs and --batch must be ≥ 1.");
            if (Resume && Force) return ValidationResult.Error("--resume and --force exclude each other.");
            if (Threads is < 1) return ValidationResult.Error("--threads must be ≥ 1.");
            if (WiseFt is not null && !string.Equals(WiseFt.Trim(), "auto", StringComparison.OrdinalIgnoreCase)
                && !double.TryParse(WiseFt, NumberStyles.Float, CultureInfo.InvariantCulture, out _))
                return ValidationResult.Error($"--wise-ft takes auto or a number in [0, 1], got '{WiseFt}'.");
            return ValidationResult.Success();
        }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var options = BuildOptions(settings);
        if (settings.Threads is { } threads) TorchSharp.torch.set_num_threads(threads);
        var trainOptions = new DatasetOptions(settings.Data!, settings.Format!, settings.Split, settings.OnBadImage, settings.Classes);
        var train = DatasetFactory.Open(trainOptions);
        DataIssueConsole.Report(train, settings.Json, "the training set");
        var test = settings.Test is null ? null : DatasetFactory.Open(new DatasetOptions(settings.Test, settings.Format!, settings.TestSplit, settings.OnBadImage, settings.Classes));
        if (test is not null) DataIssueConsole.Report(test, settings.Json, "the test set");
        options = options with
        {
            TrainDescription = $"{Path.GetFullPath(settings.Data!)} ({settings.Format}, {settings.Split})",
            TestDescription = settings.Test is null ? null : $"{Path.GetFullPath(settings.Test)} ({settings.Format}, {settings.TestSplit})",
        };

        var result = ProgressRunner.Run<AdaptProgress, AdaptResult>(settings.Json, "adapt",
            (progress, ct) => Adapter.Train(options, train, test, progress, ct),
            p => (p.Epoch, p.Epochs, p.Step, p.Steps,
                p.Phase == "test" ? $"test set step {p.Step}/{p.Steps}" : p.Phase == "validate" ? $"held-out step {p.Step}/{p.Steps}" : double.IsNaN(p.Loss) ? $"train step {p.Step}/{p.Steps} lr {p.LearningRate:0.0e0}" : $"train step {p.Step}/{p.Steps} loss {p.Loss:0.000} lr {p.LearningRate:0.0e0}"),
            cancellationToken);

        if (settings.Json)
        {
            Console.WriteLine(System.Text.Json.JsonSerializer.Serialize(result, JsonOptions.Indented));
            return 0;
        }
        foreach (var w in result.Warnings) AnsiConsole.MarkupLineInterpolated($"[yellow]warning:[/] {w}");
        foreach (var n in result.Notes) AnsiConsole.MarkupLineInterpolated($"[grey]note: {n}[/]");
        var validated = result.HoldoutSamples > 0;
        var table = new Table().AddColumn("epoch").AddColumn(new TableColumn("loss").RightAligned()).AddColumn(new TableColumn("train acc").RightAligned());
        if (validated) table.AddColumn(new TableColumn("held-out acc").RightAligned());
        var tested = result.StartTestAccuracy is not null;
        table.AddColumn(new TableColumn("test acc").RightAligned());
        if (tested) table.AddColumn(new TableColumn("zero-shot test").RightAligned());
        table.AddColumn(new TableColumn("lr").RightAligned()).AddColumn(new TableColumn("skipped batches").RightAligned()).AddColumn(new TableColumn("s").RightAligned());
        string Percent(double? v) => v?.ToString("P2", CultureInfo.InvariantCulture) ?? "—";
        // The zero-shot accuracy beside every epoch: the bar each fine-tuned row has to clear.
        var zeroShot = Percent(result.StartTestAccuracy);
        if (result.StartTestAccuracy is not null || result.StartValidationAccuracy is not null)
        {
            List<string> start = ["start", "—", "—"];
            if (validated) start.Add(Percent(result.StartValidationAccuracy));
            start.Add(zeroShot);
            if (tested) start.Add(zeroShot);
            start.AddRange(["—", "—", "—"]);
            table.AddRow(start.ToArray());
        }
        foreach (var e in result.Epochs)
        {
            List<string> row = [e.Epoch.ToString(CultureInfo.InvariantCulture), e.TrainLoss.ToString("0.0000", CultureInfo.InvariantCulture),
                e.TrainAccuracy.ToString("P1", CultureInfo.InvariantCulture)];
            if (validated) row.Add(Percent(e.ValidationAccuracy));
            row.Add(Percent(e.TestAccuracy));
            if (tested) row.Add(zeroShot);
            row.AddRange([e.LearningRate.ToString("0.0e0", CultureInfo.InvariantCulture),
                e.SkippedBatches.ToString(CultureInfo.InvariantCulture), (e.TrainSeconds + e.TestSeconds).ToString("0.0", CultureInfo.InvariantCulture)]);
            table.AddRow(row.ToArray());
        }
        AnsiConsole.Write(table);
        if (result.StartTestAccuracy is { } startAccuracy)
            AnsiConsole.MarkupLineInterpolated($"Zero-shot test accuracy of the starting model (text head, before epoch 1): [bold]{startAccuracy:P2}[/]");
        if (validated)
            AnsiConsole.MarkupLineInterpolated($"Held out {result.HoldoutSamples:N0} selected samples for validation (accuracy against their given labels; the start row is the zero-shot model's).");
        if (result.WiseFt is { } wise)
        {
            var curve = string.Join("  ", wise.Validation.Select(p => string.Create(CultureInfo.InvariantCulture, $"{p.Alpha:0.0}: {p.ValidationAccuracy:P2}")));
            AnsiConsole.MarkupLineInterpolated(
                $"WiSE-FT: saved (1 − α) · zero-shot + α · fine-tuned with α = [bold]{wise.Alpha:0.0#}[/] ({(wise.ChosenOnHoldout ? "best on the held-out samples" : "given")}); test accuracy [bold]{Percent(wise.TestAccuracy)}[/]");
            if (curve.Length > 0) AnsiConsole.MarkupLineInterpolated($"[grey]held-out accuracy by α: {curve}[/]");
        }
        var hp = result.Hyperparameters;
        AnsiConsole.MarkupLineInterpolated(
            $"{result.Backbone.ToName()} · recipe {result.Recipe.ToName()} · head {result.HeadInit.ToString().ToLowerInvariant()} · augment {result.Augment} · {hp.Optimizer.ToString().ToLowerInvariant()} lr {hp.LearningRate:0.0e0} wd {hp.WeightDecay:0.0e0} · trained on {result.SelectedSamples:N0} of {result.TrainSamples:N0} samples{(result.PseudoLabelledSamples > 0 ? $" ({result.PseudoLabelledSamples:N0} with suggested labels)" : "")} · {result.TrainImagesPerSecond:0.0} images/s · {result.Elapsed.TotalSeconds:0.0} s");
        if (result.LastTestAccuracy is { } last)
            AnsiConsole.MarkupLineInterpolated(
                $"Test accuracy (last epoch): [bold]{last:P2}[/]   best: {result.BestTestAccuracy:P2} at epoch {result.BestEpoch} (for comparison with the paper's scripts)");
        AnsiConsole.MarkupLineInterpolated($"Model: {Path.Combine(result.OutputDirectory, AdaptedModel.WeightsFile)} (predict with: deft predict --model-dir {result.OutputDirectory} ...)");
        return 0;
    }

    internal static AdaptOptions BuildOptions(Settings s) => new()
    {
        Model = s.Model!,
        Backbone = s.Backbone,
        OutputDirectory = s.Out!,
        SelectionPath = s.Selection,
        LabelsPath = s.Labels,
        Epochs = s.Epochs,
        BatchSize = s.Batch,
        Optimizer = s.Optimizer,
        LearningRate = s.LearningRate,
        WeightDecay = s.WeightDecay,
        Momentum = s.Momentum,
        Loss = s.Loss,
        LabelSmoothing = s.LabelSmoothing,
        Unselected = s.Unselected,
        PseudoLabels = new PseudoLabelOptions(s.PseudoThreshold, s.PseudoWeight),
        LearningRateRule = s.LrRule,
        HeadInit = s.HeadInit,
        ConstantLearningRate = s.Schedule == LearningRateSchedule.Constant,
        Recipe = s.Recipe,
        TowerLearningRateScale = s.TowerLrScale,
        HeadOnlyEpochs = s.HeadEpochs,
        HoldoutFraction = s.Holdout,
        WiseFt = s.WiseFt is null ? null
            : string.Equals(s.WiseFt.Trim(), "auto", StringComparison.OrdinalIgnoreCase) ? new WiseFtOptions()
            : new WiseFtOptions(double.Parse(s.WiseFt, NumberStyles.Float, CultureInfo.InvariantCulture)),
        HeadTemplates = s.Templates is { Length: > 0 } t ? t : ["a photo of a {}."],
        Vocabulary = s.Vocab,
        Peft = s.Peft is null ? null : new PeftOptions(PeftOptions.ParseKinds(s.Peft), s.Partial, s.VptLength, s.LoraRank, s.AdapterDim),
        Augment = string.Equals(s.Augment.Trim(), "auto", StringComparison.OrdinalIgnoreCase) ? null : AugmentSpec.Parse(s.Augment),
        Resolution = s.Resolution,
        Normalization = (DetectCommand.Settings.ParseTriple(s.Mean, "mean"), DetectCommand.Settings.ParseTriple(s.Std, "std")) switch
        {
            (null, null) => null,
            ({ } mean, { } std) => new Normalization(mean, std),
            _ => throw new DeftException("--mean and --std go together: pass both."),
        },
        Seed = s.Seed,
        Limit = s.Limit,
        Workers = s.Workers,
        Resume = s.Resume,
        Force = s.Force,
    };
}
