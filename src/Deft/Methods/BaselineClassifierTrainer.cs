using Deft.Clip;
using Deft.Detection;
using Deft.Peft;
using Deft.Prompts;
using Deft.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Deft.Methods;

/// <summary>
/// The classifier a training baseline (small-loss, gmm) trains on the given labels, with its optimizer: CoOp prompts
/// or the official linear head (<see cref="BaselineClassifier"/>). The trainer asks it only for logits.
/// </summary>
internal abstract class LabelClassifier : IDisposable
{
    public abstract MomentumSgd Optimizer { get; }

    /// <summary>Whether its frozen-tower input is ln_post(class token) before the projection (else the projected features).</summary>
    public abstract bool NeedsPreProjectionFeatures { get; }

    /// <summary>Logits [B, C] of a training batch, with the graph for the backward pass.</summary>
    public abstract Tensor Logits(SourceBatch batch);

    /// <summary>Multiply-accumulates of the text-tower forward in one training step (for <see cref="ThreadPlan"/>).</summary>
    public virtual double TextStepMacs => 0;

    /// <summary>
    /// The logits of evaluation batches. What is the same for every batch of a pass (the prompts' text features) is
    /// computed once, in the caller's dispose scope; call it under no_grad.
    /// </summary>
    public abstract Func<SourceBatch, Tensor> EvaluationLogits();

    public abstract void Dispose();

    /// <summary>The classifier <see cref="DetectOptions.Classifier"/> names, initialised from the seed.</summary>
    public static LabelClassifier Create(MethodContext context) => context.Options.Classifier switch
    {
        BaselineClassifier.LinearHead => new LinearHeadClassifier(context.Bundle.Model, context.Options, context.Classes.Count),
        _ => new PromptClassifier(context),
    };
}

/// <summary>
/// The plain CoOp classifier: DeFT's network (same CLIP, same PEFT modules, same prompt learner, initialised from the
/// seed in the same order) of which only the positive prompts are used and trained.
/// </summary>
internal sealed class PromptClassifier : LabelClassifier
{
    private readonly Generator _generator;
    private readonly DualPromptLearner _prompts;
    private readonly VisionPeft _peft;

    public PromptClassifier(MethodContext context)
    {
        var o = context.Options;
        var clip = context.Bundle.Model;
        _generator = new Generator((ulong)o.Seed);
        _prompts = new DualPromptLearner(context.Classes, o.Prompts, new ClipPromptTokenizer(context.Bundle.Tokenizer),
            clip.TokenEmbedding, clip.Config.Text.ContextLength, _generator);
        _peft = VisionPeft.Create(o.Peft, clip.Config.Vision, _generator);
        Network = new DeftNetwork(clip, _peft, _prompts);
        // The negative context never receives a gradient, so the optimizer skips it and it stays as initialised.
        Optimizer = new MomentumSgd(Network.Trainables.Select(t => (Tensor)t.Parameter).ToArray(), o.LearningRate, o.Momentum, o.WeightDecay);
    }

    public DeftNetwork Network { get; }
    public override MomentumSgd Optimizer { get; }
    public override bool NeedsPreProjectionFeatures => false;
    public override double TextStepMacs => ThreadPlan.TextMacs(Network.Clip.Config.Text, Network.PositiveTextTokensPerStep);

    public override Tensor Logits(SourceBatch batch) =>
        PromptLogits(batch.Features ?? Network.ImageFeatures(batch.Images!), Network.PositiveTextFeatures(), Network.Clip.LogitScale);

    public override Func<SourceBatch, Tensor> EvaluationLogits()
    {
        var text = Network.PositiveTextFeatures();
        return batch => PromptLogits(batch.Features ?? Network.ImageFeatures(batch.Images!), text, Network.Clip.LogitScale);
    }

    /// <summary>exp(logit_scale) · normalised image features · normalised text featuresᵀ, [B, C].</summary>
    internal static Tensor PromptLogits(Tensor imageFeatures, Tensor textFeatures, Tensor logitScale)
    {
        using var scope = NewDisposeScope();
        var img = F.normalize(imageFeatures, dim: -1);
        var text = F.normalize(textFeatures, dim: -1);
        return (img.matmul(text.t()) * logitScale.detach().exp()).MoveToOuterDisposeScope();
    }

