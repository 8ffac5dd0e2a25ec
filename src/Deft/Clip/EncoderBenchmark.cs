using System.Diagnostics;
using TorchSharp;
using static TorchSharp.torch;

namespace Deft.Clip;

/// <summary>Settings of <see cref="EncoderBenchmark.Run"/>.</summary>
public sealed record EncoderBenchmarkOptions
{
    public string Model { get; init; } = "random:ViT-B-16";
    /// <summary>The image tower's dtype; null: <see cref="PrecisionCalibration"/> chooses (auto).</summary>
    public ScalarType? DType { get; init; } = ScalarType.Float32;
    public int Batch { get; init; } = 8;
    public double Seconds { get; init; } = 20;
    public int WarmupBatches { get; init; } = 2;
    /// <summary>Intra-op threads; null keeps TorchSharp's default.</summary>
    public int? Threads { get; init; }
    /// <summary>For reduced precision: also encode the batch in float32 first and report the smallest cosine.</summary>
    public bool CompareWithFloat32 { get; init; } = true;
}

/// <summary>One benchmark run's figures.</summary>
public sealed record EncoderBenchmarkResult(
    string Model,
    [property: System.Text.Json.Serialization.JsonPropertyName("dtype")] string DType,
    int Batch,
    int Threads,
    int Batches,
    double Seconds,
    double ImagesPerSecond,
    double MillisecondsPerBatch,
    double? MinCosineVsFloat32,
    // Processor time the process used while timing (all threads); unlike wall time it hardly grows when other processes share the cores.
    double CpuSeconds,
    double ImagesPerCpuSecond,
    double LoadAverageBefore,
    double LoadAverageAfter);

/// <summary>Image-encoder throughput: warm-up, then forward passes under no_grad for a fixed time.</summary>
public static class EncoderBenchmark
{
    public static EncoderBenchmarkResult Run(EncoderBenchmarkOptions options, Action<string>? log = null)
    {
        if (options.Batch < 1) throw new DeftException($"{Setting.BatchSize} must be at least 1; got {options.Batch}.");
        if (options.Seconds <= 0) throw new DeftException($"{Setting.BenchmarkSeconds} must be positive; got {options.Seconds}.");
        if (options.Threads is { } n)
        {
            if (n < 1) throw new DeftException($"{Setting.Threads} must be at least 1; got {n}.");
            torch.set_num_threads(n);
        }
        var loadBefore = ReadLoadAverage();
        using var model = ClipLoader.Load(options.Model);
        model.FreezeAll();
        var r = model.Config.Vision.ImageSize;
        using var noGrad = torch.no_grad();
        using var generator = new torch.Generator(0, model.Device);
        using var images = torch.randn(options.Batch, 3, r, r, generator: generator, device: model.Device);

        var dtype = options.DType ?? AutoDType(model, options.Batch, log);
        double? cosine = null;
        if (dtype != ScalarType.Float32)
        {
            Tensor? reference = null;
            if (options.CompareWithFloat32)
            {
                log?.Invoke("encoding the batch in float32 for the cosine check…");
                reference = model.EncodeImage(images);
            }
            model.ToDType(dtype, ClipTowers.Vision);
            if (reference is not null)
            {
                using (reference)
                using (var reduced = model.EncodeImage(images))
                    cosine = MinRowCosine(reference, reduced);
            }
        }

        log?.Invoke($"warm-up: {options.WarmupBatches} batch(es) of {options.Batch}…");
        for (var i = 0; i < options.WarmupBatches; i++)
            model.EncodeImage(images).Dispose();

        log?.Invoke($"timing for {options.Seconds:0.#} s…");
        var batches = 0;
        var process = Process.GetCurrentProcess();
        var cpuBefore = process.TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        do
        {
            model.EncodeImage(images).Dispose();
            batches++;
        } while (clock.Elapsed.TotalSeconds < options.Seconds);
        clock.Stop();
        process.Refresh();
        var cpuSeconds = (process.TotalProcessorTime - cpuBefore).TotalSeconds;
        var seconds = clock.Elapsed.TotalSeconds;
        return new EncoderBenchmarkResult(options.Model, DTypeName(dtype), options.Batch, torch.get_num_threads(), batches, seconds,
            batches * options.Batch / seconds, seconds * 1000 / batches, cosine, cpuSeconds, batches * options.Batch / cpuSeconds,
            loadBefore, ReadLoadAverage());
    }

    /// <summary>"fp32" / "bf16" / "fp16" → dtype, "auto" → null; the guard lists the valid names.</summary>
    public static ScalarType? ParseDType(string name) =>
        name.Trim().Equals("auto", StringComparison.OrdinalIgnoreCase) ? null : ClipBundle.ParseDType(name, allowFloat16: true);

    private static ScalarType AutoDType(ClipModel model, int batch, Action<string>? log)
    {
        var choice = PrecisionCalibration.Choose(model, batch, torch.get_num_threads());
        log?.Invoke(choice.ToString());
        return choice.DType;
    }

    public static string DTypeName(ScalarType t) => t switch
    {
        ScalarType.Float32 => "fp32",
        ScalarType.BFloat16 => "bf16",
        ScalarType.Float16 => "fp16",
        _ => t.ToString().ToLowerInvariant(),
    };

    private static double MinRowCosine(Tensor a, Tensor b)
    {
        using var scope = torch.NewDisposeScope();
        var a64 = a.to(ScalarType.Float64);
        var b64 = b.to(ScalarType.Float64);
        return ((a64 * b64).sum(1) / (a64.norm(1) * b64.norm(1))).min().item<double>();
    }

    /// <summary>The 1-minute load average (other processes compete for the cores); NaN where /proc is absent.</summary>
    private static double ReadLoadAverage()
    {
        try
        {
            var first = File.ReadAllText("/proc/loadavg").Split(' ')[0];
            return double.Parse(first, System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException)
        {
            return double.NaN;
        }
    }
}
