using System.ComponentModel;
using System.Globalization;
using System.Text.Json;
using Deft.Cli.Binding;
using Deft.Clip;
using Deft.Data;
using Deft.Data.Transforms;
using Deft.Detection;
using Deft.Methods;
using Deft.Peft;
using Deft.Prompts;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Deft.Cli.Commands;

internal sealed class DetectCommand : Command<DetectCommand.Settings>
{
    internal class Settings : ClipDataSettings, IInterruptHint
    {
        [CommandOption("--split <SPLIT>")] [Description(DataOptionTexts.Split)] [DefaultValue("train")]
        public string Split { get; init; } = "train";

        public string? InterruptHint()
        {
            var checkpoint = Out is null ? null : Path.Combine(Out, TrainingCheckpoint.FileName);
            return File.Exists(checkpoint) ? $"Continue with the same command plus --resume (checkpoint: {checkpoint})." : null;
        }

        [CommandOption("--labels <FILE>")]
        [Description("Label file: index,label[[,true_label]] (as `deft noise` writes) or path,label[[,true_label]] (paths absolute or relative to --data; header optional; labels are class ids or names): which samples take part and their labels; true_label enables precision/recall. Default: the data set's labels.")]
        public string? Labels { get; init; }

        [CommandOption("--peft <METHOD>")]
        [Description(PeftOptionTexts.Peft)]
        [DefaultValue("vpt-deep")]
        public string Peft { get; init; } = "vpt-deep";

        [CommandOption("--partial <K>")] [Description(PeftOptionTexts.Partial)]
        public int? Partial { get; init; }

        [CommandOption("--vpt-len <N>")] [Description(PeftOptionTexts.VptLength)] [DefaultValue(20)] public int VptLength { get; init; } = 20;
        [CommandOption("--lora-rank <R>")] [Description(PeftOptionTexts.LoraRank)] [DefaultValue(8)] public int LoraRank { get; init; } = 8;
        [CommandOption("--adapter-dim <D>")] [Description(PeftOptionTexts.AdapterDim)] [DefaultValue(8)] public int AdapterDim { get; init; } = 8;

        [CommandOption("--n-ctx <N>")] [Description(PeftOptionTexts.ContextLength)] [DefaultValue(16)]
        public int NCtx { get; init; } = 16;

        [CommandOption("--class-token-position <POS>")] [Description("end, middle or front.")] [DefaultValue("end")]
        [TypeConverter(typeof(KebabCaseEnumConverter<ClassTokenPosition>))]
        public ClassTokenPosition ClassTokenPosition { get; init; } = ClassTokenPosition.End;

        [CommandOption("--csc")] [Description("Class-specific contexts (one per class) instead of shared ones.")]
        public bool ClassSpecific { get; init; }

        [CommandOption("--ctx-init <WORDS>")] [Description("Initialise both contexts from these words' embeddings (n-ctx = their token count).")]
        public string? CtxInit { get; init; }

        [CommandOption("--epochs <N>")] [Description(TrainingOptionTexts.Epochs)] [DefaultValue(10)] public int Epochs { get; init; } = 10;
        [CommandOption("--warmup <N>")] [Description("Warm-up epochs (every sample trains the positive prompts).")] [DefaultValue(1)] public int Warmup { get; init; } = 1;
        [CommandOption("--batch <N>")] [Description(TrainingOptionTexts.Batch)] [DefaultValue(64)] public int Batch { get; init; } = 64;
        [CommandOption("--lr <LR>")] [Description(TrainingOptionTexts.LearningRate)] [DefaultValue(0.03)] public double Lr { get; init; } = 0.03;
        [CommandOption("--seed <N>")] [Description(TrainingOptionTexts.Seed)] [DefaultValue(0L)] public long Seed { get; init; }

        [CommandOption("--augment <PRESET>")] [Description("cifar, clip or none (default: cifar for cifar10/100 and idx, clip otherwise), or an official loader's pipeline, which also sets the evaluation transform: official-square (CUB, Cars, Tiny-ImageNet), official-center (WebVision), official-short-side (Clothing1M).")]
        public string? Augment { get; init; }

