using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Deft.Adaptation;
using Deft.Benchmarks;
using Deft.Detection;
using Deft.Peft;
using Deft.Pretraining;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Deft.Cli.Commands;

[CliCommand("bench mini", "The Fashion-MNIST mini benchmark: DeFT (VPT-deep and cached features) and the baselines per noise setting; writes docs/results/mini.md and .json.",
    Examples = ["bench mini", "bench mini --settings sym-0.4 --samples 10000 --methods deft,deft-cached,label-match"])]
internal sealed class BenchMiniCommand : Command<BenchMiniCommand.Settings>
{
    /// <summary>Method names of the benchmark: DeFT twice (adapted tower, cached features) and the baselines.</summary>
    public static readonly string[] AllMethods = ["deft", "deft-cached", "label-match", "small-loss", "gmm", "confident-learning"];

    internal sealed class Settings : CommandSettings
    {
        [CommandOption("--settings <LIST>")] [Description("Comma-separated noise settings (default: sym-0.2,sym-0.4,sym-0.6,asym-0.4,idn-0.4).")] public string? NoiseSettings { get; init; }
        [CommandOption("--methods <LIST>")] [Description("Comma-separated: deft, deft-cached, label-match, small-loss, gmm, confident-learning (default: all).")] public string? Methods { get; init; }
        [CommandOption("--samples <N>")] [Description("Downstream images per setting (default: all 40,000).")] public int? Samples { get; init; }
        [CommandOption("--epochs <N>")] [DefaultValue(5)] public int Epochs { get; init; } = 5;
        [CommandOption("--no-adapt")] [Description("Skip phase 2 (test accuracy).")] public bool NoAdapt { get; init; }
        [CommandOption("--work <DIR>")] [DefaultValue("runs/bench-mini")] public string Work { get; init; } = "runs/bench-mini";
        [CommandOption("--out <FILE>")] [Description("Markdown table; a .json beside it.")] [DefaultValue("docs/results/mini.md")] public string Out { get; init; } = "docs/results/mini.md";
        [CommandOption("--data <DIR>")] public string? Data { get; init; }
        [CommandOption("--cache <DIR>")] public string? Cache { get; init; }
        [CommandOption("--threads <N>")] [Description("Intra-op threads (default 1: the tiny model's ops gain nothing from a second thread while the loader needs a core).")] [DefaultValue(1)] public int Threads { get; init; } = 1;
    }

    public sealed record Row(string Setting, string Method, double? Precision, double? Recall, double? F1, double? Auroc,
        double? EstimatedNoiseRate, double? TestAccuracy, double DetectSeconds, double? AdaptSeconds);

