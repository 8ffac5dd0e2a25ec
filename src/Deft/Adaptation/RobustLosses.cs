using TorchSharp;
using static TorchSharp.torch;

namespace Deft.Adaptation;

/// <summary>Phase-2 losses trained on all (noisy) labels, the paper's robust-loss comparison.</summary>
public enum RobustLossKind
{
    /// <summary>Cross-entropy.</summary>
    CE,
    /// <summary>Generalized cross-entropy (Zhang &amp; Sabuncu, NeurIPS 2018).</summary>
    GCE,
    /// <summary>Symmetric cross-entropy (Wang et al., ICCV 2019).</summary>
    SCE,
    /// <summary>Early-learning regularisation (Liu et al., NeurIPS 2020).</summary>
    ELR,
}

/// <summary>Hyper-parameters of the robust losses; defaults are the ones the DeFT comparison uses.</summary>
/// <param name="GceQ">GCE exponent q.</param>
/// <param name="SceAlpha">SCE weight of CE.</param>
/// <param name="SceBeta">SCE weight of reverse CE.</param>
/// <param name="ElrBeta">ELR target momentum β.</param>
/// <param name="ElrLambda">ELR regulariser weight λ.</param>
public sealed record RobustLossOptions(
    double GceQ = 0.7,
    double SceAlpha = 0.1,
    double SceBeta = 1.0,
    double ElrBeta = 0.3,
    double ElrLambda = 5.0);

/// <summary>
/// A training loss of (logits [B, K], targets [B] int64, sample indices [B] int64) → scalar mean over the batch.
/// Only <see cref="ElrLoss"/> uses the indices and holds state; the others ignore them.
/// </summary>
public interface IRobustLoss : IDisposable
{
    RobustLossKind Kind { get; }

    Tensor Compute(Tensor logits, Tensor targets, Tensor sampleIndices);
}

/// <summary>Stateless robust losses and the factory.</summary>
public static class RobustLosses
{
    /// <summary>
    /// Creates the loss of <paramref name="kind"/>. <paramref name="sampleCount"/> and <paramref name="classCount"/>
    /// size ELR's per-sample memory (on <paramref name="device"/>, CPU when null); the other kinds ignore them.
    /// </summary>
    public static IRobustLoss Create(RobustLossKind kind, int sampleCount, int classCount,
        RobustLossOptions? options = null, Device? device = null)
    {
        options ??= new RobustLossOptions();
        return kind switch
        {
            RobustLossKind.CE => new StatelessLoss(kind, (logits, targets) => CrossEntropy(logits, targets)),
            RobustLossKind.GCE => new StatelessLoss(kind, (logits, targets) => GeneralizedCrossEntropy(logits, targets, options.GceQ)),
            RobustLossKind.SCE => new StatelessLoss(kind, (logits, targets) => SymmetricCrossEntropy(logits, targets, options.SceAlpha, options.SceBeta)),
            RobustLossKind.ELR => new ElrLoss(sampleCount, classCount, options.ElrBeta, options.ElrLambda, device),
            _ => throw new ArgumentOutOfRangeException(nameof(kind), kind,
                $"Valid losses: {string.Join(", ", Enum.GetNames<RobustLossKind>())}."),
        };
    }

    /// <summary>Mean cross-entropy −log softmax(z)[y].</summary>
    public static Tensor CrossEntropy(Tensor logits, Tensor targets) =>
        nn.functional.cross_entropy(logits, targets);