        [CommandOption("--selection <WHICH>")]
        [Description("last-epoch (default: the selections of the last training epoch) or eval (a deterministic pass after training).")]
        [DefaultValue("last-epoch")] [TypeConverter(typeof(KebabCaseEnumConverter<SelectionSource>))]
        public SelectionSource Selection { get; init; } = SelectionSource.LastEpoch;

        [CommandOption("--variant <WHICH>")]
        [Description("deft: which official phase-1 script to follow. synthetic (default, main_phase1.py: clean when p_clean > 0.5, cross-entropy warm-up, cosine lr) or real-noise (main_real_phase1.py, used for Clothing1M and WebVision: also requires the given label to have the highest p_yes, SCE warm-up (alpha = beta = 1), pseudo-labels from epoch 2, constant lr).")]
        [DefaultValue("synthetic")] [TypeConverter(typeof(KebabCaseEnumConverter<DeftVariant>))]
        public DeftVariant Variant { get; init; } = DeftVariant.Synthetic;

        [CommandOption("--resume")] [Description("Continue the run in --out from its last checkpoint.")]
        public bool Resume { get; init; }

        [CommandOption("--force")] [Description("Replace a run already in --out.")]
        public bool Force { get; init; }

        [CommandOption("--out <DIR>")] [Description("Output directory: samples.csv, label_issues.csv, pred_probs.npy/.ids.csv/.parquet (class probabilities, rows as in samples.csv; methods that have them), summary.json, report.html, detector.safetensors, checkpoint.")]
        public string? Out { get; init; }

        [CommandOption("--cache-dir <DIR>")] [Description("Where --peft none keeps image features (default $DEFT_CACHE_DIR or ~/.cache/deft).")]
        public string? CacheDir { get; init; }

        [CommandOption("--shard <I/N>")]
        [Description("Encode only shard I of N (numbered from 0: $SLURM_ARRAY_TASK_ID, $JOB_COMPLETION_INDEX) of the frozen image features into --cache-dir/shards, then stop: for clip-posterior, label-match, the confident-learning family and --peft none. After all N: `deft cache merge`, then the same command without --shard loads the merged features. --out is not needed.")]
        public string? Shard { get; init; }

        [CommandOption("--threads <N>")]
        [Description("Intra-op threads (default: all cores for the image passes of a large tower, 1 for small operations such as --peft none training or tiny models).")]
        public int? Threads { get; init; }

        [CommandOption("--json")] [Description("Print progress and the result as JSON lines.")]
        public bool Json { get; init; }

        /// <summary>Hidden: old command lines pass --device cpu; anything else gets <see cref="DeviceOption.ValidateCpuOnly"/>'s reason.</summary>
        [CommandOption("--device <DEVICE>", IsHidden = true)] [Description(DeviceOption.Description)] [DefaultValue(DeviceOption.Cpu)]
        public string Device { get; init; } = DeviceOption.Cpu;

        [CommandOption("--method <METHOD>")]
        [Description("clip-posterior (default: zero-shot CLIP with a label-noise transition fitted by EM; label quality = the posterior that the given label is right), deft (the paper's dual prompts; uses --peft, --epochs, --selection, --resume), or a baseline: label-match (zero-shot CLIP), small-loss (needs --noise-rate), gmm (DivideMix loss mixture after --warmup epochs), confident-learning, predicted-neq-given, self-confidence (K-fold logistic regression on frozen features). Same output files; baselines ignore --selection and --resume.")]
        [DefaultValue("clip-posterior")] [TypeConverter(typeof(KebabCaseEnumConverter<DetectionMethod>))]
        public DetectionMethod Method { get; init; } = DetectionMethod.ClipPosterior;

        [CommandOption("--noise-rate <R>")] [Description("small-loss: the forget rate, ramped from 0 over the --warmup epochs (the assumed noise rate).")]
        public double? NoiseRate { get; init; }

        [CommandOption("--folds <K>")] [Description("confident-learning, predicted-neq-given, self-confidence: cross-validation folds.")] [DefaultValue(5)]
        public int Folds { get; init; } = 5;

        [CommandOption("--templates <T>")]
        [Description("clip-posterior and label-match: default (\"a photo of a {}.\"), ensemble7, a file with one template per line, or one template with {}.")]
        public string? Templates { get; init; }

