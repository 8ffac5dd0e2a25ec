using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Deft.Adaptation;
using Deft.Data;
using Deft.Detection;
using Deft.IO;
using Deft.Methods;
using Deft.Noise;
using Deft.Reporting;

namespace Deft.Recipes;

/// <summary>Progress of a reproduce run: step <see cref="Step"/> of <see cref="Steps"/> (from 1) is <see cref="Fraction"/> done.</summary>
public sealed record ReproduceProgress(int Step, int Steps, StepKind Kind, double Fraction, string Status);

/// <summary>What happened to a step: run from the start, continued from its checkpoint, or skipped as complete.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<StepStatus>))]
public enum StepStatus { Ran, Resumed, Skipped }

/// <summary>One step of a finished run.</summary>
public sealed record StepOutcome(int Number, string Kind, string Title, string Directory, string Command, StepStatus Status, double Seconds);

/// <summary>Phase 1's figures, from detect/summary.json; precision and recall of the clean selection need the true labels.</summary>
public sealed record DetectionFigures(int Samples, int SelectedClean, double EstimatedNoiseRate, double? Precision, double? Recall, double? F1, double? Auroc);

/// <summary>Top-1 accuracy of the adapted model on one test set (after the last epoch; the best epoch where phase 2 tested every epoch).</summary>
public sealed record TestFigure(string TestSet, string Format, string Split, int Samples, double? Accuracy, double? BestAccuracy = null, int? BestEpoch = null);

/// <summary>The paper's figure and ours, in percent (ours null where this run could not measure it).</summary>
public sealed record FigureComparison(string Metric, string TestSet, double PaperPercent, double? OursPercent);

/// <summary>What <c>deft reproduce NAME</c> produced; written to RUN/result.json.</summary>
/// <param name="FullSchedule">False for smoke runs (<c>--epochs</c>): such a run does not reproduce the paper.</param>
public sealed record ReproduceResult(
    string Recipe,
    string Title,
    string Root,
    string Model,
    int Seed,
    bool FullSchedule,
    int PhaseOneEpochs,
    int PhaseTwoEpochs,
    string RunDirectory,
    IReadOnlyList<StepOutcome> Steps,
    DetectionFigures? Detection,
    IReadOnlyList<TestFigure> Tests,
    IReadOnlyList<FigureComparison> Paper,
    IReadOnlyList<string> Warnings);

/// <summary>
/// Runs a <see cref="ReproducePlan"/> in-process through the library (<see cref="LabelNoise"/>,
/// <see cref="BalancedSubsample"/>, <see cref="DeftDetector.Detect"/>, <see cref="Adapter.Train"/>,
/// <see cref="AdaptedModel.Predict"/>), in order, each step in its own folder under the run directory.
/// A step whose outputs are complete is skipped, so running the same plan again resumes it; detect and adapt continue
/// from their checkpoints. Each step folder records its command line in step.json (as the caller writes it: the CLI
/// its `deft` invocation), and a folder recorded for another command line is refused rather than mixed into this run. Once a step has run, every later step runs afresh (its inputs
/// changed). The figures end up in RUN/result.json beside the paper's.
/// </summary>
public static class ReproduceRunner
{
    public const string ResultFile = "result.json";
    public const string StepFile = "step.json";

