using Deft.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Deft.Detection;

/// <summary>Per-sample results of one pass, by assignment position.</summary>
public sealed class PassScores
{
    /// <param name="count">Samples in the pass.</param>
    /// <param name="classesToKeep">When positive, the softmax of the positive logits is kept for every sample
    /// (<see cref="ClassProbabilities"/>, count × classesToKeep floats); 0 keeps only the top class.</param>
    public PassScores(int count, int classesToKeep = 0)
    {
        if (classesToKeep > 0)
        {
            ClassCount = classesToKeep;
            ClassProbabilities = new float[(long)count * classesToKeep];
        }
        CleanProbability = new float[count];
        Predicted = new int[count];
        PredictedProbability = new float[count];
        Seen = new bool[count];
        Selected = new bool[count];
    }

    /// <summary>p_clean: p_yes of the given label.</summary>
    public float[] CleanProbability { get; }
    /// <summary>Row-major [count, <see cref="ClassCount"/>] softmax of the positive logits, when kept; else null.</summary>
    public float[]? ClassProbabilities { get; }
    /// <summary>Columns of <see cref="ClassProbabilities"/> (0 when not kept).</summary>
    public int ClassCount { get; }
    /// <summary>argmax of the positive logits.</summary>
    public int[] Predicted { get; }
    /// <summary>softmax of the positive logits at <see cref="Predicted"/>.</summary>
    public float[] PredictedProbability { get; }
    public bool[] Seen { get; }
    /// <summary>Whether the sample was selected as clean (<see cref="DeftObjective.Select"/> under the run's rule).</summary>
    public bool[] Selected { get; }
    public int Count => Seen.Length;
    public bool Complete => Seen.All(s => s);

    public bool IsSelected(int position) => Selected[position];

    /// <summary>Copies the rows of one batch (tensors on any device); <paramref name="selected"/> is the batch's [N] selection.</summary>
    internal void Record(int[] positions, Tensor pClean, Tensor selected, Tensor posLogits)
    {
        using var scope = NewDisposeScope();
        var probabilities = posLogits.detach().softmax(1);
        var (top, arg) = probabilities.max(1);
        if (ClassProbabilities is { } kept)
        {
            using var cpu = probabilities.to(ScalarType.Float32).cpu().contiguous();
            var batch = cpu.data<float>().ToArray();
            for (var i = 0; i < positions.Length; i++)
                Array.Copy(batch, (long)i * ClassCount, kept, (long)positions[i] * ClassCount, ClassCount);
        }
        // One copy to managed memory: [p_clean, top probability, argmax, selected] per row (class ids are exact in float32).
        using var rows = stack([pClean.detach().to(ScalarType.Float32), top.to(ScalarType.Float32), arg.to(ScalarType.Float32),
            selected.to(ScalarType.Float32)], 1).cpu();
        var values = rows.data<float>().ToArray();
        for (var i = 0; i < positions.Length; i++)
        {
            var q = positions[i];
            CleanProbability[q] = values[4 * i];
            PredictedProbability[q] = values[4 * i + 1];
            Predicted[q] = (int)values[4 * i + 2];
            Selected[q] = values[4 * i + 3] != 0;
            Seen[q] = true;
        }
    }
}

/// <summary>What the trainer reports while it runs.</summary>
public sealed record DetectProgress(
    string Phase, int Epoch, int Epochs, int Step, int Steps, double Loss, double SelectedFraction,
    double? Precision, double? Recall, double LearningRate);

/// <summary>Training so far: what a checkpoint holds besides the parameters and momentum buffers.</summary>
public sealed class TrainingState
{
    public int CompletedEpochs { get; set; }
    public List<EpochRecord> Epochs { get; } = new();
    /// <summary>The selections (and predictions) of the last completed epoch.</summary>
    public PassScores? LastEpochScores { get; set; }
    public double TrainSeconds { get; set; }
}

