using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Deft.Clip;
using Deft.Data;
using Deft.Data.Loading;
using Deft.Data.Transforms;
using Deft.Detection;
using Deft.Peft;
using Deft.Clip.Tokenization;
using Deft.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Deft.Adaptation;

/// <summary>
/// DeFT phase 2: fine-tunes a pre-trained model on the samples selected as clean. Every epoch visits all training
/// samples in batches (as the official code does); a batch's loss is the mean over its selected samples, with their
/// given (noisy) labels from samples.csv, and a batch without any takes no step. Networks without batch statistics
/// (CLIP, ViT) run only the selected samples through the model, which gives the same loss and gradients; a ResNet
/// runs the whole batch so batch normalisation sees what the official code's does. Learning rate: cosine over the
/// epochs, stepped once per epoch. Checkpoints after every epoch; <see cref="AdaptOptions.Resume"/> continues.
/// </summary>
public static class Adapter
{
    public static AdaptResult Train(AdaptOptions options, IImageDataset train, IImageDataset? test,
        IProgress<AdaptProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(train);
        Validate(options);
        var watch = Stopwatch.StartNew();
        var classes = train.Classes;
        if (test is not null) CheckSameClasses(train, test);

        var selection = options.TrainsOnAll ? null : SelectionFile.Read(options.SelectionPath!);
        var mask = selection is not null ? SelectionFile.Apply(selection, train)
            : options.LabelsPath is { } labelsPath ? SelectionMask.FromLabelFile(labelsPath, train)
            : SelectionMask.All(train);
        var participating = mask.Indices.Length;
        if (options.Limit is { } limit) mask = mask.Limit(limit, classes.Count);
        var holdout = Array.Empty<int>();
        if (options.HoldoutFraction is { } fraction)
        {
            var before = mask.SelectedCount;
            (mask, holdout) = mask.HoldOut(fraction, options.Seed, classes.Count);
            if (holdout.Length == 0)
                throw new DeftException($"{Setting.HoldoutFraction} {fraction} holds out no sample of the {before:N0} selected ones; raise it or drop it.");
        }
        // After the held-out split, so the validation part is the same with and without pseudo-labels.
        if (options.Unselected == UnselectedSamples.PseudoLabel)
            mask = PseudoLabels.Apply(mask, PseudoLabels.Choose(selection!, options.PseudoLabels, classes.Count), options.PseudoLabels.Weight, classes.Count);
        var trainIndices = mask.Indices;
        var selectedCount = mask.SelectedCount;
        if (selectedCount == 0)
            throw new DeftException(options.TrainsOnAll
                ? "The training set is empty."
                : $"{options.SelectionPath}: no sample is selected as clean (is_label_issue is true everywhere{(options.Limit is not null ? " within the first " + options.Limit + " samples" : "")}); nothing to train on.");
        var warnings = new List<string>();
        var notes = new List<string>();
        if (participating < train.Count)
            notes.Add($"{(options.TrainsOnAll ? options.LabelsPath : options.SelectionPath)} covers {participating:N0} of the data set's {train.Count:N0} samples; the others take no part");
        if (mask.PseudoLabelledCount > 0 || options.Unselected == UnselectedSamples.PseudoLabel)
            notes.Add($"{mask.PseudoLabelledCount:N0} flagged samples train with the detector's suggested label (its probability ≥ {Number(options.PseudoLabels.MinProbability)}, weight {Number(options.PseudoLabels.Weight)})");
        if (holdout.Length > 0)
            notes.Add($"held out {holdout.Length:N0} of the {holdout.Length + selectedCount - mask.PseudoLabelledCount:N0} {(options.TrainsOnAll ? "" : "selected ")}samples for validation (never trained on; scored against their given labels)");
        var missing = mask.ClassesWithoutSamples;
        if (missing.Count > 0)
            warnings.Add($"No {(options.TrainsOnAll ? "" : "selected ")}training sample has class {string.Join(", ", missing.Take(10).Select(k => $"{k} '{classes[k]}'"))}" +
                $"{(missing.Count > 10 ? $" (+{missing.Count - 10} more)" : "")}: the model never sees {(missing.Count == 1 ? "it" : "them")} labelled.");

        using var run = RunDirectory.Prepare(options, train, test, selectedCount, notes.Add);
        var peft = options.Peft ?? new PeftOptions(PeftKind.Full);
        var autoHead = options.HeadInit is null && options.Recipe != AdaptRecipe.Official;
        BackboneBuild build;
        try
        {
            build = BackboneLoader.Create(options.Model, options.Backbone, classes.Count, options.Resolution, peft, options.Seed,
                withTokenizer: options.HeadInit == HeadInit.Text || autoHead, options.Vocabulary);
        }
        catch (DeftException ex) when (autoHead)
        {
            // The default text head needs the model's vocabulary; without one, start from the random head and say so.
            build = BackboneLoader.Create(options.Model, options.Backbone, classes.Count, options.Resolution, peft, options.Seed, withTokenizer: false);
            notes.Add($"the default text head needs the model's vocabulary ({ex.Message.TrimEnd('.')}); starting from a random head (give the model's vocabulary, or choose the random head to silence this)");
        }
        using var network = build.Network;
        notes.AddRange(build.Notes);
        var kind = network.Kind;
        if (kind != BackboneKind.Clip && options.Peft is not null)
            throw new DeftException($"{Setting.Peft} applies to the CLIP backbone only; this model is a {kind.ToName()}.");
        if (kind != BackboneKind.Clip && options.HeadInit == HeadInit.Text)
            throw new DeftException($"{Setting.HeadInit} text needs CLIP's text tower; this model is a {kind.ToName()}.");
        var recipe = ResolveRecipe(options, kind);
        var headInit = build.Tokenizer is null && options.HeadInit is null ? HeadInit.Random : ResolveHeadInit(options, kind);
        var recipeSettings = recipe.Settings(options);
        if (options.LearningRateRule == LearningRateRule.Scaled)
        {
            if (kind != BackboneKind.Clip)
                throw new DeftException($"{Setting.LearningRateRule} scaled carries the official CLIP settings to another width; this model is a {kind.ToName()}.");
            var given = Hyperparameters.For(kind, options);
            var width = ((ClipClassifier)network).Clip.Config.Vision.Width;
            var scaled = ScaledSchedule.For(options.Epochs, given.LearningRate, options.BatchSize, trainIndices.Length, width);
            notes.Add($"learning-rate rule scaled: width {width}, batch {options.BatchSize}, {scaled.StepsPerEpoch:N0} steps/epoch → {scaled.Epochs} epochs, lr {Number(scaled.LearningRate)}, tower lr × {Number(scaled.TowerWidthFactor)}");
            options = options with { Epochs = scaled.Epochs, LearningRate = scaled.LearningRate };
            recipeSettings = recipeSettings with { TowerLearningRateScale = recipeSettings.TowerLearningRateScale * scaled.TowerWidthFactor };
        }
        if (recipeSettings.HeadOnlyEpochs < 0) throw new DeftException($"{Setting.HeadOnlyEpochs} must be ≥ 0, got {recipeSettings.HeadOnlyEpochs}.");
        if (recipeSettings.TowerLearningRateScale < 0) throw new DeftException($"{Setting.TowerLearningRateScale} must be ≥ 0, got {recipeSettings.TowerLearningRateScale}.");
        // Any recipe but the official one trains tower and head as two optimizer groups.
        var grouped = recipeSettings != AdaptRecipe.Official.Settings();
        if (kind != BackboneKind.Clip && grouped)
            throw new DeftException($"{Setting.Recipe} {recipe.ToName()} (and {Setting.TowerLearningRateScale}, {Setting.HeadOnlyEpochs}) applies to the CLIP backbone only; this model is a {kind.ToName()}.");
        if (options.WiseFt is not null && headInit != HeadInit.Text)
            throw new DeftException($"{Setting.WiseFt} mixes the fine-tuned weights with the zero-shot model's, which needs the text head ({Setting.HeadInit} text); this run starts from a {headInit.ToString().ToLowerInvariant()} head.");
        if (headInit == HeadInit.Text && run.Checkpoint is null)
            InitializeHeadFromText((ClipClassifier)network, build.Tokenizer!, classes, options,
                train, trainIndices, (options.Augment ?? DefaultAugment(train)).Eval(network.Resolution, options.Normalization ?? build.Normalization));

        run.Begin();
        var hp = Hyperparameters.For(kind, options);
        var (tower, head) = SplitTrainables(network);
        using var optimizer = grouped
            ? new GroupedOptimizer(hp.Optimizer, tower, head, hp.LearningRate, recipeSettings.TowerLearningRateScale, hp.Momentum, hp.WeightDecay)
            : AdaptOptimizers.Create(hp.Optimizer, network.Trainables, hp.LearningRate, hp.Momentum, hp.WeightDecay);
        using var loss = RobustLosses.Create(options.Loss, train.Count, classes.Count, options.LossOptions);
        var normalization = options.Normalization ?? build.Normalization;
        var augment = options.Augment ?? DefaultAugment(train);
        var loader = new BatchLoader(train, trainIndices, augment.Build(ImageSize(train), network.Resolution, normalization),
            new BatchLoaderOptions(options.BatchSize, Shuffle: true, Seed: options.Seed, Workers: options.Workers));
        var evalPipeline = augment.Eval(network.Resolution, normalization);

        var history = new List<EpochRecord>();
        var resumedAfter = 0;
        double? startAccuracy = null, startValidation = null;
        Dictionary<string, Tensor>? startWeights = null;
        double? ScoreHoldout(int epoch) => holdout.Length == 0 ? null
            : Evaluate(network, train, holdout, i => mask.GivenLabels[i], evalPipeline, options.BatchSize, options.Workers,
                (step, steps) => progress?.Report(new AdaptProgress("validate", epoch, options.Epochs, step, steps, double.NaN, optimizer.LearningRate)),
                cancellationToken).Accuracy;
        if (run.Checkpoint is { } checkpointPath)
        {
            var restored = AdaptCheckpoint.Load(checkpointPath, network, optimizer, loss, run.Fingerprint, withStart: options.WiseFt is not null);
            (resumedAfter, startAccuracy, startValidation, startWeights) = (restored.Epoch, restored.StartAccuracy, restored.StartValidation, restored.StartWeights);
            history.AddRange(restored.History);
            notes.Add($"resumed after epoch {resumedAfter} from {checkpointPath}");
        }
        else
        {
            // The zero-shot end of WiSE-FT's line: the weights before the first step.
            if (options.WiseFt is not null) startWeights = WiseFt.Snapshot(network.Trainables.Select(t => (t.Name, (Tensor)t.Parameter)));
            startValidation = ScoreHoldout(0);
        }
        if (run.Checkpoint is null && headInit == HeadInit.Text && test is not null)
        {
            // The starting model is the zero-shot classifier: its accuracy is the bar fine-tuning has to clear.
            startAccuracy = Evaluate(network, test, evalPipeline, options.BatchSize, options.Workers,
                (step, steps) => progress?.Report(new AdaptProgress("test", 0, options.Epochs, step, steps, double.NaN, optimizer.LearningRate)),
                cancellationToken).Accuracy;
        }

        var trainSeconds = history.Sum(h => h.TrainSeconds);
        var trainImages = (long)history.Sum(h => h.TrainedImages);
        var epochTask = new EpochTask(network, loss, loader, mask, options.Epochs, options.LabelSmoothing, progress)
        {
            // Head-only epochs (and a tower factor of 0) freeze the tower: no gradient flows into it, so it costs a forward pass only.
            Begin = epoch =>
            {
                var towerTrains = epoch > recipeSettings.HeadOnlyEpochs && recipeSettings.TowerLearningRateScale > 0;
                if (grouped) foreach (var (_, p) in tower) p.requires_grad = towerTrains;
            },
            End = record =>
            {
                var epoch = record.Epoch;
                double? testAccuracy = null;
                var testWatch = Stopwatch.StartNew();
                if (test is not null)
                    testAccuracy = Evaluate(network, test, evalPipeline, options.BatchSize, options.Workers,
                        (step, steps) => progress?.Report(new AdaptProgress("test", epoch, options.Epochs, step, steps, double.NaN, optimizer.LearningRate)),
                        cancellationToken).Accuracy;
                var validation = ScoreHoldout(epoch);
                record = record with { TestAccuracy = testAccuracy, TestSeconds = testWatch.Elapsed.TotalSeconds, ValidationAccuracy = validation };
                history.Add(record);
                trainSeconds += record.TrainSeconds;
                trainImages += record.TrainedImages;
                AdaptCheckpoint.Save(run.CheckpointPath, epoch, history, startAccuracy, startValidation, startWeights, network, optimizer, loss, run.Fingerprint);
            },
        };
        // Every step reports: adapt's progress stream (and its cancellation points in tests) is per batch.
        new TrainingLoop(optimizer, new LearningRateSchedule(hp.LearningRate, options.Epochs, options.ConstantLearningRate)) { ProgressIntervalMs = 0 }
            .Run(epochTask, resumedAfter + 1, options.Epochs, cancellationToken);
        if (grouped) foreach (var (_, p) in tower) p.requires_grad = true;

        WiseFtResult? wise = null;
        if (options.WiseFt is { } wiseOptions)
        {
            var targets = network.Trainables.Select(t => (t.Name, (Tensor)t.Parameter)).ToList();
            var endWeights = WiseFt.Snapshot(targets);
            try
            {
                var points = new List<WiseFtPoint>();
                if (holdout.Length > 0)
                    foreach (var alpha in wiseOptions.Alpha is { } given ? [given] : WiseFtOptions.AlphaGrid)
                    {
                        WiseFt.Mix(targets, startWeights!, endWeights, alpha);
                        points.Add(new WiseFtPoint(alpha, ScoreHoldout(options.Epochs)!.Value));
                    }
                var chosen = wiseOptions.Alpha ?? WiseFt.Choose(points);
                WiseFt.Mix(targets, startWeights!, endWeights, chosen);
                double? wiseTest = test is null ? null
                    : Evaluate(network, test, evalPipeline, options.BatchSize, options.Workers,
                        (step, steps) => progress?.Report(new AdaptProgress("test", options.Epochs, options.Epochs, step, steps, double.NaN, optimizer.LearningRate)),
                        cancellationToken).Accuracy;
                wise = new WiseFtResult(chosen, wiseOptions.Alpha is null, points, wiseTest);
            }
            finally
            {
                WiseFt.Dispose(endWeights);
            }
        }
        WiseFt.Dispose(startWeights);

        var tested = history.Where(h => h.TestAccuracy is not null).ToList();
        double? last = tested.Count > 0 ? tested[^1].TestAccuracy : null;
        var bestRecord = tested.OrderByDescending(h => h.TestAccuracy).ThenBy(h => h.Epoch).FirstOrDefault();
        var result = new AdaptResult(Path.GetFullPath(options.OutputDirectory), kind, history, last, bestRecord?.TestAccuracy, bestRecord?.Epoch,
            watch.Elapsed, trainIndices.Length, selectedCount, test?.Count ?? 0,
            trainSeconds > 0 ? trainImages / trainSeconds : 0, hp, warnings, notes, resumedAfter, recipe, headInit, augment.Text, startAccuracy,
            holdout.Length, startValidation, wise, mask.PseudoLabelledCount, options.Epochs,
            grouped ? hp.LearningRate * recipeSettings.TowerLearningRateScale : hp.LearningRate);
        AdaptedModel.Save(options.OutputDirectory, network, classes, normalization, options, result);
        run.Complete(result);
        return result;
    }

