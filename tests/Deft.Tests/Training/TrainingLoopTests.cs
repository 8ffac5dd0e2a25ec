using Deft.Detection;
using Deft.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Deft.Tests.Training;

public sealed class TrainingLoopTests
{
    /// <summary>Batches are plain numbers: the target each batch pulls the parameter towards.</summary>
    private sealed class Target(double value) : IDisposable
    {
        public double Value { get; } = value;
        public void Dispose() { }
    }

    /// <summary>loss = (w − target)² per batch; a NaN target returns that loss; a null target takes no step.</summary>
    private sealed class Task(TorchSharp.Modules.Parameter w, double?[] targets) : ITrainingTask<Target>
    {
        public List<string> Events { get; } = [];
        public int BatchCount => targets.Length;

        public IEnumerable<Target> Batches(int epoch, CancellationToken cancellationToken)
        {
            foreach (var t in targets) yield return new Target(t ?? double.PositiveInfinity);
        }

        public void BeginEpoch(int epoch) => Events.Add($"begin {epoch}");

        public Tensor? Loss(Target batch, TrainingStep step) =>
            double.IsPositiveInfinity(batch.Value) ? null : (w - batch.Value).pow(2).sum();

        public void ReportProgress(TrainingStep step, double learningRate) => Events.Add($"progress {step.Epoch}.{step.Step}/{step.Steps}");

        public void EndEpoch(int epoch, double learningRate, double seconds) => Events.Add($"end {epoch} lr {learningRate:R}");
    }

    [Fact]
    public void StepsOnEveryBatchWithTheEpochsCosineRateAndSkipsBatchesWithoutLoss()
    {
        using var w = new TorchSharp.Modules.Parameter(tensor(new[] { 0.0 }, ScalarType.Float64));
        using var sgd = new MomentumSgd([w], 0.1, 0, 0);
        var task = new Task(w, [1.0, null, 2.0]);
        new TrainingLoop(sgd, new LearningRateSchedule(0.1, 2)).Run(task, 1, 2);

        // Hand-computed: w −= lr · 2(w − t) per stepped batch; epoch 1 at 0.1, epoch 2 at 0.1 · (1 + cos(π/2)) / 2 = 0.05.
        double expected = 0;
        foreach (var lr in new[] { 0.1, 0.1 * (1 + Math.Cos(Math.PI / 2)) / 2 })
            foreach (var t in new[] { 1.0, 2.0 })
                expected -= lr * 2 * (expected - t);
        Assert.Equal(expected, w.detach().item<double>(), 15);
        Assert.Null(w.grad);
        // Three batches run in far less than the progress interval: only each epoch's first and last step report.
        Assert.Equal(["begin 1", "progress 1.1/3", "progress 1.3/3", $"end 1 lr {0.1:R}",
            "begin 2", "progress 2.1/3", "progress 2.3/3", $"end 2 lr {0.1 * (1 + Math.Cos(Math.PI / 2)) / 2:R}"], task.Events);
    }

    [Fact]
    public void ResumingAtALaterEpochUsesThatEpochsRate()
    {
        using var w = new TorchSharp.Modules.Parameter(tensor(new[] { 0.0 }, ScalarType.Float64));
        using var sgd = new MomentumSgd([w], 0.1, 0, 0);
        var task = new Task(w, [1.0]);
        new TrainingLoop(sgd, new LearningRateSchedule(0.2, 4)).Run(task, 3, 3);
        Assert.Equal(["begin 3", "progress 3.1/1", $"end 3 lr {CosineSchedule.LearningRate(0.2, 2, 4):R}"], task.Events);
        Assert.Equal(0.1 * 2, w.detach().item<double>(), 15);

        var constant = new Task(w, [1.0]);
        new TrainingLoop(sgd, new LearningRateSchedule(0.2, 4, Constant: true)).Run(constant, 4, 4);
        Assert.Equal($"end 4 lr {0.2:R}", constant.Events[^1]);
    }

    [Fact]
    public void ANonFiniteLossStopsBeforeTheStepNamingEpochAndStep()
    {
        using var w = new TorchSharp.Modules.Parameter(tensor(new[] { 0.0 }, ScalarType.Float64));
        using var sgd = new MomentumSgd([w], 0.1, 0, 0);
        var task = new Task(w, [1.0, double.NaN]);
        var ex = Assert.Throws<NonFiniteLossException>(() => new TrainingLoop(sgd, new LearningRateSchedule(0.1, 1)).Run(task, 1, 1));
        Assert.Equal((1, 2), (ex.Epoch, ex.Step));
        Assert.Equal(0.2, w.detach().item<double>(), 15);
    }

    [Fact]
    public void CancellationStopsBeforeTheNextEpoch()
    {
        using var w = new TorchSharp.Modules.Parameter(tensor(new[] { 0.0 }, ScalarType.Float64));
        using var sgd = new MomentumSgd([w], 0.1, 0, 0);
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        var task = new Task(w, [1.0]);
        Assert.Throws<OperationCanceledException>(() => new TrainingLoop(sgd, new LearningRateSchedule(0.1, 1)).Run(task, 1, 1, cts.Token));
        Assert.Empty(task.Events);
    }

    /// <summary>
    /// TorchSharp's CosineAnnealingLR steps the rate recursively (as PyTorch's does), our schedule is closed form: the
    /// rates for DeFT's schedules (lr 0.002, 10, 20 and 50 epochs) are compared here.
    /// </summary>
    [Theory]
    [InlineData(10)]
    [InlineData(20)]
    [InlineData(50)]
    public void TorchSharpsCosineAnnealingLRAgainstTheClosedForm(int epochs)
    {
        using var w = new TorchSharp.Modules.Parameter(tensor(new[] { 0.0 }, ScalarType.Float64));
        using var sgd = torch.optim.SGD([w], 0.002);
        var scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(sgd, epochs);
        var differing = 0;
        double maxRelative = 0;
        for (var e = 0; e < epochs; e++)
        {
            var ours = CosineSchedule.LearningRate(0.002, e, epochs);
            var theirs = sgd.ParamGroups.First().LearningRate;
            if (ours != theirs) differing++;
            if (ours > 0) maxRelative = Math.Max(maxRelative, Math.Abs(ours - theirs) / ours);
            sgd.step();
            scheduler.step();
        }
        Console.WriteLine($"epochs {epochs}: {differing} rates differ, max relative difference {maxRelative:E3}");
        Assert.True(maxRelative < 1e-12, $"{maxRelative}");
        Assert.True(differing > 0, $"epochs {epochs}: every rate is bit-identical");
    }
}
