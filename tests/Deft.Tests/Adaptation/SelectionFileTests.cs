using Deft.Adaptation;

namespace Deft.Tests.Adaptation;

public sealed class SelectionFileTests
{
    [Fact]
    public void ReadsTheDetectorsColumnsInAnyOrderAndIgnoresExtraOnes()
    {
        using var dir = new TempDir("deft-adapt");
        var path = dir.File("samples.csv");
        File.WriteAllText(path,
            "label_quality,is_label_issue,given_name,source,extra,index,given_label\r\n" +
            "0.9,false,cat,\"/data/a, b/0.png\",x,0,3\r\n" +
            "0.1,TRUE,dog,\"/data/say \"\"hi\"\"/1.png\",,1,5\r\n" +
            "\r\n" +
            "0.4,0,cat,/data/2.png,y,2,3\r\n");
        var selection = SelectionFile.Read(path);
        Assert.Equal(3, selection.Entries.Count);
        Assert.Equal(new SelectionEntry(0, "/data/a, b/0.png", 3, false, 2), selection.Entries[0]);
        Assert.Equal(new SelectionEntry(1, "/data/say \"hi\"/1.png", 5, true, 3), selection.Entries[1]);
        Assert.Equal(new SelectionEntry(2, "/data/2.png", 3, false, 5), selection.Entries[2]);
        Assert.Equal(2, selection.SelectedCount);
    }

    [Fact]
    public void ReadsWhatTheTestWriterProducesWithTheDetectorsFullHeader()
    {
        using var dir = new TempDir("deft-adapt");
        var data = new PlantedColours(12);
        var path = AdaptTestFiles.WriteSamples(dir.File("samples.csv"), data, given: i => (data.GetLabel(i) + 1) % 4, issue: i => i % 3 == 0);
        var mask = SelectionFile.Apply(SelectionFile.Read(path), data);
        for (var i = 0; i < data.Count; i++)
        {
            Assert.Equal(i % 3 != 0, mask.Selected[i]);
            Assert.Equal((data.GetLabel(i) + 1) % 4, mask.GivenLabels[i]); // the noisy label from the file, not the data set's
        }
    }

    [Theory]
    [InlineData("index,source,given_label\n0,a,1\n", "is_label_issue")]
    [InlineData("source,given_label,is_label_issue\na,1,false\n", "index")]
    public void AMissingRequiredColumnIsNamed(string content, string column)
    {
        using var dir = new TempDir("deft-adapt");
        var path = dir.File("samples.csv");
        File.WriteAllText(path, content);
        var ex = Assert.Throws<DeftException>(() => SelectionFile.Read(path));
        Assert.Contains("line 1", ex.Message);
        Assert.Contains(column, ex.Message);
    }

    [Theory]
    [InlineData("index,source,given_label,is_label_issue\n0,a,1,false\n1,b,1,maybe\n", "line 3", "maybe")]
    [InlineData("index,source,given_label,is_label_issue\n0,a,x,false\n", "line 2", "given_label 'x'")]
    [InlineData("index,source,given_label,is_label_issue\n0,a,1,false\n0,b,1,false\n", "line 3", "first on line 2")]
    [InlineData("index,source,given_label,is_label_issue\n0,\"a,1,false\n", "line 2", "not closed")]
    public void MalformedRowsAreReportedWithTheirLine(string content, string line, string detail)
    {
        using var dir = new TempDir("deft-adapt");
        var path = dir.File("samples.csv");
        File.WriteAllText(path, content);
        var ex = Assert.Throws<DeftException>(() => SelectionFile.Read(path));
        Assert.Contains(line, ex.Message);
        Assert.Contains(detail, ex.Message);
    }

    [Fact]
    public void ASelectionFromAnotherDataSetIsRejectedNamingTheFirstMismatches()
    {
        using var dir = new TempDir("deft-adapt");
        var data = new PlantedColours(20, seed: 1);
        var other = new PlantedColours(20, seed: 2, prefix: "other");
        var path = AdaptTestFiles.WriteSamples(dir.File("samples.csv"), other);
        var ex = Assert.Throws<DeftException>(() => SelectionFile.Apply(SelectionFile.Read(path), data));
        Assert.Contains("20 of 20 sample(s) do not match", ex.Message);
        Assert.Contains($"line 2: index 0 is '{other.GetSource(0)}' in the file but '{data.GetSource(0)}' in the data set", ex.Message);
        Assert.Contains("and 15 more", ex.Message);
    }

