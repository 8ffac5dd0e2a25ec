using Deft.Adaptation;
using Deft.Clip;
using Deft.Data;
using Deft.Peft;
using Deft.Tests.Data;

namespace Deft.Tests.Hostile;

/// <summary>
/// Every reader of PyTorch files refuses pickles that would run code, and nothing they ask for happens: a marker
/// file the attack would create stays absent. Where python3 exists, the same pickle does create the marker when
/// Python's own unpickler loads it, so the test proves the attacks are real.
/// </summary>
public sealed class HostilePickleTests : IDisposable
{
    private readonly TempDir _dir = new("deft-hostile-pickle");

    public void Dispose() => _dir.Dispose();

    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (var reader in new[] { "clip", "backbone", "cifar100n" })
            foreach (var (name, _) in HostileFiles.CodeRunningPickles("m"))
                data.Add(reader, name);
        return data;
    }

    private static readonly string[] AllReaders = ["clip", "backbone", "cifar100n"];

    /// <summary>Loads <paramref name="file"/> through one of the project's .pt readers.</summary>
    private void ReadWith(string reader, string file)
    {
        switch (reader)
        {
            case "clip":
                ClipLoader.Load(file).Dispose();
                break;
            case "backbone":
                BackboneLoader.Create(file, BackboneKind.Auto, 4, resolution: 32, new PeftOptions(PeftKind.Full), headSeed: 0).Network.Dispose();
                break;
            case "cifar100n":
            {
                var root = _dir.File("cifar");
                _dir.WriteText("cifar/cifar-100-binary/fine_label_names.txt", string.Join("\n", Enumerable.Range(0, 100).Select(i => $"c{i}")));
                _dir.Write("cifar/cifar-100-binary/train.bin", DatasetFiles.CifarRecords([((byte?)1, (byte)2, DatasetFiles.PlanarPattern(1))]));
                _dir.Write("cifar/cifar-100-binary/test.bin", DatasetFiles.CifarRecords([((byte?)1, (byte)2, DatasetFiles.PlanarPattern(2))]));
                File.Copy(file, Path.Combine(root, "CIFAR-100_human.pt"), overwrite: true);
                DatasetFactory.Open(new DatasetOptions(root, "cifar100n", "train"));
                break;
            }
            default: throw new ArgumentException(reader);
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Code_running_pickle_is_refused_and_leaves_no_trace(string reader, string attack)
    {
        var marker = _dir.File($"marker-{reader}-{attack}");
        var pickle = HostileFiles.CodeRunningPickles(marker).Single(p => p.Name == attack).Pickle;
        var file = _dir.File($"{reader}-{attack}.pt");
        HostileFiles.TorchZip(file, pickle);

        var ex = Assert.Throws<DeftException>(() => ReadWith(reader, file));
        Assert.Contains("refusing to load", ex.Message);
        Assert.False(File.Exists(marker), $"{attack} ran through the {reader} reader");

        // The positive control: Python's unpickler runs the same bytes, so the attack is real and the check can fail.
        if (HostileFiles.Python3() is { } python)
        {
            var raw = _dir.Write($"{reader}-{attack}.pkl", pickle);
            HostileFiles.PythonUnpickle(python, raw);
            Assert.True(File.Exists(marker), $"python3 did not run the {attack} pickle: the test's attack is broken");
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void TorchScript_archive_with_a_file_writing_setstate_runs_nothing(bool dictState)
    {
        foreach (var reader in AllReaders)
        {
            var marker = _dir.File($"ts-marker-{reader}-{dictState}");
            var file = _dir.File($"ts-{reader}-{dictState}.pt");
            HostileFiles.HostileTorchScript(file, marker, dictState);
            var ex = Assert.Throws<DeftException>(() => ReadWith(reader, file));
            Assert.False(File.Exists(marker), $"the TorchScript __setstate__ ran through the {reader} reader");
            if (!dictState) Assert.Contains("__setstate__", ex.Message);
            else if (reader != "cifar100n") Assert.Contains("holds no tensors", ex.Message);
            Assert.Contains(Path.GetFileName(reader == "cifar100n" ? "CIFAR-100_human.pt" : file), ex.Message);
        }
    }

    [Fact]
    public void Readers_never_reach_libtorch_jit_load()
    {
        // The source itself: nothing in the library may call torch.jit.load (it runs an archive's code).
        var src = Path.Combine(RepositoryRoot(), "src");
        var offenders = Directory.EnumerateFiles(src, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}") && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}"))
            .Where(f => File.ReadAllText(f).Contains("jit.load(", StringComparison.Ordinal) && !File.ReadAllText(f).Contains("torch.jit.load('MODEL.pt'", StringComparison.Ordinal))
            .ToList();
        Assert.Empty(offenders);
    }

    internal static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Deft.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("Deft.sln not found above the test assembly.");
    }
}
