using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Deft.Adaptation;
using Deft.Benchmarks;
using Deft.Detection;
using Deft.Methods;
using Deft.Peft;
using Deft.Pretraining;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Deft.Cli.Commands;

internal sealed class BenchMiniCommand : Command<BenchMiniCommand.Settings>
{
    /// <summary>
    /// Method names of the benchmark: DeFT three times (VPT-deep with the official last-epoch selection, VPT-deep with
    /// the selection of a deterministic pass after training, frozen cached features) and the baselines.
    /// </summary>
    public static readonly string[] AllMethods = ["deft", "deft-eval", "deft-cached", "clip-posterior", "label-match", "small-loss", "gmm", "confident-learning"];

    internal sealed class Settings : CommandSettings
    {
        [CommandOption("--settings <LIST>")] [Description("Comma-separated noise settings (default: sym-0.2,sym-0.4,sym-0.6,asym-0.4,idn-0.4).")] public string? NoiseSettings { get; init; }
        [CommandOption("--methods <LIST>")] [Description("Comma-separated: deft (VPT-deep, last-epoch selection), deft-eval (VPT-deep, selection by an unaugmented pass), deft-cached, clip-posterior (the detect default), label-match, small-loss, gmm, confident-learning (default: all).")] public string? Methods { get; init; }
        [CommandOption("--samples <N>")] [Description("Downstream images per setting (default: all 40,000).")] public int? Samples { get; init; }
        [CommandOption("--seeds <LIST>")] [Description("Comma-separated seeds; each draws its own noise and seeds every method (default: 0). With several, the table shows mean ± sd over seeds.")] [DefaultValue("0")] public string Seeds { get; init; } = "0";
        [CommandOption("--epochs <N>")] [Description(TrainingOptionTexts.Epochs)] [DefaultValue(5)] public int Epochs { get; init; } = 5;
        [CommandOption("--no-adapt")] [Description("Skip phase 2 (test accuracy).")] public bool NoAdapt { get; init; }
        [CommandOption("--adapt <LIST>")] [Description("Methods whose selection is fine-tuned on in phase 2 (default: deft,deft-eval,deft-cached; CE on all noisy labels always runs).")] public string? AdaptMethods { get; init; }
        [CommandOption("--resume")] [Description("Keep the rows an earlier run with the same --samples and --epochs wrote to --out's .json; run only the missing methods.")] public bool Resume { get; init; }
        [CommandOption("--work <DIR>")] [Description("The benchmark's working folder (its models, labels and runs).")] [DefaultValue("runs/bench-mini")] public string Work { get; init; } = "runs/bench-mini";
        [CommandOption("--out <FILE>")] [Description("Markdown table; a .json beside it.")] [DefaultValue("docs/results/mini.md")] public string Out { get; init; } = "docs/results/mini.md";
        [CommandOption("--data <DIR>")] [Description("Fashion-MNIST (default: Debian's dataset-fashion-mnist).")] public string? Data { get; init; }
        [CommandOption("--cache-dir <DIR>")] [Description("Where the pre-trained model is kept (default: $DEFT_CACHE_DIR or ~/.cache/deft).")] public string? Cache { get; init; }
        [CommandOption("--threads <N>")] [Description("Intra-op threads (default 1: the tiny model's ops gain nothing from a second thread while the loader needs a core).")] [DefaultValue(1)] public int Threads { get; init; } = 1;
    }

    public sealed record Row(string Setting, string Method, double? Precision, double? Recall, double? F1, double? Auroc,
        double? EstimatedNoiseRate, double? TestAccuracy, double DetectSeconds, double? AdaptSeconds, long Seed = 0,
        // The zero-shot accuracy of phase 2's starting model (text head) on the test set: the bar its row has to clear.
        double? ZeroShotAccuracy = null);