    public override void Dispose()
    {
        Optimizer.Dispose();
        Network.Dispose();
        _peft.Dispose();
        _prompts.Dispose();
        _generator.Dispose();
    }
}

/// <summary>
/// The official baselines' classifier (<c>model/CLIP.py</c>: <c>head = nn.Linear(width, num_class)</c>, logits =
/// head(ln_post(class token))): PEFT modules first, then the head, from one generator seeded with the seed (the
/// official tuner builds VPT before the head); the head has nn.Linear's default initialisation, weight and bias
/// U(−1/√W, 1/√W). Trainable: the head, the PEFT modules and, for bias/full, the chosen image-tower parameters (the
/// official FFT config is <c>full</c>); the text tower is unused.
/// </summary>
internal sealed class LinearHeadClassifier : LabelClassifier
{
    private readonly Generator _generator;
    private readonly VisionPeft _peft;
    private readonly ClipModel _clip;

    public LinearHeadClassifier(ClipModel clip, DetectOptions options, int classCount)
    {
        _clip = clip;
        _generator = new Generator((ulong)options.Seed);
        _peft = VisionPeft.Create(options.Peft, clip.Config.Vision, _generator);
        var width = clip.Config.Vision.Width;
        Weight = new Parameter(empty(classCount, width, device: clip.Device));
        Bias = new Parameter(empty(classCount, device: clip.Device));
        Deft.Adaptation.AdaptNetworkHelpers.LinearDefaultInit(Weight, Bias, _generator);
        var clipTrained = _peft.Attach(clip);
        Trainables = [.. _peft.Parameters.Select(p => p.Parameter), .. clipTrained.Select(p => p.Parameter), Weight, Bias];
        foreach (var p in Trainables) p.requires_grad = true;
        Optimizer = new MomentumSgd(Trainables.Select(p => (Tensor)p).ToArray(), options.LearningRate, options.Momentum, options.WeightDecay);
    }

    /// <summary>The head's weight [C, W].</summary>
    public Parameter Weight { get; }
    /// <summary>The head's bias [C].</summary>
    public Parameter Bias { get; }
    /// <summary>What the optimizer updates: PEFT modules, trained CLIP parameters, then the head.</summary>
    public IReadOnlyList<Parameter> Trainables { get; }
    public override MomentumSgd Optimizer { get; }
    public override bool NeedsPreProjectionFeatures => true;

    public override Tensor Logits(SourceBatch batch) => F.linear(batch.Features ?? _clip.EncodeImagePreProjection(batch.Images!), Weight, Bias);

    public override Func<SourceBatch, Tensor> EvaluationLogits() => Logits;

    public override void Dispose()
    {
        Optimizer.Dispose();
        _peft.Dispose();
        Weight.Dispose();
        Bias.Dispose();
        _generator.Dispose();
    }
}

/// <summary>Decides which samples of a batch train the classifier: a mask over the batch, from the per-sample losses.</summary>
/// <param name="epoch">The epoch, from 1.</param>
/// <param name="losses">Per-sample cross-entropy of the batch, in batch order.</param>
/// <param name="positions">The samples' assignment positions, in batch order.</param>
public delegate bool[] BatchSelector(int epoch, double[] losses, IReadOnlyList<int> positions);

/// <summary>A deterministic pass of the classifier over every sample, by assignment position.</summary>
/// <param name="GivenProbability">softmax at the given label.</param>
/// <param name="Loss">Cross-entropy against the given label (−log of <paramref name="GivenProbability"/>, computed stably).</param>
/// <param name="Predicted">argmax of the logits.</param>
/// <param name="PredictedProbability">softmax at <paramref name="Predicted"/>.</param>
public sealed record ClassifierPass(double[] GivenProbability, double[] Loss, int[] Predicted, double[] PredictedProbability);