        [CommandOption("--fp16-trainables")]
        [Description("deft: keep the trainable parameters and their momentum in float16 after every step, as the official code's fp16 CLIP does (arithmetic stays fp32); for fidelity checks.")]
        public bool Fp16Trainables { get; init; }

        [CommandOption("--gmm-refit")]
        [Description("gmm: refit the mixture before every epoch after --warmup and train that epoch on its clean samples, through --epochs (the official main_baseline.py); default: train the warm-up epochs and fit once.")]
        public bool GmmRefit { get; init; }

        [CommandOption("--classifier <WHICH>")]
        [Description("small-loss, gmm: the classifier trained on the given labels. prompts (default: CoOp's positive prompts, starting at zero-shot CLIP) or linear-head (the official baselines: a random nn.Linear on the image feature before CLIP's projection; pair it with --peft vpt-deep for main_small_loss.py, --peft full --lr 5e-4 --gmm-refit for main_baseline.py's GMM).")]
        [DefaultValue("prompts")] [TypeConverter(typeof(KebabCaseEnumConverter<BaselineClassifier>))]
        public BaselineClassifier Classifier { get; init; } = BaselineClassifier.Prompts;

        [CommandOption("--test <PATH>")]
        [Description("deft: a labelled test set (same format as --data); the prompt classifier's accuracy on it is recorded after every epoch (summary.json epochs[[]].test_accuracy). It never influences training or the selection.")]
        public string? Test { get; init; }

        [CommandOption("--test-split <SPLIT>")] [Description("Split of the test data: of --test (run, without --test: of --data, for phase 2).")] [DefaultValue("test")]
        public string TestSplit { get; init; } = "test";

        [CommandOption("--filter-by <RULE>")] [Description(IssueOptionTexts.FilterBy)]
        [DefaultValue("method")] [TypeConverter(typeof(KebabCaseEnumConverter<IssueFilterRule>))]
        public IssueFilterRule FilterBy { get; init; } = IssueFilterRule.Method;

        [CommandOption("--num-to-remove <N>")] [Description(IssueOptionTexts.NumToRemove)]
        public int? NumToRemove { get; init; }

        [CommandOption("--frac-noise <F>")] [Description(IssueOptionTexts.FracNoise)] [DefaultValue(1.0)]
        public double FracNoise { get; init; } = 1.0;

        [CommandOption("--flag-agreeing")] [Description(IssueOptionTexts.FlagAgreeing)]
        public bool FlagAgreeing { get; init; }

        [CommandOption("--data-issues <WHICH>")]
        [Description("all (default): besides unreadable files and empty classes, look for near-duplicates and outliers on the image features, where the method computes frozen ones (clip-posterior, label-match, the confident-learning family, --peft none); files: unreadable files and empty classes only. Written to data_issues.csv and the report.")]
        [DefaultValue("all")] [TypeConverter(typeof(KebabCaseEnumConverter<DataIssueScope>))]
        public DataIssueScope DataIssues { get; init; } = DataIssueScope.All;

        [CommandOption("--duplicate-threshold <COS>")]
        [Description("Cosine similarity of two samples' image features from which they count as near-duplicates, in (0, 1]]; across labels, as conflicting duplicates.")]
        [DefaultValue(0.98)]
        public double DuplicateThreshold { get; init; } = 0.98;

        public override ValidationResult Validate()
        {
            var b = base.Validate();
            if (!b.Successful) return b;
            if (Data is null || Format is null) return ValidationResult.Error($"--data and --format are required (formats: {string.Join(", ", DatasetFactory.Formats)}).");
            if (Out is null && Shard is null) return ValidationResult.Error("--out DIR is required.");
            if (DeviceOption.ValidateCpuOnly(this is RunCommand.Settings ? "run" : "detect", Device) is { Successful: false } device) return device;
            return ValidationResult.Success();
        }

