using Deft.Native;

namespace Deft.Tests.Native;

public sealed class ProcessMemoryTests
{
    [Fact]
    public void ReadsAKilobyteFieldOfAProcStatusFile()
    {
        using var dir = new TempDir("deft-mem");
        var path = dir.File("status");
        File.WriteAllText(path, "Name:\tdotnet\nVmPeak:\t 9000 kB\nVmHWM:\t  123456 kB\nVmRSS:\t 1000 kB\n");
        Assert.Equal(123456L * 1024, ProcessMemory.ReadStatusKilobytes(path, "VmHWM:"));
        Assert.Equal(9000L * 1024, ProcessMemory.ReadStatusKilobytes(path, "VmPeak:"));
        Assert.Null(ProcessMemory.ReadStatusKilobytes(path, "VmSwap:"));
        File.WriteAllText(path, "VmHWM:\t 12 MB\n");
        Assert.Null(ProcessMemory.ReadStatusKilobytes(path, "VmHWM:"));
        Assert.Null(ProcessMemory.ReadStatusKilobytes(dir.File("missing"), "VmHWM:"));
    }

    [Fact]
    public void ThisProcessPeakIsAtLeastWhatItHoldsNow()
    {
        if (!File.Exists("/proc/self/status")) return;
        var peak = ProcessMemory.PeakResidentBytes();
        Assert.NotNull(peak);
        // The managed heap alone is resident; the peak can only be larger.
        Assert.True(peak >= GC.GetTotalMemory(false), $"peak {peak} < managed heap {GC.GetTotalMemory(false)}");
        Assert.True(peak >= Environment.WorkingSet / 2, $"peak {peak} far below working set {Environment.WorkingSet}");
    }
}
