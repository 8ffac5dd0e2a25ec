using System.ComponentModel;
using Deft.Cli.Binding;
using Deft.Data;
using Spectre.Console.Cli;

namespace Deft.Cli.Commands;

/// <summary>
/// The data-set options every command that opens a data set shares (--data, --format, --classes, --on-bad-image), declared once.
/// --split is not among them: its default differs per command (train for detect, test for zero-shot and predict),
/// and Spectre reports an overriding property as a second, duplicate option; so each command declares its --split
/// with <see cref="DataOptionTexts.Split"/>.
/// </summary>
internal abstract class DataSettings : CommandSettings
{
    [CommandOption("--data <PATH>")] [Description(DataOptionTexts.Data)]
    public string? Data { get; init; }

    [CommandOption("--format <FORMAT>")] [Description(DataOptionTexts.Format)]
    public string? Format { get; init; }

    [CommandOption("--classes <FILE>")] [Description(DataOptionTexts.Classes)]
    public string? Classes { get; init; }

    [CommandOption("--on-bad-image <POLICY>")] [Description(DataOptionTexts.OnBadImage)]
    [DefaultValue("skip")] [TypeConverter(typeof(KebabCaseEnumConverter<BadImagePolicy>))]
    public BadImagePolicy OnBadImage { get; init; } = BadImagePolicy.Skip;
}

/// <summary>
/// <see cref="ClipModelSettings"/> plus the data-set options, for the commands that run a CLIP model over a data set.
/// Spectre settings inherit from one class only, so this level repeats <see cref="DataSettings"/>' declarations; their
/// descriptions come from <see cref="DataOptionTexts"/>, so each flag still has one text.
/// </summary>
internal abstract class ClipDataSettings : ClipModelSettings
{
    [CommandOption("--data <PATH>")] [Description(DataOptionTexts.Data)]
    public string? Data { get; init; }

    [CommandOption("--format <FORMAT>")] [Description(DataOptionTexts.Format)]
    public string? Format { get; init; }

    [CommandOption("--classes <FILE>")] [Description(DataOptionTexts.Classes)]
    public string? Classes { get; init; }

    [CommandOption("--on-bad-image <POLICY>")] [Description(DataOptionTexts.OnBadImage)]
    [DefaultValue("skip")] [TypeConverter(typeof(KebabCaseEnumConverter<BadImagePolicy>))]
    public BadImagePolicy OnBadImage { get; init; } = BadImagePolicy.Skip;
}

/// <summary>The one description of each data-set option.</summary>
internal static class DataOptionTexts
{
    public const string Data = "The data set: a directory (idx, cifar10, cifar100, folder and the paper formats) or a manifest file (csv).";
    public const string Format = "How --data is laid out (the paper data sets have their own formats). " + CsvManifest;

    /// <summary>The csv manifest's columns (ManifestDataset): where a user choosing --format csv reads them.</summary>
    public const string CsvManifest = "csv: a manifest file, one image per line: path,label[[,clean_label]] (.tsv: tab-separated); an optional header " +
        "(path/file/image, label/class/target, clean_label/true_label) names the columns, further columns are ignored with a warning; relative paths " +
        "start at the manifest's folder; labels are class names (or ids 0..K-1, or names in --classes order); quote paths holding the separator.";
    public const string Split = "train or test.";
    public const string OnBadImage = "skip (default): leave unreadable, empty and missing images out and list them as data issues (a table, data_issues.csv, the report); fail: stop at the first one.";
    public const string Classes = "Class names, one per line, in label order (csv and idx formats; used in the prompts); for the webvision formats a class count (50: the first 50 classes).";
}
