using Deft.Cli;
using Deft.Data;
using Deft.Tests.Data;

namespace Deft.Tests.PaperData;

/// <summary>Tiny-ImageNet, CUB-200-2011 and the shared rules (format names, --classes) on generated miniatures.</summary>
public sealed class ListReaderTests : IDisposable
{
    private readonly TempDir _dir = new("deft-paper");

    public void Dispose() => _dir.Dispose();

    private static IImageDataset Open(string path, string format, string split = "train", string? classes = null) =>
        DatasetFactory.Open(new DatasetOptions(path, format, split, BadImagePolicy.Fail, classes));

    // ---------- Tiny-ImageNet ----------

    /// <summary>tiny-imagenet-200 with wnids listed out of order, two training images each, three validation images.</summary>
    private string MakeTinyImageNet()
    {
        var root = Path.Combine(_dir.Path, "tiny-imagenet-200");
        _dir.WriteText("tiny-imagenet-200/wnids.txt", "n02124075\nn01443537\n\n");
        _dir.WriteText("tiny-imagenet-200/words.txt",
            "n00001740\tentity\nn01443537\tgoldfish, Carassius auratus\nn02124075\tEgyptian cat\nn09999999\tunused\n");
        PaperFiles.Image(_dir, "tiny-imagenet-200/train/n01443537/images/n01443537_1.JPEG", 10);
        PaperFiles.Image(_dir, "tiny-imagenet-200/train/n01443537/images/n01443537_0.JPEG", 11);
        _dir.WriteText("tiny-imagenet-200/train/n01443537/n01443537_boxes.txt", "n01443537_0.JPEG\t0\t0\t63\t63\n");
        PaperFiles.Image(_dir, "tiny-imagenet-200/train/n02124075/images/n02124075_0.JPEG", 20);
        PaperFiles.Image(_dir, "tiny-imagenet-200/val/images/val_0.JPEG", 30);
        PaperFiles.Image(_dir, "tiny-imagenet-200/val/images/val_1.JPEG", 31);
        PaperFiles.Image(_dir, "tiny-imagenet-200/val/images/val_2.JPEG", 32);
        _dir.WriteText("tiny-imagenet-200/val/val_annotations.txt",
            "val_0.JPEG\tn02124075\t0\t32\t44\t62\nval_1.JPEG\tn01443537\t52\t55\t57\t59\nval_2.JPEG\tn02124075\t4\t0\t60\t55\n");
        return root;
    }

    [Fact]
    public void TinyImageNet_numbers_classes_by_sorted_wnid_and_reads_val_as_test()
    {
        MakeTinyImageNet();

        var train = Open(_dir.Path, "tiny-imagenet");  // the parent of tiny-imagenet-200
        Assert.Equal(["goldfish", "Egyptian cat"], train.Classes);
        Assert.Equal(3, train.Count);
        Assert.Equal([0, 0, 1], Enumerable.Range(0, 3).Select(train.GetLabel));
        Assert.EndsWith("n01443537_0.JPEG", train.GetSource(0));  // ordinal file order within a class
        Assert.Equal([11, 10, 20], Enumerable.Range(0, 3).Select(i => PaperFiles.SeedOf(train.GetImage(i))));
        Assert.Null(train.GetCleanLabel(0));

        var test = Open(Path.Combine(_dir.Path, "tiny-imagenet-200"), "tiny-imagenet", "test");
        Assert.Equal([1, 0, 1], Enumerable.Range(0, 3).Select(test.GetLabel));
        Assert.Equal([30, 31, 32], Enumerable.Range(0, 3).Select(i => PaperFiles.SeedOf(test.GetImage(i))));
    }

    [Fact]
    public void TinyImageNet_malformed_or_missing_files_name_file_and_line()
    {
        var root = MakeTinyImageNet();
        var annotations = Path.Combine(root, "val", "val_annotations.txt");

        File.AppendAllText(annotations, "val_3.JPEG\n");
        var ex = Assert.Throws<DeftException>(() => Open(root, "tiny-imagenet", "test"));
        Assert.Contains($"{annotations} line 4", ex.Message);
        Assert.Contains("found 1", ex.Message);

        File.WriteAllText(annotations, "val_0.JPEG\tn02124075\t0\t32\t44\t62\nval_1.JPEG\tn04000000\t0\t0\t1\t1\n");
        ex = Assert.Throws<DeftException>(() => Open(root, "tiny-imagenet", "test"));
        Assert.Contains("line 2: wnid n04000000 is not in", ex.Message);

        File.WriteAllText(annotations, "val_9.JPEG\tn02124075\t0\t32\t44\t62\n");
        ex = Assert.Throws<DeftException>(() => Open(root, "tiny-imagenet", "test"));
        Assert.Contains("line 1: image", ex.Message);
        Assert.Contains("val_9.JPEG not found", ex.Message);

        File.WriteAllText(Path.Combine(root, "words.txt"), "n01443537\tgoldfish\n");
        ex = Assert.Throws<DeftException>(() => Open(root, "tiny-imagenet"));
        Assert.Contains("names no class for n02124075", ex.Message);

        File.Delete(Path.Combine(root, "words.txt"));
        ex = Assert.Throws<DeftException>(() => Open(root, "tiny-imagenet"));
        Assert.Contains(Path.Combine(root, "words.txt"), ex.Message);

        Directory.Delete(Path.Combine(root, "train", "n02124075"), recursive: true);
        File.WriteAllText(Path.Combine(root, "words.txt"), "n01443537\tgoldfish\nn02124075\tcat\n");
        ex = Assert.Throws<DeftException>(() => Open(root, "tiny-imagenet"));
        Assert.Contains(Path.Combine(root, "train", "n02124075", "images"), ex.Message);
    }

