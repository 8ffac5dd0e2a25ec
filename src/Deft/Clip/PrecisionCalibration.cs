using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Deft.IO;
using Deft.Native;
using TorchSharp;
using static TorchSharp.torch;

namespace Deft.Clip;

/// <summary>
/// One dtype's figures in a calibration: seconds per forward pass of one image-tower block on the run's shapes, and
/// for a reduced dtype the image-feature cosine to float32 it implies (null: not measured, so it cannot be chosen).
/// </summary>
/// <param name="DType">Float32, or a reduced dtype the tower could run in (BFloat16).</param>
/// <param name="SecondsPerBlock">The fastest of the timed block passes.</param>
/// <param name="FeatureCosine">
/// 1 − layers × the mean (1 − cosine) of one block's output tokens to float32's: rounding errors of independent blocks
/// add in squared angle, so 1 − cosine adds over the blocks. Null for float32.
/// </param>
public sealed record PrecisionTrial(ScalarType DType, double SecondsPerBlock, double? FeatureCosine = null);

/// <summary>What <see cref="PrecisionCalibration.Choose"/> decided, and why, in one line for the console.</summary>
/// <param name="DType">The dtype the image tower runs in: Float32 or BFloat16.</param>
/// <param name="Reason">The figures behind the choice ("bf16 0.41× fp32 speed on AMD EPYC 7B13, 2 threads; cached").</param>
/// <param name="FromCache">Whether the timings came from the calibration cache file rather than from this process.</param>
public sealed record PrecisionChoice(ScalarType DType, string Reason, bool FromCache)
{
    /// <summary>"fp32" or "bf16".</summary>
    public string DTypeName => EncoderBenchmark.DTypeName(DType);

    /// <summary>"dtype auto → fp32 (bf16 0.41× fp32 speed on …; cached)".</summary>
    public override string ToString() => $"dtype auto → {DTypeName} ({Reason})";
}

/// <summary>
/// <c>auto</c> precision: which dtype runs a frozen image tower fastest on this CPU without changing its features.
/// One block of the loaded tower is timed on the run's real shapes ([images × tokens, width] through q|k|v, attention,
/// out_proj and the MLP) in float32 and bfloat16 with the run's thread count, alternately, for well under a second; a
/// reduced dtype is chosen only when it is at least <see cref="MinSpeedup"/> × faster and its estimated feature cosine
/// to float32 is at least <see cref="MinFeatureCosine"/>. Timings depend on the machine only, so they are cached in
/// <see cref="CacheFileName"/> under Deft's cache folder, keyed by the CPU's model name and flags, libtorch's version,
/// the thread count and the block's shapes; the cosine depends on the weights and is measured on every choice that
/// would leave float32 (one block pass each). Without AVX512-BF16 or AMX libtorch's bfloat16 kernels are several
/// times slower than float32, so float32 stays the answer there — and always the fallback.
/// </summary>
public static class PrecisionCalibration
{
    /// <summary>The lowest estimated image-feature cosine to float32 a reduced dtype may have.</summary>
    public const double MinFeatureCosine = 0.999;

    /// <summary>How much faster than float32 a reduced dtype must time: below that the choice would be noise.</summary>
    public const double MinSpeedup = 1.05;

    /// <summary>The cache file's name in Deft's cache folder.</summary>
    public const string CacheFileName = "dtype-calibration.json";

    /// <summary>Multiply-adds of the timed block pass the image count aims for (about 10–40 ms in fp32 on 2 cores).</summary>
    private const double TargetMacs = 1e9;

    /// <summary>The longest the timing loop runs once every dtype has one timed pass (after the warm-up pass).</summary>
    private const double TimingBudgetSeconds = 0.5;

    private static readonly ConcurrentDictionary<string, (double Fp32, double Bf16)> Measured = new(StringComparer.Ordinal);

    /// <summary>
    /// The fastest trial that is allowed: float32, or a reduced dtype with a measured
    /// <see cref="PrecisionTrial.FeatureCosine"/> ≥ <see cref="MinFeatureCosine"/> that is at least
    /// <see cref="MinSpeedup"/> × faster than float32. Float32 when no trial qualifies.
    /// </summary>
    public static ScalarType Decide(IReadOnlyList<PrecisionTrial> trials)
    {
        var fp32 = trials.FirstOrDefault(t => t.DType == ScalarType.Float32)
            ?? throw new ArgumentException("The trials must include float32, the reference.", nameof(trials));
        var best = trials
            .Where(t => t.DType != ScalarType.Float32 && t.FeatureCosine is { } c && c >= MinFeatureCosine
                && t.SecondsPerBlock > 0 && t.SecondsPerBlock * MinSpeedup <= fp32.SecondsPerBlock)
            .OrderBy(t => t.SecondsPerBlock)
            .FirstOrDefault();
        return best?.DType ?? ScalarType.Float32;
    }

