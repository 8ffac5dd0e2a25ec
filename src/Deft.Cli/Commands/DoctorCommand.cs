using System.ComponentModel;
using System.Runtime.InteropServices;
using Deft.Native;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Deft.Cli.Commands;

internal sealed class DoctorCommand : Command<DoctorCommand.Settings>
{
    internal sealed class Settings : CommandSettings
    {
        [CommandOption("--fix")]
        [Description("Mark TorchSharp's GLIBCXX_3.4.32 requirement weak where the system libstdc++ lacks it.")]
        public bool Fix { get; init; }

        [CommandOption("--json")]
        [Description("Print one JSON object instead of a table.")]
        public bool Json { get; init; }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var report = DoctorReport.Collect(settings.Fix);
        if (settings.Json)
        {
            Console.WriteLine(System.Text.Json.JsonSerializer.Serialize(report, JsonOptions.Indented));
            return report.Ok ? 0 : 1;
        }
        var table = new Table().AddColumn("check").AddColumn("result");
        table.AddRow(".NET", Markup.Escape(report.DotNet));
        table.AddRow("TorchSharp", Markup.Escape(report.TorchSharpVersion));
        table.AddRow("libtorch", Markup.Escape(report.LibTorchVersion ?? "unknown"));
        table.AddRow("libstdc++", Markup.Escape($"{report.LibStdCxx ?? "not found"} — {(report.LibStdCxxHasGlibcxx3432 ? "defines" : "lacks")} {TorchNativeSetup.RequiredVersion}"));
        foreach (var copy in report.NativeCopies)
            table.AddRow("native copy", Markup.Escape($"{copy.Path}: {copy.Before}" + (copy.After != copy.Before ? $" → {copy.After} (patched now)" : "")));
        table.AddRow("native library loads", report.NativeLoads ? "[green]yes[/]" : $"[red]no[/] {Markup.Escape(report.NativeLoadError ?? "")}");
        table.AddRow("threads", report.Threads.ToString());
        table.AddRow("CPU", Markup.Escape($"{report.CpuModel} ({Environment.ProcessorCount} logical cores)"));
        table.AddRow("AVX-512 / AVX512-BF16 / AMX-BF16", $"{YesNo(report.Avx512)} / {YesNo(report.Avx512Bf16)} / {YesNo(report.AmxBf16)}");
        table.AddRow("dtype auto", Markup.Escape(report.DTypeAuto.Count == 0
            ? "not calibrated yet on this CPU and libtorch (the first run with --dtype auto times fp32 and bf16, under a second)"
            : string.Join("\n", report.DTypeAuto)));
        table.AddRow("malloc tuning", Markup.Escape(MallocTuning.Apply()));
        table.AddRow("Fashion-MNIST", Markup.Escape(report.FashionMnist ?? "not found: apt-get install -y dataset-fashion-mnist"));
        table.AddRow("CLIP vocabulary", Markup.Escape(report.ClipVocabulary ?? ""));
        AnsiConsole.Write(table);
        if (!report.LibStdCxxHasGlibcxx3432)
        {
            AnsiConsole.MarkupLine(
                "[grey]TorchSharp 0.107's libLibTorchSharp.so asks for GLIBCXX_3.4.32 (GCC 13's libstdc++) only for " +
                "std::ios_base_library_init, a link-time anchor it never calls. This libstdc++ is older, so the fix marks that " +
                "one version requirement weak (VER_FLG_WEAK in .gnu.version_r); the loader then accepts the library. " +
                "deft applies it automatically before loading TorchSharp; `./deft doctor --fix` applies it by hand.[/]");
        }
        if (!report.Ok)
            AnsiConsole.MarkupLine("[red]TorchSharp cannot be loaded.[/] Run [bold]./deft doctor --fix[/] (it patches the copies listed above).");
        return report.Ok ? 0 : 1;
    }

    private static string YesNo(bool b) => b ? "[green]yes[/]" : "no";
}

