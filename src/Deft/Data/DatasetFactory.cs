namespace Deft.Data;

/// <summary>What to do with an image that cannot be decoded.</summary>
public enum BadImagePolicy
{
    /// <summary>Stop with an error naming the sample.</summary>
    Fail,
    /// <summary>Leave the sample out and list it (<see cref="ValidatedDataset.Skipped"/>; a data issue, <see cref="DataIssues.OfFiles"/>). The default.</summary>
    Skip,
}

/// <summary>How to open a data set from the command line: a path, a format name, a split.</summary>
/// <param name="Path">The data set: a directory (idx, cifar10, cifar100, folder) or a manifest file (csv).</param>
/// <param name="Format">One of <see cref="DatasetFactory.Formats"/> (case-insensitive).</param>
/// <param name="Split">One of <see cref="DatasetFactory.Splits"/>. A csv manifest is a single split and ignores it.</param>
/// <param name="OnBadImage">See <see cref="DatasetFactory.Open"/>; skip by default: unreadable images become data issues, not errors.</param>
/// <param name="ClassesFile">
/// Optional class-name list, one name per line (<c>--classes</c>): the names for label ids 0..K-1. Used by the
/// csv and idx formats; the others take their names from the data set itself and reject it.
/// </param>
/// <param name="Warn">Receives what the reader tolerates but the user should know (a manifest's ignored columns).</param>
public sealed record DatasetOptions(
    string Path,
    string Format,
    string Split = "train",
    BadImagePolicy OnBadImage = BadImagePolicy.Skip,
    string? ClassesFile = null,
    Action<string>? Warn = null);

/// <summary>Opens data sets by format name (<c>--format</c>).</summary>
public static partial class DatasetFactory
{
    /// <summary>Format names accepted by <see cref="Open"/>: idx, cifar10, cifar100, folder, csv.</summary>
    public static IReadOnlyList<string> Formats => FormatNames;

    /// <summary>Split names accepted by <see cref="Open"/>: train, test.</summary>
    public static IReadOnlyList<string> Splits => SplitNames;

    /// <summary>
    /// Opens a data set. With <see cref="BadImagePolicy.Fail"/> the reader is returned as is: images are decoded
    /// when asked for, and an unreadable one throws a <see cref="DeftException"/> naming it (call
    /// <see cref="DatasetValidator.Scan"/> to check every image up front). With <see cref="BadImagePolicy.Skip"/>
    /// every image is decoded once here (<see cref="DatasetValidator.Scan"/>) and a <see cref="ValidatedDataset"/>
    /// without the unreadable ones is returned; its indices are renumbered densely (see there). In-memory readers
    /// (idx, cifar10, cifar100) are checked when opened and returned as they are.
    /// Structural problems (missing or malformed label files, manifests, class folders) always throw.
    /// </summary>
    public static IImageDataset Open(DatasetOptions options)
    {
        var reader = OpenReader(options);
        // Readers holding their samples in memory (idx, cifar) were fully checked when opened: nothing to skip, so they
        // are returned as they are.
        return options.OnBadImage == BadImagePolicy.Skip && reader is not IInMemoryDataset ? DatasetValidator.Scan(reader, BadImagePolicy.Skip) : reader;
    }
}
