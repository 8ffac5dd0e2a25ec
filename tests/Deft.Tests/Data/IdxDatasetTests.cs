using Deft.Data;

namespace Deft.Tests.Data;

public sealed class IdxDatasetTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private static byte[][] Images(int n, int side) =>
        [.. Enumerable.Range(0, n).Select(k => Enumerable.Range(0, side * side).Select(p => (byte)((p * 5 + k * 17) % 256)).ToArray())];

    private string MakeDir(string name)
    {
        var dir = Path.Combine(_dir.Path, name);
        Directory.CreateDirectory(dir);
        return dir;
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Reads_pixels_labels_and_raw_bytes_of_both_splits(bool gzip)
    {
        var dir = MakeDir("fashion-mnist");
        var train = Images(5, 4);
        var test = Images(3, 4);
        DatasetFiles.WriteIdxSplit(dir, "train", train, [9, 0, 3, 3, 7], 4, gzip);
        DatasetFiles.WriteIdxSplit(dir, "t10k", test, [1, 2, 8], 4, gzip);

        var ds = DatasetFactory.Open(new DatasetOptions(dir, "idx", "train"));
        Assert.Equal(5, ds.Count);
        Assert.Equal([9, 0, 3, 3, 7], Enumerable.Range(0, 5).Select(ds.GetLabel));
        Assert.Equal(train[2], ds.GetRawPixels(2));
        var img = ds.GetImage(2);
        Assert.Equal((4, 4), (img.Width, img.Height));
        Assert.Equal(train[2].SelectMany(v => new[] { v, v, v }).ToArray(), img.Pixels);
        Assert.EndsWith("train-images-idx3-ubyte" + (gzip ? ".gz" : "") + "#2", ds.GetSource(2));
        Assert.Null(ds.GetCleanLabel(0));

        var ts = DatasetFactory.Open(new DatasetOptions(dir, "idx", "test"));
        Assert.Equal(3, ts.Count);
        Assert.Equal(8, ts.GetLabel(2));
        Assert.Equal(test[1], ts.GetRawPixels(1));
    }

    [Fact]
    public void Class_names_follow_the_directory_rule()
    {
        foreach (var name in new[] { "Fashion_MNIST", "mnist", "digits" })
            DatasetFiles.WriteIdxSplit(MakeDir(name), "train", Images(2, 2), [0, 6], 2, gzip: true);

        Assert.Equal(IdxDataset.FashionMnistClasses, DatasetFactory.Open(new DatasetOptions(Path.Combine(_dir.Path, "Fashion_MNIST"), "idx")).Classes);
        Assert.Equal(["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"], DatasetFactory.Open(new DatasetOptions(Path.Combine(_dir.Path, "mnist"), "idx")).Classes);
        // No hint in the path: ids 0..max.
        Assert.Equal(["0", "1", "2", "3", "4", "5", "6"], DatasetFactory.Open(new DatasetOptions(Path.Combine(_dir.Path, "digits"), "idx")).Classes);

        var classes = _dir.WriteText("names.txt", "a\nb\n\nc\nd\ne\nf\ng\n");
        Assert.Equal(["a", "b", "c", "d", "e", "f", "g"],
            DatasetFactory.Open(new DatasetOptions(Path.Combine(_dir.Path, "digits"), "idx", ClassesFile: classes)).Classes);
    }

    [Fact]
    public void Label_beyond_the_class_list_names_labels_file_and_record()
    {
        var dir = MakeDir("fashion");
        DatasetFiles.WriteIdxSplit(dir, "train", Images(3, 2), [1, 12, 0], 2, gzip: false);

        var ex = Assert.Throws<DeftException>(() => DatasetFactory.Open(new DatasetOptions(dir, "idx")));
        Assert.Contains(Path.Combine(dir, "train-labels-idx1-ubyte"), ex.Message);
        Assert.Contains("record 1", ex.Message);
        Assert.Contains("label 12", ex.Message);
    }

    [Fact]
    public void Truncated_images_file_is_named()
    {
        var dir = MakeDir("fashion");
        DatasetFiles.WriteIdxSplit(dir, "train", Images(3, 4), [1, 2, 0], 4, gzip: false);
        var images = Path.Combine(dir, "train-images-idx3-ubyte");
        var bytes = File.ReadAllBytes(images);
        File.WriteAllBytes(images, bytes[..^5]);

        var ex = Assert.Throws<DeftException>(() => DatasetFactory.Open(new DatasetOptions(dir, "idx")));
        Assert.Contains(images, ex.Message);
        Assert.Contains("truncated", ex.Message);
    }

    [Fact]
    public void Truncated_gzip_is_named()
    {
        var dir = MakeDir("fashion");
        DatasetFiles.WriteIdxSplit(dir, "train", Images(50, 8), [.. Enumerable.Range(0, 50).Select(i => (byte)(i % 10))], 8, gzip: true);
        var images = Path.Combine(dir, "train-images-idx3-ubyte.gz");
        var bytes = File.ReadAllBytes(images);
        File.WriteAllBytes(images, bytes[..(bytes.Length / 2)]);

        var ex = Assert.Throws<DeftException>(() => DatasetFactory.Open(new DatasetOptions(dir, "idx")));
        Assert.Contains(images, ex.Message);
    }

    [Fact]
    public void Mismatched_counts_and_wrong_magic_are_named()
    {
        var dir = MakeDir("fashion");
        DatasetFiles.WriteIdxSplit(dir, "train", Images(3, 2), [1, 2, 0], 2, gzip: false);
        DatasetFiles.WriteIdx(Path.Combine(dir, "train-labels-idx1-ubyte"), [2], [1, 2], gzip: false);
        var ex = Assert.Throws<DeftException>(() => DatasetFactory.Open(new DatasetOptions(dir, "idx")));
        Assert.Contains("train-labels-idx1-ubyte holds 2 labels", ex.Message);

        // Swapped files: the labels file where the images file belongs.
        DatasetFiles.WriteIdx(Path.Combine(dir, "train-images-idx3-ubyte"), [3], [1, 2, 0], gzip: false);
        ex = Assert.Throws<DeftException>(() => DatasetFactory.Open(new DatasetOptions(dir, "idx")));
        Assert.Contains(Path.Combine(dir, "train-images-idx3-ubyte"), ex.Message);
        Assert.Contains("not an IDX file", ex.Message);
    }

    [Fact]
    public void Missing_split_files_say_what_is_expected()
    {
        var dir = MakeDir("fashion");
        DatasetFiles.WriteIdxSplit(dir, "train", Images(1, 2), [1], 2, gzip: false);

        var ex = Assert.Throws<DeftException>(() => DatasetFactory.Open(new DatasetOptions(dir, "idx", "test")));
        Assert.Contains("t10k-images-idx3-ubyte", ex.Message);
        Assert.Contains(dir, ex.Message);
    }

    [Fact]
    public void Real_fashion_mnist_matches_an_independent_read()
    {
        var dir = KnownLocations.FashionMnist();
        Assert.NotNull(dir); // CI installs dataset-fashion-mnist

        var train = DatasetFactory.Open(new DatasetOptions(dir, "idx", "train"));
        Assert.Equal(60000, train.Count);
        Assert.Equal(IdxDataset.FashionMnistClasses, train.Classes);
        // Reference values read with Python's gzip module from the same files.
        Assert.Equal(9, train.GetLabel(0));
        Assert.Equal(0, train.GetLabel(1));
        Assert.Equal(5, train.GetLabel(59999));
        var raw0 = train.GetRawPixels(0);
        Assert.Equal(784, raw0.Length);
        Assert.Equal(76247, raw0.Sum(b => b));
        Assert.Equal(217, raw0[14 * 28 + 14]);
        Assert.Equal(16684, train.GetRawPixels(59999).Sum(b => b));
        var img = train.GetImage(0);
        Assert.Equal((28, 28), (img.Width, img.Height));
        Assert.Equal(217, TestImages.At(img, 14, 14).G);

        var test = DatasetFactory.Open(new DatasetOptions(dir, "idx", "test"));
        Assert.Equal(10000, test.Count);
        Assert.Equal(9, test.GetLabel(0));
        Assert.Equal(33456, test.GetRawPixels(0).Sum(b => b));

        var info = DatasetInfo.Collect(new DatasetOptions(dir, "idx", "train"));
        Assert.Equal(60000, info.Count);
        Assert.Equal(10, info.NumClasses);
        Assert.All(info.Classes, c => Assert.Equal(6000, c.Count));
        Assert.True(info.ImageSize.Uniform);
        Assert.Equal("28x28", info.ImageSize.Description);
        Assert.Empty(info.Skipped);
    }
}
