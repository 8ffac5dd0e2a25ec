using Deft.Data;
using SkiaSharp;

namespace Deft.Tests.Data;

public sealed class ManifestDatasetTests : IDisposable
{
    private readonly TempDir _dir = new();

    public ManifestDatasetTests()
    {
        for (var i = 0; i < 4; i++)
            _dir.Write($"img/{i}.png", TestImages.SkiaEncode(TestImages.Pattern(2, 2, i), SKEncodedImageFormat.Png));
        _dir.Write("img/with,comma.png", TestImages.SkiaEncode(TestImages.Pattern(2, 2, 9), SKEncodedImageFormat.Png));
    }

    public void Dispose() => _dir.Dispose();

    private IImageDataset Open(string manifest, string? classes = null, BadImagePolicy policy = BadImagePolicy.Fail) =>
        DatasetFactory.Open(new DatasetOptions(manifest, "csv", OnBadImage: policy, ClassesFile: classes));

    [Fact]
    public void Names_with_header_and_clean_labels()
    {
        var m = _dir.WriteText("m.csv", "path,label,clean_label\nimg/0.png,dog,dog\nimg/1.png,cat,dog\n\n# comment\nimg/2.png,dog,\n");

        var ds = Open(m);

        Assert.Equal(["cat", "dog"], ds.Classes);
        Assert.Equal(3, ds.Count);
        Assert.Equal([1, 0, 1], Enumerable.Range(0, 3).Select(ds.GetLabel));
        Assert.Equal([1, 1, null], Enumerable.Range(0, 3).Select(ds.GetCleanLabel));
        Assert.Equal(Path.Combine(_dir.Path, "img", "1.png"), ds.GetSource(1));
        Assert.Equal(TestImages.Pattern(2, 2, 1).Pixels, ds.GetImage(1).Pixels);
    }

    [Fact]
    public void Ids_without_header_give_numeric_names_up_to_the_largest_id()
    {
        var m = _dir.WriteText("m.csv", "img/0.png,0\nimg/1.png,4\n");
        var ds = Open(m);
        Assert.Equal(["0", "1", "2", "3", "4"], ds.Classes);
        Assert.Equal(4, ds.GetLabel(1));
    }

    [Fact]
    public void Tsv_by_extension_and_by_sniffing_with_quoted_paths()
    {
        var tsv = _dir.WriteText("m.tsv", "file\tclass\nimg/with,comma.png\tb\nimg/0.png\ta\n");
        var ds = Open(tsv);
        Assert.Equal(["a", "b"], ds.Classes);
        Assert.Equal(TestImages.Pattern(2, 2, 9).Pixels, ds.GetImage(0).Pixels);

        var sniffed = _dir.WriteText("m.list", "img/0.png\t1\nimg/1.png\t0\n");
        Assert.Equal(1, Open(sniffed).GetLabel(0));

        var quoted = _dir.WriteText("q.csv", "\"img/with,comma.png\",x\n\"img/0.png\",\"y\"\n");
        var q = Open(quoted);
        Assert.Equal(Path.Combine(_dir.Path, "img", "with,comma.png"), q.GetSource(0));
        Assert.Equal(1, q.GetLabel(1));
    }

    [Fact]
    public void Class_list_maps_names_and_ids()
    {
        var classes = _dir.WriteText("classes.txt", "zebra\nant\nbee\n");
        var m = _dir.WriteText("m.csv", "img/0.png,bee,0\nimg/1.png,2\nimg/2.png,zebra,ant\n");
        var ds = Open(m, classes);
        Assert.Equal(["zebra", "ant", "bee"], ds.Classes);
        Assert.Equal([2, 2, 0], Enumerable.Range(0, 3).Select(ds.GetLabel));
        Assert.Equal([0, null, 1], Enumerable.Range(0, 3).Select(ds.GetCleanLabel));
    }

