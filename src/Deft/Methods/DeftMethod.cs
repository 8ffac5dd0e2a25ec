using System.Globalization;
using System.Text.Json;
using Deft.Clip;
using Deft.Training;
using Deft.Data.Transforms;
using Deft.Detection;
using Deft.Peft;
using Deft.Prompts;
using TorchSharp;
using static TorchSharp.torch;

namespace Deft.Methods;

/// <summary>
/// DeFT phase 1 (the paper's method): trains the dual positive/negative prompts (and PEFT modules) on the given labels
/// with a per-epoch checkpoint (resumable), and reports per sample the probability that its label is right. The
/// selections come from the last epoch's augmented views or from one deterministic pass after training
/// (<see cref="DetectOptions.Selection"/>). The trained prompts and PEFT weights are handed back as the detector file.
/// </summary>
internal sealed class DeftMethod : IDetectionMethod
{
    public DetectionMethod Method => DetectionMethod.Deft;

    public MethodOutcome Run(MethodContext context, CancellationToken cancellationToken)
    {
        var options = context.Options;
        var bundle = context.Bundle;
        var clip = bundle.Model;
        var trained = TrainedDeft.Create(context);
        try
        {
            var coreThreads = torch.get_num_threads();
            try
            {
                var textMacs = ThreadPlan.TextMacs(clip.Config.Text, trained.Network.TextTokensPerStep);
                return Train(context, trained, ThreadPlan.Choose(options.Threads, options.Peft, options.BatchSize, clip.Config.Vision, coreThreads, textMacs), cancellationToken);
            }
            finally
            {
                torch.set_num_threads(coreThreads);
            }
        }
        catch
        {
            trained.Dispose();
            throw;
        }
    }