/// <summary>
/// DeFT phase-1 training: per batch, image features (adapted tower or cache), both prompt sets through the text
/// tower, the DeFT loss, one SGD step; the learning rate follows the per-epoch cosine schedule (constant under
/// <see cref="DeftVariant.RealNoise"/>, whose script never steps its scheduler). Complementary labels
/// and the shuffle depend only on (seed, epoch, sample), so a run resumed from an epoch checkpoint continues exactly.
/// </summary>
public sealed class DeftTrainer
{
    private readonly DeftNetwork _net;
    private readonly LabelAssignment _labels;
    private readonly DetectOptions _options;
    private readonly TrainingSource _source;
    private readonly MomentumSgd _sgd;
    private readonly CounterRng _rng;
    private readonly bool[]? _isClean;

    public DeftTrainer(DeftNetwork net, LabelAssignment labels, DetectOptions options, TrainingSource source, MomentumSgd sgd)
    {
        _net = net;
        _labels = labels;
        _options = options;
        _source = source;
        _sgd = sgd;
        _rng = new CounterRng((ulong)options.Seed);
        _isClean = labels.CleanMask();
    }

    public TrainingState State { get; } = new();

    /// <summary>Called after every completed epoch (the detector writes its checkpoint here).</summary>
    public Action<TrainingState>? EpochCompleted { get; init; }

    public IProgress<DetectProgress>? Progress { get; init; }

    /// <summary>Receives warnings (batches that selected nothing after warm-up).</summary>
    public Action<string>? Warn { get; init; }

    /// <summary>Whether each epoch's scores keep every class's probability (the report's pred_probs), not only the top one.</summary>
    public bool KeepClassProbabilities { get; init; }

    /// <summary>Trains from <see cref="TrainingState.CompletedEpochs"/> + 1 to the last epoch.</summary>
    public void Train(CancellationToken cancellationToken = default)
    {
        // CosineAnnealingLR stepped once per epoch (constant under the real-noise variant).
        var schedule = new LearningRateSchedule(_options.LearningRate, _options.Epochs, _options.Variant.ConstantLearningRate());
        new TrainingLoop(_sgd, schedule).Run(new EpochTask(this), State.CompletedEpochs + 1, _options.Epochs, cancellationToken);
    }

    /// <summary>One DeFT epoch for <see cref="TrainingLoop"/>: the batch loss and the epoch's running figures.</summary>
    private sealed class EpochTask(DeftTrainer trainer) : ITrainingTask<SourceBatch>
    {
        private readonly DeftTrainer _t = trainer;
        private EpochRule _rule;
        private PassScores _scores = null!;
        private double _lossSum, _clsSum, _negSum;
        private long _seen, _selected, _selectedClean, _clean;
        private int _steps, _emptyBatches;

        public int BatchCount => _t._source.BatchCount;

        public IEnumerable<SourceBatch> Batches(int epoch, CancellationToken cancellationToken) => _t._source.TrainEpoch(epoch, cancellationToken);

        public void BeginEpoch(int epoch)
        {
            _rule = EpochRule.For(_t._options.Variant, epoch, _t._options.Warmup);
            _scores = new PassScores(_t._labels.Count, _t.KeepClassProbabilities ? _t._labels.ClassCount : 0);
            _lossSum = _clsSum = _negSum = 0;
            _seen = _selected = _selectedClean = _clean = 0;
            _steps = _emptyBatches = 0;
        }

