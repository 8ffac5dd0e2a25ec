using System.Buffers.Binary;
using System.Text;
using Deft.Data;
using Deft.IO;
using Parquet;

namespace Deft.Tests.Data;

/// <summary>pred_probs and features files as numpy and pandas read them: the .npy layout byte by byte, the ids CSV, Parquet.</summary>
public sealed class SampleArrayFileTests : IDisposable
{
    private readonly TempDir _dir = new("arrays");

    public void Dispose() => _dir.Dispose();

    private static readonly SampleIds Ids = new([4, 0, 7], ["/d/cat/a.png", "/d/dog/b,2.png", "/d/cat/\"c\".png"], [0, 1, 0], [0, null, 1]);
    private static readonly float[] Values = [0.75f, 0.25f, 0.125f, 0.875f, 1e-8f, 1f];

    [Fact]
    public void Npy_file_is_numpy_format_1_0_little_endian_float32_in_c_order()
    {
        var path = Path.Combine(_dir.Path, "p.npy");
        NpyFile.Write(path, Values, 3, 2);
        var bytes = File.ReadAllBytes(path);

        Assert.Equal(new byte[] { 0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0 }, bytes[..8]);
        var headerLength = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(8));
        // numpy pads the header with spaces so that the data starts on a 64-byte boundary, and ends it with '\n'.
        Assert.Equal(0, (10 + headerLength) % 64);
        var header = Encoding.ASCII.GetString(bytes, 10, headerLength);
        Assert.Equal("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }", header.TrimEnd(' ', '\n'));
        Assert.EndsWith("\n", header);
        Assert.Equal(10 + headerLength + Values.Length * 4, bytes.Length);
        // Row-major: the second value of the file is row 0, column 1.
        for (var i = 0; i < Values.Length; i++)
            Assert.Equal(Values[i], BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(10 + headerLength + 4 * i)));

        var back = NpyFile.Read(path);
        Assert.Equal([3, 2], back.Shape);
        Assert.Equal(Values, back.Values);
        Assert.Empty(Directory.GetFiles(_dir.Path, "*.tmp"));
    }

    [Fact]
    public void Npy_reader_names_what_it_cannot_read()
    {
        var path = Path.Combine(_dir.Path, "p.npy");
        NpyFile.Write(path, Values, 3, 2);
        var bytes = File.ReadAllBytes(path);

        var doubles = Path.Combine(_dir.Path, "f8.npy");
        File.WriteAllBytes(doubles, Encoding.Latin1.GetBytes(Encoding.Latin1.GetString(bytes).Replace("'<f4'", "'<f8'")));
        Assert.Contains("float32", Assert.Throws<DeftException>(() => NpyFile.Read(doubles)).Message);

        var truncated = Path.Combine(_dir.Path, "short.npy");
        File.WriteAllBytes(truncated, bytes[..^4]);
        var error = Assert.Throws<DeftException>(() => NpyFile.Read(truncated)).Message;
        Assert.Contains(truncated, error);
        Assert.Contains("24 bytes", error);

        var fortran = Path.Combine(_dir.Path, "fortran.npy");
        File.WriteAllBytes(fortran, Encoding.Latin1.GetBytes(Encoding.Latin1.GetString(bytes).Replace("False", "True ")));
        Assert.Contains("Fortran", Assert.Throws<DeftException>(() => NpyFile.Read(fortran)).Message);
    }

    [Fact]
    public void Ids_csv_quotes_paths_and_leaves_unknown_true_labels_empty()
    {
        var path = Path.Combine(_dir.Path, "ids.csv");
        SampleArrayFile.WriteIds(path, Ids);
        Assert.Equal("index,path,given_label,true_label\n4,/d/cat/a.png,0,0\n0,\"/d/dog/b,2.png\",1,\n7,\"/d/cat/\"\"c\"\".png\",0,1\n",
            File.ReadAllText(path));

        SampleArrayFile.WriteIds(path, Ids with { TrueLabels = [null, null, null] });
        Assert.StartsWith("index,path,given_label\n4,/d/cat/a.png,0\n", File.ReadAllText(path));
    }

    [Fact]
    public async Task Write_both_gives_npy_with_ids_beside_it_and_a_parquet_table_pandas_reads_as_one_row_per_sample()
    {
        var stem = Path.Combine(_dir.Path, "pred_probs");
        var written = SampleArrayFile.Write(stem, Ids, Values, ["cat", "dog"], SampleArrayFormat.Both, new Dictionary<string, string> { ["k"] = "v" });
        Assert.Equal([stem + ".npy", stem + ".ids.csv", stem + ".parquet"], written);

        var parquet = File.ReadAllBytes(stem + ".parquet");
        Assert.Equal("PAR1", Encoding.ASCII.GetString(parquet, 0, 4));
        Assert.Equal("PAR1", Encoding.ASCII.GetString(parquet, parquet.Length - 4, 4));
        await using (var stream = File.OpenRead(stem + ".parquet"))
        await using (var reader = await ParquetReader.CreateAsync(stream))
        {
            // The column order pandas shows: ids first, then one column per class.
            Assert.Equal(["index", "path", "given_label", "true_label", "cat", "dog"], reader.Schema.GetDataFields().Select(f => f.Name));
            Assert.Equal(typeof(float), reader.Schema.GetDataFields()[4].ClrType);
        }

        var table = SampleArrayFile.ReadParquet(stem + ".parquet");
        Assert.Equal(Ids.Indices, table.Ids.Indices);
        Assert.Equal(Ids.Paths, table.Ids.Paths);
        Assert.Equal(Ids.GivenLabels, table.Ids.GivenLabels);
        Assert.Equal(Ids.TrueLabels!, table.Ids.TrueLabels!);
        Assert.Equal(["cat", "dog"], table.Columns);
        Assert.Equal(Values, table.Values);
        Assert.Equal("v", table.Metadata["k"]);
    }

    [Fact]
    public void Parquet_without_truth_has_no_true_label_column()
    {
        var path = Path.Combine(_dir.Path, "f.parquet");
        SampleArrayFile.WriteParquet(path, Ids with { TrueLabels = null }, Values, SampleArrayFile.FeatureColumns(2));
        var table = SampleArrayFile.ReadParquet(path);
        Assert.Null(table.Ids.TrueLabels);
        Assert.Equal(["feature_0", "feature_1"], table.Columns);
    }

    [Fact]
    public void Class_columns_fall_back_to_class_ids_when_a_name_would_clash()
    {
        Assert.Equal(["cat", "dog"], SampleArrayFile.ClassColumns(["cat", "dog"]));
        Assert.Equal(["class_0", "class_1"], SampleArrayFile.ClassColumns(["cat", "Cat"]));
        Assert.Equal(["class_0", "class_1"], SampleArrayFile.ClassColumns(["path", "dog"]));
        Assert.Equal(["class_0", "class_1"], SampleArrayFile.ClassColumns(["", "dog"]));
        Assert.Throws<ArgumentException>(() => SampleArrayFile.WriteParquet(Path.Combine(_dir.Path, "x.parquet"), Ids, Values, ["index", "dog"]));
    }

    [Fact]
    public void Shape_mismatches_are_refused()
    {
        Assert.Throws<ArgumentException>(() => SampleArrayFile.Write(Path.Combine(_dir.Path, "x"), Ids, Values, ["a", "b", "c"], SampleArrayFormat.Npy));
        Assert.Throws<ArgumentException>(() => NpyFile.Write(Path.Combine(_dir.Path, "x.npy"), Values, 2, 2));
    }
}
