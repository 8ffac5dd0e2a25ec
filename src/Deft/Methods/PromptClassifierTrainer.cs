using Deft.Detection;
using Deft.Peft;
using Deft.Prompts;
using Deft.Training;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Deft.Methods;

/// <summary>
/// The plain CoOp classifier the training baselines use: DeFT's network (same CLIP, same PEFT modules, same prompt
/// learner, initialised from the seed in the same order) of which only the positive prompts are used and trained.
/// </summary>
internal sealed class PromptClassifier : IDisposable
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
    public MomentumSgd Optimizer { get; }

    public void Dispose()
    {
        Optimizer.Dispose();
        Network.Dispose();
        _peft.Dispose();
        _prompts.Dispose();
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
/// Trains the CoOp classifier with cross-entropy on the given labels as DeFT's trainer does (same sources, shuffle,
/// augmentation, SGD with momentum and weight decay, learning rate on the cosine schedule of <c>--epochs</c> stepped
/// once per epoch), but the loss of a batch is the mean cross-entropy over the samples <see cref="Select"/> keeps
/// (all when it is null).
/// </summary>
internal sealed class PromptClassifierTrainer
{
    private readonly DeftNetwork _net;
    private readonly LabelAssignment _labels;
    private readonly DetectOptions _options;
    private readonly TrainingSource _source;
    private readonly MomentumSgd _sgd;
    private readonly bool[]? _isClean;

    public PromptClassifierTrainer(DeftNetwork net, LabelAssignment labels, DetectOptions options, TrainingSource source, MomentumSgd sgd)
    {
        _net = net;
        _labels = labels;
        _options = options;
        _source = source;
        _sgd = sgd;
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
    private sealed class EpochTask(PromptClassifierTrainer trainer, int epochs) : ITrainingTask<SourceBatch>
    {
        private readonly PromptClassifierTrainer _t = trainer;
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
            var imageFeatures = batch.Features ?? _t._net.ImageFeatures(batch.Images!);
            var logits = Logits(imageFeatures, _t._net.PositiveTextFeatures(), _t._net.Clip.LogitScale);
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

    /// <summary>exp(logit_scale) · normalised image features · normalised text featuresᵀ, [B, C].</summary>
    internal static Tensor Logits(Tensor imageFeatures, Tensor textFeatures, Tensor logitScale)
    {
        using var scope = NewDisposeScope();
        var img = F.normalize(imageFeatures, dim: -1);
        var text = F.normalize(textFeatures, dim: -1);
        return (img.matmul(text.t()) * logitScale.detach().exp()).MoveToOuterDisposeScope();
    }

    /// <summary>One pass without augmentation or training over every sample (the source's eval order).</summary>
    public static ClassifierPass Evaluate(DeftNetwork net, LabelAssignment labels, TrainingSource source, IProgress<DetectProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        using var noGrad = no_grad();
        var count = labels.Count;
        var pass = new ClassifierPass(new double[count], new double[count], new int[count], new double[count]);
        var seen = new bool[count];
        using var textScope = NewDisposeScope();
        var text = net.PositiveTextFeatures();
        var step = 0;
        foreach (var batch in source.EvalPass(cancellationToken))
        {
            using var owned = batch;
            using var scope = NewDisposeScope();
            step++;
            var imageFeatures = batch.Features ?? net.ImageFeatures(batch.Images!);
            var logSoftmax = Logits(imageFeatures, text, net.Clip.LogitScale).to(ScalarType.Float64).log_softmax(1);
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