/// <summary>
/// Trains a baseline's classifier with cross-entropy on the given labels as DeFT's trainer does (same sources, shuffle,
/// augmentation, SGD with momentum and weight decay, learning rate on the cosine schedule of <c>--epochs</c> stepped
/// once per epoch), but the loss of a batch is the mean cross-entropy over the samples <see cref="Select"/> keeps
/// (all when it is null).
/// </summary>
internal sealed class BaselineClassifierTrainer
{
    private readonly LabelClassifier _classifier;
    private readonly LabelAssignment _labels;
    private readonly DetectOptions _options;
    private readonly TrainingSource _source;
    private readonly MomentumSgd _sgd;
    private readonly bool[]? _isClean;

    public BaselineClassifierTrainer(LabelClassifier classifier, LabelAssignment labels, DetectOptions options, TrainingSource source)
    {
        _classifier = classifier;
        _labels = labels;
        _options = options;
        _source = source;
        _sgd = classifier.Optimizer;
        _isClean = labels.CleanMask();
    }

    public BatchSelector? Select { get; set; }
    public IProgress<DetectProgress>? Progress { get; init; }
    public Action<string>? Warn { get; init; }

    public List<EpochRecord> Epochs { get; } = new();
    /// <summary>Per assignment position: whether the sample was kept in the last trained epoch.</summary>
    public bool[]? LastEpochKept { get; private set; }
    public double TrainSeconds { get; private set; }

    /// <summary>Trains epochs 1..<paramref name="epochs"/> (≤ --epochs; the schedule is always that of --epochs).</summary>
    public void Train(int epochs, CancellationToken cancellationToken = default) => Train(1, epochs, epochs, cancellationToken);

    /// <summary>
    /// Trains epochs <paramref name="first"/>..<paramref name="last"/> (from 1, ≤ --epochs) at the schedule's rates for
    /// those epochs; progress counts them out of <paramref name="shownEpochs"/>.
    /// </summary>
    public void Train(int first, int last, int shownEpochs, CancellationToken cancellationToken = default)
    {
        if (first < 1 || last < first || last > _options.Epochs)
            throw new ArgumentOutOfRangeException(nameof(last), last, $"Train epochs between 1 and the schedule's {_options.Epochs} (asked {first}..{last}).");
        new TrainingLoop(_sgd, new LearningRateSchedule(_options.LearningRate, _options.Epochs))
            .Run(new EpochTask(this, shownEpochs), first, last, cancellationToken);
    }

    /// <summary>One epoch for <see cref="TrainingLoop"/>: the mean cross-entropy of the kept samples and the epoch's figures.</summary>
    private sealed class EpochTask(BaselineClassifierTrainer trainer, int epochs) : ITrainingTask<SourceBatch>
    {
        private readonly BaselineClassifierTrainer _t = trainer;
        private bool[] _kept = null!, _seen = null!;
        private double _lossSum, _keptLossSum;
        private long _visited, _keptTotal, _keptClean, _clean, _cleanKept;
        private int _steps, _emptyBatches;

        public int BatchCount => _t._source.BatchCount;

        public IEnumerable<SourceBatch> Batches(int epoch, CancellationToken cancellationToken) => _t._source.TrainEpoch(epoch, cancellationToken);

        public void BeginEpoch(int epoch)
        {
            _kept = new bool[_t._labels.Count];
            _seen = new bool[_t._labels.Count];
            _lossSum = _keptLossSum = 0;
            _visited = _keptTotal = _keptClean = _clean = _cleanKept = 0;
            _steps = _emptyBatches = 0;
        }

