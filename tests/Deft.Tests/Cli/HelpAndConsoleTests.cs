using System.Text.RegularExpressions;
using Deft.Cli;
using Deft.Cli.Binding;
using Deft.Cli.Commands;
using Deft.Cli.Help;
using Deft.Clip;
using Deft.Data;
using Deft.Detection;
using Spectre.Console;

namespace Deft.Tests.Cli;

/// <summary>Issue #17 item 4: grouped help with valid values, the --device message, unbroken redirected output, labelled progress.</summary>
public class HelpAndConsoleTests
{
    private static string Help(params string[] command)
    {
        var (code, output) = CliConsole.Run([.. command, "--help"]);
        Assert.Equal(0, code);
        return Regex.Replace(output, @"\x1b\[[0-9;]*m", ""); // Spectre writes bold even without colours
    }

    [Fact]
    public void Detect_help_lists_its_options_in_groups_in_order()
    {
        var help = Help("detect");
        var options = help[help.IndexOf("OPTIONS:", StringComparison.Ordinal)..];
        string[] groups = [OptionGroups.Data, OptionGroups.Model, OptionGroups.Method, OptionGroups.Issues, OptionGroups.Peft, OptionGroups.Prompts, OptionGroups.Training, OptionGroups.Output];
        var at = groups.Select(g => Regex.Match(options, $@"^    {Regex.Escape(g)}:\s*$", RegexOptions.Multiline).Index).ToArray();
        Assert.All(at, i => Assert.True(i > 0));
        Assert.Equal(at.Order(), at);
        // Each option sits under its group: --vpt-len between the PEFT and Prompts headings, --format under Data.
        var vpt = options.IndexOf("--vpt-len", StringComparison.Ordinal);
        Assert.InRange(vpt, at[4], at[5]);
        Assert.InRange(options.IndexOf("--format", StringComparison.Ordinal), at[0], at[1]);
        Assert.InRange(options.IndexOf("--method <", StringComparison.Ordinal), at[2], at[3]);
    }

    [Fact]
    public void Every_enum_option_of_every_command_lists_all_its_values_in_help()
    {
        var missing = new List<string>();
        foreach (var entry in CommandRegistry.Commands.Entries)
        {
            var help = Help(entry.Path.Split(' '));
            var settings = CliEntry.SettingsType(entry.CommandType)!;
            foreach (var property in settings.GetProperties())
            {
                if (property.GetCustomAttributes(typeof(Spectre.Console.Cli.CommandOptionAttribute), true).FirstOrDefault() is not Spectre.Console.Cli.CommandOptionAttribute { IsHidden: false } option) continue;
                var flag = option.LongNames[0];
                if (OptionGroups.ValuesOf(flag, property) is not { } values) continue;
                var line = OptionLine(help, flag);
                foreach (var v in values)
                    if (!Regex.IsMatch(line, $@"(?<![\w-]){Regex.Escape(v)}(?![\w-])", RegexOptions.IgnoreCase)) missing.Add($"{entry.Path} --{flag}: {v}");
            }
        }
        Assert.True(missing.Count == 0, "values missing from help: " + string.Join("; ", missing));
    }

    [Fact]
    public void Format_help_lists_every_format_the_error_lists()
    {
        var line = OptionLine(Help("detect"), "format");
        Assert.All(DatasetFactory.Formats, f => Assert.Matches($@"(?<![\w-]){Regex.Escape(f)}(?![\w-])", line));
        var filter = OptionLine(Help("detect"), "filter-by");
        Assert.All(KebabCaseEnumConverter<IssueFilterRule>.Names, n => Assert.Contains(n, filter));
    }

    [Fact]
    public void Top_level_help_shows_the_main_flow()
    {
        var (code, help) = CliConsole.Run("--help");
        Assert.Equal(0, code);
        var examples = help[help.IndexOf("EXAMPLES:", StringComparison.Ordinal)..];
        var order = new[] { "deft data info ", "deft detect ", "deft adapt ", "deft predict " }.Select(e => examples.IndexOf(e, StringComparison.Ordinal)).ToArray();
        Assert.All(order, i => Assert.True(i >= 0));
        Assert.Equal(order.Order(), order);
    }

    /// <summary>The option's row and its wrapped continuation lines, up to the next option or group.</summary>
    private static string OptionLine(string help, string flag)
    {
        var lines = help.Split('\n');
        var start = Array.FindIndex(lines, l => Regex.IsMatch(l, $@"^\s+--{Regex.Escape(flag)}\b"));
        Assert.True(start >= 0, $"--{flag} not in help");
        var text = lines[start];
        for (var i = start + 1; i < lines.Length && !Regex.IsMatch(lines[i], @"^\s+(--|-\w,|\S+:\s*$)") && lines[i].Trim().Length > 0; i++) text += " " + lines[i].Trim();
        return text;
    }

