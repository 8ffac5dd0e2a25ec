using Deft.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Deft.Detection;

/// <summary>
/// <c>torch.optim.SGD</c> (TorchSharp's, dampening 0, no Nesterov) over a fixed list of parameters, with what
/// training and checkpoints need around it: the learning rate of its one parameter group (set per epoch by the
/// trainers), the momentum buffers by parameter index, and PyTorch's <c>zero_grad(set_to_none=True)</c>.
/// The update is d = g + wd·p; buf = d on the first step, else momentum·buf + d; p −= lr·buf; parameters without a
/// gradient are skipped and keep their buffer.
/// </summary>
public sealed class MomentumSgd : ITrainingOptimizer, IDisposable
{
    private readonly IReadOnlyList<Tensor> _parameters;
    private readonly TorchSharp.Modules.SGD _sgd;

    public MomentumSgd(IReadOnlyList<Tensor> parameters, double learningRate, double momentum, double weightDecay)
    {
        if (learningRate < 0) throw new ArgumentOutOfRangeException(nameof(learningRate), $"Learning rate must be ≥ 0, got {learningRate}.");
        if (momentum < 0) throw new ArgumentOutOfRangeException(nameof(momentum), $"Momentum must be ≥ 0, got {momentum}.");
        if (weightDecay < 0) throw new ArgumentOutOfRangeException(nameof(weightDecay), $"Weight decay must be ≥ 0, got {weightDecay}.");
        _parameters = parameters;
        _sgd = torch.optim.SGD(parameters.Select(AsParameter), learningRate, momentum, weight_decay: weightDecay);
        Momentum = momentum;
        WeightDecay = weightDecay;
    }

    private static TorchSharp.Modules.Parameter AsParameter(Tensor t) =>
        t as TorchSharp.Modules.Parameter ?? throw new ArgumentException("torch.optim.SGD updates parameters; got a plain tensor.", nameof(t));

    /// <summary>The rate of the next <see cref="Step"/> (the optimizer's one parameter group).</summary>
    public double LearningRate
    {
        get => _sgd.ParamGroups.First().LearningRate;
        set => _sgd.ParamGroups.First().LearningRate = value;
    }

    public double Momentum { get; }
    public double WeightDecay { get; }
    public IReadOnlyList<Tensor> Parameters => _parameters;

    private TorchSharp.Modules.SGD.State StateOf(int i) => (TorchSharp.Modules.SGD.State)_sgd.state_dict().State[i];

    /// <summary>Momentum buffer of parameter i (the optimizer's own tensor); null until the parameter first had a gradient.</summary>
    public Tensor? GetBuffer(int i) => StateOf(i).momentum_buffer;

    /// <summary>Restores (a copy of) a momentum buffer, for resuming from a checkpoint.</summary>
    public void SetBuffer(int i, Tensor? buffer)
    {
        var state = StateOf(i);
        state.momentum_buffer?.Dispose();
        state.momentum_buffer = buffer?.detach().to(_parameters[i].dtype, _parameters[i].device).clone().DetachFromDisposeScope();
    }

    /// <summary>
    /// Rounds every parameter and momentum buffer to float16 after each step (storage as the official fp16 code keeps
    /// it; the update itself is computed in the parameters' dtype).
    /// </summary>
    public bool Float16Storage { get; init; }

    public void Step()
    {
        _sgd.step();
        if (!Float16Storage) return;
        using var noGrad = no_grad();
        for (var i = 0; i < _parameters.Count; i++)
        {
            RoundToHalf(_parameters[i]);
            if (GetBuffer(i) is { } buffer) RoundToHalf(buffer);
        }
    }

    /// <summary>Rounds <paramref name="t"/> in place to the nearest float16 value (kept in its own dtype).</summary>
    internal static void RoundToHalf(Tensor t)
    {
        using var half = t.to(ScalarType.Float16);
        using var back = half.to(t.dtype);
        t.copy_(back);
    }

    /// <summary>
    /// Drops the gradients (PyTorch's default <c>zero_grad(set_to_none=True)</c>). TorchSharp's zero_grad zeroes them
    /// instead, after which a parameter outside the next graph would still be decayed and pushed by its momentum.
    /// </summary>
    public void ZeroGrad()
    {
        foreach (var p in _parameters)
        {
            using var g = p.grad;
            if (g is not null) p.grad = null;
        }
    }

    public void Dispose() => _sgd.Dispose();
}