    /// <summary>The augmentation <c>auto</c> picks from the first training image's size (<see cref="AugmentSpec.ForImageSize"/>).</summary>
    internal static AugmentSpec DefaultAugment(IImageDataset train) => AugmentSpec.ForImageSize(ImageSize(train));

    /// <summary>The longer side of the first training image (32, CIFAR's, for an empty set).</summary>
    internal static int ImageSize(IImageDataset train)
    {
        if (train.Count == 0) return 32;
        var first = train.GetImage(0);
        return Math.Max(first.Width, first.Height);
    }

    /// <summary>The recipe a run uses: the option, else <see cref="AdaptRecipes.Default"/> for CLIP and official for the others.</summary>
    internal static AdaptRecipe ResolveRecipe(AdaptOptions options, BackboneKind kind) =>
        options.Recipe ?? (kind == BackboneKind.Clip ? AdaptRecipes.Default : AdaptRecipe.Official);

    /// <summary>The head a run starts from: the option, else the zero-shot (text) head for CLIP unless the recipe is official.</summary>
    internal static HeadInit ResolveHeadInit(AdaptOptions options, BackboneKind kind) =>
        options.HeadInit ?? (kind == BackboneKind.Clip && options.Recipe != AdaptRecipe.Official ? HeadInit.Text : HeadInit.Random);

