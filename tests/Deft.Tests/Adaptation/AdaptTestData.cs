using System.Globalization;
using System.Text;
using Deft.Data;

namespace Deft.Tests.Adaptation;

/// <summary>
/// A planted, easily separable image set: class k is a colour (red, green, blue, yellow…) with per-pixel noise, so a
/// random-feature model with a trained head separates it. Deterministic for (count, seed).
/// </summary>
internal sealed class PlantedColours : IImageDataset
{
    private static readonly (byte R, byte G, byte B)[] Colours = [(220, 40, 40), (40, 200, 60), (50, 60, 220), (230, 220, 50), (200, 60, 210), (60, 210, 210)];
    private readonly int[] _labels;
    private readonly int _seed;
    private readonly string _prefix;

    public PlantedColours(int count, int classes = 4, int seed = 1, int size = 32, string prefix = "planted", string[]? classNames = null)
    {
        var rng = new Random(seed);
        _labels = Enumerable.Range(0, count).Select(_ => rng.Next(classes)).ToArray();
        _seed = seed;
        _prefix = prefix;
        Size = size;
        Classes = classNames ?? new[] { "red", "green", "blue", "yellow", "magenta", "cyan" }.Take(classes).ToArray();
    }

    public int Size { get; }
    public int Count => _labels.Length;
    public IReadOnlyList<string> Classes { get; }
    public int GetLabel(int index) => _labels[index];
    public string GetSource(int index) => $"/data/{_prefix}/{Classes[_labels[index]]}/{_prefix}-{index:D4}.png";

    public RgbImage GetImage(int index)
    {
        var rng = new Random(_seed * 100_003 + index);
        var (r, g, b) = Colours[_labels[index]];
        var pixels = new byte[Size * Size * 3];
        for (var p = 0; p < Size * Size; p++)
        {
            pixels[p * 3] = Clamp(r + rng.Next(-40, 41));
            pixels[p * 3 + 1] = Clamp(g + rng.Next(-40, 41));
            pixels[p * 3 + 2] = Clamp(b + rng.Next(-40, 41));
        }
        return new RgbImage(Size, Size, pixels);
    }

    private static byte Clamp(int v) => (byte)Math.Clamp(v, 0, 255);
}

/// <summary>The first samples of another data set (Fashion-MNIST subsets), with the inner sources.</summary>
internal sealed class Subset(IImageDataset inner, int count) : IImageDataset
{
    public int Count { get; } = Math.Min(count, inner.Count);
    public IReadOnlyList<string> Classes => inner.Classes;
    public int GetLabel(int index) => inner.GetLabel(index);
    public RgbImage GetImage(int index) => inner.GetImage(index);
    public string GetSource(int index) => inner.GetSource(index);
}

internal static class AdaptTestFiles
{
        /// <summary>
    /// Writes samples.csv in the detector's layout (its full header, true_label last). <paramref name="given"/> and
    /// <paramref name="issue"/> default to the data set's labels and "clean".
    /// </summary>
    public static string WriteSamples(string path, IImageDataset data, Func<int, int>? given = null, Func<int, bool>? issue = null,
        Func<int, string>? source = null)
    {
        var sb = new StringBuilder("index,source,given_label,given_name,label_quality,is_label_issue,suggested_label,suggested_name,suggested_probability,true_label,true_name\n");
        for (var i = 0; i < data.Count; i++)
        {
            var g = given?.Invoke(i) ?? data.GetLabel(i);
            var src = source?.Invoke(i) ?? data.GetSource(i);
            if (src.Contains(',')) src = "\"" + src.Replace("\"", "\"\"") + "\"";
            sb.Append(CultureInfo.InvariantCulture, $"{i},{src},{g},{data.Classes[g]},0.5,{(issue?.Invoke(i) ?? false ? "true" : "false")},{g},{data.Classes[g]},0.9,{data.GetLabel(i)},{data.Classes[data.GetLabel(i)]}\n");
        }
        File.WriteAllText(path, sb.ToString());
        return path;
    }
}