    private static MethodOutcome Train(MethodContext context, TrainedDeft trained, ThreadPlan threads, CancellationToken cancellationToken)
    {
        var options = context.Options;
        var (labels, progress, warn, net) = (context.Labels, context.Progress, context.Warn, trained.Network);
        var checkpointPath = context.CheckpointPath;
        torch.set_num_threads(threads.Images);
        var (trainPipeline, evalPipeline) = DeftDetector.Pipelines(options.Format, context.Augment, context.Bundle.Resolution, context.Normalization);
        using TrainingSource source = options.Peft.AdaptsImageTower
            ? new ImageTrainingSource(context.Dataset, labels, trainPipeline, evalPipeline, options.BatchSize, options.Seed, options.Workers)
            : context.FrozenFeatures(evalPipeline, cancellationToken);

        var trainingSettings = DetectionSettingsJson.TrainingPart(options, labels, context.Normalization, context.Augment);
        var (fingerprint, settingsJson) = (DetectionSettingsJson.Hash(trainingSettings), trainingSettings.ToJsonString());
        var legacyFingerprint = LegacyFingerprint(options, labels, context.Normalization, context.Augment);
        using var sgd = new MomentumSgd(net.Trainables.Select(t => (Tensor)t.Parameter).ToArray(),
            options.LearningRate, options.Momentum, options.WeightDecay) { Float16Storage = options.Fp16Trainables };
        // The official code creates them in fp16 too: start from values float16 can hold (idempotent on resume).
        if (options.Fp16Trainables)
            using (torch.no_grad())
                foreach (var t in net.Trainables) MomentumSgd.RoundToHalf(t.Parameter);
        // pred_probs: the positive prompts' softmax over classes, kept unless it would take more than 256 MB as doubles.
        var keepProbabilities = (long)labels.Count * labels.ClassCount <= MaxKeptProbabilities;
        using var test = PromptTestEvaluation.Open(context, evalPipeline, cancellationToken);
        var trainer = new DeftTrainer(net, labels, options, source, sgd)
        {
            KeepClassProbabilities = keepProbabilities,
            Progress = TestHooks.Active ? new PausingProgress(progress) : progress,
            Warn = warn,
            EpochCompleted = state =>
            {
                // Before the checkpoint, so a resumed run keeps the figure of every finished epoch.
                test?.Record(net, state, options.Variant, progress, cancellationToken);
                if (checkpointPath is not null) TrainingCheckpoint.Save(checkpointPath, state, net.Trainables, sgd, fingerprint, settingsJson);
            },
        };
        if (checkpointPath is not null && options.Resume && File.Exists(checkpointPath))
        {
            TrainingCheckpoint.Load(checkpointPath, trainer.State, net.Trainables, sgd, fingerprint, labels.Count, legacyFingerprint, settingsJson);
            warn?.Invoke($"resuming from {checkpointPath} after epoch {trainer.State.CompletedEpochs} of {options.Epochs}.");
        }
        // The checkpoint is the state now; outputs of an earlier (interrupted or finished) pass must not look current.
        if (checkpointPath is not null && options.Resume) DetectionWriter.RemoveFinalOutputs(options.OutputDirectory);

        try
        {
            torch.set_num_threads(threads.Training);
            trainer.Train(cancellationToken);
        }
        catch (NonFiniteLossException ex)
        {
            var epochs = trainer.State.CompletedEpochs;
            DeftException loss = ex; // keeps the settings its message names
            if (epochs > 0 && checkpointPath is not null)
                throw new DeftException($"{loss} The last good checkpoint is {checkpointPath} (after epoch {epochs}); continue from it with {Setting.Resume}.", ex);
            throw new DeftException($"{loss} {(epochs > 0 ? $"Training diverged after epoch {epochs}." : "No checkpoint was written yet.")}", ex);
        }
        torch.set_num_threads(threads.Images);
        context.Timings["train_seconds"] = trainer.State.TrainSeconds;

        PassScores scores;
        if (options.Selection == SelectionSource.Eval)
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            scores = DeftTrainer.Evaluate(net, labels, source, progress, cancellationToken, options.Variant, keepProbabilities);
            context.Timings["eval_seconds"] = clock.Elapsed.TotalSeconds;
        }
        else
        {
            scores = trainer.State.LastEpochScores ?? throw new InvalidOperationException("Training finished without scores.");
        }
        var settings = new Dictionary<string, object?> { ["threads"] = threads.Images, ["train_threads"] = threads.Training };
        if (!keepProbabilities)
            warn?.Invoke($"pred_probs are not kept for {labels.Count} samples × {labels.ClassCount} classes (more than {MaxKeptProbabilities} values).");
        return new MethodOutcome(ToMethodScores(scores), options.Selection.ToName(), trainer.State.Epochs, settings)
        {
            Detector = trained, Probabilities = ToProbabilities(scores),
        };
    }

    /// <summary>The most class probabilities (samples × classes) an outcome keeps: 256 MB as doubles.</summary>
    internal const long MaxKeptProbabilities = 1L << 25;

    /// <summary>The kept softmax of the positive logits as [N, K] by position; null when the pass kept none (or was restored from a checkpoint).</summary>
    internal static double[,]? ToProbabilities(PassScores scores)
    {
        if (scores.ClassProbabilities is not { } p) return null;
        var (n, k) = (scores.Count, scores.ClassCount);
        var result = new double[n, k];
        for (var i = 0; i < n; i++)
            for (var j = 0; j < k; j++) result[i, j] = p[(long)i * k + j];
        return result;
    }

    /// <summary>p_clean of the given label, the selection verdict, and the predicted class with its probability.</summary>
    internal static MethodScores ToMethodScores(PassScores scores)
    {
        var n = scores.CleanProbability.Length;
        var isIssue = new bool[n];
        for (var p = 0; p < n; p++) isIssue[p] = !scores.IsSelected(p);
        return new MethodScores(scores.CleanProbability.Select(v => (double)v).ToArray(), isIssue, scores.Predicted.ToArray(),
            scores.PredictedProbability.Select(v => (double)v).ToArray());
    }

    /// <summary>Forwards training progress and honours <see cref="TestHooks"/>' <c>train:E:S</c> stages.</summary>
    private sealed class PausingProgress(IProgress<DetectProgress>? inner) : IProgress<DetectProgress>
    {
        public void Report(DetectProgress value)
        {
            inner?.Report(value);
            if (value.Phase == "train") TestHooks.PauseBefore(FormattableString.Invariant($"train:{value.Epoch}:{value.Step}"));
        }
    }

    /// <summary>The prompts, PEFT modules and the network around the CLIP model; saved as the detector file.</summary>
    private sealed class TrainedDeft : ITrainedDetector
    {
        private readonly Generator _generator;
        private readonly DualPromptLearner _prompts;
        private readonly VisionPeft _peft;
        private readonly DetectorConfig _config;

        private TrainedDeft(Generator generator, DualPromptLearner prompts, VisionPeft peft, DeftNetwork network, DetectorConfig config) =>
            (_generator, _prompts, _peft, Network, _config) = (generator, prompts, peft, network, config);

        public DeftNetwork Network { get; }

        public static TrainedDeft Create(MethodContext context)
        {
            var (options, bundle) = (context.Options, context.Bundle);
            var clip = bundle.Model;
            // One generator, drawn in a fixed order (prompt contexts, then PEFT modules), so a seed fixes the start.
            var generator = new Generator((ulong)options.Seed);
            DualPromptLearner? prompts = null;
            VisionPeft? peft = null;
            try
            {
                prompts = new DualPromptLearner(context.Classes, options.Prompts, new ClipPromptTokenizer(bundle.Tokenizer),
                    clip.TokenEmbedding, clip.Config.Text.ContextLength, generator);
                peft = VisionPeft.Create(options.Peft, clip.Config.Vision, generator);
                var net = new DeftNetwork(clip, peft, prompts);
                return new TrainedDeft(generator, prompts, peft, net, DetectorConfig.From(options, context.Classes, context.Normalization));
            }
            catch
            {
                peft?.Dispose();
                prompts?.Dispose();
                generator.Dispose();
                throw;
            }
        }

        public void Save(string path) => DetectorFile.Save(path, _config, Network.Trainables);

        public void Dispose()
        {
            Network.Dispose();
            _peft.Dispose();
            _prompts.Dispose();
            _generator.Dispose();
        }
    }

    /// <summary>
    /// The fingerprint checkpoints held before it was <see cref="DetectionSettingsJson.TrainingPart"/>'s hash (kept so
    /// they still resume; nothing new is written with it).
    /// </summary>
    internal static string LegacyFingerprint(DetectOptions o, LabelAssignment labels, Normalization normalization, AugmentPreset augment) =>
        JsonSerializer.Serialize(new SortedDictionary<string, string?>
        {
            ["model"] = o.Model,
            ["data"] = Path.GetFullPath(o.Data),
            ["format"] = o.Format.ToLowerInvariant(),
            ["split"] = o.Split.ToLowerInvariant(),
            ["labels"] = labels.Fingerprint(),
            ["peft"] = $"{o.Peft.Name} partial={o.Peft.Partial} vpt={o.Peft.VptLength} rank={o.Peft.LoraRank} adapter={o.Peft.AdapterDim}",
            ["prompts"] = $"{o.Prompts.ContextLength} {o.Prompts.Position.ToName()} csc={o.Prompts.ClassSpecific} init={o.Prompts.InitWords}",
            ["schedule"] = FormattableString.Invariant($"epochs={o.Epochs} warmup={o.Warmup} batch={o.BatchSize} lr={o.LearningRate} momentum={o.Momentum} wd={o.WeightDecay}"),
            ["seed"] = o.Seed.ToString(CultureInfo.InvariantCulture),
            ["dtype"] = o.Precision.ToString(),
            ["preprocess"] = $"{normalization} {augment}",
            // Absent for the synthetic variant, so checkpoints written before variants existed still resume.
            ["variant"] = o.Variant == DeftVariant.Synthetic ? null : o.Variant.ToName(),
        });
}
