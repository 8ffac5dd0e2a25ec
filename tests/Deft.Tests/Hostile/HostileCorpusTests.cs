using Deft.Clip;
using Deft.Data;
using Deft.Detection;
using Deft.Noise;

namespace Deft.Tests.Hostile;

/// <summary>
/// The probe's bad inputs kept as files (tests/hostile/READER/CASE.ext, made by make_corpus.py): each must fail with a
/// <see cref="DeftException"/> that names the file and contains the text of CASE.expect.
/// </summary>
public sealed class HostileCorpusTests
{
    private static string Root => Path.Combine(AppContext.BaseDirectory, "hostile");

    public static TheoryData<string> Cases()
    {
        var data = new TheoryData<string>();
        foreach (var file in Directory.EnumerateFiles(Root, "*", SearchOption.AllDirectories).Where(f => !f.EndsWith(".expect", StringComparison.Ordinal)).Order(StringComparer.Ordinal))
            data.Add(Path.GetRelativePath(Root, file).Replace('\\', '/'));
        return data;
    }

    [Fact]
    public void Corpus_is_present_and_covers_every_reader()
    {
        var readers = Directory.EnumerateDirectories(Root).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(["detector", "hf-config", "image", "labels", "manifest", "pt", "safetensors"], readers);
        Assert.True(Cases().Count >= 30);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Case_fails_with_a_clear_error(string relative)
    {
        var file = Path.Combine(Root, relative);
        var expect = File.ReadAllText(Path.ChangeExtension(file, ".expect")).Trim();
        var reader = relative.Split('/')[0];
        using var temp = new TempDir("deft-hostile-corpus");
        var named = Path.GetFileName(file);
        var ex = Assert.Throws<DeftException>(() => Read(reader, file, temp, ref named));
        Assert.Contains(expect, ex.Message);
        Assert.Contains(named, ex.Message);
        Assert.True(ex.Message.Length < 2000, $"message of {ex.Message.Length} characters");
    }

    private static void Read(string reader, string file, TempDir temp, ref string named)
    {
        switch (reader)
        {
            case "safetensors":
                foreach (var t in Safetensors.Load(file).Values) t.Dispose();
                break;
            case "detector":
                DetectorFile.ReadConfig(file);
                break;
            case "pt":
                foreach (var t in ClipLoader.ReadStateDict(file).Values) t.Dispose();
                break;
            case "hf-config":
            {
                var dir = temp.File("hf");
                Directory.CreateDirectory(dir);
                File.Copy(Fixtures.Path("clip-tiny-hf/model.safetensors"), Path.Combine(dir, "model.safetensors"));
                File.Copy(file, Path.Combine(dir, "config.json"));
                named = Path.Combine(dir, "config.json");
                ClipLoader.Load(dir).Dispose();
                break;
            }
            case "labels":
                LabelFile.Read(file, 10, 3);
                break;
            case "manifest":
                ManifestDataset.Open(file, null, tolerateMissingFiles: true);
                break;
            case "image":
                ImageDecoder.Decode(file);
                break;
            default:
                throw new InvalidOperationException($"no reader for corpus folder {reader}");
        }
    }
}
