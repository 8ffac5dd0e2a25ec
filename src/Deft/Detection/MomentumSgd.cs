using TorchSharp;
using static TorchSharp.torch;

namespace Deft.Detection;

/// <summary>
/// SGD with momentum and L2 weight decay, step for step what <c>torch.optim.SGD</c> does (dampening 0, no Nesterov):
/// d = g + wd·p; buf = d on the first step, else momentum·buf + d; p −= lr·buf. Parameters without a gradient are
/// skipped and keep their buffer. The buffers are exposed so checkpoints can save and restore them exactly.
/// </summary>
public sealed class MomentumSgd : IDisposable
{
    private readonly IReadOnlyList<Tensor> _parameters;
    private readonly Tensor?[] _buffers;

    public MomentumSgd(IReadOnlyList<Tensor> parameters, double learningRate, double momentum, double weightDecay)
    {
        if (learningRate < 0) throw new ArgumentOutOfRangeException(nameof(learningRate), $"Learning rate must be ≥ 0, got {learningRate}.");
        if (momentum < 0) throw new ArgumentOutOfRangeException(nameof(momentum), $"Momentum must be ≥ 0, got {momentum}.");
        if (weightDecay < 0) throw new ArgumentOutOfRangeException(nameof(weightDecay), $"Weight decay must be ≥ 0, got {weightDecay}.");
        _parameters = parameters;
        _buffers = new Tensor?[parameters.Count];
        LearningRate = learningRate;
        Momentum = momentum;
        WeightDecay = weightDecay;
    }

    public double LearningRate { get; set; }
    public double Momentum { get; }
    public double WeightDecay { get; }
    public IReadOnlyList<Tensor> Parameters => _parameters;

    /// <summary>Momentum buffer of parameter i; null until the parameter first had a gradient.</summary>
    public Tensor? GetBuffer(int i) => _buffers[i];

    /// <summary>Restores (a copy of) a momentum buffer, for resuming from a checkpoint.</summary>
    public void SetBuffer(int i, Tensor? buffer)
    {
        _buffers[i]?.Dispose();
        _buffers[i] = buffer?.detach().to(_parameters[i].dtype, _parameters[i].device).clone();
    }

    public void Step()
    {
        using var noGrad = no_grad();
        for (var i = 0; i < _parameters.Count; i++)
        {
            var p = _parameters[i];
            using var grad = p.grad;
            if (grad is null) continue;
            using var scope = NewDisposeScope();
            var d = WeightDecay != 0 ? grad.add(p, alpha: WeightDecay) : grad;
            if (Momentum != 0)
            {
                if (_buffers[i] is null)
                {
                    _buffers[i] = d.clone().DetachFromDisposeScope();
                }
                else
                {
                    _buffers[i]!.mul_(Momentum).add_(d);
                }
                d = _buffers[i]!;
            }
            p.add_(d, alpha: -LearningRate);
        }
    }

    /// <summary>Drops the gradients (PyTorch's default <c>zero_grad(set_to_none=True)</c>).</summary>
    public void ZeroGrad()
    {
        foreach (var p in _parameters)
        {
            using var g = p.grad;
            if (g is not null) p.grad = null;
        }
    }

    public void Dispose()
    {
        for (var i = 0; i < _buffers.Length; i++)
        {
            _buffers[i]?.Dispose();
            _buffers[i] = null;
        }
    }
}

/// <summary>
/// <c>torch.optim.lr_scheduler.CosineAnnealingLR</c> stepped once per epoch: the rate for the epoch after
/// <c>completedEpochs</c> scheduler steps, in closed form (PyTorch's recursive form agrees to rounding).
/// </summary>
public static class CosineSchedule
{
    public static double LearningRate(double baseRate, int completedEpochs, int totalEpochs, double minRate = 0)
    {
        if (totalEpochs <= 0) throw new ArgumentOutOfRangeException(nameof(totalEpochs), $"Epochs must be ≥ 1, got {totalEpochs}.");
        return minRate + (baseRate - minRate) * (1 + Math.Cos(Math.PI * completedEpochs / totalEpochs)) / 2;
    }
}