        public DetectOptions ToOptions() => new()
        {
            Model = Model!,
            Data = Data!,
            Format = Format!,
            Split = Split,
            Labels = Labels,
            ClassesFile = Classes,
            TestData = Test,
            GmmRefit = GmmRefit,
            Classifier = Classifier,
            Fp16Trainables = Fp16Trainables,
            TestSplit = Test is null ? null : TestSplit,
            Vocab = Vocab,
            OutputDirectory = Out ?? "",
            Shard = Shard is null ? null : FeatureShardSpec.Parse(Shard),
            Peft = new PeftOptions(PeftOptions.ParseKinds(Peft), Partial, VptLength, LoraRank, AdapterDim),
            Prompts = new PromptOptions(NCtx, ClassTokenPosition, ClassSpecific, CtxInit),
            Epochs = Epochs,
            Warmup = Warmup,
            BatchSize = Batch,
            LearningRate = Lr,
            Seed = Seed,
            Precision = TowerPrecisions.Parse(DType),
            Mean = ParseTriple(Mean, "mean"),
            Std = ParseTriple(Std, "std"),
            Augment = Augment is null ? null : ImagePipeline.ParsePreset(Augment),
            Selection = Selection,
            Variant = Variant,
            Resume = Resume,
            Force = Force,
            CacheDirectory = CacheDir,
            Threads = Threads,
            Method = Method,
            NoiseRate = NoiseRate,
            Folds = Folds,
            Templates = Templates,
            Issues = new IssueSettings { FilterBy = FilterBy, NumToRemove = NumToRemove, FracNoise = FracNoise, FlagAgreeing = FlagAgreeing },
            OnBadImage = OnBadImage,
            FeatureIssues = DataIssues == DataIssueScope.All ? new FeatureIssueOptions { DuplicateThreshold = DuplicateThreshold } : null,
        };

        internal static RgbTriple? ParseTriple(string? text, string what)
        {
            if (text is null) return null;
            var parts = text.Split(',', StringSplitOptions.TrimEntries);
            var values = parts.Select(p => float.TryParse(p, NumberStyles.Float, CultureInfo.InvariantCulture, out var f) ? f : float.NaN).ToArray();
            if (values.Length != 3 || values.Any(float.IsNaN))
                throw new DeftException($"--{what} takes three comma-separated numbers (R,G,B), got '{text}'.");
            return new RgbTriple(values[0], values[1], values[2]);
        }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var options = settings.ToOptions();
        if (options.Shard is not null) return EncodeShard(settings, options, cancellationToken);
        var warnings = new List<string>();
        Action<string> warn = settings.Json ? w => JsonLine(new { @event = "warning", message = w }) : warnings.Add;
        DetectionReport report;
        if (settings.Json)
        {
            var progress = ProgressRunner.Report<DetectProgress>(p => JsonLine(new { @event = "progress", p.Phase, p.Epoch, p.Epochs, p.Step, p.Steps, p.Loss, selected = p.SelectedFraction, p.Precision, p.Recall, lr = p.LearningRate }));
            report = DeftDetector.Detect(options, progress, warn, cancellationToken);
        }
        else
        {
            // One bar per epoch of training and per pass (image features, eval).
            report = ProgressRunner.Phases<DetectProgress, DetectionReport>(ProgressRunner.Plain(false),
                progress => DeftDetector.Detect(options, progress, warnings.Add, cancellationToken), p => Bar(p, options.BatchSize));
        }

        var reportPath = Path.Combine(options.OutputDirectory, Reporting.DetectionHtmlReport.FileName);
        if (settings.Json)
        {
            JsonLine(new { @event = "done", output = Path.GetFullPath(options.OutputDirectory), report = reportPath,
                data_issues = Path.Combine(Path.GetFullPath(options.OutputDirectory), Data.DataIssues.FileName), summary = report.Summary });
            return 0;
        }
        if (report.Summary.Config.TryGetValue("dtype_choice", out var dtypeChoice) && dtypeChoice is not null)
            AnsiConsole.MarkupLineInterpolated($"[grey]{dtypeChoice}[/]");
        foreach (var w in warnings) AnsiConsole.MarkupLineInterpolated($"[yellow]warning:[/] {w}");
        PrintSummary(report, options.OutputDirectory);
        DataIssueConsole.Print(report.DataIssues, report.Classes);
        if (options.Method == DetectionMethod.Deft && options.Peft.AdaptsImageTower && options.Selection == SelectionSource.LastEpoch)
            AnsiConsole.MarkupLine("[grey]The selection is the official one, from the last epoch's augmented views. With an adapted image tower, --selection eval (one unaugmented pass after training) kept far more clean samples on the mini benchmark: F1 0.94 against 0.88 (README, \"Which selection to use\").[/]");
        return 0;
    }