    public static JsonSerializerOptions JsonOptions { get; } = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        // Paths and class names as they are (no \u0027 for an apostrophe).
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    /// <param name="commandLine">How the front end writes a step as a command line; recorded in step.json and compared on resume.</param>
    public static ReproduceResult Run(ReproducePlan plan, Func<PlanStep, string> commandLine, IProgress<ReproduceProgress>? progress = null,
        Action<string>? warn = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(commandLine);
        if (!plan.RootChecked) throw new DeftException($"Running a recipe needs its data: pass {Setting.DataRoot} PATH.");
        if (plan.Options.Model == ReproducePlanner.ModelPlaceholder)
            throw new DeftException($"Running a recipe needs CLIP ViT-B/16 weights: pass {Setting.Model} (docs/reproduce.md says where to get them).");

        var warnings = new List<string>();
        void Warn(string message)
        {
            warnings.Add(message);
            warn?.Invoke(message);
        }

        using var outputLock = OutputDirectory.Lock(plan.RunDirectory, Warn);
        foreach (var step in plan.Steps) CheckStepRecord(step, commandLine(step));

        var outcomes = new List<StepOutcome>();
        var upstreamRan = false;
        for (var i = 0; i < plan.Steps.Count; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var step = plan.Steps[i];
            var number = i + 1;
            void Report(double fraction, string status) =>
                progress?.Report(new ReproduceProgress(number, plan.Steps.Count, step.Kind, Math.Clamp(fraction, 0, 1), status));

            var watch = Stopwatch.StartNew();
            StepStatus status;
            if (!upstreamRan && OutputsComplete(step))
            {
                status = StepStatus.Skipped;
                Report(1, "complete already; skipped");
            }
            else
            {
                WriteStepRecord(step, commandLine(step), finished: false);
                status = Execute(step, fresh: upstreamRan, Report, Warn, cancellationToken);
                WriteStepRecord(step, commandLine(step), finished: true);
                upstreamRan = true;
                Report(1, "done");
            }
            outcomes.Add(new StepOutcome(number, step.Kind.ToString().ToLowerInvariant(), step.Title, Path.GetFullPath(step.Directory), commandLine(step),
                status, watch.Elapsed.TotalSeconds));
        }

        var result = Collect(plan, outcomes, warnings);
        AtomicFile.WriteAllText(Path.Combine(plan.RunDirectory, ResultFile), JsonSerializer.Serialize(result, JsonOptions) + "\n");
        return result;
    }

    /// <summary>Whether the step's outputs are all there (written atomically, so present means finished).</summary>
    public static bool OutputsComplete(PlanStep step) => step.Action switch
    {
        NoiseAction a => File.Exists(a.OutputFile),
        SubsampleAction a => File.Exists(a.OutputFile),
        DetectAction a => File.Exists(Path.Combine(a.Directory, DetectionOutputs.SummaryFile)) && File.Exists(Path.Combine(a.Directory, DetectionOutputs.SamplesFile)),
        AdaptAction a => File.Exists(Path.Combine(a.Directory, RunDirectory.ResultFile)) && File.Exists(Path.Combine(a.Directory, AdaptedModel.WeightsFile)),
        EvaluateAction a => File.Exists(a.OutputFile) && File.Exists(Path.Combine(a.Directory, EvaluateAction.SummaryFile)),
        _ => throw new ArgumentOutOfRangeException(nameof(step), step.Kind, "Unknown step."),
    };

