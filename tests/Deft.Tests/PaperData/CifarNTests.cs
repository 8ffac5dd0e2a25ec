using Deft.Cli;
using System.Collections;
using System.IO.Compression;
using Deft.Data;
using Deft.Tests.Data;
using TorchSharp;
using TorchSharp.PyBridge;

namespace Deft.Tests.PaperData;

/// <summary>CIFAR-100N: CIFAR-100 binary images with the human labels from CSV, NPY and torch.save files.</summary>
public sealed class CifarNTests : IDisposable
{
    private static readonly byte[] FineLabels = [77, 5, 99, 0];
    private static readonly long[] Noisy = [76, 5, 98, 3];
    private readonly TempDir _dir = new("deft-cifarn");

    public CifarNTests()
    {
        _dir.WriteText("cifar-100-binary/fine_label_names.txt", string.Join("\n", Enumerable.Range(0, 100).Select(i => $"fine{i:D2}")));
        _dir.Write("cifar-100-binary/train.bin", DatasetFiles.CifarRecords(
            FineLabels.Select((l, i) => ((byte?)(byte)(i % 20), l, DatasetFiles.PlanarPattern(i)))));
        _dir.Write("cifar-100-binary/test.bin", DatasetFiles.CifarRecords([((byte)1, (byte)42, DatasetFiles.PlanarPattern(9))]));
    }

    public void Dispose() => _dir.Dispose();

    private IImageDataset Open(string split = "train") => DatasetFactory.Open(new DatasetOptions(_dir.Path, "cifar100n", split));

    private void AssertNoisyTrain()
    {
        var train = Open();
        Assert.Equal(4, train.Count);
        Assert.Equal(Noisy, Enumerable.Range(0, 4).Select(i => (long)train.GetLabel(i)));
        Assert.Equal(FineLabels.Select(l => (int?)l), Enumerable.Range(0, 4).Select(train.GetCleanLabel));
        Assert.Equal(DatasetFiles.PlanarPattern(2), train.GetRawPixels(2));
        Assert.Equal("fine76", train.Classes[train.GetLabel(0)]);
    }

    private string CsvLines(bool withClean) =>
        string.Concat(Noisy.Select((n, i) => withClean ? $"{n},{FineLabels[i]}\n" : $"{n}\n"));

    [Fact]
    public void Csv_with_header_and_checked_clean_labels()
    {
        _dir.WriteText("CIFAR-100_human.csv", "noisy_label,clean_label\n" + CsvLines(withClean: true));
        AssertNoisyTrain();

        var test = Open("test");
        Assert.Equal(42, test.GetLabel(0));
        Assert.Null(test.GetCleanLabel(0));
    }

    [Fact]
    public void Csv_without_header_in_the_data_folder()
    {
        _dir.WriteText("data/CIFAR-100_human.csv", CsvLines(withClean: false));
        AssertNoisyTrain();
    }

    [Theory]
    [InlineData("<i8", "(4,)")]
    [InlineData(">i4", "(4, 1)")]
    [InlineData("|u1", "(4,)")]
    public void Npy_noisy_label_array(string descr, string shape)
    {
        _dir.Write("CIFAR-100_human.npy", PaperFiles.Npy(descr, Noisy, shape));
        AssertNoisyTrain();
    }

    [Fact]
    public void Torch_file_holding_tensors_is_read_by_the_restricted_unpickler()
    {
        using var noisy = torch.tensor(Noisy);
        using var clean = torch.tensor(FineLabels.Select(l => (long)l).ToArray());
        using (var file = File.Create(Path.Combine(_dir.Path, "CIFAR-100_human.pt")))
            PyTorchPickler.PickleStateDict(file, new Hashtable { ["noisy_label"] = noisy, ["clean_label"] = clean });
        AssertNoisyTrain();
    }

    [Fact]
    public void Official_torch_file_of_numpy_arrays_gets_the_conversion_command()
    {
        // What torch.save writes for a dict of numpy arrays: a zip whose data.pkl names numpy's array rebuilder.
        using (var zip = ZipFile.Open(Path.Combine(_dir.Path, "CIFAR-100_human.pt"), ZipArchiveMode.Create))
        using (var s = zip.CreateEntry("CIFAR-100_human/data.pkl").Open())
            s.Write([0x80, 0x02, .. "cnumpy.core.multiarray\n_reconstruct\nq\x00."u8.ToArray()]);

        var ex = Assert.Throws<DeftException>(() => Open());
        Assert.Contains("stores its labels as numpy arrays", ex.Message);
        Assert.Contains("np.savetxt('CIFAR-100_human.csv'", ex.Message);

        File.WriteAllBytes(Path.Combine(_dir.Path, "CIFAR-100_human.pt"), [0x80, 0x02, 0x8a, 0x0a]);
        ex = Assert.Throws<DeftException>(() => Open());
        Assert.Contains("legacy (non-zip) format", ex.Message);
    }

    [Fact]
    public void Wrong_length_disagreeing_clean_labels_and_missing_files_are_explained()
    {
        var ex = Assert.Throws<DeftException>(() => Open());
        Assert.Contains("No CIFAR-100N label file", ex.Message);
        Assert.Contains("CIFAR-100_human.npy", ex.Message);
        Assert.Contains("torch.load('CIFAR-100_human.pt'", ex.Message);

        _dir.WriteText("CIFAR-100_human.csv", "noisy_label\n1\n2\n3\n");
        ex = Assert.Throws<DeftException>(() => Open());
        Assert.Contains("holds 3 noisy labels; the CIFAR-100 training split has 4 images", ex.Message);

        _dir.WriteText("CIFAR-100_human.csv", "noisy_label,clean_label\n76,77\n5,5\n98,98\n3,0\n");
        ex = Assert.Throws<DeftException>(() => Open());
        Assert.Contains("clean_label disagrees with CIFAR-100's fine label at 1 of 4 samples (first: sample 2, file 98, CIFAR-100 99)", ex.Message);

        _dir.WriteText("CIFAR-100_human.csv", "noisy_label\n76\n5\nx\n3\n");
        ex = Assert.Throws<DeftException>(() => Open());
        Assert.Contains("line 4: noisy_label 'x' is not an integer", ex.Message);

        _dir.WriteText("CIFAR-100_human.csv", "76\n5\n100\n3\n");
        ex = Assert.Throws<DeftException>(() => Open());
        Assert.Contains("noisy label 100 of sample 2 is outside 0..99", ex.Message);

        File.Delete(Path.Combine(_dir.Path, "cifar-100-binary", "train.bin"));
        ex = Assert.Throws<DeftException>(() => Open());
        Assert.Contains("--format cifar100n reads the images of CIFAR-100's binary version", FlagNames.Render(ex));
    }
}