    public override int Execute(CommandContext context, Settings s, CancellationToken cancellationToken)
    {
        TorchSharp.torch.set_num_threads(s.Threads);
        var watch = Stopwatch.StartNew();
        var settings = (s.NoiseSettings?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(MiniSetting.Parse).ToList()
            ?? [.. MiniSetting.All]);
        var methods = s.Methods?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList() ?? [.. AllMethods];
        foreach (var m in methods)
            if (!AllMethods.Contains(m)) throw new DeftException($"Unknown method '{m}'. Valid: {string.Join(", ", AllMethods)}.");
        var adaptMethods = s.NoAdapt ? [] : s.AdaptMethods?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList() ?? ["deft", "deft-eval", "deft-cached"];
        foreach (var m in adaptMethods)
            if (!AllMethods.Contains(m)) throw new DeftException($"Unknown --adapt method '{m}'. Valid: {string.Join(", ", AllMethods)}.");
        var seeds = ParseSeeds(s.Seeds);
        var ws = MiniWorkspace.Open(s.Data, s.Cache);
        var (model, _) = ProgressRunner.Run<PretrainProgress, (string, bool)>(false, "pretrain",
            (p, ct) => ws.EnsurePretrainedModel(MiniProtocol.PretrainDefaults, p, ct),
            p => (p.Epoch, p.Epochs, p.Step, p.StepsPerEpoch, $"loss {p.Loss:0.000}"), cancellationToken);
        var classes = MiniRuns.WriteClassNames(s.Work);
        var named = ws.WithPromptNames(classes);
        var downstream = ws.Downstream(s.Samples);
        var rows = new List<Row>();
        var earlier = TimeSpan.Zero;
        IReadOnlyList<Row> earlierRows = [];
        if (s.Resume && ReadEarlier(s.Out, downstream.Count, s.Epochs) is { } previous)
            (earlierRows, earlier) = previous;
        // Settings this run does not touch keep their earlier rows, so resuming a subset loses nothing.
        // So do rows of seeds or methods it does not run (a later run may add methods or seeds to a table).
        var untouched = earlierRows.Where(r => !(settings.Any(x => x.Name == r.Setting) && seeds.Contains(r.Seed)
            && (methods.Contains(r.Method) || (r.Method == CeOnAllMethod && !s.NoAdapt)))).ToList();
        void Save() => Write(s.Out, [.. untouched, .. rows], downstream.Count, s.Epochs, earlier + watch.Elapsed);
        foreach (var setting in settings)
        foreach (var seed in seeds)
        {
            var dir = Path.Combine(s.Work, setting.Name, $"seed-{seed}");
            var labels = Path.Combine(dir, "labels.csv");
            Directory.CreateDirectory(dir);
            var noisy = ws.WriteNoisyLabels(setting, downstream, unchecked((ulong)seed), labels);
            AnsiConsole.MarkupLineInterpolated($"[bold]{setting.Name}[/] seed {seed}: realized noise {noisy.RealizedRate:P1} on {downstream.Count:N0} images");
            foreach (var method in methods)
            {
                if (Reusable(earlierRows, setting.Name, method, seed, adaptMethods.Contains(method)) is { } kept)
                {
                    rows.Add(kept);
                    AnsiConsole.MarkupLineInterpolated($"{setting.Name} s{seed} {method}: kept from {s.Out}");
                    continue;
                }
                var (kind, peft, selection) = method switch
                {
                    "deft" => (DetectionMethod.Deft, PeftKind.VptDeep, SelectionSource.LastEpoch),
                    "deft-eval" => (DetectionMethod.Deft, PeftKind.VptDeep, SelectionSource.Eval),
                    "deft-cached" => (DetectionMethod.Deft, PeftKind.None, SelectionSource.LastEpoch),
                    // The training baselines run on cached features (the fast path): their classifier is the text side.
                    _ => (DetectionMethods.Parse(method), PeftKind.None, SelectionSource.LastEpoch),
                };
                var options = MiniRuns.Detect(ws, model, labels, classes, Path.Combine(dir, method), kind, peft, noisy.RealizedRate, s.Epochs) with { Selection = selection, Seed = seed };
                var report = ProgressRunner.Run<DetectProgress, DetectionReport>(false, $"{setting.Name} s{seed} {method}",
                    (p, ct) => DeftDetector.Detect(options, p, null, ct),
                    p => (Math.Max(1, p.Epoch), Math.Max(1, p.Epochs), p.Step, Math.Max(1, p.Steps), DetectCommand.Describe(p)), cancellationToken);
                var q = report.Summary.Quality;
                double? accuracy = null, adaptSeconds = null, zeroShot = null;
                if (adaptMethods.Contains(method))
                    (accuracy, adaptSeconds, zeroShot) = Adapt(named, MiniRuns.Adapt(model, Path.Combine(dir, method, "adapt"), Path.Combine(dir, method, DetectionOutputs.SamplesFile), null, s.Epochs) with { Seed = seed }, cancellationToken);
                rows.Add(new Row(setting.Name, method, q?.Precision, q?.Recall, q?.F1, q?.Auroc, report.Summary.EstimatedNoiseRate, accuracy,
                    report.Summary.TimingsSeconds.GetValueOrDefault("total_seconds"), adaptSeconds, seed, zeroShot));
                Save(); // after every method: a stopped run keeps what it finished
            }
            if (!s.NoAdapt)
            {
                if (Reusable(earlierRows, setting.Name, CeOnAllMethod, seed, true) is { } kept)
                    rows.Add(kept);
                else
                {
                    var (acc, secs, zeroShot) = Adapt(named, MiniRuns.Adapt(model, Path.Combine(dir, "ce-all-noisy"), null, labels, s.Epochs) with { Seed = seed }, cancellationToken);
                    rows.Add(new Row(setting.Name, CeOnAllMethod, null, null, null, null, null, acc, 0, secs, seed, zeroShot));
                }
                Save();
            }
        }
        Save();
        AnsiConsole.MarkupLineInterpolated($"wrote {s.Out} ({(earlier + watch.Elapsed).TotalMinutes:0.0} min)");
        return 0;
    }