    private static StepStatus Execute(PlanStep step, bool fresh, Action<double, string> report, Action<string> warn, CancellationToken cancellationToken)
    {
        switch (step.Action)
        {
            case NoiseAction a:
            {
                report(0, $"{a.Noise.Mode.Name()} {ReproducePlanner.Number(a.Noise.Ratio)}");
                var noisy = LabelNoise.Apply(DatasetFactory.Open(a.Data), a.Noise);
                noisy.Save(a.OutputFile);
                report(1, $"realized noise rate {noisy.RealizedRate.ToString("P1", CultureInfo.InvariantCulture)}");
                return StepStatus.Ran;
            }
            case SubsampleAction a:
            {
                report(0, $"drawing {a.Size:N0}");
                BalancedSubsample.Write(DatasetFactory.Open(a.Data), a.Size, a.Seed, a.OutputFile);
                return StepStatus.Ran;
            }
            case DetectAction a:
            {
                var resume = !fresh && DeftDetector.RunFiles.Any(f => File.Exists(Path.Combine(a.Directory, f)));
                var hadCheckpoint = resume && File.Exists(Path.Combine(a.Directory, TrainingCheckpoint.FileName));
                var options = a.Options with { Resume = resume, Force = fresh };
                var detectProgress = new InlineProgress<DetectProgress>(p => report(
                    p.Phase == "train" ? (p.Epoch - 1 + (double)p.Step / Math.Max(1, p.Steps)) / Math.Max(1, p.Epochs) : (double)p.Step / Math.Max(1, p.Steps),
                    DescribeDetect(p)));
                var detection = DeftDetector.Detect(options, detectProgress, warn, cancellationToken);
                return hadCheckpoint ? StepStatus.Resumed : StepStatus.Ran;
            }
            case AdaptAction a:
            {
                var finished = File.Exists(Path.Combine(a.Directory, RunDirectory.ResultFile));
                var resume = !fresh && !finished && File.Exists(Path.Combine(a.Directory, RunDirectory.RunFile));
                var hadCheckpoint = resume && File.Exists(Path.Combine(a.Directory, RunDirectory.CheckpointFile));
                var options = a.Options with
                {
                    Resume = resume,
                    Force = fresh || finished,
                    // As deft adapt describes its data, so a run started by hand and one started here are the same run.
                    TrainDescription = $"{Path.GetFullPath(a.Train.Path)} ({a.Train.Format}, {a.Train.Split})",
                    TestDescription = $"{Path.GetFullPath(a.Test.Path)} ({a.Test.Format}, {a.Test.Split})",
                };
                var train = DatasetFactory.Open(a.Train);
                var test = DatasetFactory.Open(a.Test);
                var adaptProgress = new InlineProgress<AdaptProgress>(p => report(
                    (p.Epoch - 1 + (p.Phase == "test" ? 1.0 : (double)p.Step / Math.Max(1, p.Steps))) / Math.Max(1, p.Epochs),
                    p.Phase == "test" ? $"epoch {p.Epoch}/{p.Epochs} testing" : FormattableString.Invariant($"epoch {p.Epoch}/{p.Epochs} step {p.Step}/{p.Steps} loss {p.Loss:0.000}")));
                var result = Adapter.Train(options, train, test, adaptProgress, cancellationToken);
                foreach (var w in result.Warnings) warn(w);
                return hadCheckpoint ? StepStatus.Resumed : StepStatus.Ran;
            }
            case EvaluateAction a:
            {
                using var model = AdaptedModel.Load(a.ModelDirectory);
                var data = DatasetFactory.Open(a.Data);
                var predictions = model.Predict(data, progress: new InlineProgress<(int Step, int Steps)>(p =>
                    report((double)p.Step / Math.Max(1, p.Steps), $"batch {p.Step}/{p.Steps}")), cancellationToken: cancellationToken);
                model.WriteCsv(a.OutputFile, predictions);
                var labelled = data.Classes.SequenceEqual(model.Classes, StringComparer.Ordinal);
                if (!labelled)
                    warn($"{a.Label}: its classes are not the adapted model's, so no accuracy is measured ({a.OutputFile} holds the predictions).");
                double? accuracy = labelled && predictions.Count > 0 ? (double)predictions.Count(p => p.PredictedLabel == p.GivenLabel) / predictions.Count : null;
                var summary = new TestFigure(a.Label, a.Data.Format, a.Data.Split, predictions.Count, accuracy);
                AtomicFile.WriteAllText(Path.Combine(a.Directory, EvaluateAction.SummaryFile), JsonSerializer.Serialize(summary, JsonOptions) + "\n");
                return StepStatus.Ran;
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(step), step.Kind, "Unknown step.");
        }
    }

    private static string DescribeDetect(DetectProgress p)
    {
        var text = p.Phase == "train" ? $"epoch {p.Epoch}/{p.Epochs} step {p.Step}/{p.Steps}" : $"{p.Phase} {p.Step}/{p.Steps}";
        if (!double.IsNaN(p.Loss)) text += FormattableString.Invariant($" loss {p.Loss:0.000}");
        if (!double.IsNaN(p.SelectedFraction)) text += FormattableString.Invariant($" clean {p.SelectedFraction:P1}");
        if (p.Precision is { } precision) text += FormattableString.Invariant($" precision {precision:0.000}");
        return text;
    }

    private sealed record StepRecord(string Format, string Command, DateTime Started, DateTime? Finished);

    private static string StepRecordPath(PlanStep step) => Path.Combine(step.Directory, StepFile);

    /// <summary>Refuses a step folder that step.json says belongs to another command (another seed, model, data, schedule).</summary>
    private static void CheckStepRecord(PlanStep step, string command)
    {
        var path = StepRecordPath(step);
        if (!File.Exists(path)) return;
        StepRecord? record;
        try { record = JsonSerializer.Deserialize<StepRecord>(File.ReadAllText(path), JsonOptions); }
        catch (JsonException ex) { throw new DeftException($"{path} is not valid JSON ({ex.Message}); remove the folder {step.Directory} to run the step again.", ex); }
        if (record?.Command == command) return;
        throw new DeftException(
            $"{step.Directory} holds a step of another run:\n  recorded: {record?.Command}\n  planned:  {command}\n" +
            $"Pass the same options as that run ({Setting.Model}, {Setting.Seed}, {Setting.Epochs}, {Setting.DataRoot}), choose another {Setting.OutputDirectory}, or remove the folder to start that step over.");
    }