    /// <summary>The tower's trainables and the head's (CLIP: <c>head.weight</c>, <c>head.bias</c>; other backbones: all tower).</summary>
    private static (List<(string Name, TorchSharp.Modules.Parameter Parameter)> Tower, List<(string Name, TorchSharp.Modules.Parameter Parameter)> Head) SplitTrainables(IAdaptNetwork network)
    {
        bool IsHead(string name) => network.Kind == BackboneKind.Clip && name is ClipClassifier.HeadWeight or ClipClassifier.HeadBias;
        return (network.Trainables.Where(t => !IsHead(t.Name)).ToList(), network.Trainables.Where(t => IsHead(t.Name)).ToList());
    }

    private static void Validate(AdaptOptions o)
    {
        if (string.IsNullOrWhiteSpace(o.Model)) throw new DeftException($"{Setting.Model} is required: random:<preset>, a CLIP directory or a state-dict file.");
        if (string.IsNullOrWhiteSpace(o.OutputDirectory)) throw new DeftException($"{Setting.OutputDirectory} DIR is required.");
        if (o.Epochs < 1) throw new DeftException($"{Setting.Epochs} must be ≥ 1, got {o.Epochs}.");
        if (o.BatchSize < 1) throw new DeftException($"{Setting.BatchSize} must be ≥ 1, got {o.BatchSize}.");
        if (o.LearningRate is < 0) throw new DeftException($"{Setting.LearningRate} must be ≥ 0, got {o.LearningRate}.");
        if (o.WeightDecay is < 0) throw new DeftException($"{Setting.WeightDecay} must be ≥ 0, got {o.WeightDecay}.");
        if (o.Momentum is < 0 or >= 1) throw new DeftException($"{Setting.Momentum} must lie in [0, 1), got {o.Momentum}.");
        if (o.Limit is < 1) throw new DeftException($"{Setting.Limit} must be ≥ 1, got {o.Limit}.");
        if (o.Resolution is < 1) throw new DeftException($"{Setting.Resolution} must be ≥ 1, got {o.Resolution}.");
        if (o.Resume && o.Force) throw new DeftException($"{Setting.Resume} continues the run in {Setting.OutputDirectory} and {Setting.Force} discards it; pass one of them.");
        if (o.LabelsPath is not null && !o.TrainsOnAll)
            throw new DeftException($"{Setting.Labels} applies to {Setting.Selection} all: a selection file (samples.csv) carries the given labels itself.");
        if (o.HoldoutFraction is { } h && !(h > 0 && h < 1)) throw new DeftException($"{Setting.HoldoutFraction} must lie strictly between 0 and 1, got {h}.");
        if (o.WiseFt?.Alpha is { } a && !(a >= 0 && a <= 1)) throw new DeftException($"{Setting.WiseFt} α must lie in [0, 1], got {a}.");
        if (o.WiseFt is { Alpha: null } && o.HoldoutFraction is null)
            throw new DeftException($"{Setting.WiseFt} auto chooses α on held-out selected samples: set {Setting.HoldoutFraction} (e.g. 0.1), or give α.");
        if (!(o.LabelSmoothing >= 0 && o.LabelSmoothing < 1)) throw new DeftException($"{Setting.LabelSmoothing} must lie in [0, 1), got {o.LabelSmoothing}.");
        if (o.Unselected == UnselectedSamples.PseudoLabel)
        {
            if (o.TrainsOnAll)
                throw new DeftException($"{Setting.UnselectedSamples} pseudo-label reads the detector's suggested labels from a selection file; give {Setting.Selection} samples.csv.");
            if (!(o.PseudoLabels.MinProbability >= 0 && o.PseudoLabels.MinProbability <= 1))
                throw new DeftException($"{Setting.PseudoLabelThreshold} must lie in [0, 1], got {o.PseudoLabels.MinProbability}.");
            if (!(o.PseudoLabels.Weight > 0 && double.IsFinite(o.PseudoLabels.Weight)))
                throw new DeftException($"{Setting.PseudoLabelWeight} must be > 0, got {o.PseudoLabels.Weight}.");
        }
        var weighted = o.Unselected == UnselectedSamples.PseudoLabel && o.PseudoLabels.Weight != 1;
        if ((weighted || o.LabelSmoothing > 0) && o.Loss != RobustLossKind.CE)
            throw new DeftException($"{(weighted ? Setting.PseudoLabelWeight : Setting.LabelSmoothing)} applies to the cross-entropy loss; {Setting.Loss} is {o.Loss.ToString().ToLowerInvariant()}.");
        if (o.HeadInit == HeadInit.Text && o.HeadTemplates.Count == 0) throw new DeftException($"{Setting.HeadInit} text needs at least one prompt template.");
    }