    /// <summary>
    /// Calibrates (or reads the cached timings) for <paramref name="model"/>'s image tower, which must be in float32, at
    /// <paramref name="batch"/> images per pass and <paramref name="threads"/> intra-op threads, and returns the dtype.
    /// The model is left as it was; converting it is the caller's step.
    /// </summary>
    /// <param name="cacheDirectory">Deft's cache folder; null: <see cref="KnownLocations.DefaultCacheDirectory"/>.</param>
    public static PrecisionChoice Choose(ClipModel model, int batch, int threads, string? cacheDirectory = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        if (model.Device.type != DeviceType.CPU)
            return new PrecisionChoice(ScalarType.Float32, $"calibrated on the CPU only; {model.Device.type} runs fp32", false);
        if (model.Visual.DType != ScalarType.Float32)
            throw new InvalidOperationException($"Calibration needs the image tower in float32; it is {model.Visual.DType}.");

        var vision = model.Config.Vision;
        var images = ImagesPerPass(vision, batch);
        var cpu = CpuInfo.ModelName();
        var key = CacheKey(cpu, threads, vision, images);
        var path = Path.Combine(cacheDirectory ?? KnownLocations.DefaultCacheDirectory(), CacheFileName);
        double? cosine = null;
        var fromCache = true;
        if (!Measured.TryGetValue(path + "\n" + key, out var seconds))
        {
            var cached = ReadEntry(path, key);
            if (cached is { } c) seconds = c;
            else
            {
                fromCache = false;
                (seconds, cosine) = Measure(model, images, threads, measureCosine: true);
                WriteEntry(path, key, cpu, threads, vision, images, seconds);
            }
            Measured[path + "\n" + key] = seconds;
        }
        var speed = seconds.Fp32 / seconds.Bf16;
        // The cosine is the weights' property, so a cached timing that favours bf16 is checked on this model.
        if (cosine is null && speed >= MinSpeedup) cosine = Measure(model, 1, threads, measureCosine: true, timed: false).Cosine;
        var trials = new[] { new PrecisionTrial(ScalarType.Float32, seconds.Fp32), new PrecisionTrial(ScalarType.BFloat16, seconds.Bf16, cosine) };
        var chosen = Decide(trials);
        var where = $"on {cpu}, {threads} thread(s){(fromCache ? "; cached" : "")}";
        var speedText = speed.ToString("0.00", CultureInfo.InvariantCulture);
        var reason = chosen == ScalarType.BFloat16
            ? $"bf16 {speedText}× fp32 speed, estimated feature cosine {cosine!.Value.ToString("0.00000", CultureInfo.InvariantCulture)} {where}"
            : speed < MinSpeedup
                ? $"bf16 {speedText}× fp32 speed {where}"
                : $"bf16 {speedText}× fp32 speed but estimated feature cosine {cosine?.ToString("0.00000", CultureInfo.InvariantCulture) ?? "unknown"} < {MinFeatureCosine.ToString(CultureInfo.InvariantCulture)} {where}";
        return new PrecisionChoice(chosen, reason, fromCache);
    }

    /// <summary>The cached calibrations of this CPU and libtorch (what <c>doctor</c> shows): shape and thread count → ms per block pass.</summary>
    public static IReadOnlyList<(string Shape, int Threads, double Fp32Milliseconds, double Bf16Milliseconds)> CachedForThisMachine(string? cacheDirectory = null)
    {
        var path = Path.Combine(cacheDirectory ?? KnownLocations.DefaultCacheDirectory(), CacheFileName);
        var prefix = MachineKey(CpuInfo.ModelName()) + "|";
        var rows = new List<(string, int, double, double)>();
        if (ReadEntries(path) is not { } entries) return rows;
        foreach (var (key, node) in entries)
        {
            if (!key.StartsWith(prefix, StringComparison.Ordinal) || node is not JsonObject o) continue;
            try
            {
                rows.Add(((string)o["shape"]!, (int)o["threads"]!, (double)o["fp32_ms"]!, (double)o["bf16_ms"]!));
            }
            catch (Exception ex) when (ex is InvalidOperationException or FormatException or NullReferenceException) { }
        }
        return rows;
    }

    /// <summary>Images per timed pass: enough rows for about <see cref="TargetMacs"/> multiply-adds, at most the run's batch.</summary>
    internal static int ImagesPerPass(ClipVisionConfig vision, int batch)
    {
        double t = vision.SequenceLength, w = vision.Width, hidden = Math.Round(vision.MlpRatio * vision.Width);
        var macsPerImage = t * (4 * w * w + 2 * w * hidden) + 2 * t * t * w;
        return (int)Math.Clamp(Math.Floor(TargetMacs / macsPerImage), 1, batch);
    }

    private static string Shape(ClipVisionConfig v, int images) =>
        FormattableString.Invariant($"block w{v.Width} h{v.Heads} mlp{v.MlpRatio} tokens{v.SequenceLength} images{images}");