    // ---------- CUB-200-2011 ----------

    private string MakeCub()
    {
        var root = Path.Combine(_dir.Path, "CUB_200_2011");
        _dir.WriteText("CUB_200_2011/classes.txt", "1 001.Black_footed_Albatross\n2 002.Laysan_Albatross\n3 003.Sooty_Albatross\n");
        _dir.WriteText("CUB_200_2011/images.txt",
            "1 001.Black_footed_Albatross/Black_Footed_Albatross_0046_18.jpg\n" +
            "2 001.Black_footed_Albatross/Black_Footed_Albatross_0009_34.jpg\n" +
            "3 002.Laysan_Albatross/Laysan_Albatross_0002_1027.jpg\n" +
            "4 003.Sooty_Albatross/Sooty_Albatross_0031_1066.jpg\n");
        _dir.WriteText("CUB_200_2011/image_class_labels.txt", "1 1\n2 1\n3 2\n4 3\n");
        _dir.WriteText("CUB_200_2011/train_test_split.txt", "1 0\n2 1\n3 1\n4 0\n");
        PaperFiles.Image(_dir, "CUB_200_2011/images/001.Black_footed_Albatross/Black_Footed_Albatross_0046_18.jpg", 1);
        PaperFiles.Image(_dir, "CUB_200_2011/images/001.Black_footed_Albatross/Black_Footed_Albatross_0009_34.jpg", 2);
        PaperFiles.Image(_dir, "CUB_200_2011/images/002.Laysan_Albatross/Laysan_Albatross_0002_1027.jpg", 3);
        PaperFiles.Image(_dir, "CUB_200_2011/images/003.Sooty_Albatross/Sooty_Albatross_0031_1066.jpg", 4);
        return root;
    }

    [Fact]
    public void Cub200_splits_by_the_split_file_with_readable_class_names()
    {
        MakeCub();

        var train = Open(_dir.Path, "cub200");
        Assert.Equal(["black footed albatross", "laysan albatross", "sooty albatross"], train.Classes);
        Assert.Equal([0, 1], Enumerable.Range(0, train.Count).Select(train.GetLabel));
        Assert.Equal([2, 3], Enumerable.Range(0, train.Count).Select(i => PaperFiles.SeedOf(train.GetImage(i))));

        var test = Open(_dir.Path, "cub200", "test");
        Assert.Equal([0, 2], Enumerable.Range(0, test.Count).Select(test.GetLabel));
        Assert.Equal([1, 4], Enumerable.Range(0, test.Count).Select(i => PaperFiles.SeedOf(test.GetImage(i))));
    }

    [Fact]
    public void Cub200_malformed_or_missing_files_name_file_and_line()
    {
        var root = MakeCub();
        var labels = Path.Combine(root, "image_class_labels.txt");

        File.WriteAllText(labels, "1 1\n2 one\n3 2\n4 3\n");
        var ex = Assert.Throws<DeftException>(() => Open(root, "cub200"));
        Assert.Contains($"{labels} line 2: class id 'one' is not an integer", ex.Message);

        File.WriteAllText(labels, "1 1\n2 1\n3 9\n4 3\n");
        ex = Assert.Throws<DeftException>(() => Open(root, "cub200"));
        Assert.Contains("line 3: class id 9 is outside 1..3", ex.Message);

        File.WriteAllText(labels, "1 1\n2 1\n4 3\n");
        ex = Assert.Throws<DeftException>(() => Open(root, "cub200"));
        Assert.Contains("line 3: image id 3 has no line in", ex.Message);

        File.WriteAllText(labels, "1 1\n2 1\n3 2\n4 3\n");
        File.Delete(Path.Combine(root, "images", "002.Laysan_Albatross", "Laysan_Albatross_0002_1027.jpg"));
        ex = Assert.Throws<DeftException>(() => Open(root, "cub200"));
        Assert.Contains("images.txt line 3: image", ex.Message);
        Assert.Contains("Laysan_Albatross_0002_1027.jpg not found", ex.Message);

        File.Delete(Path.Combine(root, "classes.txt"));
        ex = Assert.Throws<DeftException>(() => Open(root, "cub200"));
        Assert.Contains(Path.Combine(root, "classes.txt"), ex.Message);
    }

    [Fact]
    public void Decoding_failure_names_the_list_line()
    {
        var root = MakeCub();
        File.WriteAllBytes(Path.Combine(root, "images", "002.Laysan_Albatross", "Laysan_Albatross_0002_1027.jpg"), [1, 2, 3]);

        var train = Open(root, "cub200");
        var ex = Assert.Throws<DeftException>(() => train.GetImage(1));
        Assert.Contains($"listed in {Path.Combine(root, "images.txt")} line 3", ex.Message);

        var skipped = DatasetFactory.Open(new DatasetOptions(root, "cub200", "train", BadImagePolicy.Skip));
        Assert.Equal(1, skipped.Count);
    }

    [Fact]
    public void Paper_formats_are_registered_and_reject_a_class_list()
    {
        foreach (var f in new[] { "cifar100n", "tiny-imagenet", "cub200", "stanford-cars", "clothing1m", "webvision", "webvision-all", "webvision-imagenet" })
            Assert.Contains(f, DatasetFactory.Formats);
        MakeCub();
        var ex = Assert.Throws<DeftException>(() => Open(_dir.Path, "cub200", classes: "classes.txt"));
        Assert.Contains("--classes does not apply to --format cub200", FlagNames.Render(ex));
        ex = Assert.Throws<DeftException>(() => Open(Path.Combine(_dir.Path, "nowhere"), "cub200"));
        Assert.Contains("Data directory not found", ex.Message);
    }
}
