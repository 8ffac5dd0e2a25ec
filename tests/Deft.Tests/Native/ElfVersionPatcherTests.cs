using System.Buffers.Binary;
using Deft.Native;

namespace Deft.Tests.Native;

public class ElfVersionPatcherTests
{
    private static string NugetCopy() => TorchNativeSetup.FindNativeLibraryCopies()
        .First(p => File.Exists(p));

    [Fact]
    public void MarkWeak_sets_only_the_weak_flag_of_the_named_requirement_and_is_idempotent()
    {
        var dir = Directory.CreateTempSubdirectory("deft-elf");
        try
        {
            var path = Path.Combine(dir.FullName, "lib.so");
            File.Copy(NugetCopy(), path);
            // Restore the file as shipped (hard requirement), whatever state the copy was in.
            var bytes = File.ReadAllBytes(path);
            var entry = ElfVersionPatcher.EnumerateRequirements(bytes, path).Single(r => r.Name == "GLIBCXX_3.4.32");
            var flags = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(entry.FlagsOffset));
            BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(entry.FlagsOffset), (ushort)(flags & ~2));
            File.WriteAllBytes(path, bytes);
            Assert.Equal(VersionRequirementState.Required, ElfVersionPatcher.Inspect(path, "GLIBCXX_3.4.32"));
            Assert.Equal(VersionRequirementState.Required, ElfVersionPatcher.Inspect(path, "GLIBCXX_3.4.30"));

            Assert.Equal(VersionRequirementState.Weak, ElfVersionPatcher.MarkWeak(path, "GLIBCXX_3.4.32"));
            var patched = File.ReadAllBytes(path);
            var differing = Enumerable.Range(0, bytes.Length).Where(i => bytes[i] != patched[i]).ToList();
            Assert.Equal([entry.FlagsOffset], differing); // one byte of one entry, nothing else
            Assert.Equal(VersionRequirementState.Required, ElfVersionPatcher.Inspect(path, "GLIBCXX_3.4.30"));

            Assert.Equal(VersionRequirementState.Weak, ElfVersionPatcher.MarkWeak(path, "GLIBCXX_3.4.32"));
            Assert.Equal(patched, File.ReadAllBytes(path));
            Assert.Equal(VersionRequirementState.NotRequired, ElfVersionPatcher.MarkWeak(path, "GLIBCXX_9.9.99"));
        }
        finally { dir.Delete(recursive: true); }
    }

    [Fact]
    public void Rejects_a_file_that_is_not_elf_with_its_name()
    {
        var path = Path.GetTempFileName();
        File.WriteAllText(path, "not an elf file at all, just text that is long enough to have a header......");
        var ex = Assert.Throws<InvalidDataException>(() => ElfVersionPatcher.Inspect(path, "GLIBCXX_3.4.32"));
        Assert.Contains(path, ex.Message);
        File.Delete(path);
    }

    [Fact]
    public void TorchSharp_loads_after_setup()
    {
        Assert.True(TorchNativeSetup.EnsureLoadable().Loadable);
        using var x = TorchSharp.torch.arange(6, dtype: TorchSharp.torch.ScalarType.Float32).reshape(2, 3);
        using var y = x.matmul(x.t());
        Assert.Equal(new float[] { 5, 14, 14, 50 }, y.data<float>().ToArray());
    }
}
