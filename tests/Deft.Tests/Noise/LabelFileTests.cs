using System.Text;
using Deft.Noise;
using static Deft.Tests.Noise.NoiseTestData;

namespace Deft.Tests.Noise;

public class LabelFileTests
{
    private static readonly string[] Classes = ["airplane", "automobile", "bird", "cat"];

    private static string WriteText(string text, string name = "labels.csv")
    {
        var path = TempPath(name);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, text, new UTF8Encoding(false));
        return path;
    }

    private static DeftException ReadFails(string text, int count = 5, int classes = 4, string[]? names = null)
    {
        var path = WriteText(text);
        var error = Assert.Throws<DeftException>(() => LabelFile.Read(path, count, classes, names));
        return error;
    }

    [Fact]
    public void Write_produces_the_documented_csv()
    {
        var path = TempPath("out.csv");
        LabelFile.Write(path, [1, 2, 0], [1, 0, 0]);
        Assert.Equal("index,label,true_label\n0,1,1\n1,2,0\n2,0,0\n", File.ReadAllText(path));
        LabelFile.Write(path, [3, 1]);
        Assert.Equal("index,label,true_label\n0,3,\n1,1,\n", File.ReadAllText(path));
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(path)!, "*.tmp")); // atomic write leaves no temporary
    }

    [Fact]
    public void Noisy_labels_round_trip_through_the_file()
    {
        var truth = UniformLabels(2000, 10);
        var noisy = LabelNoise.Symmetric(truth, 10, 0.5, 3);
        var path = TempPath("noisy.csv");
        noisy.Save(path);
        var rows = LabelFile.Read(path, 2000, 10);
        Assert.Equal(Enumerable.Range(0, 2000), rows.Select(r => r.Index));
        Assert.Equal(noisy.Labels, rows.Select(r => r.Label));
        Assert.Equal(noisy.TrueLabels, rows.Select(r => r.TrueLabel!.Value));

        var again = LabelNoise.FromFile(path, UniformLabels(2000, 10, seed: 999), 10);
        Assert.Equal(noisy.Labels, again.Labels);
        Assert.Equal(noisy.TrueLabels, again.TrueLabels); // the file's true_label column wins over the data set's
        Assert.Equal(noisy.RealizedRate, again.RealizedRate);
        Assert.Null(again.RequestedRatio);
        Assert.Equal(NoiseMode.File, again.Mode);
    }

    [Fact]
    public void Csv_may_be_headerless_partial_unordered_crlf_with_bom()
    {
        var path = TempPath("partial.csv");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, "3,1\r\n0, 2 ,2\r\n4,0,\r\n\r\n", new UTF8Encoding(true));
        var rows = LabelFile.Read(path, 5, 4);
        Assert.Equal([new LabelRow(3, 1, null), new LabelRow(0, 2, 2), new LabelRow(4, 0, null)], rows);

        var twoColumns = LabelFile.Read(WriteText("index,label\n1,3\n"), 5, 4);
        Assert.Equal([new LabelRow(1, 3, null)], twoColumns);
    }

    [Fact]
    public void Labels_may_be_class_names_when_the_class_list_is_given()
    {
        var rows = LabelFile.Read(WriteText("index,label,true_label\n0,cat,bird\n1,Automobile,1\n2,3,airplane\n"), 5, 4, Classes);
        Assert.Equal([new LabelRow(0, 3, 2), new LabelRow(1, 1, 1), new LabelRow(2, 3, 0)], rows);

        var perLine = LabelFile.Read(WriteText("bird\n0\ncat\n", "names.txt"), 5, 4, Classes);
        Assert.Equal([new LabelRow(0, 2, null), new LabelRow(1, 0, null), new LabelRow(2, 3, null)], perLine);
    }

    [Fact]
    public void One_label_per_line_gives_line_n_to_sample_n_minus_1()
    {
        var rows = LabelFile.Read(WriteText("2\n0\n3\n\n", "perline.txt"), 5, 4);
        Assert.Equal([new LabelRow(0, 2, null), new LabelRow(1, 0, null), new LabelRow(2, 3, null)], rows);
    }

    [Theory]
    [InlineData("index,label,true_label\n0,1,1\n1,2\n2\n", "labels.csv:4:", "expected 2 or 3 fields")]
    [InlineData("0,1,1,1\n", "labels.csv:1:", "got 4")]
    [InlineData("index,label\n0,1,1\n", "labels.csv:2:", "expected 2 fields")]
    [InlineData("index,label,true_label\nx,1,1\n", "labels.csv:2:", "index 'x' is not an integer")]
    [InlineData("index,label,true_label\n0,1,1\n5,1,1\n", "labels.csv:3:", "index 5 is outside the data set (0..4")]
    [InlineData("0,1\n-1,1\n", "labels.csv:2:", "index -1 is outside")]
    [InlineData("0,1\n\n2,1\n0,3\n", "labels.csv:4:", "index 0 appears twice (first on line 1)")]
    [InlineData("0,4\n", "labels.csv:1:", "label 4 is outside the class ids 0..3")]
    [InlineData("0,1,-2\n", "labels.csv:1:", "true_label -2 is outside")]
    [InlineData("0,dog\n", "labels.csv:1:", "label 'dog' is not a class id (an integer 0..3)")]
    [InlineData("0,\n", "labels.csv:1:", "label is empty")]
    [InlineData("idx,lbl\n0,1\n", "labels.csv:1:", "unexpected header")]
    [InlineData("\n\n", "labels.csv", "empty")]
    [InlineData("1\n2\n1\n3\n0\n2\n", "labels.csv:6:", "6 labels but the data set has 5 samples")]
    [InlineData("1\n\n2\n", "labels.csv:2:", "blank lines are not allowed")]
    [InlineData("\n1\n2\n", "labels.csv:1:", "blank lines are not allowed")]
    [InlineData("1\n7\n", "labels.csv:2:", "label 7 is outside")]
    public void Malformed_files_are_rejected_naming_file_and_line(string text, string where, string what)
    {
        var error = ReadFails(text);
        Assert.Contains(where, error.Message);
        Assert.Contains(what, error.Message);
    }

    [Fact]
    public void Unknown_class_names_list_the_valid_ones()
    {
        var error = ReadFails("0,dog\n", names: Classes);
        Assert.Contains("labels.csv:1:", error.Message);
        Assert.Contains("'dog' is neither a class id (0..3) nor a class name (airplane, automobile, bird, cat)", error.Message);
    }

    [Fact]
    public void Missing_file_and_incomplete_coverage_are_reported()
    {
        var missing = TempPath("nope.csv");
        Assert.Contains("does not exist", Assert.Throws<DeftException>(() => LabelFile.Read(missing, 5, 4)).Message);

        var path = WriteText("0,1\n2,1\n");
        var rows = LabelFile.Read(path, 5, 4);
        var error = Assert.Throws<DeftException>(() => LabelFile.RequireComplete(rows, 5, path));
        Assert.Contains("3 of 5 samples have no label, the first being index 1", error.Message);
        Assert.Throws<DeftException>(() => LabelNoise.FromFile(path, [0, 1, 2, 3, 0], 4));
    }
}
