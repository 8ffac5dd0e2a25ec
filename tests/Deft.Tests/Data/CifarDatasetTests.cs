using Deft.Data;

namespace Deft.Tests.Data;

public sealed class CifarDatasetTests : IDisposable
{
    private static readonly string[] Cifar10Names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>Five train batches of two records each (labels 2b and 2b+1 with distinct pixels) and a test batch.</summary>
    private string MakeCifar10()
    {
        var dir = Path.Combine(_dir.Path, "cifar-10-batches-bin");
        Directory.CreateDirectory(dir);
        for (var b = 0; b < 5; b++)
            File.WriteAllBytes(Path.Combine(dir, $"data_batch_{b + 1}.bin"),
                DatasetFiles.CifarRecords([(null, (byte)(2 * b), DatasetFiles.PlanarPattern(2 * b)), (null, (byte)(2 * b + 1), DatasetFiles.PlanarPattern(2 * b + 1))]));
        File.WriteAllBytes(Path.Combine(dir, "test_batch.bin"), DatasetFiles.CifarRecords([(null, (byte)4, DatasetFiles.PlanarPattern(40))]));
        File.WriteAllText(Path.Combine(dir, "batches.meta.txt"), string.Join("\n", Cifar10Names) + "\n\n");
        return dir;
    }

    [Fact]
    public void Cifar10_reads_batches_in_order_with_planar_to_interleaved_pixels()
    {
        var dir = MakeCifar10();

        var ds = DatasetFactory.Open(new DatasetOptions(_dir.Path, "cifar10"));  // parent of cifar-10-batches-bin

        Assert.Equal(10, ds.Count);
        Assert.Equal(Cifar10Names, ds.Classes);
        Assert.Equal(Enumerable.Range(0, 10), Enumerable.Range(0, 10).Select(ds.GetLabel));
        Assert.Equal(DatasetFiles.PlanarPattern(7), ds.GetRawPixels(7));
        Assert.Equal(Path.Combine(dir, "data_batch_4.bin") + "#1", ds.GetSource(7));

        var planar = DatasetFiles.PlanarPattern(7);
        var img = ds.GetImage(7);
        Assert.Equal((32, 32), (img.Width, img.Height));
        foreach (var (x, y) in new[] { (0, 0), (31, 0), (5, 17), (31, 31) })
        {
            var p = y * 32 + x;
            Assert.Equal((planar[p], planar[1024 + p], planar[2048 + p]), TestImages.At(img, x, y));
        }

        var test = DatasetFactory.Open(new DatasetOptions(dir, "cifar10", "test"));  // the folder itself
        Assert.Equal(1, test.Count);
        Assert.Equal(4, test.GetLabel(0));
        Assert.Equal(DatasetFiles.PlanarPattern(40), test.GetRawPixels(0));
    }

    [Fact]
    public void Cifar100_uses_the_fine_label()
    {
        var dir = Path.Combine(_dir.Path, "cifar-100-binary");
        Directory.CreateDirectory(dir);
        var fine = Enumerable.Range(0, 100).Select(i => $"fine{i:D2}").ToArray();
        File.WriteAllLines(Path.Combine(dir, "fine_label_names.txt"), fine);
        File.WriteAllBytes(Path.Combine(dir, "train.bin"), DatasetFiles.CifarRecords([
            ((byte)3, (byte)77, DatasetFiles.PlanarPattern(1)),
            ((byte)19, (byte)5, DatasetFiles.PlanarPattern(2)),
        ]));
        File.WriteAllBytes(Path.Combine(dir, "test.bin"), DatasetFiles.CifarRecords([((byte)0, (byte)99, DatasetFiles.PlanarPattern(3))]));

        var ds = DatasetFactory.Open(new DatasetOptions(_dir.Path, "cifar100"));
        Assert.Equal(2, ds.Count);
        Assert.Equal(fine, ds.Classes);
        Assert.Equal(77, ds.GetLabel(0));
        Assert.Equal(5, ds.GetLabel(1));
        Assert.Equal(DatasetFiles.PlanarPattern(2), ds.GetRawPixels(1));
        Assert.Equal(DatasetFiles.PlanarPattern(2)[0], ds.GetImage(1).Pixels[0]);

        var test = DatasetFactory.Open(new DatasetOptions(dir, "cifar100", "test"));
        Assert.Equal(99, test.GetLabel(0));
    }

    [Fact]
    public void Truncated_batch_names_file_and_record()
    {
        var dir = MakeCifar10();
        var batch = Path.Combine(dir, "data_batch_3.bin");
        var bytes = File.ReadAllBytes(batch);
        File.WriteAllBytes(batch, bytes[..^100]);

        var ex = Assert.Throws<DeftException>(() => DatasetFactory.Open(new DatasetOptions(dir, "cifar10")));
        Assert.Contains(batch, ex.Message);
        Assert.Contains("record 1", ex.Message);
        Assert.Contains("truncated", ex.Message);
    }

    [Fact]
    public void Label_out_of_range_names_file_and_record()
    {
        var dir = MakeCifar10();
        var batch = Path.Combine(dir, "data_batch_2.bin");
        File.WriteAllBytes(batch, DatasetFiles.CifarRecords([(null, (byte)1, DatasetFiles.PlanarPattern(0)), (null, (byte)10, DatasetFiles.PlanarPattern(0))]));

        var ex = Assert.Throws<DeftException>(() => DatasetFactory.Open(new DatasetOptions(dir, "cifar10")));
        Assert.Contains(batch, ex.Message);
        Assert.Contains("record 1", ex.Message);
        Assert.Contains("label 10", ex.Message);
    }

    [Fact]
    public void Missing_batch_and_missing_names_are_reported()
    {
        var dir = MakeCifar10();
        File.Delete(Path.Combine(dir, "data_batch_5.bin"));
        var ex = Assert.Throws<DeftException>(() => DatasetFactory.Open(new DatasetOptions(dir, "cifar10")));
        Assert.Contains("data_batch_5.bin", ex.Message);

        File.Delete(Path.Combine(dir, "batches.meta.txt"));
        ex = Assert.Throws<DeftException>(() => DatasetFactory.Open(new DatasetOptions(dir, "cifar10", "test")));
        Assert.Contains("batches.meta.txt", ex.Message);
    }
}