    /// <summary>Throws unless both data sets have the same class names in the same order.</summary>
    public static void CheckSameClasses(IImageDataset train, IImageDataset test)
    {
        var a = train.Classes;
        var b = test.Classes;
        if (a.SequenceEqual(b, StringComparer.Ordinal)) return;
        var first = Enumerable.Range(0, Math.Min(a.Count, b.Count)).FirstOrDefault(i => !string.Equals(a[i], b[i], StringComparison.Ordinal), -1);
        var where = first >= 0 ? $" First difference: class {first} is '{a[first]}' in training, '{b[first]}' in the test set." : "";
        throw new DeftException($"The test set's classes differ from the training set's: training has {a.Count} ({Preview(a)}), the test set {b.Count} ({Preview(b)}).{where} " +
            $"Both must list the same classes in the same order (use {Setting.ClassesFile} for idx/csv data).");
    }

    private static string Preview(IReadOnlyList<string> names) => string.Join(", ", names.Take(6)) + (names.Count > 6 ? ", …" : "");

    /// <summary>
    /// The zero-shot head with CLIP's temperature: W = s · T · projᵀ, s = exp(logit_scale) / mean ‖f · proj‖ over up to
    /// <see cref="HeadScaleSamples"/> training images, so an image of typical feature norm gets the zero-shot logits.
    /// </summary>
    private static void InitializeHeadFromText(ClipClassifier network, ClipTokenizer tokenizer, IReadOnlyList<string> classes, AdaptOptions options,
        IImageDataset train, int[] trainIndices, ImagePipeline evalPipeline)
    {
        using var zeroShot = ZeroShotClassifier.Create(network.Clip, tokenizer, classes, options.HeadTemplates);
        network.InitializeHeadFromText(zeroShot.ClassEmbeddings);
        var sample = trainIndices.Take(HeadScaleSamples).ToArray();
        var loader = new BatchLoader(train, sample, evalPipeline, new BatchLoaderOptions(Math.Max(options.BatchSize, 1), Shuffle: false, Workers: options.Workers));
        double normSum = 0;
        using (torch.no_grad())
            foreach (var batch in loader.ReadEpoch(0))
                using (batch)
                {
                    using var scope = torch.NewDisposeScope();
                    normSum += network.ProjectedNorms(batch.Images).sum().item<float>();
                }
        var meanNorm = normSum / Math.Max(1, sample.Length);
        using var logitScale = network.Clip.LogitScale.detach().exp();
        var scale = logitScale.item<float>();
        if (meanNorm > 0 && double.IsFinite(meanNorm)) network.ScaleHead(scale / meanNorm);
    }

