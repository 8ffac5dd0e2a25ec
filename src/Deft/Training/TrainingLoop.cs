using System.Diagnostics;
using TorchSharp;
using static TorchSharp.torch;

namespace Deft.Training;

/// <summary>What the training loop needs of an optimizer.</summary>
public interface ITrainingOptimizer
{
    /// <summary>The rate of the next <see cref="Step"/> (set by the loop once per epoch).</summary>
    double LearningRate { get; set; }
    void Step();
    /// <summary>PyTorch's <c>zero_grad(set_to_none=True)</c>.</summary>
    void ZeroGrad();
}

/// <summary>
/// The learning rate per epoch: <c>CosineAnnealingLR(T_max = Epochs)</c> stepped once per epoch, so epoch e (from 1)
/// trains at the rate after e − 1 steps; or <see cref="BaseRate"/> throughout when <see cref="Constant"/>.
/// </summary>
public sealed record LearningRateSchedule(double BaseRate, int Epochs, bool Constant = false)
{
    public double RateForEpoch(int epoch) => Constant ? BaseRate : CosineSchedule.LearningRate(BaseRate, epoch - 1, Epochs);
}

/// <summary>Where the loop is: epoch (from 1), step within it (from 1) and the epoch's step count.</summary>
public readonly record struct TrainingStep(int Epoch, int Step, int Steps);

/// <summary>What one trainer supplies to <see cref="TrainingLoop"/>: its batches, forward and loss, and its bookkeeping.</summary>
public interface ITrainingTask<TBatch> where TBatch : IDisposable
{
    /// <summary>Batches per epoch.</summary>
    int BatchCount { get; }

    /// <summary>The batches of one epoch (from 1); the loop disposes each.</summary>
    IEnumerable<TBatch> Batches(int epoch, CancellationToken cancellationToken);

    void BeginEpoch(int epoch);

    /// <summary>
    /// Forward pass and loss of one batch (a scalar), inside the batch's dispose scope; null when the batch takes no
    /// step. Per-batch bookkeeping belongs here: the tensors it made stay alive until the step is done.
    /// </summary>
    Tensor? Loss(TBatch batch, TrainingStep step);

    /// <summary>Called for an epoch's first and last step and at most every <see cref="TrainingLoop.ProgressIntervalMs"/> between.</summary>
    void ReportProgress(TrainingStep step, double learningRate);

    /// <summary>After the epoch's last batch (records, checkpoints); <paramref name="seconds"/> is the epoch's training time.</summary>
    void EndEpoch(int epoch, double learningRate, double seconds);
}

/// <summary>
/// The one training loop of the detector, the prompt-classifier baselines and the adapter: epochs × batches, a dispose
/// scope per batch, the learning-rate schedule, the caller's forward and loss, a non-finite-loss check naming epoch and
/// step, backward, step, <c>zero_grad(set_to_none=True)</c>, throttled progress, cancellation between batches and epochs.
/// </summary>
public sealed class TrainingLoop(ITrainingOptimizer optimizer, LearningRateSchedule schedule)
{
    /// <summary>The default of <see cref="ProgressIntervalMs"/>.</summary>
    public const int DefaultProgressIntervalMs = 100;

    /// <summary>Progress is reported at most this often (and always for an epoch's first and last step); 0: every step.</summary>
    public int ProgressIntervalMs { get; init; } = DefaultProgressIntervalMs;

    public ITrainingOptimizer Optimizer { get; } = optimizer;
    public LearningRateSchedule Schedule { get; } = schedule;

    /// <summary>Trains epochs <paramref name="firstEpoch"/>..<paramref name="lastEpoch"/> (from 1).</summary>
    public void Run<TBatch>(ITrainingTask<TBatch> task, int firstEpoch, int lastEpoch, CancellationToken cancellationToken = default)
        where TBatch : IDisposable
    {
        ArgumentNullException.ThrowIfNull(task);
        for (var epoch = firstEpoch; epoch <= lastEpoch; epoch++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var clock = Stopwatch.StartNew();
            Optimizer.LearningRate = Schedule.RateForEpoch(epoch);
            task.BeginEpoch(epoch);
            RunEpoch(task, epoch, cancellationToken);
            clock.Stop();
            task.EndEpoch(epoch, Optimizer.LearningRate, clock.Elapsed.TotalSeconds);
        }
    }

    private void RunEpoch<TBatch>(ITrainingTask<TBatch> task, int epoch, CancellationToken cancellationToken) where TBatch : IDisposable
    {
        var steps = task.BatchCount;
        var step = 0;
        var progressClock = Stopwatch.StartNew();
        foreach (var batch in task.Batches(epoch, cancellationToken))
        {
            using var owned = batch;
            step++;
            var at = new TrainingStep(epoch, step, steps);
            using (NewDisposeScope())
            {
                var loss = task.Loss(batch, at);
                if (loss is not null)
                {
                    var value = loss.detach().to(ScalarType.Float32).item<float>();
                    if (!float.IsFinite(value)) throw new NonFiniteLossException(epoch, step, value);
                    loss.backward();
                    Optimizer.Step();
                    Optimizer.ZeroGrad();
                }
            }
            if (step > 1 && step < steps && progressClock.ElapsedMilliseconds < ProgressIntervalMs) continue;
            progressClock.Restart();
            task.ReportProgress(at, Optimizer.LearningRate);
        }
    }
}

/// <summary>The loss became NaN or infinite; training stops (the message names where).</summary>
public sealed class NonFiniteLossException(int epoch, int step, float loss)
    : DeftException($"The loss became {loss} at epoch {epoch}, step {step}. Lower {Setting.LearningRate} or check the inputs.")
{
    public int Epoch { get; } = epoch;
    public int Step { get; } = step;
}

/// <summary>
/// <c>torch.optim.lr_scheduler.CosineAnnealingLR</c> stepped once per epoch: the rate for the epoch after
/// <c>completedEpochs</c> scheduler steps, in closed form. TorchSharp's (and PyTorch's) recursive form differs in the
/// last bits (3 of 10, 4 of 20, 42 of 50 epochs' rates; relative ≤ 9e-16, TrainingLoopTests), so results stay pinned to this.
/// </summary>
public static class CosineSchedule
{
    public static double LearningRate(double baseRate, int completedEpochs, int totalEpochs, double minRate = 0)
    {
        if (totalEpochs <= 0) throw new ArgumentOutOfRangeException(nameof(totalEpochs), $"Epochs must be ≥ 1, got {totalEpochs}.");
        return minRate + (baseRate - minRate) * (1 + Math.Cos(Math.PI * completedEpochs / totalEpochs)) / 2;
    }
}