    private static void WriteStepRecord(PlanStep step, string command, bool finished)
    {
        var path = StepRecordPath(step);
        var started = DateTime.UtcNow;
        if (finished && File.Exists(path))
            started = JsonSerializer.Deserialize<StepRecord>(File.ReadAllText(path), JsonOptions)?.Started ?? started;
        AtomicFile.WriteAllText(path, JsonSerializer.Serialize(
            new StepRecord("deft-reproduce-step", command, started, finished ? DateTime.UtcNow : null), JsonOptions) + "\n");
    }

    private static ReproduceResult Collect(ReproducePlan plan, IReadOnlyList<StepOutcome> outcomes, IReadOnlyList<string> warnings)
    {
        DetectionFigures? detection = null;
        var tests = new List<TestFigure>();
        int phaseOneEpochs = 0, phaseTwoEpochs = 0;
        foreach (var step in plan.Steps)
        {
            switch (step.Action)
            {
                case DetectAction a:
                    phaseOneEpochs = a.Options.Epochs;
                    detection = ReadDetection(Path.Combine(a.Directory, DetectionOutputs.SummaryFile));
                    break;
                case AdaptAction a:
                    phaseTwoEpochs = a.Options.Epochs;
                    tests.Add(ReadAdaptTest(Path.Combine(a.Directory, RunDirectory.ResultFile), a));
                    break;
                case EvaluateAction a:
                    var path = Path.Combine(a.Directory, EvaluateAction.SummaryFile);
                    tests.Add(JsonSerializer.Deserialize<TestFigure>(File.ReadAllText(path), JsonOptions)
                        ?? throw new DeftException($"{path} is empty; remove {a.Directory} to evaluate again."));
                    break;
            }
        }

        var paper = plan.Recipe.PaperFigures.Select(f => new FigureComparison(
            f.Metric == PaperMetric.DetectionPrecision ? "detection_precision" : "test_accuracy",
            f.TestSet, f.Percent,
            // A recipe's test-accuracy figure is for its first test set, the one phase 2 tests on.
            (f.Metric == PaperMetric.DetectionPrecision ? detection?.Precision : tests.FirstOrDefault()?.Accuracy) * 100)).ToList();

        return new ReproduceResult(plan.Recipe.Name, plan.Recipe.Title, plan.Root, plan.Options.Model, plan.Options.Seed, plan.FullSchedule,
            phaseOneEpochs, phaseTwoEpochs, Path.GetFullPath(plan.RunDirectory), outcomes, detection, tests, paper, warnings);
    }

    private static DetectionFigures ReadDetection(string path)
    {
        var root = ReadJson(path);
        var quality = root["quality"] as JsonObject;
        return new DetectionFigures(
            Int(root, "samples", path), Int(root, "clean", path), Number(root["estimated_noise_rate"]) ?? double.NaN,
            Number(quality?["precision"]), Number(quality?["recall"]), Number(quality?["f1"]), Number(quality?["auroc"]));
    }

    private static TestFigure ReadAdaptTest(string path, AdaptAction a)
    {
        var root = ReadJson(path);
        return new TestFigure(a.TestLabel, a.Test.Format, a.Test.Split, Int(root, "test_samples", path),
            Number(root["last_test_accuracy"]), Number(root["best_test_accuracy"]), (int?)Number(root["best_epoch"]));
    }

    private static JsonObject ReadJson(string path)
    {
        try
        {
            return JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new DeftException($"{path} holds no JSON object.");
        }
        catch (JsonException ex)
        {
            throw new DeftException($"{path} is not valid JSON ({ex.Message}); remove its folder to run that step again.", ex);
        }
    }

    private static int Int(JsonObject root, string key, string path) =>
        (int?)Number(root[key]) ?? throw new DeftException($"{path} has no '{key}'; remove its folder to run that step again.");

    /// <summary>A JSON number, or a named float ("NaN") as written with AllowNamedFloatingPointLiterals; null when absent or not finite.</summary>
    private static double? Number(JsonNode? node)
    {
        if (node is not JsonValue value) return null;
        double v;
        if (value.TryGetValue<double>(out var d)) v = d;
        else if (value.TryGetValue<string>(out var s) && double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var parsed)) v = parsed;
        else return null;
        return double.IsFinite(v) ? v : null;
    }

    /// <summary>Reports on the caller's thread (Progress&lt;T&gt; would post to the thread pool and reorder reports).</summary>
    private sealed class InlineProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
