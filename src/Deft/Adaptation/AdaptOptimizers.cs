using Deft.Detection;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Deft.Adaptation;

/// <summary>The phase-2 optimizer (<c>--optimizer</c>).</summary>
public enum OptimizerKind
{
    /// <summary>SGD with optional momentum and L2 weight decay (torch.optim.SGD).</summary>
    Sgd,
    /// <summary>AdamW with decoupled weight decay (torch.optim.AdamW, betas 0.9/0.999, eps 1e-8).</summary>
    AdamW,
}

/// <summary>An optimizer whose state can be checkpointed under parameter names.</summary>
internal interface IAdaptOptimizer : IDisposable
{
    double LearningRate { get; set; }
    void Step();
    void ZeroGrad();
    /// <summary>Copies of the state tensors, keyed by "kind.parameterName".</summary>
    IEnumerable<(string Name, Tensor Tensor)> State();
    void LoadState(IReadOnlyDictionary<string, Tensor> state);
}

internal static class AdaptOptimizers
{
    public static IAdaptOptimizer Create(OptimizerKind kind, IReadOnlyList<(string Name, Parameter Parameter)> parameters,
        double learningRate, double momentum, double weightDecay) => kind switch
    {
        OptimizerKind.Sgd => new SgdOptimizer(parameters, learningRate, momentum, weightDecay),
        OptimizerKind.AdamW => new AdamWOptimizer(parameters, learningRate, weightDecay),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Valid optimizers: sgd, adamw."),
    };
}

/// <summary>torch.optim.SGD (dampening 0, no Nesterov) through the detector's PyTorch-exact <see cref="MomentumSgd"/>.</summary>
internal sealed class SgdOptimizer : IAdaptOptimizer
{
    private readonly MomentumSgd _sgd;
    private readonly string[] _names;

    public SgdOptimizer(IReadOnlyList<(string Name, Parameter Parameter)> parameters, double learningRate, double momentum, double weightDecay)
    {
        _names = parameters.Select(p => p.Name).ToArray();
        _sgd = new MomentumSgd(parameters.Select(p => (Tensor)p.Parameter).ToList(), learningRate, momentum, weightDecay);
    }

    public double LearningRate { get => _sgd.LearningRate; set => _sgd.LearningRate = value; }
    public void Step() => _sgd.Step();
    public void ZeroGrad() => _sgd.ZeroGrad();

    public IEnumerable<(string Name, Tensor Tensor)> State()
    {
        for (var i = 0; i < _names.Length; i++)
            if (_sgd.GetBuffer(i) is { } b) yield return ($"momentum.{_names[i]}", b);
    }

    public void LoadState(IReadOnlyDictionary<string, Tensor> state)
    {
        for (var i = 0; i < _names.Length; i++)
            _sgd.SetBuffer(i, state.TryGetValue($"momentum.{_names[i]}", out var b) ? b : null);
    }

    public void Dispose() => _sgd.Dispose();
}

/// <summary>
/// torch.optim.AdamW step for step (amsgrad off): p ← p·(1 − lr·wd); m ← β1·m + (1 − β1)·g; v ← β2·v + (1 − β2)·g²;
/// p ← p − (lr / (1 − β1ᵗ)) · m / (√v / √(1 − β2ᵗ) + ε). Parameters without a gradient are skipped (their step
/// count does not advance).
/// </summary>
internal sealed class AdamWOptimizer : IAdaptOptimizer
{
    private const double Beta1 = 0.9, Beta2 = 0.999, Eps = 1e-8;
    private readonly IReadOnlyList<(string Name, Parameter Parameter)> _parameters;
    private readonly Tensor?[] _expAvg;
    private readonly Tensor?[] _expAvgSq;
    private readonly long[] _steps;

    public AdamWOptimizer(IReadOnlyList<(string Name, Parameter Parameter)> parameters, double learningRate, double weightDecay)
    {
        if (learningRate < 0) throw new ArgumentOutOfRangeException(nameof(learningRate), $"Learning rate must be ≥ 0, got {learningRate}.");
        if (weightDecay < 0) throw new ArgumentOutOfRangeException(nameof(weightDecay), $"Weight decay must be ≥ 0, got {weightDecay}.");
        _parameters = parameters;
        _expAvg = new Tensor?[parameters.Count];
        _expAvgSq = new Tensor?[parameters.Count];
        _steps = new long[parameters.Count];
        LearningRate = learningRate;
        WeightDecay = weightDecay;
    }

    public double LearningRate { get; set; }
    public double WeightDecay { get; }