    /// <summary>
    /// <c>--shard I/N</c>: encodes that shard of the frozen features into the cache's shard folder and says what to do
    /// once every shard is written.
    /// </summary>
    internal static int EncodeShard(Settings settings, DetectOptions options, CancellationToken cancellationToken)
    {
        var warnings = new List<string>();
        FeatureShardResult shard;
        if (settings.Json)
            shard = DeftDetector.EncodeShard(options, ProgressRunner.Report<DetectProgress>(p => JsonLine(new { @event = "progress", p.Phase, p.Step, p.Steps })),
                w => JsonLine(new { @event = "warning", message = w }), cancellationToken);
        else
            shard = ProgressRunner.Phases<DetectProgress, FeatureShardResult>(ProgressRunner.Plain(false),
                progress => DeftDetector.EncodeShard(options, progress, warnings.Add, cancellationToken), p => Bar(p, options.BatchSize));
        var cache = options.CacheDirectory ?? FeatureCache.DefaultDirectory();
        var merge = $"deft cache merge --cache-dir {cache}";
        if (settings.Json)
        {
            JsonLine(new { @event = "shard", shard = shard.Spec.ToString(), path = Path.GetFullPath(shard.Path), start = shard.Start, length = shard.Length, rows = shard.Rows, merge });
            return 0;
        }
        foreach (var w in warnings) AnsiConsole.MarkupLineInterpolated($"[yellow]warning:[/] {w}");
        AnsiConsole.MarkupLineInterpolated($"shard {shard.Spec}: samples {shard.Start:N0}–{shard.Start + shard.Length - 1:N0} of {shard.Rows:N0} (positions among the participating samples) → {shard.Path}");
        AnsiConsole.MarkupLineInterpolated($"[grey]Once all {shard.Spec.Count} shards are written: {merge}; then the same command without --shard (and with --out) loads the merged features.[/]");
        return 0;
    }

    /// <summary>
    /// The bar of one phase: encode counts images, train and eval count batches of <paramref name="batchSize"/>; a
    /// training epoch's bar carries the later epochs' steps, for the ETA of all of training.
    /// </summary>
    internal static ProgressBar Bar(DetectProgress p, int batchSize) =>
        new((p.Phase, p.Epoch), p.Step, p.Steps, Describe(p),
            ImagesPerUnit: p.Phase == DetectionRun.EncodePhase ? 1 : p.Phase is "train" or "eval" or "test" ? batchSize : 0,
            UnitsAfter: p.Phase == "train" ? Math.Max(0, p.Epochs - p.Epoch) * (double)p.Steps : 0);

    /// <summary>What a phase is, in words: "encode images 512/2000", "train epoch 2/10 step 5/40 loss …", "eval pass step 3/9".</summary>
    internal static string Describe(DetectProgress p)
    {
        if (p.Phase == DetectionRun.EncodePhase)
            return string.Create(CultureInfo.InvariantCulture, $"encode images {p.Step:N0}/{p.Steps:N0}");
        var head = p.Phase switch
        {
            "train" => $"train epoch {p.Epoch}/{p.Epochs}",
            "eval" => "eval pass",
            "test" => $"test set{(p.Epoch > 0 ? $" after epoch {p.Epoch}" : "")}",
            _ => p.Phase,
        };
        var text = $"{head} step {p.Step}/{p.Steps}";
        if (!double.IsNaN(p.Loss)) text += FormattableString.Invariant($" loss {p.Loss:F4}");
        if (!double.IsNaN(p.SelectedFraction)) text += FormattableString.Invariant($" clean {p.SelectedFraction:P1}");
        if (p.Precision is { } pr && p.Recall is { } rc) text += FormattableString.Invariant($" P {pr:F3} R {rc:F3}");
        return text;
    }

