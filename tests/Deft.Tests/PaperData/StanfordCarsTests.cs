using Deft.Data;
using Deft.Data.Paper;
using Deft.Tests.Data;

namespace Deft.Tests.PaperData;

/// <summary>The MAT v5 reader on hand-written files, and Stanford Cars in its devkit and CSV layouts.</summary>
public sealed class StanfordCarsTests : IDisposable
{
    private static readonly string[] CarNames = ["AM General Hummer SUV 2000", "Acura RL Sedan 2012", "smart fortwo Convertible 2012"];
    private readonly TempDir _dir = new("deft-cars");

    public void Dispose() => _dir.Dispose();

    private static IImageDataset Open(string path, string split = "train") =>
        DatasetFactory.Open(new DatasetOptions(path, "stanford-cars", split));

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void MatFile_reads_structs_cells_chars_and_numbers_as_written(bool compressed)
    {
        var bytes = MatWriter.File(compressed,
            MatWriter.CarAnnotations(true, ("00001.jpg", 14), ("00002.jpg", 3)),
            MatWriter.CarMeta("Hummer", "Acura"),
            MatWriter.DoublesAsUInt8([7, 8, 9], "v"));

        var vars = MatFile.Read(bytes, "test.mat");

        var annotations = Assert.IsType<MatStruct>(vars["annotations"]);
        Assert.Equal([1, 2], annotations.Dims);
        Assert.Equal(["bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2", "class", "fname"], annotations.FieldNames);
        Assert.Equal([11.0], Assert.IsType<MatNumeric>(annotations.Elements[1]["bbox_x1"]).Values);  // uint16 scalar
        Assert.Equal([20.0], Assert.IsType<MatNumeric>(annotations.Elements[1]["bbox_y1"]).Values);  // uint8, small element
        Assert.Equal([200.0], Assert.IsType<MatNumeric>(annotations.Elements[1]["bbox_y2"]).Values); // double
        Assert.Equal([3.0], Assert.IsType<MatNumeric>(annotations.Elements[1]["class"]).Values);
        Assert.Equal("00002.jpg", Assert.IsType<MatChar>(annotations.Elements[1]["fname"]).Text);
        var names = Assert.IsType<MatCell>(vars["class_names"]);
        Assert.Equal(["Hummer", "Acura"], names.Items.Select(i => Assert.IsType<MatChar>(i).Text));
        Assert.Equal([7.0, 8.0, 9.0], Assert.IsType<MatNumeric>(vars["v"]).Values);
    }

    [Fact]
    public void MatFile_refuses_truncated_v73_and_sparse_files_with_clear_errors()
    {
        var good = MatWriter.File(false, MatWriter.CarMeta("A", "B"));
        var ex = Assert.Throws<DeftException>(() => MatFile.Read(good[..^12], "cut.mat"));
        Assert.Contains("cut.mat: the MAT-file is truncated or corrupt", ex.Message);

        var v73 = (byte[])good.Clone();
        System.Text.Encoding.ASCII.GetBytes("MATLAB 7.3 MAT-file").CopyTo(v73, 0);
        ex = Assert.Throws<DeftException>(() => MatFile.Read(v73, "new.mat"));
        Assert.Contains("v7.3 (HDF5)", ex.Message);
        Assert.Contains("savemat", ex.Message);

        ex = Assert.Throws<DeftException>(() => MatFile.Read(new byte[64], "tiny.mat"));
        Assert.Contains("too short", ex.Message);

        var sparse = MatWriter.File(false, MatWriter.Matrix("s", MatWriter.MxSparse, [2, 2]));
        ex = Assert.Throws<DeftException>(() => MatFile.Read(sparse, "sparse.mat"));
        Assert.Contains("variable 's' is a sparse matrix", ex.Message);

        var compressed = MatWriter.File(true, MatWriter.CarMeta("A"));
        compressed[^3] ^= 0xFF;
        ex = Assert.Throws<DeftException>(() => MatFile.Read(compressed, "z.mat"));
        Assert.Contains("z.mat", ex.Message);
    }

