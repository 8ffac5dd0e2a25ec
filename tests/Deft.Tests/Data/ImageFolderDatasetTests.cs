using Deft.Data;
using SkiaSharp;

namespace Deft.Tests.Data;

public sealed class ImageFolderDatasetTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private byte[] Png(int seed, int w = 3, int h = 2) => TestImages.SkiaEncode(TestImages.Pattern(w, h, seed), SKEncodedImageFormat.Png);

    [Fact]
    public void Classes_and_files_follow_ordinal_order()
    {
        // Ordinal order puts upper case first: "Zebra" < "ant" < "bee".
        _dir.Write("bee/b.png", Png(1));
        _dir.Write("bee/A.PNG", Png(2));
        _dir.Write("ant/x.bmp", TestImages.Bmp(3, 2, TestImages.Pattern(3, 2, 3).Pixels));
        _dir.Write("ant/notes.txt", [1, 2, 3]);
        _dir.Write("ant/.hidden.png", Png(9));
        _dir.Write("Zebra/sub/z.webp", TestImages.SkiaEncode(TestImages.Pattern(4, 4, 4), SKEncodedImageFormat.Webp));

        var ds = DatasetFactory.Open(new DatasetOptions(_dir.Path, "folder"));

        Assert.Equal(["Zebra", "ant", "bee"], ds.Classes);
        Assert.Equal(4, ds.Count);
        Assert.Equal([0, 1, 2, 2], Enumerable.Range(0, 4).Select(ds.GetLabel));
        Assert.Equal(["sub/z.webp", "x.bmp", "A.PNG", "b.png"],
            Enumerable.Range(0, 4).Select(i => Path.GetRelativePath(Path.Combine(_dir.Path, ds.Classes[ds.GetLabel(i)]), ds.GetSource(i))));
        Assert.Equal(TestImages.Pattern(3, 2, 2).Pixels, ds.GetImage(2).Pixels);
        Assert.Equal(TestImages.Pattern(4, 4, 4).Pixels, ds.GetImage(0).Pixels);
        // Default raw pixels: the decoded image, channel-planar.
        var raw = ds.GetRawPixels(3);
        var img = TestImages.Pattern(3, 2, 1);
        Assert.Equal(img.Pixels[0], raw[0]);
        Assert.Equal(img.Pixels[1], raw[6]);
        Assert.Equal(img.Pixels[5], raw[12 + 1]);
    }

    [Fact]
    public void Train_and_test_folders_are_splits_with_train_class_ids()
    {
        _dir.Write("train/cat/1.png", Png(1));
        _dir.Write("train/dog/1.png", Png(2));
        _dir.Write("train/eel/1.png", Png(3));
        _dir.Write("test/dog/1.png", Png(4));
        _dir.Write("test/eel/1.png", Png(5));
        _dir.Write("test/eel/2.png", Png(6));

        var train = DatasetFactory.Open(new DatasetOptions(_dir.Path, "folder", "train"));
        var test = DatasetFactory.Open(new DatasetOptions(_dir.Path, "folder", "test"));

        Assert.Equal(["cat", "dog", "eel"], train.Classes);
        Assert.Equal(["cat", "dog", "eel"], test.Classes);
        Assert.Equal(3, test.Count);
        Assert.Equal([1, 2, 2], Enumerable.Range(0, 3).Select(test.GetLabel));
        Assert.Equal(TestImages.Pattern(3, 2, 6).Pixels, test.GetImage(2).Pixels);
    }

    [Fact]
    public void Without_split_folders_the_root_serves_every_split()
    {
        _dir.Write("a/1.png", Png(1));
        _dir.Write("b/1.png", Png(2));
        var test = DatasetFactory.Open(new DatasetOptions(_dir.Path, "folder", "test"));
        Assert.Equal(2, test.Count);
    }

    [Fact]
    public void Test_class_unknown_to_train_is_named()
    {
        _dir.Write("train/cat/1.png", Png(1));
        _dir.Write("test/cow/1.png", Png(2));
        var ex = Assert.Throws<DeftException>(() => DatasetFactory.Open(new DatasetOptions(_dir.Path, "folder", "test")));
        Assert.Contains(Path.Combine(_dir.Path, "test", "cow"), ex.Message);
    }

    [Fact]
    public void Empty_class_folder_keeps_its_class_and_is_a_data_issue()
    {
        _dir.Write("cat/1.png", Png(1));
        _dir.Write("dog/readme.txt", [1]);
        _dir.Write("eel/1.png", Png(2));
        var ds = DatasetFactory.Open(new DatasetOptions(_dir.Path, "folder"));
        Assert.Equal(["cat", "dog", "eel"], ds.Classes);
        Assert.Equal([0, 2], Enumerable.Range(0, ds.Count).Select(ds.GetLabel));
        var issue = Assert.Single(DataIssues.OfFiles(ds));
        Assert.Equal((DataIssueKind.EmptyClass, Path.Combine(_dir.Path, "dog"), 1), (issue.Kind, issue.Source, issue.Label));
    }

    [Fact]
    public void Class_folders_without_any_image_are_an_error()
    {
        _dir.Write("cat/readme.txt", [1]);
        _dir.Write("dog/readme.txt", [1]);
        var ex = Assert.Throws<DeftException>(() => DatasetFactory.Open(new DatasetOptions(_dir.Path, "folder")));
        Assert.Contains(_dir.Path, ex.Message);
        Assert.Contains("No images", ex.Message);
    }

    [Fact]
    public void Root_without_class_folders_is_reported()
    {
        _dir.Write("1.png", Png(1));
        var ex = Assert.Throws<DeftException>(() => DatasetFactory.Open(new DatasetOptions(_dir.Path, "folder")));
        Assert.Contains(_dir.Path, ex.Message);
        Assert.Contains("one sub-folder per class", ex.Message);
    }

    [Fact]
    public void Corrupt_image_fails_when_read_naming_the_file()
    {
        _dir.Write("cat/1.png", Png(1));
        var bad = _dir.Write("cat/2.png", Png(2)[..20]);
        var ds = DatasetFactory.Open(new DatasetOptions(_dir.Path, "folder", OnBadImage: BadImagePolicy.Fail));
        Assert.Equal(2, ds.Count);  // lazily read under fail: opening does not decode

        var ex = Assert.Throws<DeftException>(() => ds.GetImage(1));
        Assert.Contains(bad, ex.Message);
    }

    [Fact]
    public void Concurrent_reads_match_sequential_reads()
    {
        for (var i = 0; i < 24; i++) _dir.Write($"c{i % 3}/{i:D2}.png", Png(i, 9, 7));
        var ds = DatasetFactory.Open(new DatasetOptions(_dir.Path, "folder"));
        var sequential = Enumerable.Range(0, ds.Count).Select(i => ds.GetImage(i).Pixels).ToArray();
        var parallel = new byte[ds.Count][];
        Parallel.For(0, ds.Count * 4, k => parallel[k % ds.Count] = ds.GetImage(k % ds.Count).Pixels);
        for (var i = 0; i < ds.Count; i++) Assert.Equal(sequential[i], parallel[i]);
    }
}
