using Deft.Native;

namespace Deft.Tests.Native;

public class MallocTuningTests
{
    [Fact]
    public void Apply_leaves_GLIBC_TUNABLES_settings_alone_and_otherwise_sets_the_thresholds_through_mallopt()
    {
        var saved = Environment.GetEnvironmentVariable("GLIBC_TUNABLES");
        try
        {
            Environment.SetEnvironmentVariable("GLIBC_TUNABLES", "glibc.malloc.trim_threshold=1");
            Assert.Equal("GLIBC_TUNABLES=glibc.malloc.trim_threshold=1", MallocTuning.Apply());

            Environment.SetEnvironmentVariable("GLIBC_TUNABLES", null);
            // Debian's glibc accepts both values (mallopt returns 1); a refusal would say so instead.
            Assert.Equal("mmap and trim thresholds raised through mallopt", MallocTuning.Apply());
        }
        finally
        {
            Environment.SetEnvironmentVariable("GLIBC_TUNABLES", saved);
        }
    }
}