        public Tensor? Loss(SourceBatch batch, TrainingStep step)
        {
            var labels = _t._labels;
            var n = batch.Count;
            var given = new long[n];
            var complementary = new long[n];
            for (var i = 0; i < n; i++)
            {
                var p = batch.Positions[i];
                given[i] = labels.Labels[p];
                complementary[i] = _t._rng.Complementary(labels.Labels[p], labels.ClassCount, step.Epoch, labels.Indices[p]);
            }
            var y = tensor(given);
            var comp = tensor(complementary);

            var imageFeatures = batch.Features ?? _t._net.ImageFeatures(batch.Images!);
            var (posText, negText) = _t._net.TextFeatures();
            var (pos, neg) = _t._net.Logits(imageFeatures, posText, negText);
            var r = DeftObjective.Compute(pos, neg, y, comp, _rule);
            var losses = stack([r.Loss.detach(), r.ClassificationLoss.detach(), r.NegativeLoss.detach()]).data<float>().ToArray();

            _steps = step.Step;
            if (!_rule.ClassifyAll && r.SelectedCount == 0) _emptyBatches++;
            _scores.Record(batch.Positions, r.CleanProbability, r.Selected, pos);
            _lossSum += losses[0] * n;
            _clsSum += losses[1] * n;
            _negSum += losses[2] * n;
            _seen += n;
            _selected += r.SelectedCount;
            if (_t._isClean is { } isClean)
            {
                foreach (var p in batch.Positions)
                {
                    if (!isClean[p]) continue;
                    _clean++;
                    if (_scores.IsSelected(p)) _selectedClean++;
                }
            }
            return r.Loss;
        }

        private double? Precision => _t._isClean is null ? null : _selected == 0 ? 0 : (double)_selectedClean / _selected;
        private double? Recall => _t._isClean is null ? null : _clean == 0 ? 0 : (double)_selectedClean / _clean;

        public void ReportProgress(TrainingStep step, double learningRate) =>
            _t.Progress?.Report(new DetectProgress("train", step.Epoch, _t._options.Epochs, step.Step, step.Steps, _lossSum / _seen,
                (double)_selected / _seen, Precision, Recall, learningRate));

        public void EndEpoch(int epoch, double learningRate, double seconds)
        {
            if (!_scores.Complete) throw new InvalidOperationException($"Epoch {epoch} did not visit every sample.");
            if (_emptyBatches > 0)
                _t.Warn?.Invoke($"epoch {epoch}: {_emptyBatches} of {_steps} batches selected no sample as clean; their classification term was left out.");
            var state = _t.State;
            state.LastEpochScores = _scores;
            state.TrainSeconds += seconds;
            state.Epochs.Add(new EpochRecord(epoch, learningRate, _lossSum / _seen, _clsSum / _seen, _negSum / _seen,
                (double)_selected / _seen, seconds, Precision, Recall));
            state.CompletedEpochs = epoch;
            _t.EpochCompleted?.Invoke(state);
        }
    }

    /// <summary>
    /// A deterministic pass over every sample without augmentation and without training: the final selection for
    /// <c>--selection eval</c> and what <c>deft score</c> reports.
    /// </summary>
    public static PassScores Evaluate(DeftNetwork net, LabelAssignment labels, TrainingSource source, IProgress<DetectProgress>? progress = null,
        CancellationToken cancellationToken = default, DeftVariant variant = DeftVariant.Synthetic, bool keepClassProbabilities = false)
    {
        using var noGrad = no_grad();
        var scores = new PassScores(labels.Count, keepClassProbabilities ? labels.ClassCount : 0);
        using var textScope = NewDisposeScope();
        var (posText, negText) = net.TextFeatures();
        var step = 0;
        long seen = 0, selected = 0;
        foreach (var batch in source.EvalPass(cancellationToken))
        {
            using var owned = batch;
            using var scope = NewDisposeScope();
            step++;
            var imageFeatures = batch.Features ?? net.ImageFeatures(batch.Images!);
            var (pos, neg) = net.Logits(imageFeatures, posText, negText);
            var given = tensor(batch.Positions.Select(p => (long)labels.Labels[p]).ToArray());
            var pYes = DeftObjective.PositiveProbabilities(pos, neg);
            var pClean = pYes.gather(1, given.unsqueeze(1)).squeeze(1);
            var chosen = DeftObjective.Select(pClean, variant.RequiresTopClass() ? pYes : null, given);
            scores.Record(batch.Positions, pClean, chosen, pos);
            seen += batch.Count;
            selected += batch.Positions.Count(scores.IsSelected);
            progress?.Report(new DetectProgress("eval", 0, 0, step, source.BatchCount, double.NaN, (double)selected / seen, null, null, 0));
        }
        return scores;
    }
}