        public Tensor? Loss(SourceBatch batch, TrainingStep step)
        {
            var n = batch.Count;
            var y = tensor(batch.Positions.Select(p => (long)_t._labels.Labels[p]).ToArray());
            var logits = _t._classifier.Logits(batch);
            var perSample = F.cross_entropy(logits, y, reduction: nn.Reduction.None);
            var losses = perSample.detach().to(ScalarType.Float64).cpu().data<double>().ToArray();
            // Every sample's loss, kept or not, must be finite: the selectors rank them.
            for (var i = 0; i < n; i++)
                if (!double.IsFinite(losses[i])) throw new NonFiniteLossException(step.Epoch, step.Step, (float)losses[i]);

            var keep = _t.Select?.Invoke(step.Epoch, losses, batch.Positions) ?? Enumerable.Repeat(true, n).ToArray();
            if (keep.Length != n) throw new InvalidOperationException($"The batch selector returned {keep.Length} flags for {n} samples.");
            var rows = Enumerable.Range(0, n).Where(i => keep[i]).Select(i => (long)i).ToArray();
            Tensor? loss = null;
            if (rows.Length > 0)
            {
                loss = perSample.index_select(0, tensor(rows)).mean();
                _keptLossSum += loss.detach().item<float>() * rows.Length;
            }
            else
            {
                _emptyBatches++;
            }

            var isClean = _t._isClean;
            for (var i = 0; i < n; i++)
            {
                var p = batch.Positions[i];
                _kept[p] = keep[i];
                _seen[p] = true;
                if (isClean is null) continue;
                if (keep[i] && isClean[p]) _keptClean++;
                if (isClean[p]) { _clean++; if (keep[i]) _cleanKept++; }
            }
            _lossSum += losses.Sum();
            _visited += n;
            _keptTotal += rows.Length;
            _steps = step.Step;
            return loss;
        }

        private double? Precision => _t._isClean is null ? null : _keptTotal == 0 ? 0 : (double)_keptClean / _keptTotal;
        private double? Recall => _t._isClean is null ? null : _clean == 0 ? 0 : (double)_cleanKept / _clean;

        public void ReportProgress(TrainingStep step, double learningRate) =>
            _t.Progress?.Report(new DetectProgress("train", step.Epoch, epochs, step.Step, step.Steps, _lossSum / _visited,
                (double)_keptTotal / _visited, Precision, Recall, learningRate));

        public void EndEpoch(int epoch, double learningRate, double seconds)
        {
            if (_seen.Any(s => !s)) throw new InvalidOperationException($"Epoch {epoch} did not visit every sample.");
            if (_emptyBatches > 0)
                _t.Warn?.Invoke($"epoch {epoch}: {_emptyBatches} of {_steps} batches kept no sample; they took no step.");
            _t.LastEpochKept = _kept;
            _t.TrainSeconds += seconds;
            _t.Epochs.Add(new EpochRecord(epoch, learningRate, _lossSum / _visited, _keptTotal == 0 ? 0 : _keptLossSum / _keptTotal, 0,
                (double)_keptTotal / _visited, seconds, Precision, Recall));
        }
    }

    /// <summary>One pass without augmentation or training over every sample (the source's eval order).</summary>
    public static ClassifierPass Evaluate(LabelClassifier classifier, LabelAssignment labels, TrainingSource source, IProgress<DetectProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        using var noGrad = no_grad();
        var count = labels.Count;
        var pass = new ClassifierPass(new double[count], new double[count], new int[count], new double[count]);
        var seen = new bool[count];
        using var textScope = NewDisposeScope();
        var logitsOf = classifier.EvaluationLogits();
        var step = 0;
        foreach (var batch in source.EvalPass(cancellationToken))
        {
            using var owned = batch;
            using var scope = NewDisposeScope();
            step++;
            var logSoftmax = logitsOf(batch).to(ScalarType.Float64).log_softmax(1);
            var given = tensor(batch.Positions.Select(p => (long)labels.Labels[p]).ToArray()).unsqueeze(1);
            var logGiven = logSoftmax.gather(1, given).squeeze(1).cpu().data<double>().ToArray();
            var (top, arg) = logSoftmax.max(1);
            var logTop = top.cpu().data<double>().ToArray();
            var predicted = arg.cpu().data<long>().ToArray();
            for (var i = 0; i < batch.Count; i++)
            {
                var p = batch.Positions[i];
                pass.GivenProbability[p] = Math.Exp(logGiven[i]);
                pass.Loss[p] = -logGiven[i];
                pass.Predicted[p] = (int)predicted[i];
                pass.PredictedProbability[p] = Math.Exp(logTop[i]);
                seen[p] = true;
            }
            progress?.Report(new DetectProgress("eval", 0, 0, step, source.BatchCount, double.NaN, double.NaN, null, null, 0));
        }
        if (seen.Any(s => !s)) throw new InvalidOperationException("The evaluation pass did not visit every sample.");
        return pass;
    }
}