    [Fact]
    public void ASubsetTakesPartAloneButAnIndexOutOfRangeIsRejected()
    {
        using var dir = new TempDir("deft-adapt");
        var small = new PlantedColours(10);
        var large = new PlantedColours(12);
        // The detector ran on the first 10 samples of the larger set (a label file's subset): only they take part.
        var path = AdaptTestFiles.WriteSamples(dir.File("samples.csv"), small, source: i => large.GetSource(i), given: i => large.GetLabel(i));
        var mask = SelectionFile.Apply(SelectionFile.Read(path), large);
        Assert.Equal(Enumerable.Range(0, 10), mask.Indices);
        Assert.False(mask.Selected[10] || mask.Selected[11]);
        Assert.Equal(10, mask.SelectedCount);

        var path2 = AdaptTestFiles.WriteSamples(dir.File("samples2.csv"), large);
        var ex = Assert.Throws<DeftException>(() => SelectionFile.Apply(SelectionFile.Read(path2), small));
        Assert.Contains("line 12: index 10", ex.Message);
        Assert.Contains("indices 0..9", ex.Message);
    }

    [Fact]
    public void ALabelFileGivesTheSamplesAndNoisyLabelsOfTrainingOnAll()
    {
        using var dir = new TempDir("deft-adapt");
        var data = new PlantedColours(8);
        var path = dir.File("noisy.csv");
        File.WriteAllText(path, "index,label,true_label\n5,2,1\n0,3,3\n6,0,0\n");
        var mask = SelectionMask.FromLabelFile(path, data);
        Assert.Equal([0, 5, 6], mask.Indices);
        Assert.Equal([3, 2, 0], mask.Indices.Select(i => mask.GivenLabels[i]));
        Assert.Equal(3, mask.SelectedCount);
        Assert.Equal([1], mask.ClassesWithoutSamples);
        Assert.Equal([0, 5], mask.Limit(2, 4).Indices);
        Assert.False(mask.Limit(2, 4).Selected[6]);
    }

    [Fact]
    public void GivenLabelsOutsideTheClassesAreRejected()
    {
        using var dir = new TempDir("deft-adapt");
        var data = new PlantedColours(5, classes: 4);
        var path = dir.File("samples.csv");
        File.WriteAllText(path, "index,source,given_label,is_label_issue\n" +
            string.Concat(Enumerable.Range(0, 5).Select(i => $"{i},{data.GetSource(i)},{(i == 3 ? 7 : 0)},false\n")));
        var ex = Assert.Throws<DeftException>(() => SelectionFile.Apply(SelectionFile.Read(path), data));
        Assert.Contains("line 5: 7", ex.Message);
        Assert.Contains("0..3", ex.Message);
    }

    [Fact]
    public void ClassesWithoutASelectedSampleAreListed()
    {
        using var dir = new TempDir("deft-adapt");
        var data = new PlantedColours(40, classes: 4);
        // Every sample labelled 1 or 3 is flagged: those classes keep nothing.
        var path = AdaptTestFiles.WriteSamples(dir.File("samples.csv"), data, issue: i => data.GetLabel(i) is 1 or 3);
        var mask = SelectionFile.Apply(SelectionFile.Read(path), data);
        Assert.Equal([1, 3], mask.ClassesWithoutSamples);
        Assert.Equal(Enumerable.Range(0, 40).Count(i => data.GetLabel(i) is 0 or 2), mask.SelectedCount);
    }

    [Theory]
    [InlineData("/a/b/cat/1.png", "/a/b/cat/1.png", true)]
    [InlineData("/old/root/cat/1.png", "/new/place/cat/1.png", true)] // moved data set
    [InlineData("cat/1.png", "/abs/train/cat/1.png", true)]          // relative vs absolute
    [InlineData("/root/cat/1.png", "/root/dog/1.png", false)]         // same file name, other class folder
    [InlineData("/x/train-images-idx3-ubyte#17", "/y/z/train-images-idx3-ubyte#17", true)]
    [InlineData("/x/train-images-idx3-ubyte#17", "/x/train-images-idx3-ubyte#18", false)]
    [InlineData("1.png", "/root/dog/1.png", false)]
    public void SourcesMatchAcrossMovesButNotAcrossSamples(string recorded, string actual, bool expected) =>
        Assert.Equal(expected, SelectionFile.SourcesMatch(recorded, actual));
}