    public override int Execute(CommandContext context, Settings s, CancellationToken cancellationToken)
    {
        TorchSharp.torch.set_num_threads(s.Threads);
        var watch = Stopwatch.StartNew();
        var settings = (s.NoiseSettings?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(MiniSetting.Parse).ToList()
            ?? [.. MiniSetting.All]);
        var methods = s.Methods?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList() ?? [.. AllMethods];
        foreach (var m in methods)
            if (!AllMethods.Contains(m)) throw new DeftException($"Unknown method '{m}'. Valid: {string.Join(", ", AllMethods)}.");
        var ws = MiniWorkspace.Open(s.Data, s.Cache);
        var (model, _) = ProgressRunner.Run<PretrainProgress, (string, bool)>(false, "pretrain",
            (p, ct) => ws.EnsurePretrainedModel(MiniProtocol.PretrainDefaults, p, ct),
            p => (p.Epoch, p.Epochs, p.Step, p.StepsPerEpoch, $"loss {p.Loss:0.000}"), cancellationToken);
        var classes = MiniRuns.WriteClassNames(s.Work);
        var downstream = ws.Downstream(s.Samples);
        var rows = new List<Row>();
        foreach (var setting in settings)
        {
            var dir = Path.Combine(s.Work, setting.Name);
            var labels = Path.Combine(dir, "labels.csv");
            Directory.CreateDirectory(dir);
            var noisy = ws.WriteNoisyLabels(setting, downstream, 0, labels);
            AnsiConsole.MarkupLineInterpolated($"[bold]{setting.Name}[/]: realized noise {noisy.RealizedRate:P1} on {downstream.Count:N0} images");
            foreach (var method in methods)
            {
                var (kind, peft) = method switch
                {
                    "deft" => (DetectionMethod.Deft, PeftKind.VptDeep),
                    "deft-cached" => (DetectionMethod.Deft, PeftKind.None),
                    // The training baselines run on cached features (the fast path): their classifier is the text side.
                    _ => (DetectionMethods.Parse(method), PeftKind.None),
                };
                var options = MiniRuns.Detect(ws, model, labels, classes, Path.Combine(dir, method), kind, peft, noisy.RealizedRate, s.Epochs);
                var report = ProgressRunner.Run<DetectProgress, DetectionReport>(false, $"{setting.Name} {method}",
                    (p, ct) => DeftDetector.Detect(options, p, null, ct),
                    p => (Math.Max(1, p.Epoch), Math.Max(1, p.Epochs), p.Step, Math.Max(1, p.Steps), DetectCommand.Describe(p)), cancellationToken);
                var q = report.Summary.Quality;
                double? accuracy = null, adaptSeconds = null;
                if (!s.NoAdapt && method == "deft")
                    (accuracy, adaptSeconds) = Adapt(ws, MiniRuns.Adapt(model, Path.Combine(dir, method, "adapt"), Path.Combine(dir, method, DetectionOutputs.SamplesFile), null, s.Epochs), cancellationToken);
                rows.Add(new Row(setting.Name, method, q?.Precision, q?.Recall, q?.F1, q?.Auroc, report.Summary.EstimatedNoiseRate, accuracy,
                    report.Summary.TimingsSeconds.GetValueOrDefault("total_seconds"), adaptSeconds));
            }
            if (!s.NoAdapt)
            {
                var (acc, secs) = Adapt(ws, MiniRuns.Adapt(model, Path.Combine(dir, "ce-all-noisy"), null, labels, s.Epochs), cancellationToken);
                rows.Add(new Row(setting.Name, "ce-on-all-noisy (phase 2 only)", null, null, null, null, null, acc, 0, secs));
            }
            Write(s.Out, rows, downstream.Count, s.Epochs, watch.Elapsed); // after every setting: a stopped run keeps what it finished
        }
        AnsiConsole.MarkupLineInterpolated($"wrote {s.Out} ({watch.Elapsed.TotalMinutes:0.0} min)");
        return 0;
    }

    private static (double?, double?) Adapt(MiniWorkspace ws, AdaptOptions options, CancellationToken ct)
    {
        var result = ProgressRunner.Run<AdaptProgress, AdaptResult>(false, "adapt",
            (p, c) => Adapter.Train(options, ws.Train, ws.Test, p, c),
            p => (p.Epoch, p.Epochs, p.Step, Math.Max(1, p.Steps), p.Phase == "test" ? "testing" : $"loss {p.Loss:0.000}"), ct);
        return (result.LastTestAccuracy, result.Elapsed.TotalSeconds);
    }

    private static void Write(string path, IReadOnlyList<Row> rows, int samples, int epochs, TimeSpan elapsed)
    {
        static string F(double? v) => v is { } x ? x.ToString("0.000", CultureInfo.InvariantCulture) : "—";
        var md = new StringBuilder();
        md.AppendLine("# Mini benchmark: Fashion-MNIST (generated by `./deft bench mini`)");
        md.AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture, $"Tiny CLIP pre-trained on the 20,000 captioned auxiliary images; detection on {samples:N0} downstream images, {epochs} epochs; phase 2 tested on the 10,000 test images. Machine: {Environment.ProcessorCount} cores, {TorchSharp.torch.get_num_threads()} intra-op thread(s). Total {elapsed.TotalMinutes:0.0} min.");
        md.AppendLine();
        md.AppendLine("| setting | method | precision | recall | F1 | AUROC | est. noise | test acc. | detect s | adapt s |");
        md.AppendLine("|---|---|---|---|---|---|---|---|---|---|");
        foreach (var r in rows)
            md.AppendLine(CultureInfo.InvariantCulture,
                $"| {r.Setting} | {r.Method} | {F(r.Precision)} | {F(r.Recall)} | {F(r.F1)} | {F(r.Auroc)} | {F(r.EstimatedNoiseRate)} | {(r.TestAccuracy is { } a ? a.ToString("P2", CultureInfo.InvariantCulture) : "—")} | {r.DetectSeconds:0} | {(r.AdaptSeconds is { } t ? t.ToString("0", CultureInfo.InvariantCulture) : "—")} |");
        IO.AtomicFile.WriteAllText(path, md.ToString());
        IO.AtomicFile.WriteAllText(Path.ChangeExtension(path, ".json"), JsonSerializer.Serialize(new { samples, epochs, rows }, new JsonSerializerOptions
        {
            WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
            NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
        }));
    }
}
