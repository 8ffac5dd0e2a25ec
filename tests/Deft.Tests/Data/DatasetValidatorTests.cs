using Deft.Cli;
using Deft.Data;
using SkiaSharp;

namespace Deft.Tests.Data;

public sealed class DatasetValidatorTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Good(string rel, int w, int h, int seed) =>
        _dir.Write(rel, TestImages.SkiaEncode(TestImages.Pattern(w, h, seed), SKEncodedImageFormat.Png));

    /// <summary>cat: 3 images (the second truncated), dog: 2 images (the first garbage).</summary>
    private (string Truncated, string Garbage) MakeFolderWithBadImages()
    {
        Good("cat/a.png", 4, 3, 1);
        var png = TestImages.SkiaEncode(TestImages.Pattern(40, 40, 2), SKEncodedImageFormat.Png);
        var truncated = _dir.Write("cat/b.png", png[..(png.Length / 2)]);
        Good("cat/c.png", 4, 3, 3);
        var garbage = _dir.Write("dog/a.jpg", [.. Enumerable.Repeat((byte)0x42, 64)]);
        Good("dog/b.png", 6, 5, 5);
        return (truncated, garbage);
    }

    [Fact]
    public void Skip_leaves_bad_images_out_and_renumbers_densely()
    {
        var (truncated, garbage) = MakeFolderWithBadImages();

        var ds = Assert.IsType<ValidatedDataset>(DatasetFactory.Open(new DatasetOptions(_dir.Path, "folder", OnBadImage: BadImagePolicy.Skip)));

        Assert.Equal(3, ds.Count);
        Assert.Equal([1, 3], ds.Skipped.Select(s => s.Index));
        Assert.Equal([truncated, garbage], ds.Skipped.Select(s => s.Source));
        Assert.Contains("truncated", ds.Skipped[0].Reason);
        Assert.Equal([0, 2, 4], Enumerable.Range(0, 3).Select(ds.SourceIndex));
        Assert.Equal([0, 0, 1], Enumerable.Range(0, 3).Select(ds.GetLabel));
        Assert.Equal(Path.Combine(_dir.Path, "cat", "c.png"), ds.GetSource(1));
        Assert.Equal(TestImages.Pattern(4, 3, 3).Pixels, ds.GetImage(1).Pixels);
        Assert.Equal(["cat", "dog"], ds.Classes);
    }

    [Fact]
    public void Fail_reports_the_lowest_bad_sample_by_file()
    {
        var (truncated, _) = MakeFolderWithBadImages();
        var reader = DatasetFactory.Open(new DatasetOptions(_dir.Path, "folder", OnBadImage: BadImagePolicy.Fail));

        var ex = Assert.Throws<DeftException>(() => DatasetValidator.Scan(reader, BadImagePolicy.Fail));

        Assert.Contains("Sample 1", ex.Message);
        Assert.Contains(truncated, ex.Message);
        Assert.Contains("--on-bad-image skip", Deft.Cli.FlagNames.Render(ex));
    }

    [Fact]
    public void Clean_data_keeps_indices()
    {
        Good("a/1.png", 2, 2, 1);
        Good("b/1.png", 2, 2, 2);
        var reader = DatasetFactory.Open(new DatasetOptions(_dir.Path, "folder"));
        var ds = DatasetValidator.Scan(reader, BadImagePolicy.Fail);
        Assert.Equal(2, ds.Count);
        Assert.Empty(ds.Skipped);
        Assert.Equal(reader.GetSource(1), ds.GetSource(1));
        Assert.Same(ds, DatasetValidator.Scan(ds, BadImagePolicy.Skip));
    }

    [Fact]
    public void Info_counts_classes_and_size_range_after_skipping()
    {
        MakeFolderWithBadImages();
        var info = DatasetInfo.Collect(new DatasetOptions(_dir.Path, "folder", OnBadImage: BadImagePolicy.Skip));

        Assert.Equal("folder", info.Format);
        Assert.Equal(3, info.Count);
        Assert.Equal([new ClassCount(0, "cat", 2), new ClassCount(1, "dog", 1)], info.Classes);
        Assert.Equal(new ImageSizeRange(4, 3, 6, 5), info.ImageSize);
        Assert.False(info.ImageSize.Uniform);
        Assert.Equal("mixed (width 4..6, height 3..5)", info.ImageSize.Description);
        Assert.Equal(2, info.Skipped.Count);

        Assert.Throws<DeftException>(() => DatasetInfo.Collect(new DatasetOptions(_dir.Path, "folder", OnBadImage: BadImagePolicy.Fail)));
        // Skipping is the default, and the skipped files are data issues.
        Assert.Equal([DataIssueKind.Unreadable, DataIssueKind.Unreadable], DatasetInfo.Collect(new DatasetOptions(_dir.Path, "folder")).Issues.Select(d => d.Kind));
    }

    [Fact]
    public void Info_sizes_follow_exif_orientation()
    {
        var jpeg = TestImages.SkiaEncode(TestImages.Solid(10, 4, 50, 60, 70), SKEncodedImageFormat.Jpeg, 90);
        _dir.Write("x/rotated.jpg", TestImages.WithExifOrientation(jpeg, 6));
        var info = DatasetInfo.Collect(new DatasetOptions(_dir.Path, "folder"));
        Assert.Equal("4x10", info.ImageSize.Description);
    }

    [Fact]
    public void Unknown_format_split_and_misplaced_options_list_valid_values()
    {
        Good("a/1.png", 2, 2, 1);
        var ex = Assert.Throws<DeftException>(() => DatasetFactory.Open(new DatasetOptions(_dir.Path, "imagenet")));
        Assert.Contains("idx, cifar10, cifar100, folder, csv", ex.Message);

        ex = Assert.Throws<DeftException>(() => DatasetFactory.Open(new DatasetOptions(_dir.Path, "folder", "val")));
        Assert.Contains("train, test", ex.Message);

        ex = Assert.Throws<DeftException>(() => DatasetFactory.Open(new DatasetOptions(_dir.Path, "folder", ClassesFile: "x.txt")));
        Assert.Contains("--classes", FlagNames.Render(ex));

        ex = Assert.Throws<DeftException>(() => DatasetFactory.Open(new DatasetOptions(Path.Combine(_dir.Path, "none"), "folder")));
        Assert.Contains(Path.Combine(_dir.Path, "none"), ex.Message);

        ex = Assert.Throws<DeftException>(() => DatasetFactory.Open(new DatasetOptions(_dir.Path, "csv")));
        Assert.Contains("manifest file", ex.Message);

        Assert.Equal(1, DatasetFactory.Open(new DatasetOptions(_dir.Path, " Folder ", "TRAIN")).Count);
    }

    [Fact]
    public void Class_list_with_duplicates_names_the_line()
    {
        var classes = _dir.WriteText("c.txt", "cat\ndog\ncat\n");
        var ex = Assert.Throws<DeftException>(() => DatasetFactory.ReadClassesFile(classes));
        Assert.Contains($"{classes} line 3", ex.Message);
    }
}