    /// <summary>CPU model, a hash of its flags (a VM may hide AVX-512 or AMX from the same model), libtorch's version.</summary>
    private static string MachineKey(string cpu)
    {
        var flags = string.Join(' ', CpuInfo.Flags().Order(StringComparer.Ordinal));
        var flagsHash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(flags)))[..12];
        return $"{cpu}|flags:{flagsHash}|libtorch:{torch.__version__}";
    }

    private static string CacheKey(string cpu, int threads, ClipVisionConfig vision, int images) =>
        $"{MachineKey(cpu)}|threads:{threads}|{Shape(vision, images)}";

    /// <summary>
    /// Times block 0 of the tower in float32 and a bfloat16 copy of it, alternately (warm-up pass first; its outputs
    /// give the cosine), on the tokens of random images through the tower's own patch embedding and ln_pre.
    /// </summary>
    private static ((double Fp32, double Bf16) Seconds, double? Cosine) Measure(ClipModel model, int images, int threads, bool measureCosine, bool timed = true)
    {
        var coreThreads = torch.get_num_threads();
        try
        {
            torch.set_num_threads(threads);
            using var noGrad = torch.no_grad();
            using var scope = torch.NewDisposeScope();
            var config = model.Config;
            var vision = config.Vision;
            var source = model.Visual.Blocks[0];
            using var reduced = new ResidualAttentionBlock(vision.Width, vision.Heads, (long)Math.Round(vision.MlpRatio * vision.Width),
                config.Activation, config.LayerNormEps, model.Device);
            reduced.load_state_dict(source.state_dict());
            reduced.to(ScalarType.BFloat16);
            using var generator = new torch.Generator(0);
            var pixels = torch.randn([images, 3, vision.ImageSize, vision.ImageSize], generator: generator);
            var x32 = model.Visual.EmbedTokens(pixels);
            // The plain block: no PEFT hook may be attached while calibrating.
            var hook = source.Peft;
            source.Peft = null;
            try
            {
                var y32 = source.Forward(x32, causal: false);
                var y16 = reduced.Forward(x32, causal: false); // bf16 weights, float32 stream, as the tower runs them
                double? cosine = null;
                if (measureCosine)
                {
                    var a = y32.to(ScalarType.Float64).flatten(0, 1);
                    var b = y16.to(ScalarType.Float64).flatten(0, 1);
                    var meanError = (1 - (a * b).sum(1) / (a.norm(1) * b.norm(1))).mean().item<double>();
                    cosine = 1 - vision.Layers * Math.Max(0, meanError);
                }
                if (!timed) return ((double.NaN, double.NaN), cosine);
                double fp32 = double.PositiveInfinity, bf16 = double.PositiveInfinity;
                var clock = Stopwatch.StartNew();
                for (var round = 0; round < 5 && (round < 1 || clock.Elapsed.TotalSeconds < TimingBudgetSeconds); round++)
                {
                    fp32 = Math.Min(fp32, Time(() => source.Forward(x32, causal: false)));
                    bf16 = Math.Min(bf16, Time(() => reduced.Forward(x32, causal: false)));
                }
                return ((fp32, bf16), cosine);
            }
            finally
            {
                source.Peft = hook;
            }
        }
        finally
        {
            torch.set_num_threads(coreThreads);
        }

        static double Time(Func<Tensor> pass)
        {
            var watch = Stopwatch.StartNew();
            pass().Dispose();
            return watch.Elapsed.TotalSeconds;
        }
    }

    private static JsonObject? ReadEntries(string path)
    {
        try
        {
            return File.Exists(path) && JsonNode.Parse(File.ReadAllText(path)) is JsonObject root && root["entries"] is JsonObject entries ? entries : null;
        }
        // A damaged or foreign file only costs a new calibration; it is rewritten below.
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or JsonException) { return null; }
    }

    private static (double, double)? ReadEntry(string path, string key)
    {
        if (ReadEntries(path)?[key] is not JsonObject o) return null;
        try
        {
            var (fp32, bf16) = ((double)o["fp32_ms"]! / 1000, (double)o["bf16_ms"]! / 1000);
            return fp32 > 0 && bf16 > 0 && double.IsFinite(fp32) && double.IsFinite(bf16) ? (fp32, bf16) : null;
        }
        catch (Exception ex) when (ex is InvalidOperationException or FormatException or NullReferenceException) { return null; }
    }

    private static void WriteEntry(string path, string key, string cpu, int threads, ClipVisionConfig vision, int images, (double Fp32, double Bf16) seconds)
    {
        try
        {
            var entries = ReadEntries(path)?.DeepClone() as JsonObject ?? new JsonObject();
            entries[key] = new JsonObject
            {
                ["cpu"] = cpu,
                ["libtorch"] = torch.__version__,
                ["threads"] = threads,
                ["shape"] = Shape(vision, images),
                ["fp32_ms"] = Math.Round(seconds.Fp32 * 1000, 3),
                ["bf16_ms"] = Math.Round(seconds.Bf16 * 1000, 3),
                ["measured_utc"] = DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture),
            };
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            AtomicFile.WriteAllText(path, new JsonObject { ["version"] = 1, ["entries"] = entries }.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        }
        // An unwritable cache folder costs a calibration per process, not the run.
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { }
    }
}