/// <summary>Everything `deft doctor` checks, as data (also printed with --json).</summary>
internal sealed record DoctorReport(
    string DotNet,
    string TorchSharpVersion,
    string? LibTorchVersion,
    string? LibStdCxx,
    bool LibStdCxxHasGlibcxx3432,
    IReadOnlyList<NativeLibraryCopy> NativeCopies,
    bool NativeLoads,
    string? NativeLoadError,
    int Threads,
    string CpuModel,
    bool Avx512,
    bool Avx512Bf16,
    bool AmxBf16,
    string? FashionMnist,
    string? ClipVocabulary,
    IReadOnlyList<string> DTypeAuto)
{
    public bool Ok => NativeLoads;

    public static DoctorReport Collect(bool fix)
    {
        var native = TorchNativeSetup.Check(fix);
        var loads = false;
        string? error = null;
        var threads = 0;
        try
        {
            (loads, threads) = ProbeTorch();
        }
        catch (Exception ex)
        {
            error = (ex.InnerException ?? ex).Message.Split('\n')[0];
        }
        var flags = Deft.Native.CpuInfo.Flags();
        return new DoctorReport(
            RuntimeInformation.FrameworkDescription,
            typeof(TorchSharp.torch).Assembly.GetName().Version?.ToString() ?? "unknown",
            FindLibTorchVersion(),
            native.SystemLibStdCxx,
            native.SystemHasRequiredVersion,
            native.Copies,
            loads,
            error,
            threads,
            Deft.Native.CpuInfo.ModelName(),
            flags.Contains("avx512f"),
            flags.Contains("avx512_bf16"),
            flags.Contains("amx_bf16"),
            Describe(KnownLocations.FashionMnist),
            Describe(() => KnownLocations.ClipVocabulary() is { } chosen ? $"{chosen} (${KnownLocations.ClipVocabularyVariable})" : Deft.Clip.Tokenization.ClipTokenizer.OpenAiSource),
            loads ? DTypeCalibrations() : []);
    }

    /// <summary>What --dtype auto has cached for this CPU and libtorch: one line per block shape and thread count.</summary>
    private static IReadOnlyList<string> DTypeCalibrations()
    {
        try
        {
            return Deft.Clip.PrecisionCalibration.CachedForThisMachine().Select(c =>
            {
                var speed = c.Fp32Milliseconds / c.Bf16Milliseconds;
                var faster = speed >= Deft.Clip.PrecisionCalibration.MinSpeedup ? "bf16 if its features agree" : "fp32";
                return FormattableString.Invariant(
                    $"{faster}: bf16 {speed:0.00}× fp32 speed ({c.Fp32Milliseconds:0.#} vs {c.Bf16Milliseconds:0.#} ms per {c.Shape}, {c.Threads} thread(s))");
            }).ToList();
        }
        catch (DeftException ex) { return [FlagNames.Render(ex)]; }
    }

    /// <summary>A location, or what is wrong with the variable that names it (doctor reports, it does not fail).</summary>
    private static string? Describe(Func<string?> locate)
    {
        try { return locate(); }
        catch (DeftException ex) { return FlagNames.Render(ex); }
    }

    // Kept separate so a load failure surfaces as an exception here, not in the caller's JIT.
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static (bool, int) ProbeTorch()
    {
        using var a = TorchSharp.torch.ones(2, 2);
        using var b = a.matmul(a);
        var ok = Math.Abs(b.sum().item<float>() - 8f) < 1e-6;
        return (ok, TorchSharp.torch.get_num_threads());
    }

    private static string? FindLibTorchVersion()
    {
        var dir = Path.GetDirectoryName(typeof(TorchSharp.torch).Assembly.Location);
        // libtorch-cpu's package version is the libtorch version; the deps file records it.
        var deps = Directory.Exists(dir) ? Directory.GetFiles(dir, "*.deps.json").FirstOrDefault() : null;
        if (deps is null) return null;
        var text = File.ReadAllText(deps);
        var m = System.Text.RegularExpressions.Regex.Match(text, "\"libtorch-cpu-linux-x64/([0-9.]+)\"");
        return m.Success ? m.Groups[1].Value : null;
    }
}
