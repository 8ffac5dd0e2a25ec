using System.Text.Json;
using Deft.Cli;

namespace Deft.Tests.Cli;

public class ProgressRunnerTests
{
    [Fact]
    public void Reports_arrive_on_the_reporting_thread_in_order()
    {
        var seen = new List<(int Value, int Thread)>();
        var progress = ProgressRunner.Report<int>(v => seen.Add((v, Environment.CurrentManagedThreadId)));
        for (var i = 0; i < 100; i++) progress.Report(i);
        Assert.Equal(Enumerable.Range(0, 100), seen.Select(s => s.Value));
        Assert.All(seen, s => Assert.Equal(Environment.CurrentManagedThreadId, s.Thread));
    }

    [Fact]
    public void Json_mode_prints_one_line_per_report_and_returns_the_result()
    {
        var stdout = Console.Out;
        var writer = new StringWriter();
        string result;
        try
        {
            Console.SetOut(writer);
            result = ProgressRunner.Run<(int Epoch, int Step), string>(json: true, "train", (progress, ct) =>
                {
                    progress.Report((1, 1));
                    progress.Report((1, 2));
                    progress.Report((2, 1));
                    return "done";
                }, p => (p.Epoch, 2, p.Step, 2, $"loss {p.Step}"), CancellationToken.None);
        }
        finally
        {
            Console.SetOut(stdout);
        }
        Assert.Equal("done", result);
        var lines = writer.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(3, lines.Count);
        Assert.Equal([(1, 1), (1, 2), (2, 1)], lines.Select(l => (l.GetProperty("epoch").GetInt32(), l.GetProperty("step").GetInt32())));
        Assert.All(lines, l => Assert.Equal("train", l.GetProperty("task").GetString()));
        Assert.Equal("loss 2", lines[1].GetProperty("status").GetString());
    }
}
