using System.Buffers.Binary;
using System.Diagnostics;
using System.IO.Compression;
using System.Text;

namespace Deft.Tests.Hostile;

/// <summary>Builders for hostile inputs: pickles that call code, zips, PNG headers, and the python3 positive control.</summary>
internal static class HostileFiles
{
    public static byte[] Bytes(params object[] parts)
    {
        var bytes = new List<byte>();
        foreach (var p in parts)
        {
            switch (p)
            {
                case string s: bytes.AddRange(Encoding.ASCII.GetBytes(s)); break;
                case byte b: bytes.Add(b); break;
                case int i: bytes.Add(checked((byte)i)); break;
                case byte[] a: bytes.AddRange(a); break;
                default: throw new ArgumentException(p.GetType().Name);
            }
        }
        return [.. bytes];
    }

    public static byte[] BinUnicode(string s)
    {
        var utf8 = Encoding.UTF8.GetBytes(s);
        return [(byte)'X', .. BitConverter.GetBytes(utf8.Length), .. utf8];
    }

    /// <summary>The plain-pickle attacks, each creating <paramref name="marker"/> when Python unpickles it.</summary>
    public static IEnumerable<(string Name, byte[] Pickle)> CodeRunningPickles(string marker)
    {
        var touch = $"touch '{marker}'";
        // os.system("touch MARKER"): GLOBAL + REDUCE, protocol 2.
        yield return ("os.system", Bytes(0x80, 2, "cos\nsystem\n", BinUnicode(touch), 0x85, "R."));
        yield return ("posix.system", Bytes(0x80, 2, "cposix\nsystem\n", BinUnicode(touch), 0x85, "R."));
        yield return ("builtins.exec", Bytes(0x80, 2, "cbuiltins\nexec\n", BinUnicode($"open({Py(marker)}, 'w').close()"), 0x85, "R."));
        // subprocess.call(["touch", MARKER])
        yield return ("subprocess.call", Bytes(0x80, 2, "csubprocess\ncall\n(](", BinUnicode("touch"), BinUnicode(marker), "etR."));
        // Protocol 4 STACK_GLOBAL, which a static guard cannot resolve without running the stack.
        yield return ("stack-global", Bytes(0x80, 4, 0x8c, 5, "posix", 0x94, 0x8c, 6, "system", 0x94, 0x93, 0x94, BinUnicode(touch), 0x85, "R."));
        // Hidden inside a state dict: {"weight": os.system(...)}.
        yield return ("nested", Bytes(0x80, 2, "}(", BinUnicode("weight"), "cos\nsystem\n", BinUnicode(touch), 0x85, "Ru."));
        // A class built with NEWOBJ whose BUILD would call __setstate__ in Python (here: a callable via REDUCE first).
        yield return ("builtins.eval", Bytes(0x80, 2, "cbuiltins\neval\n", BinUnicode($"__import__('os').system({Py(touch)})"), 0x85, "R."));
    }

    private static string Py(string s) => "'" + s.Replace("\\", "\\\\").Replace("'", "\\'") + "'";

    /// <summary>A torch.save-style zip around <paramref name="dataPkl"/> (plus extra entries).</summary>
    public static void TorchZip(string path, byte[] dataPkl, params (string Name, byte[] Bytes)[] extra)
    {
        using var zip = ZipFile.Open(path, ZipArchiveMode.Create);
        foreach (var (entry, content) in new[] { ("archive/data.pkl", dataPkl), ("archive/version", "3\n"u8.ToArray()) }.Concat(extra.Select(e => ($"archive/{e.Name}", e.Bytes))))
        {
            using var s = zip.CreateEntry(entry, CompressionLevel.NoCompression).Open();
            s.Write(content);
        }
    }

    /// <summary>
    /// The TorchScript attack of the probe: a module class whose __setstate__ (TorchScript code under code/) writes a
    /// file with torch.from_file + copy_; data.pkl hands it a tuple state, so libtorch runs __setstate__ on load.
    /// </summary>
    public static void HostileTorchScript(string path, string marker, bool dictState)
    {
        var code = $$"""
            class Evil(Module):
              __parameters__ = []
              __buffers__ = []
              training : bool
              def __getstate__(self: __torch__.Evil) -> Tuple[bool]:
                return (self.training,)
              def __setstate__(self: __torch__.Evil, state: Tuple[bool]) -> None:
                _0 = torch.from_file("{{marker}}", True, 16, dtype=6)
                _1 = torch.copy_(_0, torch.ones([16]))
                self.training = state[0]
                return None
            """;
        var state = dictState
            ? Bytes("}(", BinUnicode("training"), 0x89, "u")
            : Bytes(0x88, 0x85);
        var pkl = Bytes(0x80, 2, "c__torch__\nEvil\n)", 0x81, state, "b.");
        TorchZip(path, pkl, ("code/__torch__.py", Encoding.UTF8.GetBytes(code)), ("constants.pkl", [0x80, 2, (byte)')', (byte)'.']));
    }

    /// <summary>A PNG whose header claims <paramref name="width"/>×<paramref name="height"/>, with a token IDAT.</summary>
    public static byte[] PngHeader(int width, int height) =>
        Deft.Tests.Data.TestImages.PngWithData(width, height, colorType: 2, Deft.Tests.Data.TestImages.Zlib(new byte[1024]));

    /// <summary>A safetensors file from a raw header string and data bytes.</summary>
    public static byte[] Safetensors(string header, int dataBytes) => Safetensors(Encoding.UTF8.GetBytes(header), dataBytes);

    public static byte[] Safetensors(byte[] header, int dataBytes)
    {
        var len = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)header.Length);
        return [.. len, .. header, .. new byte[dataBytes]];
    }

    /// <summary>python3 on PATH, or null.</summary>
    public static string? Python3()
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, "python3");
            if (!File.Exists(candidate)) continue;
            try
            {
                using var p = Process.Start(new ProcessStartInfo(candidate, ["-c", "print(1)"]) { RedirectStandardOutput = true, RedirectStandardError = true })!;
                if (p.WaitForExit(20_000) && p.ExitCode == 0) return candidate;
            }
            catch (System.ComponentModel.Win32Exception) { }
        }
        return null;
    }

    /// <summary>Runs python3's own pickle.load on <paramref name="file"/> (the positive control: the attack is real).</summary>
    public static void PythonUnpickle(string python, string file)
    {
        using var p = Process.Start(new ProcessStartInfo(python, ["-c", "import pickle, sys; pickle.load(open(sys.argv[1], 'rb'))", file])
            { RedirectStandardOutput = true, RedirectStandardError = true })!;
        p.StandardOutput.ReadToEnd();
        p.StandardError.ReadToEnd();
        if (!p.WaitForExit(30_000)) p.Kill();
    }
}
