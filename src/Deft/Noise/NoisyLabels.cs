using Deft.Metrics;

namespace Deft.Noise;

/// <summary>
/// Labels after noise, with the truth they came from.
/// </summary>
/// <param name="Labels">The given (possibly noisy) label of each sample.</param>
/// <param name="TrueLabels">The label before noise.</param>
/// <param name="RequestedRatio">R as asked for; null for <see cref="NoiseMode.File"/>.</param>
/// <param name="RealizedRate">Fraction of samples with given ≠ true. For sym this is about R·(C−1)/C, since a redrawn label may equal the true one.</param>
/// <param name="Transition">Realized transition matrix T[true][given], rows normalised (a class without samples has a zero row).</param>
/// <param name="Chosen">
/// Samples the noise process acted on: for sym, asym, asym-cifar10 and str the round(R·N) samples picked (a sym pick
/// may redraw its own label; an asym-cifar10 pick of an unmapped class and a str pick of a clean class keep it); for
/// pairflip, idn and file the
/// samples whose label changed.
/// </param>
/// <param name="FlipRates">idn only: each sample's flip rate qᵢ; null otherwise.</param>
public sealed record NoisyLabels(
    IReadOnlyList<int> Labels,
    IReadOnlyList<int> TrueLabels,
    int ClassCount,
    NoiseMode Mode,
    double? RequestedRatio,
    ulong Seed,
    double RealizedRate,
    double[][] Transition,
    IReadOnlyList<bool> Chosen,
    IReadOnlyList<double>? FlipRates = null)
{
    public int Count => Labels.Count;

    public int ChosenCount => Chosen.Count(c => c);

    /// <summary>Samples with given ≠ true.</summary>
    public int NoisyCount
    {
        get
        {
            var n = 0;
            for (var i = 0; i < Labels.Count; i++)
                if (Labels[i] != TrueLabels[i]) n++;
            return n;
        }
    }

    /// <summary>Writes the label file (header <c>index,label,true_label</c>), atomically.</summary>
    public void Save(string path) => LabelFile.Write(path, Labels, TrueLabels);

    internal static NoisyLabels Create(
        int[] labels, int[] trueLabels, int classCount, NoiseMode mode, double? ratio, ulong seed, bool[] chosen,
        double[]? flipRates = null)
    {
        var noisy = 0;
        for (var i = 0; i < labels.Length; i++)
            if (labels[i] != trueLabels[i]) noisy++;
        var realized = labels.Length == 0 ? 0.0 : (double)noisy / labels.Length;
        var transition = ClassificationMetrics.TransitionMatrix(trueLabels, labels, classCount);
        return new NoisyLabels(labels, trueLabels, classCount, mode, ratio, seed, realized, transition, chosen, flipRates);
    }
}
