using System.Text;
using Deft.Data;
using Deft.Detection;
using Deft.Noise;

namespace Deft.Tests.Noise;

/// <summary><c>--labels</c> by path: <c>path,label[,true_label]</c> rows matched to the data set's sample sources.</summary>
public sealed class LabelFileByPathTests : IDisposable
{
    private readonly TempDir _dir = new("labels-by-path");
    private readonly SourcesOnly _data;

    public LabelFileByPathTests()
    {
        var root = _dir.Path;
        _data = new SourcesOnly(
            [Path.Combine(root, "train", "cat", "1.png"), Path.Combine(root, "train", "dog", "1.png"), Path.Combine(root, "train", "dog", "a,b.png"),
             Path.Combine(root, "test", "dog", "1.png")],
            [0, 1, 1, 1], ["cat", "dog"]);
    }

    public void Dispose() => _dir.Dispose();

    private string Write(string text)
    {
        var path = Path.Combine(_dir.Path, "labels.csv");
        File.WriteAllText(path, text, new UTF8Encoding(false));
        return path;
    }

    private IReadOnlyList<LabelRow> Read(string text) =>
        LabelFile.Read(Write(text), _data.Count, 2, _data.Classes, new SamplePaths(_data, _dir.Path));

    [Fact]
    public void The_form_is_told_apart_without_reading_the_data()
    {
        Assert.True(LabelFile.IsKeyedByPath(Write("path,label\ntrain/cat/1.png,0\n")));
        Assert.True(LabelFile.IsKeyedByPath(Write("\n/abs/dog/1.png,1\n")));
        Assert.False(LabelFile.IsKeyedByPath(Write("index,label\n0,1\n")));
        Assert.False(LabelFile.IsKeyedByPath(Write("0,1,1\n")));
        Assert.False(LabelFile.IsKeyedByPath(Write("1\n0\n")));
    }

    [Fact]
    public void Absolute_root_relative_normalised_and_suffix_paths_name_the_same_samples_as_indices()
    {
        var absolute = Path.Combine(_dir.Path, "train", "dog", "1.png");
        var rows = Read($"path,label,true_label\n{absolute},cat,dog\n./train//cat/../cat/1.png,dog,\ntest/dog/1.png,0,1\n\"train/dog/a,b.png\",dog,dog\n");
        Assert.Equal([new LabelRow(1, 0, 1), new LabelRow(0, 1, null), new LabelRow(3, 0, 1), new LabelRow(2, 1, 1)], rows);

        // Without a header, a first field that looks like a path starts the path form; a unique ending suffices.
        Assert.Equal([new LabelRow(0, 1, null), new LabelRow(2, 0, null)], Read("cat/1.png,1\ndog/a,b.png,0\n".Replace("dog/a,b.png", "\"dog/a,b.png\"")));

        // The index form is unchanged.
        Assert.Equal([new LabelRow(1, 0, 1)], Read("index,label,true_label\n1,cat,dog\n"));
    }

    [Fact]
    public void Unknown_ambiguous_and_repeated_paths_are_errors_naming_the_line()
    {
        var unknown = Assert.Throws<DeftException>(() => Read("path,label\ntrain/cat/1.png,0\ntrain/cat/nope.png,1\n")).Message;
        Assert.Contains("labels.csv:3", unknown);
        Assert.Contains("'train/cat/nope.png' is not a sample", unknown);
        Assert.Contains(_dir.Path, unknown); // the root relative paths start at

        var ambiguous = Assert.Throws<DeftException>(() => Read("dog/1.png,0\n")).Message;
        Assert.Contains("labels.csv:1", ambiguous);
        Assert.Contains("several samples", ambiguous);

        var twice = Assert.Throws<DeftException>(() => Read($"train/cat/1.png,0\n{Path.Combine(_dir.Path, "train", "cat", "1.png")},1\n")).Message;
        Assert.Contains("labels.csv:2", twice);
        Assert.Contains("same sample as line 1", twice);

        var badHeader = Assert.Throws<DeftException>(() => Read("path,label,score\ntrain/cat/1.png,0,3\n")).Message;
        Assert.Contains("labels.csv:1", badHeader);
        Assert.Contains("unexpected header", badHeader);
    }

    [Fact]
    public void A_reader_without_sample_paths_says_the_path_form_needs_them_and_odd_index_headers_stay_header_errors()
    {
        var path = Write("path,label\ntrain/cat/1.png,0\n");
        Assert.Contains("names samples by path", Assert.Throws<DeftException>(() => LabelFile.Read(path, 4, 2)).Message);
        Assert.Contains("unexpected header 'id,label'", Assert.Throws<DeftException>(() => Read("id,label\n0,1\n")).Message);
        // A number is an index, even one that is not an integer: the index form reports it, not the path form.
        var number = Assert.Throws<DeftException>(() => Read("1.5,1\n")).Message;
        Assert.Contains("'1.5,1'", number);
        Assert.DoesNotContain("not a sample", number);
    }

    [Fact]
    public void Label_assignment_resolves_paths_against_the_data_root_given_as_a_directory_or_a_manifest()
    {
        var file = Write("path,label,true_label\ntrain/dog/1.png,cat,dog\n");
        var fromDir = LabelAssignment.FromLabelFile(file, _data, _dir.Path);
        Assert.Equal([1], fromDir.Indices);
        Assert.Equal([0], fromDir.Labels);
        Assert.Equal([1], fromDir.TrueLabels);
        var manifest = Path.Combine(_dir.Path, "m.csv");
        File.WriteAllText(manifest, "");
        Assert.Equal([1], LabelAssignment.FromLabelFile(file, _data, manifest).Indices);
    }

    /// <summary>Samples known by source path and label only (nothing is decoded).</summary>
    private sealed class SourcesOnly(string[] sources, int[] labels, string[] classes) : IImageDataset
    {
        public int Count => sources.Length;
        public IReadOnlyList<string> Classes => classes;
        public int GetLabel(int index) => labels[index];
        public RgbImage GetImage(int index) => throw new InvalidOperationException("not decoded in these tests");
        public string GetSource(int index) => sources[index];
    }
}