    internal static void PrintSummary(DetectionReport report, string outputDirectory)
    {
        var s = report.Summary;
        var table = new Table().AddColumn("").AddColumn("");
        table.AddRow("method", Markup.Escape(s.Method));
        table.AddRow("samples", s.Samples.ToString(CultureInfo.InvariantCulture));
        table.AddRow("label issues", FormattableString.Invariant($"{s.Issues} ({s.EstimatedNoiseRate:P1} estimated noise rate)"));
        if (s.Quality is { } q)
        {
            table.AddRow("true noise rate", FormattableString.Invariant($"{q.TrueNoiseRate:P1} ({q.TrulyNoisy} mislabeled)"));
            // The issue side first: it is what a cleanlab user reads; the clean selection is the DeFT paper's view.
            table.AddRow("label issues found", FormattableString.Invariant($"precision {q.IssuePrecision:F4}  recall {q.IssueRecall:F4}  F1 {q.IssueF1:F4}"));
            table.AddRow("precision@k", Markup.Escape(PrecisionAtK(q)));
            table.AddRow("clean selection", FormattableString.Invariant($"precision {q.Precision:F4}  recall {q.Recall:F4}  F1 {q.F1:F4}"));
            table.AddRow("AUROC (label quality)", double.IsNaN(q.Auroc) ? "undefined (one class only)" : q.Auroc.ToString("F4", CultureInfo.InvariantCulture));
        }
        if (s.Epochs.Count > 0 && s.Epochs[^1].TestAccuracy is { } testAccuracy)
            table.AddRow("prompt classifier on the test set", FormattableString.Invariant(
                $"{testAccuracy:P2} after epoch {s.Epochs[^1].Epoch} ({string.Join(", ", s.Epochs.Select(e => e.TestAccuracy is { } a ? a.ToString("P1", CultureInfo.InvariantCulture) : "–"))})"));
        if (s.TimingsSeconds.TryGetValue("total_seconds", out var seconds))
            table.AddRow("time", FormattableString.Invariant($"{seconds:F1} s"));
        table.AddRow("output", Markup.Escape(Path.GetFullPath(outputDirectory)));
        if (report.PredProbs is not null)
            table.AddRow("pred_probs", Markup.Escape(string.Join(", ", DetectionOutputs.PredProbsFiles)) + " [grey](rows as in samples.csv)[/]");
        AnsiConsole.Write(table);
        var top = report.RankedIssues.Take(10).ToList();
        if (top.Count > 0)
        {
            var issues = new Table().AddColumns("index", "given", "label quality", "suggested", "source");
            foreach (var r in top)
                issues.AddRow(r.Index.ToString(CultureInfo.InvariantCulture), Markup.Escape(report.Classes[r.GivenLabel]),
                    r.LabelQuality.ToString("F4", CultureInfo.InvariantCulture),
                    Markup.Escape($"{report.Classes[r.SuggestedLabel]} ({r.SuggestedProbability:P0})"), Markup.Escape(r.Source));
            AnsiConsole.MarkupLine("[bold]most likely mislabeled[/]");
            AnsiConsole.Write(issues);
        }
    }

    /// <summary>"k=10 1.000 · k=100 0.990 · k=412 (flagged) 0.871", leaving out the k that exceed the sample count.</summary>
    internal static string PrecisionAtK(DetectionQuality q)
    {
        var parts = new List<string>();
        if (q.PrecisionAt10 is { } p10) parts.Add(FormattableString.Invariant($"k=10 {p10:F3}"));
        if (q.PrecisionAt100 is { } p100) parts.Add(FormattableString.Invariant($"k=100 {p100:F3}"));
        if (q.PrecisionAtFlagged is { } pf) parts.Add(FormattableString.Invariant($"k={q.Flagged} (flagged) {pf:F3}"));
        return parts.Count == 0 ? "n/a" : string.Join(" · ", parts);
    }

    internal static void JsonLine(object value) =>
        Console.WriteLine(JsonSerializer.Serialize(value, DetectionOutputs.JsonLineOptions));
}

/// <summary>Which data issues detect looks for (--data-issues).</summary>
internal enum DataIssueScope
{
    /// <summary>Unreadable files, empty classes, and near-duplicates and outliers on the frozen image features.</summary>
    All,
    /// <summary>Unreadable files and empty classes only.</summary>
    Files,
}
