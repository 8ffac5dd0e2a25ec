using System.Diagnostics;
using TorchSharp;
using static TorchSharp.torch;

namespace Deft.Detection;

/// <summary>Per-sample results of one pass, by assignment position.</summary>
public sealed class PassScores
{
    public PassScores(int count)
    {
        CleanProbability = new float[count];
        Predicted = new int[count];
        PredictedProbability = new float[count];
        Seen = new bool[count];
        Selected = new bool[count];
    }

    /// <summary>p_clean: p_yes of the given label.</summary>
    public float[] CleanProbability { get; }
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
        var (top, arg) = posLogits.detach().softmax(1).max(1);
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

    /// <summary>Progress is reported at most this often (and always for an epoch's first and last step).</summary>
    public const int ProgressIntervalMs = 100;

    /// <summary>Receives warnings (batches that selected nothing after warm-up).</summary>
    public Action<string>? Warn { get; init; }

    /// <summary>Trains from <see cref="TrainingState.CompletedEpochs"/> + 1 to the last epoch.</summary>
    public void Train(CancellationToken cancellationToken = default)
    {
        var epochs = _options.Epochs;
        for (var epoch = State.CompletedEpochs + 1; epoch <= epochs; epoch++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var clock = Stopwatch.StartNew();
            // CosineAnnealingLR stepped once per epoch: epoch e (from 1) trains at the rate after e − 1 steps.
            _sgd.LearningRate = _options.Variant.ConstantLearningRate()
                ? _options.LearningRate
                : CosineSchedule.LearningRate(_options.LearningRate, epoch - 1, epochs);
            var record = TrainEpoch(epoch, cancellationToken);
            clock.Stop();
            State.TrainSeconds += clock.Elapsed.TotalSeconds;
            State.Epochs.Add(record with { Seconds = clock.Elapsed.TotalSeconds });
            State.CompletedEpochs = epoch;
            EpochCompleted?.Invoke(State);
        }
    }

    private EpochRecord TrainEpoch(int epoch, CancellationToken cancellationToken)
    {
        var rule = EpochRule.For(_options.Variant, epoch, _options.Warmup);
        var scores = new PassScores(_labels.Count);
        var steps = _source.BatchCount;
        double lossSum = 0, clsSum = 0, negSum = 0;
        long seen = 0, selected = 0, selectedClean = 0, clean = 0;
        var step = 0;
        var emptyBatches = 0;
        var progressClock = Stopwatch.StartNew();
        var classes = _labels.ClassCount;
        foreach (var batch in _source.TrainEpoch(epoch, cancellationToken))
        {
            using var owned = batch;
            step++;
            using var scope = NewDisposeScope();
            var n = batch.Count;
            var given = new long[n];
            var complementary = new long[n];
            for (var i = 0; i < n; i++)
            {
                var p = batch.Positions[i];
                given[i] = _labels.Labels[p];
                complementary[i] = _rng.Complementary(_labels.Labels[p], classes, epoch, _labels.Indices[p]);
            }
            var y = tensor(given);
            var comp = tensor(complementary);

            var imageFeatures = batch.Features ?? _net.ImageFeatures(batch.Images!);
            var (posText, negText) = _net.TextFeatures();
            var (pos, neg) = _net.Logits(imageFeatures, posText, negText);
            var r = DeftObjective.Compute(pos, neg, y, comp, rule);
            var losses = stack([r.Loss.detach(), r.ClassificationLoss.detach(), r.NegativeLoss.detach()]).data<float>().ToArray();
            var loss = losses[0];
            if (!float.IsFinite(loss))
                throw new NonFiniteLossException(epoch, step, loss);
            r.Loss.backward();
            _sgd.Step();
            _sgd.ZeroGrad();

            if (!rule.ClassifyAll && r.SelectedCount == 0) emptyBatches++;
            scores.Record(batch.Positions, r.CleanProbability, r.Selected, pos);
            lossSum += loss * n;
            clsSum += losses[1] * n;
            negSum += losses[2] * n;
            seen += n;
            selected += r.SelectedCount;
            if (_isClean is not null)
            {
                foreach (var p in batch.Positions)
                {
                    if (!_isClean[p]) continue;
                    clean++;
                    if (scores.IsSelected(p)) selectedClean++;
                }
            }
            if (Progress is null || (step > 1 && step < steps && progressClock.ElapsedMilliseconds < ProgressIntervalMs)) continue;
            progressClock.Restart();
            Progress.Report(new DetectProgress("train", epoch, _options.Epochs, step, steps, lossSum / seen, (double)selected / seen,
                _isClean is null ? null : selected == 0 ? 0 : (double)selectedClean / selected,
                _isClean is null ? null : clean == 0 ? 0 : (double)selectedClean / clean,
                _sgd.LearningRate));
        }
        if (!scores.Complete) throw new InvalidOperationException($"Epoch {epoch} did not visit every sample.");
        if (emptyBatches > 0)
            Warn?.Invoke($"epoch {epoch}: {emptyBatches} of {step} batches selected no sample as clean; their classification term was left out.");
        State.LastEpochScores = scores;
        double? precision = null, recall = null;
        if (_isClean is not null)
        {
            precision = selected == 0 ? 0 : (double)selectedClean / selected;
            recall = clean == 0 ? 0 : (double)selectedClean / clean;
        }
        return new EpochRecord(epoch, _sgd.LearningRate, lossSum / seen, clsSum / seen, negSum / seen, (double)selected / seen, 0, precision, recall);
    }

    /// <summary>
    /// A deterministic pass over every sample without augmentation and without training: the final selection for
    /// <c>--selection eval</c> and what <c>deft score</c> reports.
    /// </summary>
    public static PassScores Evaluate(DeftNetwork net, LabelAssignment labels, TrainingSource source, IProgress<DetectProgress>? progress = null,
        CancellationToken cancellationToken = default, DeftVariant variant = DeftVariant.Synthetic)
    {
        using var noGrad = no_grad();
        var scores = new PassScores(labels.Count);
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

/// <summary>The loss became NaN or infinite; training stops (the message names where).</summary>
public sealed class NonFiniteLossException(int epoch, int step, float loss)
    : DeftException($"The loss became {loss} at epoch {epoch}, step {step}. Lower {Setting.LearningRate} or check the inputs.")
{
    public int Epoch { get; } = epoch;
    public int Step { get; } = step;
}
