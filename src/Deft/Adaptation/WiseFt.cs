using TorchSharp;
using static TorchSharp.torch;

namespace Deft.Adaptation;

/// <summary>
/// WiSE-FT (Wortsman et al., 2022): the saved model is θ = (1 − α) · θ_zero-shot + α · θ_fine-tuned, every trainable
/// parameter mixed between its value at the start (the zero-shot model: pre-trained tower and text head) and after the
/// last epoch.
/// </summary>
/// <param name="Alpha">The mixing coefficient in [0, 1] (0: the zero-shot model, 1: the fine-tuned one); null: the
/// α of <see cref="AlphaGrid"/> with the best accuracy on the held-out selected samples (<see cref="AdaptOptions.HoldoutFraction"/>).</param>
public sealed record WiseFtOptions(double? Alpha = null)
{
    /// <summary>The coefficients tried when α is chosen on the held-out samples: 0, 0.1, …, 1.</summary>
    public static IReadOnlyList<double> AlphaGrid { get; } = Enumerable.Range(0, 11).Select(i => i / 10.0).ToArray();
}

/// <summary>One mixing coefficient and the held-out accuracy of the mixed model.</summary>
public sealed record WiseFtPoint(double Alpha, double ValidationAccuracy);

/// <summary>What WiSE-FT did.</summary>
/// <param name="Alpha">The coefficient of the saved model.</param>
/// <param name="ChosenOnHoldout">True when α was chosen on the held-out selected samples (false: given).</param>
/// <param name="Validation">Held-out accuracy per coefficient tried (empty without a held-out part).</param>
/// <param name="TestAccuracy">Test accuracy of the saved (mixed) model; null without a test set.</param>
public sealed record WiseFtResult(double Alpha, bool ChosenOnHoldout, IReadOnlyList<WiseFtPoint> Validation, double? TestAccuracy);

/// <summary>The weight arithmetic of WiSE-FT.</summary>
internal static class WiseFt
{
    /// <summary>Detached CPU copies of the tensors, by name.</summary>
    public static Dictionary<string, Tensor> Snapshot(IEnumerable<(string Name, Tensor Tensor)> tensors)
    {
        using var noGrad = torch.no_grad();
        return tensors.ToDictionary(t => t.Name, t => t.Tensor.detach().cpu().clone(), StringComparer.Ordinal);
    }

    /// <summary>Sets every target in place to (1 − α) · start + α · end (its entries of the same name).</summary>
    public static void Mix(IEnumerable<(string Name, Tensor Tensor)> targets, IReadOnlyDictionary<string, Tensor> start,
        IReadOnlyDictionary<string, Tensor> end, double alpha)
    {
        if (!(alpha >= 0 && alpha <= 1)) throw new ArgumentOutOfRangeException(nameof(alpha), alpha, "α must lie in [0, 1].");
        using var noGrad = torch.no_grad();
        foreach (var (name, target) in targets)
        {
            if (!start.TryGetValue(name, out var a) || !end.TryGetValue(name, out var b))
                throw new InvalidOperationException($"WiSE-FT: no start or end value for parameter '{name}'.");
            using var scope = torch.NewDisposeScope();
            // lerp(a, b, α) = a + α · (b − a): exact at both ends.
            target.copy_(alpha == 1 ? b : a.lerp(b, alpha));
        }
    }

    /// <summary>
    /// The coefficient with the best held-out accuracy; ties go to the larger α (the model closer to plain fine-tuning,
    /// what the run would save without WiSE-FT).
    /// </summary>
    public static double Choose(IReadOnlyList<WiseFtPoint> points)
    {
        if (points.Count == 0) throw new ArgumentException("No coefficient was evaluated.", nameof(points));
        return points.OrderByDescending(p => p.ValidationAccuracy).ThenByDescending(p => p.Alpha).First().Alpha;
    }

    public static void Dispose(Dictionary<string, Tensor>? tensors)
    {
        if (tensors is null) return;
        foreach (var t in tensors.Values) t.Dispose();
        tensors.Clear();
    }
}
