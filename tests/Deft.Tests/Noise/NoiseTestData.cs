using Deft.Data;
using Deft.Noise;

namespace Deft.Tests.Noise;

internal static class NoiseTestData
{
    /// <summary>n labels uniform over C classes (fixed seed, independent of the seeds the tests use for noise).</summary>
    public static int[] UniformLabels(int n, int classCount, ulong seed = 12345)
    {
        var rng = new SeededRandom(seed);
        return Enumerable.Range(0, n).Select(_ => rng.NextInt(classCount)).ToArray();
    }

    /// <summary>Binomial-style tolerance: |observed − expected| ≤ 4·sd.</summary>
    public static void AssertWithin4Sd(double observed, double expected, double variance, string what)
    {
        var sd = Math.Sqrt(variance);
        Assert.True(Math.Abs(observed - expected) <= 4 * sd + 1e-9,
            $"{what}: observed {observed}, expected {expected} ± 4·{sd:0.###}");
    }

    public static string TempPath(string name) =>
        Path.Combine(Path.GetTempPath(), "deft-noise-tests", $"{Guid.NewGuid():N}-{name}");
}

/// <summary>A data set made of arrays, for the noise command and dataset-level noise.</summary>
internal sealed class FakeDataset(int[] labels, string[] classes, Func<int, byte[]>? rawPixels = null, int?[]? cleanLabels = null)
    : IImageDataset
{
    public int Count => labels.Length;
    public IReadOnlyList<string> Classes => classes;
    public int GetLabel(int index) => labels[index];
    public int? GetCleanLabel(int index) => cleanLabels?[index];
    public RgbImage GetImage(int index) => throw new NotSupportedException("FakeDataset has no images.");
    public byte[] GetRawPixels(int index) => rawPixels?.Invoke(index) ?? throw new NotSupportedException("FakeDataset has no pixels.");
    public string GetSource(int index) => $"fake#{index}";
}