    private static (double? Accuracy, double Seconds, double? ZeroShot) Adapt((Data.IImageDataset Train, Data.IImageDataset Test) named, AdaptOptions options, CancellationToken ct)
    {
        var result = ProgressRunner.Run<AdaptProgress, AdaptResult>(false, "adapt",
            (p, c) => Adapter.Train(options, named.Train, named.Test, p, c),
            p => (p.Epoch, p.Epochs, p.Step, Math.Max(1, p.Steps), p.Phase == "test" ? "testing" : $"loss {p.Loss:0.000}"), ct);
        return (result.ModelTestAccuracy, result.Elapsed.TotalSeconds, result.StartTestAccuracy);
    }

    /// <summary>
    /// An earlier run's row for (<paramref name="setting"/>, <paramref name="method"/>), or null when there is none or
    /// it lacks the phase-2 accuracy this run asks for (<paramref name="needsAccuracy"/>).
    /// </summary>
    internal static Row? Reusable(IReadOnlyList<Row> earlier, string setting, string method, long seed, bool needsAccuracy) =>
        earlier.LastOrDefault(r => r.Setting == setting && r.Method == method && r.Seed == seed && (!needsAccuracy || r.TestAccuracy is not null));

    /// <summary>"0,1,2" → the seeds, distinct, in order; the error names the bad entry.</summary>
    internal static IReadOnlyList<long> ParseSeeds(string list)
    {
        var seeds = new List<long>();
        foreach (var part in list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!long.TryParse(part, NumberStyles.Integer, CultureInfo.InvariantCulture, out var seed) || seed < 0)
                throw new DeftException($"--seeds: '{part}' is not a non-negative integer. Example: --seeds 0,1,2.");
            if (!seeds.Contains(seed)) seeds.Add(seed);
        }
        return seeds.Count > 0 ? seeds : throw new DeftException("--seeds needs at least one seed, e.g. --seeds 0,1,2.");
    }

    internal const string CeOnAllMethod = "ce-on-all-noisy (phase 2 only)";

    private static readonly JsonSerializerOptions TableJson = new()
    {
        WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    private sealed record SavedTable(int Samples, int Epochs, double? ElapsedMinutes, List<Row> Rows);

    /// <summary>The rows of an earlier run with the same size, or null (absent, unreadable or another size: run everything).</summary>
    private static (List<Row> Rows, TimeSpan Elapsed)? ReadEarlier(string mdPath, int samples, int epochs)
    {
        var path = Path.ChangeExtension(mdPath, ".json");
        if (!File.Exists(path)) return null;
        try
        {
            var table = JsonSerializer.Deserialize<SavedTable>(File.ReadAllText(path), TableJson);
            if (table is null || table.Samples != samples || table.Epochs != epochs)
            {
                AnsiConsole.MarkupLineInterpolated($"[yellow]{path} is for another --samples/--epochs; running every setting.[/]");
                return null;
            }
            var rows = table.Rows ?? [];
            // Tables written before the total was recorded: the rows' own detect and adapt times (a lower bound).
            var minutes = table.ElapsedMinutes ?? rows.Sum(r => r.DetectSeconds + (r.AdaptSeconds ?? 0)) / 60;
            return (rows, TimeSpan.FromMinutes(minutes));
        }
        catch (JsonException e)
        {
            throw new DeftException($"--resume: {path} is not a bench mini table ({e.Message}). Delete it or run without --resume.");
        }
    }

    /// <summary>Mean ± sample sd over seeds ("—" when no seed has the value; the mean alone for one seed).</summary>
    internal static string MeanSd(IEnumerable<double?> values, string format, double scale = 1)
    {
        var v = values.Where(x => x is not null).Select(x => x!.Value * scale).ToArray();
        if (v.Length == 0) return "—";
        var mean = v.Average();
        if (v.Length == 1) return mean.ToString(format, CultureInfo.InvariantCulture);
        var sd = Math.Sqrt(v.Sum(x => (x - mean) * (x - mean)) / (v.Length - 1));
        return $"{mean.ToString(format, CultureInfo.InvariantCulture)} ± {sd.ToString(format, CultureInfo.InvariantCulture)}";
    }

    /// <summary>One line per (setting, method), aggregated over the seeds present.</summary>
    internal static IEnumerable<string> TableLines(IReadOnlyList<Row> rows)
    {
        // Settings in first-seen order, methods in AllMethods' order (phase 2 only last), whatever order runs added rows in.
        var settingOrder = rows.Select(r => r.Setting).Distinct().ToList();
        static int MethodRank(string m) => Array.IndexOf(AllMethods, m) is var i and >= 0 ? i : AllMethods.Length;
        foreach (var g in rows.GroupBy(r => (r.Setting, r.Method)).OrderBy(g => settingOrder.IndexOf(g.Key.Setting)).ThenBy(g => MethodRank(g.Key.Method)))
        {
            var r = g.ToList();
            yield return $"| {g.Key.Setting} | {g.Key.Method} | {r.Count} | {MeanSd(r.Select(x => x.Precision), "0.000")} | {MeanSd(r.Select(x => x.Recall), "0.000")} | " +
                $"{MeanSd(r.Select(x => x.F1), "0.000")} | {MeanSd(r.Select(x => x.Auroc), "0.000")} | {MeanSd(r.Select(x => x.EstimatedNoiseRate), "0.000")} | " +
                $"{MeanSd(r.Select(x => x.TestAccuracy), "0.00", 100)} | {MeanSd(r.Select(x => x.ZeroShotAccuracy), "0.00", 100)} | {MeanSd(r.Select(x => (double?)x.DetectSeconds), "0")} | {MeanSd(r.Select(x => x.AdaptSeconds), "0")} |";
        }
    }

    private static void Write(string path, IReadOnlyList<Row> rows, int samples, int epochs, TimeSpan elapsed)
    {
        var md = new StringBuilder();
        md.AppendLine("# Mini benchmark: Fashion-MNIST (generated by `./deft bench mini`)");
        md.AppendLine();
        var seeds = rows.Select(r => r.Seed).Distinct().Order().ToArray();
        md.AppendLine(CultureInfo.InvariantCulture, $"Tiny CLIP pre-trained on the 20,000 captioned auxiliary images; detection on {samples:N0} downstream images, {epochs} epochs; phase 2 tested on the 10,000 test images. Seeds {string.Join(", ", seeds)} (each draws its own noise and seeds the method; cells are mean ± sd over seeds). Machine: {Environment.ProcessorCount} cores, {TorchSharp.torch.get_num_threads()} intra-op thread(s). Total {elapsed.TotalMinutes:0.0} min.");
        md.AppendLine();
        md.AppendLine("| setting | method | seeds | precision | recall | F1 | AUROC | est. noise | test acc. % | zero-shot % | detect s | adapt s |");
        md.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var line in TableLines(rows)) md.AppendLine(line);
        md.AppendLine();
        md.AppendLine("Methods: `deft` = VPT-deep (length 4, n_ctx 8) with the official selection, made during the last training epoch on augmented views; "
            + "`deft-eval` = the same training, selection by one deterministic pass without augmentation afterwards (`--selection eval`); "
            + "`deft-cached` = frozen image tower, cached features (`--peft none`); `clip-posterior` (the default of `deft detect`) = CLIP zero-shot with an EM-fitted label-noise transition, nothing trained on the labels; `small-loss` is given the true noise rate. "
            + "Phase 2 (test acc.) fine-tunes the image tower on a method's selection, or on every noisy label (`ce-on-all-noisy`), for the same epochs; zero-shot % is the test accuracy of its starting model (the text head, before epoch 1), the bar phase 2 has to clear.");
        IO.AtomicFile.WriteAllText(path, md.ToString());
        IO.AtomicFile.WriteAllText(Path.ChangeExtension(path, ".json"),
            JsonSerializer.Serialize(new SavedTable(samples, epochs, Math.Round(elapsed.TotalMinutes, 2), [.. rows]), TableJson));
    }
}
