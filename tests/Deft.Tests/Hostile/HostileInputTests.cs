using System.Text;
using Deft.Cli;
using Deft.Data;
using Deft.Noise;
using Deft.Tests.Data;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Deft.Tests.Hostile;

/// <summary>The probe's cases that are easier to build in code: CLI entry, image limit, symlinks, huge fields.</summary>
public sealed class HostileInputTests : IDisposable
{
    private readonly TempDir _dir = new("deft-hostile-input");

    public void Dispose() => _dir.Dispose();

    private static (int Code, string Output) Cli(params string[] args)
    {
        var writer = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(writer), ColorSystem = ColorSystemSupport.NoColors, Interactive = InteractionSupport.No });
        console.Profile.Width = 100_000;
        var code = CliEntry.Run(args, console, c => c.AddCommand<ThrowingCommand>("hostile-throw"));
        return (code, writer.ToString());
    }

    private sealed class ThrowingCommand : Command<ThrowingCommand.Settings>
    {
        public sealed class Settings : CommandSettings;

        public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken) =>
            throw new InvalidCastException("a bug deep inside\nsecond line");
    }

    [Fact]
    public void Unexpected_exception_is_one_error_line_with_a_verbose_hint()
    {
        var (code, output) = Cli("hostile-throw");
        Assert.Equal(70, code);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith("error: unexpected InvalidCastException: a bug deep inside", lines[0]);
        Assert.Contains("--verbose", lines[0]);

        (code, output) = Cli("hostile-throw", "--verbose");
        Assert.Equal(70, code);
        Assert.Contains("at Deft.Tests.Hostile.HostileInputTests.ThrowingCommand.Execute", output);
    }

    [Fact]
    public void Verbose_is_accepted_by_strict_parsing_anywhere_on_the_line()
    {
        var (code, output) = Cli("--verbose", "data", "info", "--data", _dir.File("nope"), "--format", "folder");
        Assert.Equal(1, code);
        Assert.Contains("error: Data directory not found", output);
        Assert.DoesNotContain("Unknown option", output);
    }

    [Theory]
    [InlineData("zero-shot", "--model", "--data", "x", "--format", "folder")]
    [InlineData("zero-shot", "--data", "x", "--format", "folder", "--model")]
    public void Model_without_a_value_says_so(params string[] args)
    {
        var (code, output) = Cli(args);
        Assert.Equal(2, code);
        Assert.Contains("--model needs a value", output);
        Assert.DoesNotContain("__default_command", output);
    }

    [Fact]
    public void Image_size_limit_is_checked_before_decoding_and_set_by_the_flag()
    {
        var png = TestImages.SkiaEncode(TestImages.Pattern(8, 8), SkiaSharp.SKEncodedImageFormat.Png);
        Assert.Equal(8, ImageDecoder.Decode(png, "small.png").Width);
        try
        {
            var (code, output) = Cli("--max-image-pixels", "63", "data", "info", "--data", _dir.File("nope"), "--format", "folder");
            Assert.Equal(1, code);
            Assert.Contains("Data directory not found", output);
            Assert.Equal(63, ImageDecoder.MaxPixels);
            var ex = Assert.Throws<DeftException>(() => ImageDecoder.Decode(png, "small.png"));
            Assert.Contains("too large (8×8 = 64 pixels > limit 63)", ex.Message);
            Assert.Contains("--max-image-pixels", Deft.Cli.FlagNames.Render(ex));

            (code, output) = Cli("--max-image-pixels", "lots", "data", "info");
            Assert.Equal(2, code);
            Assert.Contains("--max-image-pixels 'lots' is not a positive whole number", output);
        }
        finally
        {
            ImageDecoder.MaxPixels = ImageDecoder.DefaultMaxPixels;
        }
        // A 20000² header fails at once, without allocating 1.6 GB first.
        var before = GC.GetTotalAllocatedBytes(precise: true);
        var big = Assert.Throws<DeftException>(() => ImageDecoder.Decode(HostileFiles.PngHeader(20000, 20000), "bomb.png"));
        Assert.Contains("too large (20000×20000", big.Message);
        Assert.True(GC.GetTotalAllocatedBytes(precise: true) - before < 50_000_000);
    }

    [Fact]
    public void Symlink_loop_in_a_folder_dataset_is_not_followed()
    {
        var png = TestImages.SkiaEncode(TestImages.Pattern(4, 4), SkiaSharp.SKEncodedImageFormat.Png);
        for (var c = 0; c < 2; c++)
            for (var i = 0; i < 3; i++)
                _dir.Write($"data/class{c}/img{i}.png", png);
        Directory.CreateSymbolicLink(_dir.File("data/class0/loop"), _dir.File("data/class0"));
        Directory.CreateSymbolicLink(_dir.File("data/class1/up"), _dir.File("data"));
        var dataset = DatasetFactory.Open(new DatasetOptions(_dir.File("data"), "folder", "train"));
        // class0: its 3 images once; class1: its own 3, plus class0's 3 reached once through "up" (no loop back).
        Assert.Equal(3, Enumerable.Range(0, dataset.Count).Count(i => dataset.GetLabel(i) == 0));
        Assert.True(dataset.Count <= 9, $"{dataset.Count} samples from 6 images");
    }

    [Fact]
    public void Five_megabyte_field_is_not_echoed_in_full()
    {
        var huge = new string('x', 5_000_000);
        var labels = _dir.WriteText("labels.csv", $"index,label\n0,{huge}\n");
        var ex = Assert.Throws<DeftException>(() => LabelFile.Read(labels, 10, 3));
        Assert.True(ex.Message.Length < 1000, $"{ex.Message.Length} characters");
        Assert.Contains("5000000 characters", ex.Message);

        var manifest = _dir.WriteText("m.csv", $"path,label\na.png,{huge}\nb.png,1\n");
        ex = Assert.Throws<DeftException>(() => ManifestDataset.Open(manifest, null, tolerateMissingFiles: true));
        Assert.True(ex.Message.Length < 1000, $"{ex.Message.Length} characters");

        var (_, output) = Cli("data", "info", "--data", _dir.File("nope" + huge), "--format", "folder");
        Assert.True(output.Length < 10_000, $"{output.Length} characters printed");
    }

    [Fact]
    public void Class_list_with_nul_or_invalid_utf8_is_refused()
    {
        var list = _dir.Write("classes.txt", Encoding.UTF8.GetBytes("cat\ndo\0g\n"));
        var ex = Assert.Throws<DeftException>(() => DatasetFactory.ReadClassesFile(list));
        Assert.Contains("line 2", ex.Message);
        Assert.Contains("U+0000", ex.Message);
        _dir.Write("classes.txt", [.. "cat\n"u8, 0xC3, 0x28, (byte)'\n']);
        ex = Assert.Throws<DeftException>(() => DatasetFactory.ReadClassesFile(list));
        Assert.Contains("line 2: not valid UTF-8", ex.Message);
    }

    [Fact]
    public void Manifest_listing_one_image_twice_names_both_lines()
    {
        var manifest = _dir.WriteText("m.csv", "a.png,0\nb.png,1\n./a.png,1\n");
        var ex = Assert.Throws<DeftException>(() => ManifestDataset.Open(manifest, null, tolerateMissingFiles: true));
        Assert.Contains("listed twice (lines 1 and 3)", ex.Message);
        Assert.Contains(manifest, ex.Message);
    }
}
