using Spectre.Console;
using TorchSharp;

namespace Deft.Cli.Commands;

/// <summary>
/// The one meaning of <c>--device</c>. Deft ships TorchSharp-cpu, so this build computes on the CPU; zero-shot and
/// embed (model forward passes only) also run on a GPU once the package is swapped for a CUDA one (README, "Using a
/// GPU"), and only they offer <c>--device</c>. detect and run keep a hidden <c>--device</c> that takes cpu, so old
/// command lines still work, and answer anything else with why not.
/// </summary>
internal static class DeviceOption
{
    public const string Cpu = "cpu";

    public const string Description = "cpu (the default; this build is CPU-only: it ships TorchSharp-cpu). cuda or cuda:N needs TorchSharp-cpu swapped for a CUDA package (README, \"Using a GPU\").";

    /// <summary>Whether <paramref name="device"/> names the CPU.</summary>
    public static bool IsCpu(string device) => string.Equals(device.Trim(), Cpu, StringComparison.OrdinalIgnoreCase);

    /// <summary>Whether the TorchSharp this process loaded can reach a CUDA device.</summary>
    public static bool CudaAvailable()
    {
        try { return torch.cuda.is_available(); }
        catch (Exception) { return false; } // no native CUDA library at all: a CPU-only build
    }

    /// <summary>For a command with a GPU path: cpu always; cuda only where this build has CUDA.</summary>
    public static ValidationResult Validate(string device, Func<bool>? cudaAvailable = null)
    {
        if (IsCpu(device)) return ValidationResult.Success();
        var text = device.Trim().ToLowerInvariant();
        if (text != "cuda" && !text.StartsWith("cuda:", StringComparison.Ordinal))
            return ValidationResult.Error($"--device '{TextClip.Clip(device, 40)}' is not a device: cpu, cuda or cuda:N.");
        return (cudaAvailable ?? CudaAvailable)()
            ? ValidationResult.Success()
            : ValidationResult.Error($"--device {text}: this build of Deft is CPU-only (it ships TorchSharp-cpu, which has no CUDA). " +
                "Leave out --device (cpu is the default), or swap TorchSharp-cpu for a CUDA package (README, \"Using a GPU\").");
    }

    /// <summary>For a command that computes on the CPU in every build (detect, run).</summary>
    public static ValidationResult ValidateCpuOnly(string command, string device) =>
        IsCpu(device)
            ? ValidationResult.Success()
            : ValidationResult.Error($"--device {TextClip.Clip(device.Trim(), 40)}: {command} computes on the CPU in every build (its training loops have no GPU path; " +
                "this build is CPU-only besides). Leave out --device. zero-shot and embed take --device cuda with a CUDA package (README, \"Using a GPU\").");
}