    /// <summary>
    /// Cross-entropy with label smoothing ε and per-sample weights w: ℓᵢ = (1 − ε) · (−log pᵢ[yᵢ]) + ε · mean_k(−log pᵢ[k])
    /// (torch's <c>label_smoothing</c>: the target is (1 − ε) · onehot + ε / K), reduced to the mean of wᵢ ℓᵢ (a sample of weight w counts as w samples, and the batch's size
    /// still divides, so samples of weight 0 add nothing); null weights: the mean of ℓᵢ.
    /// </summary>
    public static Tensor CrossEntropy(Tensor logits, Tensor targets, Tensor? weights, double labelSmoothing)
    {
        if (!(labelSmoothing >= 0 && labelSmoothing < 1)) throw new ArgumentOutOfRangeException(nameof(labelSmoothing), labelSmoothing, "Label smoothing must lie in [0, 1).");
        using var scope = NewDisposeScope();
        var logP = nn.functional.log_softmax(logits, 1);
        var nll = logP.gather(1, targets.unsqueeze(1)).squeeze(1).neg();
        var perSample = labelSmoothing == 0 ? nll : nll.mul(1 - labelSmoothing).add(logP.mean([1L]).neg().mul(labelSmoothing));
        var reduced = weights is null ? perSample.mean() : perSample.mul(weights).mean();
        return reduced.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Generalized cross-entropy, mean over the batch of <c>(1 − p_y^q) / q</c> with p = softmax(z) (Zhang &amp;
    /// Sabuncu 2018, Eq. 6; official code github.com/AlanChou/Truncated-Loss <c>TruncatedLoss.py</c> without the
    /// truncation weights). Computed as <c>−expm1(q · log_softmax(z)_y) / q</c>, the same function but accurate for
    /// small q and free of the 0^(q−1) gradient at p_y = 0; it tends to CE as q → 0 and to MAE-like 1 − p_y at q = 1.
    /// </summary>
    public static Tensor GeneralizedCrossEntropy(Tensor logits, Tensor targets, double q = 0.7)
    {
        if (!(q > 0 && q <= 1)) throw new ArgumentOutOfRangeException(nameof(q), q, "GCE needs 0 < q ≤ 1.");
        using var scope = NewDisposeScope();
        var logPy = nn.functional.log_softmax(logits, 1).gather(1, targets.unsqueeze(1)).squeeze(1);
        return logPy.mul(q).expm1().neg().div(q).mean().MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Symmetric cross-entropy <c>α·CE + β·RCE</c>, RCE = mean of <c>−Σ_k clamp(p, 1e-7, 1)_k · log clamp(onehot(y),
    /// 1e-4, 1)_k</c> (Wang et al. 2019; official code github.com/HanxunH/SCELoss-Reproduce <c>loss.py</c>
    /// <c>SCELoss</c>, whose CE term is the standard <c>nn.CrossEntropyLoss</c> on the logits).
    /// </summary>
    public static Tensor SymmetricCrossEntropy(Tensor logits, Tensor targets, double alpha = 0.1, double beta = 1.0)
    {
        using var scope = NewDisposeScope();
        var classes = logits.shape[1];
        var ce = nn.functional.cross_entropy(logits, targets);
        var p = nn.functional.softmax(logits, 1).clamp(1e-7, 1.0);
        var oneHot = nn.functional.one_hot(targets, classes).to(logits.dtype).clamp(1e-4, 1.0);
        var rce = p.mul(oneHot.log()).sum(1).neg().mean();
        return ce.mul(alpha).add(rce.mul(beta)).MoveToOuterDisposeScope();
    }

    private sealed class StatelessLoss(RobustLossKind kind, Func<Tensor, Tensor, Tensor> loss) : IRobustLoss
    {
        public RobustLossKind Kind => kind;

        public Tensor Compute(Tensor logits, Tensor targets, Tensor sampleIndices) => loss(logits, targets);

        public void Dispose() { }
    }
}

/// <summary>
/// Early-learning regularisation (Liu et al., NeurIPS 2020; official code github.com/shengliu66/ELR
/// <c>ELR/model/loss.py</c> <c>elr_loss</c>). Keeps a per-sample target t_i (zeros at start), updated on every call
/// before the loss: with p = clamp(softmax(z), 1e-4, 1 − 1e-4) and p̂ its detached copy,
/// <c>t_i ← β·t_i + (1 − β)·p̂_i / Σ_k p̂_ik</c>; the loss is <c>CE + λ · mean_i log(1 − ⟨t_i, p_i⟩)</c>, gradients
/// flowing through p only.
/// </summary>
public sealed class ElrLoss : IRobustLoss
{
    private readonly Tensor _targets;
    private readonly double _beta;
    private readonly double _lambda;

    public ElrLoss(int sampleCount, int classCount, double beta = 0.3, double lambda = 5.0, Device? device = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(sampleCount, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(classCount, 2);
        if (!(beta >= 0 && beta < 1)) throw new ArgumentOutOfRangeException(nameof(beta), beta, "ELR needs 0 ≤ β < 1.");
        _targets = zeros(sampleCount, classCount, dtype: float32, device: device ?? CPU);
        (_beta, _lambda) = (beta, lambda);
    }

    public RobustLossKind Kind => RobustLossKind.ELR;

    public int SampleCount => (int)_targets.shape[0];

    /// <summary>A copy of the target memory [samples, classes].</summary>
    public Tensor Targets() => _targets.clone();

    /// <summary>Replaces the target memory (resuming from a checkpoint); <paramref name="targets"/> is copied.</summary>
    public void RestoreTargets(Tensor targets)
    {
        if (!targets.shape.SequenceEqual(_targets.shape))
            throw new ArgumentException($"ELR targets must be [{string.Join(", ", _targets.shape)}]; got [{string.Join(", ", targets.shape)}].", nameof(targets));
        using var noGrad = no_grad();
        _targets.copy_(targets);
    }

    /// <summary>Updates the targets of <paramref name="sampleIndices"/> and returns CE + λ·ELR for the batch.</summary>
    public Tensor Compute(Tensor logits, Tensor targets, Tensor sampleIndices)
    {
        if (sampleIndices.numel() != logits.shape[0])
            throw new ArgumentException($"ELR needs one sample index per logit row: got {sampleIndices.numel()} for {logits.shape[0]}.", nameof(sampleIndices));
        using var scope = NewDisposeScope();
        var indices = sampleIndices.to(int64).to(_targets.device);
        var p = nn.functional.softmax(logits, 1).clamp(1e-4, 1.0 - 1e-4);
        using (no_grad())
        {
            var detached = p.detach().to(_targets.dtype);
            var normalised = detached.div(detached.sum(1, keepdim: true));
            var updated = _targets.index_select(0, indices).mul_(_beta).add_(normalised, alpha: 1 - _beta);
            _targets.index_copy_(0, indices, updated);
        }
        var batchTargets = _targets.index_select(0, indices).to(p.dtype).to(p.device);
        var regulariser = batchTargets.mul(p).sum(1).neg().add(1).log().mean();
        var ce = nn.functional.cross_entropy(logits, targets);
        return ce.add(regulariser.mul(_lambda)).MoveToOuterDisposeScope();
    }

    public void Dispose() => _targets.Dispose();
}