    /// <summary>Training images whose projected-feature norm sets the text head's scale.</summary>
    internal const int HeadScaleSamples = 256;

    /// <summary>
    /// One adaptation epoch for <see cref="TrainingLoop"/>: the loss of a batch's selected samples (none selected: no
    /// step), their accuracy, and the epoch's record.
    /// </summary>
    private sealed class EpochTask(IAdaptNetwork network, IRobustLoss loss, BatchLoader loader, SelectionMask mask, int epochs,
        double labelSmoothing, IProgress<AdaptProgress>? progress) : ITrainingTask<Batch>
    {
        private double _lossSum, _lastLoss;
        private long _lossCount, _correct;
        private int _steps, _skipped, _images;

        /// <summary>Before an epoch's first batch (which parameters train).</summary>
        public Action<int>? Begin { get; init; }
        /// <summary>After an epoch's last batch, with its record (test accuracy still to come).</summary>
        public Action<EpochRecord>? End { get; init; }

        public int BatchCount => loader.BatchCount;

        // The loader's epochs count from 0; the run's from 1.
        public IEnumerable<Batch> Batches(int epoch, CancellationToken cancellationToken) => loader.ReadEpoch(epoch - 1, cancellationToken);

        public void BeginEpoch(int epoch)
        {
            _lossSum = 0;
            _lastLoss = double.NaN;
            _lossCount = _correct = 0;
            _steps = _skipped = _images = 0;
            Begin?.Invoke(epoch);
            network.SetTraining(true);
        }

        public Tensor? Loss(Batch batch, TrainingStep step)
        {
            var positions = SelectedPositions(batch.Indices, mask.Selected);
            if (positions.Length == 0)
            {
                _skipped++;
                _lastLoss = double.NaN;
                return null;
            }
            var labels = positions.Select(p => (long)mask.GivenLabels[batch.Indices[p]]).ToArray();
            var indices = positions.Select(p => batch.Indices[p]).ToArray();
            Tensor logits;
            if (network.BatchDependent || positions.Length == batch.Count)
            {
                var all = network.Logits(batch.Images);
                logits = positions.Length == batch.Count ? all : all.index_select(0, torch.tensor(positions.Select(p => (long)p).ToArray()));
                _images += batch.Count;
            }
            else
            {
                logits = network.Logits(batch.Images.index_select(0, torch.tensor(positions.Select(p => (long)p).ToArray())));
                _images += positions.Length;
            }
            var targets = torch.tensor(labels, device: logits.device);
            var value = mask.Weights is null && labelSmoothing == 0
                ? loss.Compute(logits, targets, torch.tensor(indices))
                : RobustLosses.CrossEntropy(logits, targets,
                    mask.Weights is { } w ? torch.tensor(indices.Select(i => (float)w[i]).ToArray(), device: logits.device) : null, labelSmoothing);
            var lossValue = value.detach().item<float>();
            _lastLoss = lossValue;
            _lossSum += lossValue * positions.Length;
            _lossCount += positions.Length;
            using (torch.no_grad()) _correct += logits.argmax(1).eq(targets).sum().item<long>();
            _steps++;
            return value;
        }

        public void ReportProgress(TrainingStep step, double learningRate) =>
            progress?.Report(new AdaptProgress("train", step.Epoch, epochs, step.Step, step.Steps, _lastLoss, learningRate));

        public void EndEpoch(int epoch, double learningRate, double seconds) =>
            End?.Invoke(new EpochRecord(epoch, _lossCount > 0 ? _lossSum / _lossCount : double.NaN, _lossCount > 0 ? (double)_correct / _lossCount : double.NaN,
                null, learningRate, _steps, _skipped, _images, seconds, 0));
    }

