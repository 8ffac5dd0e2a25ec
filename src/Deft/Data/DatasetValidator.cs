using System.Collections.Concurrent;

namespace Deft.Data;

/// <summary>A sample left out because its image could not be read.</summary>
/// <param name="Index">Its index in the unvalidated reader.</param>
/// <param name="Source">Where it comes from (<see cref="IImageDataset.GetSource"/>).</param>
/// <param name="Reason">The decoding error.</param>
public sealed record SkippedSample(int Index, string Source, string Reason);

/// <summary>
/// A data set whose every image has been decoded once (<see cref="DatasetValidator.Scan"/>), without the unreadable
/// ones. Indices are renumbered densely: sample i here is sample <see cref="SourceIndex"/>(i) of the reader, in the
/// reader's order. The numbering is therefore stable for a given set of files (the same unreadable files give the same
/// indices) but shifts when an image is repaired or breaks; <see cref="IImageDataset.GetSource"/> is unchanged and
/// names the file whatever the numbering. Without skipped samples the indices equal the reader's.
/// </summary>
public sealed class ValidatedDataset : IImageDataset
{
    private readonly IImageDataset _inner;
    private readonly int[] _kept;
    // Decoded sizes, so DatasetInfo need not decode again; null when the reader knows its uniform size.
    private readonly (int Width, int Height)[]? _sizes;

    internal ValidatedDataset(IImageDataset inner, int[] kept, (int, int)[]? sizes, IReadOnlyList<SkippedSample> skipped)
    {
        _inner = inner;
        _kept = kept;
        _sizes = sizes;
        Skipped = skipped;
    }

    /// <summary>The reader this data set validated.</summary>
    internal IImageDataset Inner => _inner;

    /// <summary>The samples left out, in the reader's index order.</summary>
    public IReadOnlyList<SkippedSample> Skipped { get; }

    /// <summary>The index in the unvalidated reader of sample <paramref name="index"/>.</summary>
    public int SourceIndex(int index) => _kept[index];

    public int Count => _kept.Length;
    public IReadOnlyList<string> Classes => _inner.Classes;
    public int GetLabel(int index) => _inner.GetLabel(_kept[index]);
    public int? GetCleanLabel(int index) => _inner.GetCleanLabel(_kept[index]);
    public RgbImage GetImage(int index) => _inner.GetImage(_kept[index]);
    public byte[] GetRawPixels(int index) => _inner.GetRawPixels(_kept[index]);
    public string GetSource(int index) => _inner.GetSource(_kept[index]);

    internal (int Width, int Height) GetImageSize(int index) =>
        _sizes?[index] ?? (_inner is IInMemoryDataset m ? (m.ImageWidth, m.ImageHeight) : throw new InvalidOperationException("No sizes recorded."));
}

/// <summary>The explicit validation pass: decodes every image once and applies a <see cref="BadImagePolicy"/>.</summary>
public static class DatasetValidator
{
    /// <summary>
    /// Decodes every image of <paramref name="dataset"/> (in parallel). With <see cref="BadImagePolicy.Fail"/> the
    /// first unreadable sample (lowest index) throws a <see cref="DeftException"/> naming it; with
    /// <see cref="BadImagePolicy.Skip"/> unreadable samples are left out and listed. Readers that hold their samples in
    /// memory (idx, cifar10, cifar100) were fully checked when opened and are not decoded again.
    /// A <see cref="ValidatedDataset"/> is returned as is.
    /// </summary>
    public static ValidatedDataset Scan(IImageDataset dataset, BadImagePolicy policy, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        if (dataset is ValidatedDataset already) return already;
        if (dataset is IInMemoryDataset)
            return new ValidatedDataset(dataset, [.. Enumerable.Range(0, dataset.Count)], null, []);

        var sizes = new (int, int)[dataset.Count];
        var failures = new ConcurrentDictionary<int, string>();
        var options = new ParallelOptions { CancellationToken = cancellationToken, MaxDegreeOfParallelism = Environment.ProcessorCount };
        Parallel.For(0, dataset.Count, options, (i, state) =>
        {
            try
            {
                var image = dataset.GetImage(i);
                sizes[i] = (image.Width, image.Height);
            }
            catch (DeftException ex)
            {
                failures[i] = ex.Message;
                // Break still finishes every lower index, so the lowest failure is known when the loop ends.
                if (policy == BadImagePolicy.Fail) state.Break();
            }
        });

        if (failures.IsEmpty)
            return new ValidatedDataset(dataset, [.. Enumerable.Range(0, dataset.Count)], sizes, []);
        if (policy == BadImagePolicy.Fail)
        {
            var first = failures.Keys.Min();
            var source = dataset.GetSource(first);
            var named = failures[first].Contains(source, StringComparison.Ordinal) ? "" : $" ({source})";
            var more = failures.Count > 1 ? $"{failures.Count - 1} more unreadable sample(s) found so far. " : "";
            throw new DeftException(
                $"Sample {first}{named} cannot be read: {failures[first]} {more}" +
                $"Or pass {Setting.OnBadImage} skip to leave unreadable images out.");
        }

        var kept = Enumerable.Range(0, dataset.Count).Where(i => !failures.ContainsKey(i)).ToArray();
        var skipped = failures.OrderBy(f => f.Key).Select(f => new SkippedSample(f.Key, dataset.GetSource(f.Key), f.Value)).ToList();
        return new ValidatedDataset(dataset, kept, [.. kept.Select(i => sizes[i])], skipped);
    }
}
