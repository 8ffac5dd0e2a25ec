using Deft.Peft;
using System.Diagnostics;
using System.IO.Compression;
using System.Text;
using Deft.Clip;
using Deft.IO;
using Deft.Data;
using Deft.Detection;
using Deft.Noise;
using Deft.Tests.Clip;
using Deft.Tests.Data;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Deft.Tests.Hostile;

/// <summary>
/// Bounded, seeded mutation fuzzing of every parser of user files: byte flips, truncation, insertions and
/// length-field overwrites of a valid file. A parser may reject a mutant only with a <see cref="DeftException"/>;
/// any other exception (overflow, index out of range, libtorch abort) fails the test naming the seed to replay.
/// </summary>
public sealed class HostileFuzzTests(ITestOutputHelper output) : IDisposable
{
    private const int MutationsPerParser = 300;
    private readonly TempDir _dir = new("deft-hostile-fuzz");

    public void Dispose() => _dir.Dispose();

    private static byte[] Mutate(byte[] original, Random rng)
    {
        var b = (byte[])original.Clone();
        switch (rng.Next(6))
        {
            case 0: // a few bit flips
                for (var i = rng.Next(1, 4); i > 0 && b.Length > 0; i--) b[rng.Next(b.Length)] ^= (byte)(1 << rng.Next(8));
                return b;
            case 1: // truncation
                return b[..rng.Next(b.Length)];
            case 2: // a random byte
                if (b.Length > 0) b[rng.Next(b.Length)] = (byte)rng.Next(256);
                return b;
            case 3: // a length-like field overwritten with an extreme value
            {
                if (b.Length < 8) return b;
                var at = rng.Next(b.Length - 4);
                uint[] extremes = [0xFFFFFFF0, 0x7FFFFFFF, 0x80000000, 0, 1, 0xFFFFFFFF, 65535];
                BitConverter.GetBytes(extremes[rng.Next(extremes.Length)]).CopyTo(b, at);
                return b;
            }
            case 4: // an insertion of bytes from elsewhere in the file
            {
                var at = rng.Next(b.Length + 1);
                var from = rng.Next(b.Length + 1);
                var len = rng.Next(Math.Min(16, b.Length - from) + 1);
                return [.. b[..at], .. b.AsSpan(from, len), .. b[at..]];
            }
            default: // a digit or punctuation swapped (text formats)
            {
                if (b.Length == 0) return b;
                var chars = "0123456789,;\"{}[]:-.\n\0\xff e"u8.ToArray();
                b[rng.Next(b.Length)] = chars[rng.Next(chars.Length)];
                return b;
            }
        }
    }

    private void Fuzz(string parser, byte[] valid, string fileName, Action<string> parse, int seed0)
    {
        var sw = Stopwatch.StartNew();
        var path = _dir.File(fileName);
        File.WriteAllBytes(path, valid);
        parse(path); // the valid file parses
        var rejected = 0;
        for (var seed = seed0; seed < seed0 + MutationsPerParser; seed++)
        {
            var mutant = Mutate(valid, new Random(seed));
            File.WriteAllBytes(path, mutant);
            try
            {
                parse(path);
            }
            catch (DeftException)
            {
                rejected++;
            }
            catch (Exception ex)
            {
                Assert.Fail($"{parser}, mutation seed {seed}: {ex.GetType().Name}: {ex.Message}\n{ex.StackTrace}");
            }
        }
        output.WriteLine($"{parser}: {MutationsPerParser} mutants, {rejected} rejected with a DeftException, {sw.ElapsedMilliseconds} ms");
    }

    [Fact]
    public void Idx_reader()
    {
        var dir = _dir.File("idx");
        Directory.CreateDirectory(dir);
        DatasetFiles.WriteIdxSplit(dir, "train", [.. Enumerable.Range(0, 3).Select(i => Enumerable.Repeat((byte)i, 16).ToArray())], [0, 1, 2], 4, gzip: false);
        var images = Path.Combine(dir, "train-images-idx3-ubyte");
        var valid = File.ReadAllBytes(images);
        Fuzz("idx images", valid, "idx/train-images-idx3-ubyte", _ =>
        {
            var d = DatasetFactory.Open(new DatasetOptions(dir, "idx", "train"));
            for (var i = 0; i < d.Count; i++) d.GetImage(i);
        }, 1000);
    }