    /// <summary>Positions within a batch whose sample is selected.</summary>
    internal static int[] SelectedPositions(IReadOnlyList<long> batchIndices, bool[] selectedByIndex)
    {
        var positions = new List<int>(batchIndices.Count);
        for (var j = 0; j < batchIndices.Count; j++)
            if (selectedByIndex[batchIndices[j]]) positions.Add(j);
        return positions.ToArray();
    }

    /// <summary>
    /// The batch loss on logits of the whole batch [B, K]: the loss of the selected rows only (their mean for CE);
    /// null when none is selected. Unselected rows get no gradient.
    /// </summary>
    internal static Tensor? SelectedLoss(IRobustLoss loss, Tensor logits, int[] batchLabels, long[] batchIndices, bool[] selectedByIndex)
    {
        var positions = SelectedPositions(batchIndices, selectedByIndex);
        if (positions.Length == 0) return null;
        using var scope = torch.NewDisposeScope();
        var rows = logits.index_select(0, torch.tensor(positions.Select(p => (long)p).ToArray(), device: logits.device));
        var targets = torch.tensor(positions.Select(p => (long)batchLabels[p]).ToArray(), device: logits.device);
        var indices = torch.tensor(positions.Select(p => batchIndices[p]).ToArray());
        return loss.Compute(rows, targets, indices).MoveToOuterDisposeScope();
    }