    [Fact]
    public void Device_is_offered_only_where_a_gpu_path_exists_and_cuda_gets_a_clear_answer()
    {
        Assert.Contains("--device <DEVICE>", Help("zero-shot"));
        Assert.Contains("--device <DEVICE>", Help("embed"));
        Assert.DoesNotContain("--device", Help("detect"));
        Assert.DoesNotContain("--device", Help("run"));
        Assert.DoesNotContain("cuda", Help("detect"));

        // Without CUDA (this build), the commands that have a GPU path say the build is CPU-only.
        var cpuOnly = DeviceOption.Validate("cuda:1", cudaAvailable: () => false);
        Assert.False(cpuOnly.Successful);
        Assert.Contains("this build of Deft is CPU-only", cpuOnly.Message);
        Assert.True(DeviceOption.Validate("cuda:1", cudaAvailable: () => true).Successful);
        Assert.True(DeviceOption.Validate(" CPU ", cudaAvailable: () => false).Successful);
        Assert.Contains("not a device", DeviceOption.Validate("gpu", cudaAvailable: () => true).Message);

        // detect keeps a hidden --device for old command lines: cpu runs, cuda is refused with the reason, in any build.
        var (code, output) = CliConsole.Run("detect", "--model", "random:tiny", "--data", "d", "--format", "idx", "--out", "o", "--device", "cuda");
        Assert.Equal(2, code);
        Assert.Contains("detect computes on the CPU in every build", output);
        if (!DeviceOption.CudaAvailable())
        {
            (code, output) = CliConsole.Run("zero-shot", "--model", "random:tiny", "--data", "d", "--format", "idx", "--device", "cuda");
            Assert.Equal(2, code);
            Assert.Contains("--device cuda: this build of Deft is CPU-only", output);
            // The library says the same to a C# caller instead of failing at the first tensor.
            var error = Assert.Throws<DeftException>(() => ClipBundle.Load("random:tiny", null, new ClipLoadOptions { Device = "cuda" }));
            Assert.Contains("CPU-only", error.Message);
            Assert.Equal("--device", FlagNames.Of(error.References[0].Setting));
        }
    }

    [Fact]
    public void Redirected_output_keeps_table_rows_and_long_paths_on_one_line()
    {
        var path = "/data/" + string.Join("/", Enumerable.Range(0, 12).Select(i => $"folder-{i:00}")) + "/a-rather-long-image-name.png";
        Assert.True(path.Length > 150);
        string Render(bool configure)
        {
            var writer = new StringWriter();
            // What Spectre builds for a pipe: no terminal, so 80 columns unless told otherwise.
            var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(writer), ColorSystem = ColorSystemSupport.NoColors, Interactive = InteractionSupport.No });
            console.Profile.Width = 80;
            if (configure) ConsoleLayout.Configure(console, outputRedirected: true);
            console.Write(new Table().AddColumns("index", "given", "label quality", "source").AddRow("12", "cat", "0.0123", Markup.Escape(path)));
            return writer.ToString();
        }
        var lines = Render(configure: true).Split('\n');
        var row = Assert.Single(lines, l => l.Contains(path, StringComparison.Ordinal));
        Assert.Contains("0.0123", row);
        // The control: at Spectre's 80 columns the same table breaks the path (so the configuration is what keeps it whole).
        Assert.DoesNotContain(Render(configure: false).Split('\n'), l => l.Contains(path, StringComparison.Ordinal));
    }

    [Fact]
    public void A_finished_bar_stops_its_clock_and_says_how_long_it_took()
    {
        var id = 0;
        var bars = new ProgressRunner.BarSet((d, start, max) => new ProgressTask(id++, d, max, start));
        var epoch1 = bars.Update(new ProgressBar(("train", 1), 5, 10, "train epoch 1/2", ImagesPerUnit: 64, UnitsAfter: 10));
        Assert.Null(epoch1.StopTime);
        Assert.StartsWith("elapsed ", ProgressRunner.Times(epoch1));
        var epoch2 = bars.Update(new ProgressBar(("train", 2), 1, 10, "train epoch 2/2", ImagesPerUnit: 64));
        // A new bar stops the one before it even short of its maximum; one that reaches its maximum stops at once.
        Assert.NotNull(epoch1.StopTime);
        var frozen = epoch1.ElapsedTime;
        Thread.Sleep(20);
        Assert.Equal(frozen, epoch1.ElapsedTime);
        Assert.StartsWith("took ", ProgressRunner.Times(epoch1));
        bars.Update(new ProgressBar(("train", 2), 10, 10, "train epoch 2/2", ImagesPerUnit: 64));
        Assert.NotNull(epoch2.StopTime);
    }

    [Fact]
    public void Plain_progress_lines_label_their_times_and_rate_and_one_epoch_work_names_no_epoch()
    {
        var predict = ProgressRunner.PlainLine("predict", (1, 1, 5, 10, "step 5/10"), TimeSpan.FromSeconds(10), imagesPerStep: 64);
        Assert.Equal("predict: step 5/10 · elapsed 0:10 · ETA 0:10 · 32.0 img/s", predict);
        var adapt = ProgressRunner.PlainLine("adapt", (2, 4, 5, 10, "loss 0.5"), TimeSpan.FromSeconds(15), imagesPerStep: 0);
        Assert.Equal("adapt: epoch 2/4 step 5/10 loss 0.5 · elapsed 0:15 · ETA 0:25", adapt);
        var train = ProgressRunner.PlainPhaseLine(new ProgressBar(("train", 1), 25, 100, "train epoch 1/3 step 25/100", 64, UnitsAfter: 200), TimeSpan.FromSeconds(5));
        Assert.Equal("train epoch 1/3 step 25/100 · 25% · elapsed 0:05 · ETA 0:15 · all ETA 0:55 · 320 img/s", train);
        var done = ProgressRunner.PlainPhaseLine(new ProgressBar("encode", 2000, 2000, "encode images 2,000/2,000", 1), TimeSpan.FromSeconds(4));
        Assert.Equal("encode images 2,000/2,000 · 100% · took 0:04 · 500 img/s", done);
        Assert.Equal("encode images 512/2,000", DetectCommand.Describe(new DetectProgress(Deft.Methods.DetectionRun.EncodePhase, 0, 0, 512, 2000, double.NaN, double.NaN, null, null, 0)));
    }
}
