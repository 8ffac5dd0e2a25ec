using System.Text.Json;
using Deft.Cli.Binding;
using Deft.Cli.Commands;
using Deft.Data;
using Deft.Noise;
using Spectre.Console;
using static Deft.Tests.Noise.NoiseTestData;

namespace Deft.Tests.Noise;

public class NoiseCommandTests
{
    private static readonly string[] Classes = Enumerable.Range(0, 10).Select(c => $"class{c}").ToArray();

    private static (int Exit, string Console, string Json, DatasetOptions? Opened) Run(NoiseCommand.Settings settings, IImageDataset dataset)
    {
        var consoleText = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Out = new AnsiConsoleOutput(consoleText),
        });
        console.Profile.Width = 200;
        var json = new StringWriter();
        DatasetOptions? opened = null;
        var exit = NoiseCommand.Run(settings, console, json, o => { opened = o; return dataset; });
        return (exit, consoleText.ToString(), json.ToString(), opened);
    }

    [Fact]
    public void Writes_the_label_file_and_prints_requested_and_realized_rates_with_the_matrix()
    {
        var truth = UniformLabels(5000, 10);
        var dataset = new FakeDataset(truth, Classes);
        var outPath = TempPath("cli-sym.csv");
        var (exit, text, _, opened) = Run(new NoiseCommand.Settings
        {
            Data = "/data/somewhere", Format = "fake", Split = "test", Mode = NoiseMode.Sym, Ratio = 0.4, Seed = 17, Out = outPath,
        }, dataset);

        Assert.Equal(0, exit);
        Assert.Equal(new DatasetOptions("/data/somewhere", "fake", "test"), opened);
        var expected = LabelNoise.Symmetric(truth, 10, 0.4, 17);
        var rows = LabelFile.Read(outPath, 5000, 10);
        Assert.Equal(expected.Labels, rows.Select(r => r.Label));
        Assert.Contains("requested ratio R", text);
        Assert.Contains("0.4000", text);
        Assert.Contains($"{expected.RealizedRate:0.0000}", text);
        Assert.Contains("2000 (round(R·N))", text);
        Assert.Contains("0.3600 = R·(C−1)/C", text);
        Assert.Contains("T[true, given]", text);
        Assert.Contains("9 class9", text);
        Assert.Contains($"{expected.Transition[3][3]:0.00}", text);
    }

    [Fact]
    public void Json_report_carries_rates_and_the_transition_matrix()
    {
        var truth = UniformLabels(3000, 10);
        var outPath = TempPath("cli-asym.csv");
        var (exit, _, json, _) = Run(new NoiseCommand.Settings
        {
            Data = "d", Format = "fake", Mode = NoiseMode.Asym, Ratio = 0.3, Out = outPath, Json = true,
        }, new FakeDataset(truth, Classes));

        Assert.Equal(0, exit);
        using var doc = JsonDocument.Parse(json);
        var root = doc.RootElement;
        Assert.Equal("asym", root.GetProperty("mode").GetString());
        Assert.Equal(0.3, root.GetProperty("requested_ratio").GetDouble());
        Assert.Equal(1UL, root.GetProperty("seed").GetUInt64());
        Assert.Equal(900, root.GetProperty("chosen").GetInt32());
        Assert.Equal(0.3, root.GetProperty("realized_rate").GetDouble(), 12);
        var transition = root.GetProperty("transition");
        Assert.Equal(10, transition.GetArrayLength());
        Assert.Equal(1.0, transition[4].EnumerateArray().Sum(v => v.GetDouble()), 12);
        Assert.True(File.Exists(outPath));
    }

    [Fact]
    public void File_mode_reads_labels_and_reports_their_noise()
    {
        var truth = new[] { 0, 1, 2, 3, 4, 5 };
        var labelsPath = TempPath("human.txt");
        Directory.CreateDirectory(Path.GetDirectoryName(labelsPath)!);
        File.WriteAllText(labelsPath, "class0\n2\n2\nclass9\n4\n5\n");
        var outPath = TempPath("cli-file.csv");
        var (exit, text, _, _) = Run(new NoiseCommand.Settings
        {
            Data = "d", Format = "fake", Mode = NoiseMode.File, LabelsFile = labelsPath, Out = outPath,
        }, new FakeDataset(truth, Classes));

        Assert.Equal(0, exit);
        Assert.Equal([0, 2, 2, 9, 4, 5], LabelFile.Read(outPath, 6, 10).Select(r => r.Label));
        Assert.Contains("0.3333", text); // 2 of 6 changed
        Assert.DoesNotContain("requested ratio", text);
    }

    [Fact]
    public void Dataset_noise_starts_from_the_clean_label_where_the_data_set_has_one()
    {
        var stored = new[] { 1, 1, 1, 1 };
        var clean = new int?[] { 0, null, 2, 3 };
        var noisy = LabelNoise.Apply(new FakeDataset(stored, ["a", "b", "c", "d"], cleanLabels: clean), new NoiseOptions(NoiseMode.Sym, 0, 1));
        Assert.Equal([0, 1, 2, 3], noisy.TrueLabels);
    }

    [Theory]
    [InlineData("sym", null, null, "--mode sym needs --ratio")]
    [InlineData("sym", 1.5, null, "[0, 1]")]
    [InlineData("file", null, null, "--mode file needs --labels-file")]
    [InlineData("idn", 0.2, "x.csv", "--labels-file is only used with --mode file")]
    public void Bad_options_fail_with_a_message_saying_what_to_do(string mode, double? ratio, string? labelsFile, string message)
    {
        var error = Assert.Throws<DeftException>(() => Run(new NoiseCommand.Settings
        {
            Data = "d", Format = "fake", Mode = KebabCaseEnumConverter<NoiseMode>.Parse(mode), Ratio = ratio, LabelsFile = labelsFile, Out = TempPath("never.csv"),
        }, new FakeDataset([0, 1], Classes)));
        Assert.Contains(message, error.Message);
    }

    [Fact]
    public void Missing_required_options_are_named()
    {
        var dataset = new FakeDataset([0, 1], Classes);
        Assert.Contains("--data", Assert.Throws<DeftException>(() => Run(new NoiseCommand.Settings { Format = "f", Mode = NoiseMode.Sym, Ratio = 0.1, Out = "o" }, dataset)).Message);
        Assert.Contains("--format", Assert.Throws<DeftException>(() => Run(new NoiseCommand.Settings { Data = "d", Mode = NoiseMode.Sym, Ratio = 0.1, Out = "o" }, dataset)).Message);
        Assert.Contains("--out", Assert.Throws<DeftException>(() => Run(new NoiseCommand.Settings { Data = "d", Format = "f", Mode = NoiseMode.Sym, Ratio = 0.1 }, dataset)).Message);
        Assert.Contains("--mode", Assert.Throws<DeftException>(() => Run(new NoiseCommand.Settings { Data = "d", Format = "f", Ratio = 0.1, Out = "o" }, dataset)).Message);
    }

    [Fact]
    public void Many_classes_print_the_largest_flips_instead_of_the_full_matrix()
    {
        var classes = Enumerable.Range(0, 100).Select(c => $"c{c}").ToArray();
        var truth = UniformLabels(5000, 100);
        var (exit, text, _, _) = Run(new NoiseCommand.Settings
        {
            Data = "d", Format = "fake", Mode = NoiseMode.Pairflip, Ratio = 0.3, Out = TempPath("cli-100.csv"),
        }, new FakeDataset(truth, classes));
        Assert.Equal(0, exit);
        Assert.Contains("100 classes: the 20 largest off-diagonal entries", text);
        Assert.Contains("1 c1", text);
    }
}
