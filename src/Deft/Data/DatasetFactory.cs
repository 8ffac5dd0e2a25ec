namespace Deft.Data;

/// <summary>What to do with an image that cannot be decoded.</summary>
public enum BadImagePolicy
{
    /// <summary>Stop with an error naming the sample (default).</summary>
    Fail,
    /// <summary>Leave the sample out and list it (see <see cref="IImageDataset"/> implementations' skipped lists).</summary>
    Skip,
}

/// <summary>How to open a data set from the command line: a path, a format name, a split.</summary>
public sealed record DatasetOptions(string Path, string Format, string Split = "train", BadImagePolicy OnBadImage = BadImagePolicy.Fail);

/// <summary>Opens data sets by format name (<c>--format</c>). The data layer fills in the readers.</summary>
public static partial class DatasetFactory
{
    /// <summary>Format names accepted by <see cref="Open"/>.</summary>
    public static IReadOnlyList<string> Formats => FormatNames;

    public static IImageDataset Open(DatasetOptions options) => OpenCore(options);
}
