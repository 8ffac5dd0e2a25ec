using System.Globalization;
using System.Text.Json.Nodes;
using Deft.Detection;
using Deft.Methods;
using Deft.Peft;
using Deft.Tests.Detection;

namespace Deft.Tests.Methods;

/// <summary>
/// Detect runs of every method on the same 300 Fashion-MNIST samples (every fifth label moved to the next class),
/// the tiny fixture CLIP at 32 px, frozen tower (cached features). Each run happens once, on first use.
/// </summary>
public sealed class MethodRuns : IDisposable
{
    public const int Samples = 300;
    public const int Batch = 64;
    public const double NoiseRate = 0.3;
    public const int Epochs = 3;
    public const int Warmup = 3;

    private readonly Dictionary<string, DetectionReport> _reports = new();
    private readonly TempDir _scratch;

    public MethodRuns()
    {
        _scratch = new TempDir("methods");
        Root = _scratch.Path;
        LabelFile = DetectTestData.WriteLabelFile(Root, Samples);
    }

    public string Root { get; }
    public string LabelFile { get; }
    public string CacheDirectory => Path.Combine(Root, "cache");

    public DetectOptions Options(DetectionMethod method, string name) => new()
    {
        Model = DetectTestData.TinyModel,
        Vocab = Fixtures.TinyVocabulary,
        Data = DetectTestData.FashionMnist,
        Format = "idx",
        Labels = LabelFile,
        OutputDirectory = Path.Combine(Root, name),
        Peft = new PeftOptions(PeftKind.None),
        Epochs = Epochs,
        Warmup = method == DetectionMethod.Deft ? 1 : Warmup,
        BatchSize = Batch,
        Method = method,
        NoiseRate = method == DetectionMethod.SmallLoss ? NoiseRate : null,
        CacheDirectory = CacheDirectory,
        Workers = 1,
        // These runs pin each method's own rule; the default agreeing-label rule is tested on its own run.
        Issues = new IssueSettings { FlagAgreeing = true },
    };

    /// <summary>The run of <paramref name="method"/> in directory Root/&lt;name&gt;.</summary>
    public DetectionReport Run(DetectionMethod method) => Run(method.ToName(), Options(method, method.ToName()));

    public DetectionReport Run(string name, DetectOptions options)
    {
        lock (_reports)
        {
            if (!_reports.TryGetValue(name, out var report))
                _reports[name] = report = DeftDetector.Detect(options);
            return report;
        }
    }

    public string Directory(DetectionMethod method)
    {
        Run(method);
        return Path.Combine(Root, method.ToName());
    }

    public static JsonObject Summary(string directory) =>
        (JsonObject)JsonNode.Parse(File.ReadAllText(Path.Combine(directory, DetectionOutputs.SummaryFile)))!;

    /// <summary>A CSV file as header + rows (the outputs quote no field here: Fashion-MNIST sources have no commas).</summary>
    public static (string[] Header, List<string[]> Rows) ReadCsv(string path)
    {
        var lines = File.ReadAllLines(path);
        return (lines[0].Split(','), lines.Skip(1).Where(l => l.Length > 0).Select(l => l.Split(',')).ToList());
    }

    public static double Number(string s) => double.Parse(s, NumberStyles.Float, CultureInfo.InvariantCulture);

    public void Dispose() => _scratch.Dispose();
}
