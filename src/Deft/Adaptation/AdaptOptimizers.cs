using Deft.Detection;
using Deft.Training;
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
internal interface IAdaptOptimizer : ITrainingOptimizer, IDisposable
{
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

/// <summary>torch.optim.SGD (dampening 0, no Nesterov) through the detector's <see cref="MomentumSgd"/>.</summary>
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
/// <c>torch.optim.AdamW</c> (TorchSharp's; amsgrad off, betas 0.9/0.999, eps 1e-8): p ← p·(1 − lr·wd);
/// m ← β1·m + (1 − β1)·g; v ← β2·v + (1 − β2)·g²; p ← p − (lr / (1 − β1ᵗ)) · m / (√v / √(1 − β2ᵗ) + ε). Parameters
/// without a gradient are skipped (their step count does not advance); only stepped parameters have saved state.
/// </summary>
internal sealed class AdamWOptimizer : IAdaptOptimizer
{
    private const double Beta1 = 0.9, Beta2 = 0.999, Eps = 1e-8;
    private readonly IReadOnlyList<(string Name, Parameter Parameter)> _parameters;
    private readonly TorchSharp.Modules.AdamW _adamW;

    public AdamWOptimizer(IReadOnlyList<(string Name, Parameter Parameter)> parameters, double learningRate, double weightDecay)
    {
        if (learningRate < 0) throw new ArgumentOutOfRangeException(nameof(learningRate), $"Learning rate must be ≥ 0, got {learningRate}.");
        if (weightDecay < 0) throw new ArgumentOutOfRangeException(nameof(weightDecay), $"Weight decay must be ≥ 0, got {weightDecay}.");
        _parameters = parameters;
        _adamW = torch.optim.AdamW(parameters.Select(p => p.Parameter), learningRate, Beta1, Beta2, Eps, weightDecay);
        WeightDecay = weightDecay;
    }

    public double LearningRate
    {
        get => _adamW.ParamGroups.First().LearningRate;
        set => _adamW.ParamGroups.First().LearningRate = value;
    }

    public double WeightDecay { get; }

    private TorchSharp.Modules.AdamW.State StateOf(int i) => (TorchSharp.Modules.AdamW.State)_adamW.state_dict().State[i];

    public void Step() => _adamW.step();

    /// <summary>PyTorch's <c>zero_grad(set_to_none=True)</c> (TorchSharp's zeroes the gradients instead).</summary>
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
            var state = StateOf(i);
            if (state.step == 0) continue;
            var name = _parameters[i].Name;
            yield return ($"exp_avg.{name}", state.exp_avg);
            yield return ($"exp_avg_sq.{name}", state.exp_avg_sq);
            yield return ($"step.{name}", torch.tensor(state.step));
        }
    }

    public void LoadState(IReadOnlyDictionary<string, Tensor> state)
    {
        using var noGrad = torch.no_grad();
        for (var i = 0; i < _parameters.Count; i++)
        {
            var name = _parameters[i].Name;
            var s = StateOf(i);
            if (!state.TryGetValue($"exp_avg.{name}", out var m))
            {
                s.step = 0;
                s.exp_avg.zero_();
                s.exp_avg_sq.zero_();
                continue;
            }
            s.exp_avg.copy_(m);
            s.exp_avg_sq.copy_(state[$"exp_avg_sq.{name}"]);
            s.step = state[$"step.{name}"].item<long>();
        }
    }

    public void Dispose() => _adamW.Dispose();
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