    [Fact]
    public void Unknown_label_name_names_manifest_and_line()
    {
        var classes = _dir.WriteText("classes.txt", "cat\ndog\n");
        var m = _dir.WriteText("m.csv", "path,label\nimg/0.png,cat\nimg/1.png,dgo\n");
        var ex = Assert.Throws<DeftException>(() => Open(m, classes));
        Assert.Contains($"{m} line 3", ex.Message);
        Assert.Contains("'dgo'", ex.Message);
        Assert.Contains("cat, dog", ex.Message);
    }

    [Fact]
    public void Unknown_clean_label_name_names_manifest_and_line()
    {
        var m = _dir.WriteText("m.csv", "img/0.png,cat,cat\nimg/1.png,dog,\"\"\n");
        var classes = _dir.WriteText("classes.txt", "cat\ndog\n");
        var ok = Open(m, classes);
        Assert.Null(ok.GetCleanLabel(1));

        var bad = _dir.WriteText("bad.csv", "img/0.png,cat,cat\nimg/1.png,dog,cow\n");
        var ex = Assert.Throws<DeftException>(() => Open(bad, classes));
        Assert.Contains($"{bad} line 2", ex.Message);
        Assert.Contains("clean label 'cow'", ex.Message);
    }

    [Fact]
    public void Label_id_out_of_range_names_manifest_and_line()
    {
        var classes = _dir.WriteText("classes.txt", "cat\ndog\n");
        var m = _dir.WriteText("m.csv", "img/0.png,1\nimg/1.png,2\n");
        var ex = Assert.Throws<DeftException>(() => Open(m, classes));
        Assert.Contains($"{m} line 2", ex.Message);
        Assert.Contains("id 2 is out of range 0..1", ex.Message);

        var negative = _dir.WriteText("n.csv", "img/0.png,1\nimg/1.png,-1\n");
        ex = Assert.Throws<DeftException>(() => Open(negative));
        Assert.Contains($"{negative} line 2", ex.Message);
        Assert.Contains("out of range", ex.Message);
    }

    [Fact]
    public void Mixed_ids_and_names_without_a_class_list_are_refused()
    {
        var m = _dir.WriteText("m.csv", "img/0.png,3\nimg/1.png,cat\n");
        var ex = Assert.Throws<DeftException>(() => Open(m));
        Assert.Contains(m, ex.Message);
        Assert.Contains("line 1", ex.Message);
        Assert.Contains("line 2", ex.Message);
    }

    [Fact]
    public void Extra_columns_of_an_export_are_ignored_with_one_warning()
    {
        // Headerless: the third column is the clean label, the fourth on are extra.
        var warnings = new List<string>();
        var m = _dir.WriteText("m.csv", "img/0.png,cat,cat,0.93\nimg/1.png,cat,dog,0.12\nimg/2.png,dog\n");
        var ds = DatasetFactory.Open(new DatasetOptions(m, "csv", Warn: warnings.Add));
        Assert.Equal(["cat", "dog"], ds.Classes);
        Assert.Equal([0, 0, 1], Enumerable.Range(0, 3).Select(ds.GetLabel));
        Assert.Equal([0, 1, null], Enumerable.Range(0, 3).Select(ds.GetCleanLabel));
        var warning = Assert.Single(warnings);
        Assert.Contains(m, warning);
        Assert.Contains("ignoring column 4 ", warning);
        Assert.Contains("from line 1", warning);

        // With a header, columns are known by name: the clean label is the column named like one, wherever it is.
        warnings.Clear();
        var named = _dir.WriteText("named.csv", "path,label,split,true_label,score\nimg/0.png,cat,train,dog,1\nimg/1.png,dog,train,dog,2\n");
        ds = DatasetFactory.Open(new DatasetOptions(named, "csv", Warn: warnings.Add));
        Assert.Equal([0, 1], Enumerable.Range(0, 2).Select(ds.GetLabel));
        Assert.Equal([1, 1], Enumerable.Range(0, 2).Select(ds.GetCleanLabel));
        warning = Assert.Single(warnings);
        Assert.Contains("'split', 'score'", warning);
        Assert.Contains("from line 2", warning);
        Assert.Contains("clean label ('true_label')", warning);

        // A third column that is not named as a clean label is extra, not misread as one.
        warnings.Clear();
        var noClean = _dir.WriteText("noclean.csv", "file,class,split\nimg/0.png,cat,train\nimg/1.png,dog,test\n");
        ds = DatasetFactory.Open(new DatasetOptions(noClean, "csv", Warn: warnings.Add));
        Assert.Equal(["cat", "dog"], ds.Classes);
        Assert.Equal([null, null], Enumerable.Range(0, 2).Select(ds.GetCleanLabel));
        Assert.Contains("'split'", Assert.Single(warnings));

        // Three columns are the documented format: no warning. A line wider than the header is still an error.
        warnings.Clear();
        DatasetFactory.Open(new DatasetOptions(_dir.WriteText("three.csv", "img/0.png,cat,dog\n"), "csv", Warn: warnings.Add));
        Assert.Empty(warnings);
        var wide = _dir.WriteText("wide.csv", "path,label,true_label\nimg/0.png,cat,dog,oops\n");
        var ex = Assert.Throws<DeftException>(() => Open(wide));
        Assert.Contains($"{wide} line 2", ex.Message);
        Assert.Contains("found 4", ex.Message);
    }