    [Fact]
    public void Safetensors_reader()
    {
        using var a = arange(6, dtype: ScalarType.Float32).reshape(2, 3);
        using var b = ones(4, dtype: ScalarType.Int64);
        var path = _dir.File("valid.safetensors");
        Safetensors.Save(path, [new("a", a), new("b", b)], new Dictionary<string, string> { ["k"] = "v" });
        Fuzz("safetensors", File.ReadAllBytes(path), "t.safetensors", p => { foreach (var t in Safetensors.Load(p).Values) t.Dispose(); }, 2000);
    }

    [Fact]
    public void Pickle_and_pt_reader()
    {
        using var w = arange(12, dtype: ScalarType.Float32).reshape(3, 4);
        using var v = ones(5, dtype: ScalarType.Float32);
        var path = _dir.File("valid.pt");
        TorchSaveArchive.Write(path, new Dictionary<string, Tensor> { ["w"] = w, ["v"] = v }, checkpointEpoch: 2);
        // Mutate the whole zip, and (more to the point) data.pkl alone inside an intact zip.
        Fuzz("pt zip", File.ReadAllBytes(path), "z.pt", p => { foreach (var t in ClipLoader.ReadStateDict(p).Values) t.Dispose(); }, 3000);
        byte[] pkl;
        using (var zip = ZipFile.OpenRead(path))
        using (var s = zip.GetEntry("archive/data.pkl")!.Open())
        using (var m = new MemoryStream()) { s.CopyTo(m); pkl = m.ToArray(); }
        var storages = new[] { ("archive/data/0", w), ("archive/data/1", v) };
        Fuzz("data.pkl", pkl, "data.pkl", p =>
        {
            var zipPath = p + ".pt";
            File.Delete(zipPath);
            using (var zip = ZipFile.Open(zipPath, ZipArchiveMode.Create))
            {
                using (var s = zip.CreateEntry("archive/data.pkl", CompressionLevel.NoCompression).Open()) s.Write(File.ReadAllBytes(p));
                foreach (var (name, t) in storages)
                    using (var s = zip.CreateEntry(name, CompressionLevel.NoCompression).Open()) s.Write(t.contiguous().bytes);
            }
            foreach (var t in TorchPickle.LoadStateDict(zipPath).Values) t.Dispose();
        }, 4000);
    }

    [Fact]
    public void Label_file_and_manifest_readers()
    {
        var labels = Encoding.UTF8.GetBytes("index,label,true_label\n0,1,1\n1,2,0\n2,0,0\n3,cat,dog\n");
        Fuzz("label csv", labels, "labels.csv", p => LabelFile.Read(p, 6, 3, ["cat", "dog", "emu"]), 5000);
        var oneLabelPerLine = Encoding.UTF8.GetBytes("1\n2\n0\n");
        Fuzz("label lines", oneLabelPerLine, "labels.txt", p => LabelFile.Read(p, 6, 3), 5500);
        var manifest = Encoding.UTF8.GetBytes("path,label,clean_label\na.png,cat,cat\n\"b,c.png\",dog,\nsub/d.png,cat,dog\n");
        Fuzz("manifest", manifest, "manifest.csv", p => ManifestDataset.Open(p, null, tolerateMissingFiles: true), 6000);
        Fuzz("manifest+classes", manifest, "manifest2.csv", p => ManifestDataset.Open(p, ["cat", "dog"], tolerateMissingFiles: true), 6500);
    }

    [Fact]
    public void Hugging_face_config_reader()
    {
        var config = File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "hostile", "hf-config", "layers-contradict.json"));
        var valid = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(config).Replace("\"num_hidden_layers\": 3", "\"num_hidden_layers\": 2"));
        Fuzz("hf config.json", valid, "config.json", p => HuggingFaceConfigFile.Read(p).CheckAgainst(ClipConfig.Tiny, "model.safetensors"), 7000);
    }

    [Fact]
    public void Detector_file_reader()
    {
        var config = new DetectorConfig
        {
            Model = "random:tiny", Classes = ["cat", "dog"], Prompts = new(ContextLength: 4), Peft = new(PeftKind.VptDeep, VptLength: 2, LoraRank: 4),
            Preprocess = new() { Mean = new(0.5f, 0.5f, 0.5f), Std = new(0.2f, 0.2f, 0.2f) },
        };
        using var p0 = new TorchSharp.Modules.Parameter(zeros(2, 3));
        var path = _dir.File("valid-detector.safetensors");
        DetectorFile.Save(path, config, [("ctx", p0)]);
        Fuzz("detector.safetensors", File.ReadAllBytes(path), DetectorFile.FileName, p =>
        {
            DetectorFile.ReadConfig(p);
            DetectorFile.LoadInto(p, [("ctx", p0)]);
        }, 8000);
    }
}
