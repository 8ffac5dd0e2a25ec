using Deft.Cli;
using Deft.Data;
using Deft.Tests.Data;

namespace Deft.Tests.PaperData;

/// <summary>Clothing1M and WebVision (plus its ImageNet test set) on generated miniatures of their published layouts.</summary>
public sealed class RealNoiseReaderTests : IDisposable
{
    private readonly TempDir _dir = new("deft-realnoise");

    public void Dispose() => _dir.Dispose();

    private static IImageDataset Open(string path, string format, string split = "train", string? classes = null) =>
        DatasetFactory.Open(new DatasetOptions(path, format, split, BadImagePolicy.Fail, classes));

    // ---------- Clothing1M ----------

    /// <summary>Four noisy-train keys (two with a clean label), two test keys; images as extracted or with images/ dropped.</summary>
    private string MakeClothing(bool stripImagesPrefix, bool inAnnotationsFolder)
    {
        var root = Path.Combine(_dir.Path, "clothing1M");
        var ann = inAnnotationsFolder ? "clothing1M/annotations/" : "clothing1M/";
        _dir.WriteText(ann + "noisy_label_kv.txt",
            "images/0/00/a.jpg 3\nimages/0/00/b.jpg 13\nimages/1/01/c.jpg 0\nimages/1/01/d.jpg 7\nimages/9/99/unused.jpg 1\n");
        _dir.WriteText(ann + "clean_label_kv.txt", "images/0/00/b.jpg 12\nimages/1/01/d.jpg 7\nimages/5/55/t1.jpg 4\nimages/5/55/t2.jpg 11\n");
        _dir.WriteText(ann + "noisy_train_key_list.txt", "images/0/00/a.jpg\nimages/0/00/b.jpg\nimages/1/01/c.jpg\nimages/1/01/d.jpg\n");
        _dir.WriteText(ann + "clean_test_key_list.txt", "images/5/55/t2.jpg\nimages/5/55/t1.jpg\n");
        var prefix = stripImagesPrefix ? "clothing1M/" : "clothing1M/images/";
        var seed = 0;
        foreach (var key in new[] { "0/00/a.jpg", "0/00/b.jpg", "1/01/c.jpg", "1/01/d.jpg", "5/55/t2.jpg", "5/55/t1.jpg" })
            PaperFiles.Image(_dir, prefix + key, 40 + seed++);
        return root;
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, true)]
    public void Clothing1M_train_has_noisy_labels_and_clean_ones_where_known(bool strip, bool annotationsFolder)
    {
        var root = MakeClothing(strip, annotationsFolder);

        var train = Open(root, "clothing1m");
        Assert.Equal(14, train.Classes.Count);
        Assert.Equal("T-Shirt", train.Classes[0]);
        Assert.Equal("Underwear", train.Classes[13]);
        Assert.Equal([3, 13, 0, 7], Enumerable.Range(0, 4).Select(train.GetLabel));
        Assert.Equal([null, 12, null, 7], Enumerable.Range(0, 4).Select(train.GetCleanLabel));
        Assert.Equal([40, 41, 42, 43], Enumerable.Range(0, 4).Select(i => PaperFiles.SeedOf(train.GetImage(i))));

        var test = Open(root, "clothing1m", "test");
        Assert.Equal([11, 4], Enumerable.Range(0, 2).Select(test.GetLabel));
        Assert.Equal([44, 45], Enumerable.Range(0, 2).Select(i => PaperFiles.SeedOf(test.GetImage(i))));
    }

    [Fact]
    public void Clothing1M_problems_name_file_and_line()
    {
        var root = MakeClothing(stripImagesPrefix: false, inAnnotationsFolder: false);
        var noisy = Path.Combine(root, "noisy_label_kv.txt");
        var keys = Path.Combine(root, "noisy_train_key_list.txt");

        File.AppendAllText(noisy, "images/2/22/x.jpg 3 extra\n");
        var ex = Assert.Throws<DeftException>(() => Open(root, "clothing1m"));
        Assert.Contains($"{noisy} line 6: expected 2 whitespace-separated field(s)", ex.Message);

        File.WriteAllText(noisy, "images/0/00/a.jpg 14\n");
        ex = Assert.Throws<DeftException>(() => Open(root, "clothing1m"));
        Assert.Contains("line 1: label 14 is outside 0..13", ex.Message);

        File.WriteAllText(noisy, "images/0/00/a.jpg 3\n");
        ex = Assert.Throws<DeftException>(() => Open(root, "clothing1m"));
        Assert.Contains($"{keys} line 2: key images/0/00/b.jpg has no label in noisy_label_kv.txt", ex.Message);

        File.WriteAllText(noisy, "images/0/00/a.jpg 3\n");
        File.WriteAllText(keys, "images/0/00/a.jpg\n");
        File.Delete(Path.Combine(root, "images", "0", "00", "a.jpg"));
        ex = Assert.Throws<DeftException>(() => Open(root, "clothing1m"));
        Assert.Contains("line 1: image images/0/00/a.jpg not found as", ex.Message);
        Assert.Contains(Path.Combine(root, "0", "00", "a.jpg"), ex.Message);

        File.Delete(Path.Combine(root, "clean_test_key_list.txt"));
        ex = Assert.Throws<DeftException>(() => Open(root, "clothing1m", "test"));
        Assert.Contains("clean_test_key_list.txt", ex.Message);

        File.WriteAllText(Path.Combine(root, "category_names_eng.txt"), "T-Shirt\nShirt\n");
        ex = Assert.Throws<DeftException>(() => Open(root, "clothing1m"));
        Assert.Contains("names 2 classes; Clothing1M has 14", ex.Message);
    }

    // ---------- WebVision ----------

    private string MakeWebVision()
    {
        var root = Path.Combine(_dir.Path, "webvision");
        _dir.WriteText("webvision/info/synsets.txt", "n01440764 tench, Tinca tinca\nn01443537 goldfish, Carassius auratus\nn01484850 great white shark, white shark\n");
        _dir.WriteText("webvision/info/train_filelist_google.txt", "google/q0001/000000.jpg 0\ngoogle/q0003/000000.jpg 2\ngoogle/q0002/000000.jpg 1\n");
        _dir.WriteText("webvision/info/train_filelist_flickr.txt", "flickr/q0002/000000.jpg 1\n");
        _dir.WriteText("webvision/info/val_filelist.txt", "val000001.jpg 2\nval000002.jpg 0\nval000003.jpg 1\n");
        PaperFiles.Image(_dir, "webvision/google/q0001/000000.jpg", 60);
        PaperFiles.Image(_dir, "webvision/google/q0003/000000.jpg", 61);
        PaperFiles.Image(_dir, "webvision/google/q0002/000000.jpg", 62);
        PaperFiles.Image(_dir, "webvision/flickr/q0002/000000.jpg", 63);
        PaperFiles.Image(_dir, "webvision/val_images_256/val000001.jpg", 64);
        PaperFiles.Image(_dir, "webvision/val_images_256/val000002.jpg", 65);
        PaperFiles.Image(_dir, "webvision/val_images_256/val000003.jpg", 66);
        return root;
    }

    [Fact]
    public void WebVision_keeps_the_first_classes_and_reads_google_then_flickr()
    {
        var root = MakeWebVision();

        var all = Open(root, "webvision");
        Assert.Equal(["tench", "goldfish", "great white shark"], all.Classes);
        Assert.Equal([0, 2, 1], Enumerable.Range(0, all.Count).Select(all.GetLabel));

        var two = Open(root, "webvision", classes: "2");
        Assert.Equal(["tench", "goldfish"], two.Classes);
        Assert.Equal([0, 1], Enumerable.Range(0, two.Count).Select(two.GetLabel));
        Assert.Equal([60, 62], Enumerable.Range(0, two.Count).Select(i => PaperFiles.SeedOf(two.GetImage(i))));

        var withFlickr = Open(root, "webvision-all", classes: "2");
        Assert.Equal([60, 62, 63], Enumerable.Range(0, withFlickr.Count).Select(i => PaperFiles.SeedOf(withFlickr.GetImage(i))));

        var val = Open(root, "webvision", "test", "2");
        Assert.Equal([0, 1], Enumerable.Range(0, val.Count).Select(val.GetLabel));
        Assert.Equal([65, 66], Enumerable.Range(0, val.Count).Select(i => PaperFiles.SeedOf(val.GetImage(i))));
    }

    [Theory]
    [InlineData("index")]
    [InlineData("wnid")]
    [InlineData("list")]
    public void ImageNet_validation_of_the_kept_classes_in_each_layout(string layout)
    {
        var root = MakeWebVision();
        string[] folders = layout == "wnid" ? ["n01440764", "n01443537", "n01484850"] : ["0", "1", "2"];
        if (layout == "list")
        {
            _dir.WriteText("webvision/imagenet/val/val.txt", "ILSVRC2012_val_00000002.JPEG 1\nILSVRC2012_val_00000001.JPEG 0\nILSVRC2012_val_00000003.JPEG 2\n");
            for (var i = 1; i <= 3; i++) PaperFiles.Image(_dir, $"webvision/imagenet/val/ILSVRC2012_val_0000000{i}.JPEG", 70 + i);
        }
        else
        {
            PaperFiles.Image(_dir, $"webvision/imagenet/val/{folders[0]}/ILSVRC2012_val_00000001.JPEG", 71);
            PaperFiles.Image(_dir, $"webvision/imagenet/val/{folders[1]}/ILSVRC2012_val_00000002.JPEG", 72);
            PaperFiles.Image(_dir, $"webvision/imagenet/val/{folders[2]}/ILSVRC2012_val_00000003.JPEG", 73);
        }

        var imagenet = Open(root, "webvision-imagenet", "test", "2");
        Assert.Equal(["tench", "goldfish"], imagenet.Classes);
        var pairs = Enumerable.Range(0, imagenet.Count).Select(i => (imagenet.GetLabel(i), PaperFiles.SeedOf(imagenet.GetImage(i)))).Order().ToList();
        Assert.Equal([(0, 71), (1, 72)], pairs);
    }

    [Fact]
    public void WebVision_problems_are_explained()
    {
        var root = MakeWebVision();

        var ex = Assert.Throws<DeftException>(() => Open(root, "webvision", classes: "0"));
        Assert.Contains("class count", ex.Message);
        ex = Assert.Throws<DeftException>(() => Open(root, "webvision", classes: "4"));
        Assert.Contains("--classes 4: WebVision has 3 classes", FlagNames.Render(ex));
        ex = Assert.Throws<DeftException>(() => Open(root, "webvision-imagenet", "train", "2"));
        Assert.Contains("--split test", FlagNames.Render(ex));
        ex = Assert.Throws<DeftException>(() => Open(root, "webvision-imagenet", "test", "2"));
        Assert.Contains(Path.Combine(root, "imagenet", "val"), ex.Message);

        _dir.WriteText("webvision/imagenet/val/0/x.JPEG", "");
        ex = Assert.Throws<DeftException>(() => Open(root, "webvision-imagenet", "test", "2"));
        Assert.Contains("no folder for class 1 (n01443537, goldfish)", ex.Message);

        var list = Path.Combine(root, "info", "train_filelist_google.txt");
        File.AppendAllText(list, "google/q0001/000001.jpg\n");
        ex = Assert.Throws<DeftException>(() => Open(root, "webvision"));
        Assert.Contains($"{list} line 4: expected 2 whitespace-separated field(s)", ex.Message);

        File.WriteAllText(list, "google/q0001/000000.jpg 1000\n");
        ex = Assert.Throws<DeftException>(() => Open(root, "webvision"));
        Assert.Contains("line 1: label 1000 is outside 0..2", ex.Message);

        Directory.Delete(Path.Combine(root, "val_images_256"), recursive: true);
        ex = Assert.Throws<DeftException>(() => Open(root, "webvision", "test"));
        Assert.Contains("image val000001.jpg not found in", ex.Message);

        File.Delete(Path.Combine(root, "info", "synsets.txt"));
        ex = Assert.Throws<DeftException>(() => Open(root, "webvision"));
        Assert.Contains(Path.Combine(root, "info", "synsets.txt"), ex.Message);
    }
}
