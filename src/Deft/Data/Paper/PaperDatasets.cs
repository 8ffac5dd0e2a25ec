using System.Globalization;

namespace Deft.Data.Paper;

/// <summary>
/// The data sets of the DeFT paper as <c>--format</c> sources, each read from its root folder as distributed:
/// cifar100n, tiny-imagenet, cub200, stanford-cars, clothing1m, webvision (Google lists), webvision-all (Google and
/// Flickr) and webvision-imagenet (ImageNet validation images of WebVision's classes; test split only).
/// </summary>
public static class PaperDatasets
{
    /// <summary>The format names, as <see cref="DatasetFactory.Formats"/> lists them.</summary>
    public static IReadOnlyList<string> FormatNames { get; } =
    [
        CifarNDataset.FormatName, TinyImageNetDataset.FormatName, Cub200Dataset.FormatName, StanfordCarsDataset.FormatName,
        Clothing1MDataset.FormatName, WebVisionDataset.FormatName, WebVisionDataset.FlickrFormatName, WebVisionDataset.ImageNetFormatName,
    ];

    private static readonly HashSet<string> TakeClassCount =
        [WebVisionDataset.FormatName, WebVisionDataset.FlickrFormatName, WebVisionDataset.ImageNetFormatName];

    /// <summary>Whether <paramref name="format"/> (lower case) is one of <see cref="FormatNames"/>.</summary>
    public static bool Handles(string format) => FormatNames.Contains(format);

    /// <summary>Whether <c>--classes</c> of <paramref name="format"/> is a class count (the WebVision formats) rather than a names file.</summary>
    public static bool TakesClassCount(string format) => TakeClassCount.Contains(format.Trim().ToLowerInvariant());

    /// <summary>
    /// Opens <paramref name="root"/> (an existing directory) as <paramref name="format"/>. <paramref name="classes"/>
    /// is the <c>--classes</c> value: for the WebVision formats a class count N (keep labels 0..N-1); the other
    /// formats name their classes themselves and reject it.
    /// </summary>
    internal static IImageDataset Open(string format, string root, string split, string? classes)
    {
        int? classLimit = null;
        if (classes is not null)
        {
            if (!TakeClassCount.Contains(format))
                throw new DeftException($"{Setting.ClassesFile} does not apply to {Setting.Format} {format}: it takes its class names from the data set.");
            if (!int.TryParse(classes.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n < 1)
                throw new DeftException($"{Setting.ClassCount} for {Setting.Format} {format} is a class count (the literature uses 50: {Setting.ClassCount} 50), got '{classes}'.");
            classLimit = n;
        }
        return format switch
        {
            CifarNDataset.FormatName => CifarNDataset.Open(root, split),
            TinyImageNetDataset.FormatName => TinyImageNetDataset.Open(root, split),
            Cub200Dataset.FormatName => Cub200Dataset.Open(root, split),
            StanfordCarsDataset.FormatName => StanfordCarsDataset.Open(root, split),
            Clothing1MDataset.FormatName => Clothing1MDataset.Open(root, split),
            WebVisionDataset.FormatName => WebVisionDataset.Open(root, split, classLimit, WebVisionSources.Google),
            WebVisionDataset.FlickrFormatName => WebVisionDataset.Open(root, split, classLimit, WebVisionSources.GoogleAndFlickr),
            WebVisionDataset.ImageNetFormatName => WebVisionDataset.OpenImageNetVal(root, split, classLimit),
            _ => throw new ArgumentOutOfRangeException(nameof(format), format, $"Valid: {string.Join(", ", FormatNames)}."),
        };
    }
}
