using System.Diagnostics;
using TorchSharp;
using static TorchSharp.torch;

namespace Deft.Clip;

/// <summary>One dtype's matrix-product speed and the ViT image throughput it bounds.</summary>
public sealed record GemmBenchmarkRow(
    [property: System.Text.Json.Serialization.JsonPropertyName("dtype")] string DType,
    double MillisecondsPerProduct,
    double GigaflopsPerSecond,
    // Images/s of the chosen preset's image tower if every multiply-add ran at this speed (an upper bound).
    double ImagesPerSecondCeiling);

/// <summary>The result of <see cref="GemmBenchmark.Run"/>.</summary>
public sealed record GemmBenchmarkResult(string Preset, int Batch, int Threads, long M, long K, long N, double GigaflopsPerImage, IReadOnlyList<GemmBenchmarkRow> Rows);

/// <summary>
/// Times the image tower's largest matrix product (the MLP's first projection, [batch·tokens, width] × [width, 4·width])
/// in each dtype. It answers "how fast can the encoder be on this CPU in bf16?" before anyone profiles the model:
/// libtorch routes fp32 to MKL, bf16 to oneDNN's AVX512-BF16 kernels and fp16 to its AVX512-FP16 kernels, and
/// without AMX the reduced-precision kernels are not faster than fp32.
/// </summary>
public static class GemmBenchmark
{
    /// <param name="threads">Intra-op threads; null keeps TorchSharp's default.</param>
    public static GemmBenchmarkResult Run(string preset = "ViT-B-16", int batch = 8, double secondsPerDType = 3, IReadOnlyList<ScalarType>? dtypes = null, int? threads = null)
    {
        if (batch < 1) throw new DeftException($"{Setting.BatchSize} must be at least 1; got {batch}.");
        if (secondsPerDType <= 0) throw new DeftException($"{Setting.BenchmarkSeconds} must be positive; got {secondsPerDType}.");
        if (threads is { } threadCount)
        {
            if (threadCount < 1) throw new DeftException($"{Setting.Threads} must be at least 1; got {threadCount}.");
            torch.set_num_threads(threadCount);
        }
        var config = ClipConfig.FromPreset(preset);
        var vision = config.Vision;
        long m = (long)batch * vision.SequenceLength, k = vision.Width, n = (long)Math.Round(vision.MlpRatio * vision.Width);
        var flopsPerImage = 2 * vision.MultiplyAddsPerImage(config.EmbedDim);
        var rows = new List<GemmBenchmarkRow>();
        using var noGrad = torch.no_grad();
        foreach (var dtype in dtypes ?? [ScalarType.Float32, ScalarType.BFloat16, ScalarType.Float16])
        {
            using var scope = torch.NewDisposeScope();
            using var generator = new torch.Generator(0);
            var a = torch.randn(m, k, generator: generator).to(dtype);
            var b = torch.randn(n, k, generator: generator).to(dtype);
            var bias = torch.randn(n, generator: generator).to(dtype);
            void Product() { using var inner = torch.NewDisposeScope(); nn.functional.linear(a, b, bias); }
            for (var i = 0; i < 2; i++) Product();
            var watch = Stopwatch.StartNew();
            var count = 0;
            while (watch.Elapsed.TotalSeconds < secondsPerDType || count < 3) { Product(); count++; }
            var seconds = watch.Elapsed.TotalSeconds / count;
            var gflops = 2.0 * m * k * n / seconds / 1e9;
            rows.Add(new GemmBenchmarkRow(EncoderBenchmark.DTypeName(dtype), seconds * 1000, gflops, gflops * 1e9 / flopsPerImage));
        }
        return new GemmBenchmarkResult(preset, batch, torch.get_num_threads(), m, k, n, flopsPerImage / 1e9, rows);
    }
}
