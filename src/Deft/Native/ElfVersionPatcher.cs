using System.Buffers.Binary;
using System.Text;

namespace Deft.Native;

/// <summary>What <see cref="ElfVersionPatcher"/> found or did for one version requirement.</summary>
public enum VersionRequirementState
{
    /// <summary>The file does not ask for that version at all.</summary>
    NotRequired,
    /// <summary>The file asks for it as a hard requirement (loading fails where the library lacks it).</summary>
    Required,
    /// <summary>The requirement is marked weak (VER_FLG_WEAK): the loader only warns where it is missing.</summary>
    Weak,
}

/// <summary>
/// Reads and edits the version-needed table (<c>.gnu.version_r</c>) of a 64-bit little-endian ELF shared object.
/// TorchSharp 0.107's <c>libLibTorchSharp.so</c> asks for <c>GLIBCXX_3.4.32</c> only because of the link-time anchor
/// <c>std::ios_base_library_init</c>, which is never called; Debian 12's libstdc++ stops at 3.4.30. Setting
/// VER_FLG_WEAK on that one entry lets the dynamic loader accept the library. Nothing else in the file changes.
/// </summary>
public static class ElfVersionPatcher
{
    private const uint ShtGnuVerneed = 0x6ffffffe;
    private const ushort VerFlgWeak = 0x2;

    /// <summary>Reports the state of requirement <paramref name="version"/> (e.g. GLIBCXX_3.4.32) in <paramref name="path"/>.</summary>
    public static VersionRequirementState Inspect(string path, string version)
    {
        var bytes = File.ReadAllBytes(path);
        var state = VersionRequirementState.NotRequired;
        foreach (var (flagsOffset, name) in EnumerateRequirements(bytes, path))
        {
            if (name != version) continue;
            var flags = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(flagsOffset));
            state = (flags & VerFlgWeak) != 0 ? VersionRequirementState.Weak : VersionRequirementState.Required;
        }
        return state;
    }

    /// <summary>
    /// Marks requirement <paramref name="version"/> weak. Idempotent; writes atomically (temp file + rename) and only
    /// when something changes. Returns the state after the call.
    /// </summary>
    public static VersionRequirementState MarkWeak(string path, string version)
    {
        var bytes = File.ReadAllBytes(path);
        var changed = false;
        var found = false;
        foreach (var (flagsOffset, name) in EnumerateRequirements(bytes, path))
        {
            if (name != version) continue;
            found = true;
            var flags = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(flagsOffset));
            if ((flags & VerFlgWeak) != 0) continue;
            BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(flagsOffset), (ushort)(flags | VerFlgWeak));
            changed = true;
        }
        if (!found) return VersionRequirementState.NotRequired;
        if (changed)
        {
            var tmp = path + ".deft-tmp";
            File.WriteAllBytes(tmp, bytes);
            if (!OperatingSystem.IsWindows())
                File.SetUnixFileMode(tmp, File.GetUnixFileMode(path));
            File.Move(tmp, path, overwrite: true);
        }
        return VersionRequirementState.Weak;
    }

    /// <summary>Yields (file offset of vna_flags, version name) for every Vernaux entry.</summary>
    internal static IEnumerable<(int FlagsOffset, string Name)> EnumerateRequirements(byte[] elf, string path)
    {
        if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F')
            throw new InvalidDataException($"{path} is not an ELF file.");
        if (elf[4] != 2 || elf[5] != 1)
            throw new InvalidDataException($"{path} is not a 64-bit little-endian ELF file; only those are supported.");
        var span = elf.AsSpan();
        var shoff = checked((int)BinaryPrimitives.ReadUInt64LittleEndian(span[0x28..]));
        var shentsize = BinaryPrimitives.ReadUInt16LittleEndian(span[0x3A..]);
        var shnum = BinaryPrimitives.ReadUInt16LittleEndian(span[0x3C..]);
        var results = new List<(int, string)>();
        for (var i = 0; i < shnum; i++)
        {
            var sh = shoff + i * shentsize;
            if (BinaryPrimitives.ReadUInt32LittleEndian(span[(sh + 4)..]) != ShtGnuVerneed) continue;
            var offset = checked((int)BinaryPrimitives.ReadUInt64LittleEndian(span[(sh + 0x18)..]));
            var link = (int)BinaryPrimitives.ReadUInt32LittleEndian(span[(sh + 0x28)..]);
            var count = (int)BinaryPrimitives.ReadUInt32LittleEndian(span[(sh + 0x2C)..]); // sh_info = number of Verneed entries
            var strsh = shoff + link * shentsize;
            var strOffset = checked((int)BinaryPrimitives.ReadUInt64LittleEndian(span[(strsh + 0x18)..]));
            var verneed = offset;
            for (var n = 0; n < count; n++)
            {
                var cnt = BinaryPrimitives.ReadUInt16LittleEndian(span[(verneed + 2)..]);
                var aux = verneed + (int)BinaryPrimitives.ReadUInt32LittleEndian(span[(verneed + 8)..]);
                for (var a = 0; a < cnt; a++)
                {
                    var nameOff = (int)BinaryPrimitives.ReadUInt32LittleEndian(span[(aux + 8)..]);
                    results.Add((aux + 4, ReadCString(elf, strOffset + nameOff)));
                    var next = (int)BinaryPrimitives.ReadUInt32LittleEndian(span[(aux + 12)..]);
                    if (next == 0) break;
                    aux += next;
                }
                var vnNext = (int)BinaryPrimitives.ReadUInt32LittleEndian(span[(verneed + 12)..]);
                if (vnNext == 0) break;
                verneed += vnNext;
            }
        }
        return results;
    }

    private static string ReadCString(byte[] bytes, int offset)
    {
        var end = Array.IndexOf(bytes, (byte)0, offset);
        return Encoding.ASCII.GetString(bytes, offset, end - offset);
    }
}