    private string MakeDevkit(bool compressed)
    {
        var root = Path.Combine(_dir.Path, "stanford_cars");
        _dir.Write("stanford_cars/devkit/cars_meta.mat", MatWriter.File(compressed, MatWriter.CarMeta(CarNames)));
        _dir.Write("stanford_cars/devkit/cars_train_annos.mat", MatWriter.File(compressed, MatWriter.CarAnnotations(true, ("00002.jpg", 3), ("00001.jpg", 1))));
        _dir.Write("stanford_cars/devkit/cars_test_annos.mat", MatWriter.File(compressed, MatWriter.CarAnnotations(false, ("00001.jpg", 0))));
        _dir.Write("stanford_cars/cars_test_annos_withlabels.mat", MatWriter.File(compressed, MatWriter.CarAnnotations(true, ("00001.jpg", 2))));
        PaperFiles.Image(_dir, "stanford_cars/cars_train/00001.jpg", 1);
        PaperFiles.Image(_dir, "stanford_cars/cars_train/00002.jpg", 2);
        PaperFiles.Image(_dir, "stanford_cars/cars_test/00001.jpg", 101);
        return root;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Devkit_layout_follows_the_annotation_order(bool compressed)
    {
        MakeDevkit(compressed);

        var train = Open(_dir.Path);  // torchvision's parent folder holding stanford_cars/
        Assert.Equal(CarNames, train.Classes);
        Assert.Equal([2, 0], Enumerable.Range(0, 2).Select(train.GetLabel));
        Assert.Equal([2, 1], Enumerable.Range(0, 2).Select(i => PaperFiles.SeedOf(train.GetImage(i))));

        var test = Open(Path.Combine(_dir.Path, "stanford_cars"), "test");
        Assert.Equal(1, test.Count);
        Assert.Equal(1, test.GetLabel(0));
        Assert.Equal(101, PaperFiles.SeedOf(test.GetImage(0)));
    }

    [Fact]
    public void Devkit_problems_say_what_is_missing()
    {
        var root = MakeDevkit(compressed: false);

        File.Delete(Path.Combine(root, "cars_test_annos_withlabels.mat"));
        var ex = Assert.Throws<DeftException>(() => Open(root, "test"));
        Assert.Contains("cars_test_annos_withlabels.mat", ex.Message);
        Assert.Contains("no labels", ex.Message);

        File.Copy(Path.Combine(root, "devkit", "cars_test_annos.mat"), Path.Combine(root, "cars_test_annos_withlabels.mat"));
        ex = Assert.Throws<DeftException>(() => Open(root, "test"));
        Assert.Contains("has no class field", ex.Message);

        File.WriteAllBytes(Path.Combine(root, "devkit", "cars_train_annos.mat"), MatWriter.File(false, MatWriter.CarAnnotations(true, ("00001.jpg", 4))));
        ex = Assert.Throws<DeftException>(() => Open(root));
        Assert.Contains("annotations(1): class must be one integer in 1..3", ex.Message);

        File.WriteAllBytes(Path.Combine(root, "devkit", "cars_train_annos.mat"), MatWriter.File(false, MatWriter.CarAnnotations(true, ("00009.jpg", 1))));
        ex = Assert.Throws<DeftException>(() => Open(root));
        Assert.Contains("image 00009.jpg not found", ex.Message);

        File.Delete(Path.Combine(root, "devkit", "cars_meta.mat"));
        ex = Assert.Throws<DeftException>(() => Open(root));
        Assert.Contains("neither the devkit's cars_meta.mat", ex.Message);
    }

    [Fact]
    public void Csv_redistribution_with_class_folders()
    {
        _dir.WriteText("cars/names.csv", string.Join("\n", CarNames) + "\n");
        _dir.WriteText("cars/anno_train.csv", "00001.jpg,39,116,569,375,3\n00002.jpg,36,116,868,587,1\n");
        _dir.WriteText("cars/anno_test.csv", "Image Name,x1,y1,x2,y2,Class\n00001.jpg,30,52,246,147,2\n");
        PaperFiles.Image(_dir, "cars/car_data/car_data/train/smart fortwo Convertible 2012/00001.jpg", 5);
        PaperFiles.Image(_dir, "cars/car_data/car_data/train/AM General Hummer SUV 2000/00002.jpg", 6);
        PaperFiles.Image(_dir, "cars/car_data/car_data/test/Acura RL Sedan 2012/00001.jpg", 7);
        var root = Path.Combine(_dir.Path, "cars");

        var train = Open(root);
        Assert.Equal(CarNames, train.Classes);
        Assert.Equal([2, 0], Enumerable.Range(0, 2).Select(train.GetLabel));
        Assert.Equal([5, 6], Enumerable.Range(0, 2).Select(i => PaperFiles.SeedOf(train.GetImage(i))));
        var test = Open(root, "test");
        Assert.Equal(1, test.GetLabel(0));
        Assert.Equal(7, PaperFiles.SeedOf(test.GetImage(0)));

        File.AppendAllText(Path.Combine(root, "anno_train.csv"), "00003.jpg,1,2,3\n");
        var ex = Assert.Throws<DeftException>(() => Open(root));
        Assert.Contains("anno_train.csv line 3: expected 6 comma-separated fields", ex.Message);
    }
}