    public void Step()
    {
        using var noGrad = torch.no_grad();
        for (var i = 0; i < _parameters.Count; i++)
        {
            var p = _parameters[i].Parameter;
            using var grad = p.grad;
            if (grad is null) continue;
            using var scope = torch.NewDisposeScope();
            var step = ++_steps[i];
            if (WeightDecay != 0) p.mul_(1 - LearningRate * WeightDecay);
            _expAvg[i] ??= torch.zeros_like(p).DetachFromDisposeScope();
            _expAvgSq[i] ??= torch.zeros_like(p).DetachFromDisposeScope();
            var m = _expAvg[i]!;
            var v = _expAvgSq[i]!;
            m.mul_(Beta1).add_(grad, alpha: 1 - Beta1);
            v.mul_(Beta2).addcmul_(grad, grad, value: 1 - Beta2);
            var bias1 = 1 - Math.Pow(Beta1, step);
            var bias2 = 1 - Math.Pow(Beta2, step);
            var denom = v.sqrt().div_(Math.Sqrt(bias2)).add_(Eps);
            p.addcdiv_(m, denom, value: -LearningRate / bias1);
        }
    }

    public void ZeroGrad()
    {
        foreach (var (_, p) in _parameters)
        {
            using var g = p.grad;
            if (g is not null) p.grad = null;
        }
    }

    public IEnumerable<(string Name, Tensor Tensor)> State()
    {
        for (var i = 0; i < _parameters.Count; i++)
        {
            if (_expAvg[i] is null) continue;
            var name = _parameters[i].Name;
            yield return ($"exp_avg.{name}", _expAvg[i]!);
            yield return ($"exp_avg_sq.{name}", _expAvgSq[i]!);
            yield return ($"step.{name}", torch.tensor(_steps[i]));
        }
    }

    public void LoadState(IReadOnlyDictionary<string, Tensor> state)
    {
        for (var i = 0; i < _parameters.Count; i++)
        {
            var name = _parameters[i].Name;
            _expAvg[i]?.Dispose();
            _expAvgSq[i]?.Dispose();
            _expAvg[i] = _expAvgSq[i] = null;
            _steps[i] = 0;
            if (!state.TryGetValue($"exp_avg.{name}", out var m)) continue;
            var p = _parameters[i].Parameter;
            _expAvg[i] = m.detach().to(p.dtype, p.device).clone();
            _expAvgSq[i] = state[$"exp_avg_sq.{name}"].detach().to(p.dtype, p.device).clone();
            _steps[i] = state[$"step.{name}"].item<long>();
        }
    }

    public void Dispose()
    {
        for (var i = 0; i < _parameters.Count; i++)
        {
            _expAvg[i]?.Dispose();
            _expAvgSq[i]?.Dispose();
            _expAvg[i] = _expAvgSq[i] = null;
        }
    }
}

/// <summary>
/// Two parameter groups, the tower and the head, each with its own optimizer of the same kind: the head steps at the
/// run's learning rate, the tower at that rate times <c>towerScale</c>. State names are the groups' own (parameter
/// names are unique across them), so checkpoints of a grouped run read back into a grouped run.
/// </summary>
internal sealed class GroupedOptimizer : IAdaptOptimizer
{
    private readonly IAdaptOptimizer _tower;
    private readonly IAdaptOptimizer _head;
    private readonly double _towerScale;
    private double _learningRate;

    public GroupedOptimizer(OptimizerKind kind, IReadOnlyList<(string Name, Parameter Parameter)> tower, IReadOnlyList<(string Name, Parameter Parameter)> head,
        double learningRate, double towerScale, double momentum, double weightDecay)
    {
        if (towerScale < 0) throw new ArgumentOutOfRangeException(nameof(towerScale), $"The tower's learning-rate factor must be ≥ 0, got {towerScale}.");
        _towerScale = towerScale;
        _tower = AdaptOptimizers.Create(kind, tower, learningRate * towerScale, momentum, weightDecay);
        _head = AdaptOptimizers.Create(kind, head, learningRate, momentum, weightDecay);
        _learningRate = learningRate;
    }

    /// <summary>The head's learning rate (the tower's is this times the factor).</summary>
    public double LearningRate
    {
        get => _learningRate;
        set
        {
            _learningRate = value;
            _head.LearningRate = value;
            _tower.LearningRate = value * _towerScale;
        }
    }

    public double TowerLearningRate => _tower.LearningRate;

    public void Step()
    {
        _head.Step();
        _tower.Step();
    }

    public void ZeroGrad()
    {
        _head.ZeroGrad();
        _tower.ZeroGrad();
    }

    public IEnumerable<(string Name, Tensor Tensor)> State() => _tower.State().Concat(_head.State());

    public void LoadState(IReadOnlyDictionary<string, Tensor> state)
    {
        _tower.LoadState(state);
        _head.LoadState(state);
    }

    public void Dispose()
    {
        _tower.Dispose();
        _head.Dispose();
    }
}