    /// <summary>Top-1 accuracy of the network on a data set (its own labels) with the evaluation transform.</summary>
    internal static (double Accuracy, int Count) Evaluate(IAdaptNetwork network, IImageDataset data, ImagePipeline pipeline, int batchSize, int? workers,
        Action<int, int>? onStep, CancellationToken cancellationToken) =>
        Evaluate(network, data, Enumerable.Range(0, data.Count).ToArray(), null, pipeline, batchSize, workers, onStep, cancellationToken);

    /// <summary>Top-1 accuracy on the samples <paramref name="indices"/> of a data set against <paramref name="labelOf"/> (null: the data set's labels).</summary>
    internal static (double Accuracy, int Count) Evaluate(IAdaptNetwork network, IImageDataset data, int[] indices, Func<int, int>? labelOf,
        ImagePipeline pipeline, int batchSize, int? workers, Action<int, int>? onStep, CancellationToken cancellationToken)
    {
        network.SetTraining(false);
        var loader = new BatchLoader(data, indices, pipeline,
            new BatchLoaderOptions(Math.Max(batchSize, 1), Shuffle: false, Workers: workers));
        long correct = 0;
        var step = 0;
        using var noGrad = torch.no_grad();
        foreach (var batch in loader.ReadEpoch(0, cancellationToken))
        {
            using (batch)
            {
                using var scope = torch.NewDisposeScope();
                var predicted = network.Logits(batch.Images).argmax(1).cpu().data<long>().ToArray();
                for (var j = 0; j < predicted.Length; j++)
                    if (predicted[j] == (labelOf is null ? batch.Labels[j] : labelOf((int)batch.Indices[j]))) correct++;
            }
            onStep?.Invoke(++step, loader.BatchCount);
        }
        return (indices.Length > 0 ? (double)correct / indices.Length : double.NaN, indices.Length);
    }

    internal static string Number(double v) => v.ToString("0.######", CultureInfo.InvariantCulture);
}