    [Theory]
    [InlineData("img/0.png,cat\nimg/1.png\n", 2, "found 1")]
    [InlineData("img/0.png,cat\nimg/1.png,cat,cat,extra\n", 2, "found 4")]
    [InlineData("img/0.png,cat\n\n\"img/1.png,cat\n", 3, "quoted field is not closed")]
    [InlineData("img/0.png,cat\n,cat\n", 2, "path field is empty")]
    [InlineData("img/0.png,cat\nimg/1.png, \n", 2, "label field is empty")]
    public void Malformed_line_names_manifest_and_line(string text, int line, string what)
    {
        var m = _dir.WriteText("m.csv", text);
        var ex = Assert.Throws<DeftException>(() => Open(m));
        Assert.Contains($"{m} line {line}", ex.Message);
        Assert.Contains(what, ex.Message);
    }

    [Fact]
    public void Missing_image_names_manifest_and_line_or_is_skipped()
    {
        var m = _dir.WriteText("m.csv", "img/0.png,cat\nimg/nope.png,dog\nimg/2.png,dog\n");
        var ex = Assert.Throws<DeftException>(() => Open(m));
        Assert.Contains($"{m} line 2", ex.Message);
        Assert.Contains(Path.Combine(_dir.Path, "img", "nope.png"), ex.Message);

        var skipped = Assert.IsType<ValidatedDataset>(Open(m, policy: BadImagePolicy.Skip));
        Assert.Equal(2, skipped.Count);
        var s = Assert.Single(skipped.Skipped);
        Assert.Equal(1, s.Index);
        Assert.Contains("not found", s.Reason);
        Assert.Contains($"{m} line 2", s.Reason);
        Assert.Equal(2, skipped.SourceIndex(1));
        Assert.Equal(TestImages.Pattern(2, 2, 2).Pixels, skipped.GetImage(1).Pixels);
    }

    [Fact]
    public void Corrupt_image_message_names_manifest_line()
    {
        _dir.Write("img/bad.png", [1, 2, 3, 4, 5]);
        var m = _dir.WriteText("m.csv", "img/0.png,cat\nimg/bad.png,dog\n");
        var ds = Open(m);
        var ex = Assert.Throws<DeftException>(() => ds.GetImage(1));
        Assert.Contains(Path.Combine(_dir.Path, "img", "bad.png"), ex.Message);
        Assert.Contains($"{m} line 2", ex.Message);
    }

    [Fact]
    public void Empty_manifest_is_reported()
    {
        var m = _dir.WriteText("m.csv", "path,label\n\n");
        var ex = Assert.Throws<DeftException>(() => Open(m));
        Assert.Contains(m, ex.Message);
        Assert.Contains("no images", ex.Message);
    }
}
