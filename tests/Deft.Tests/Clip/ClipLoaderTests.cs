using System.IO.Compression;
using System.Text;
using Deft.Clip;
using Deft.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace Deft.Tests.Clip;

public sealed class ClipLoaderTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"deft-clip-tests-{Guid.NewGuid():N}");

    public ClipLoaderTests() => Directory.CreateDirectory(_dir);

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    private static Dictionary<string, Tensor> FixtureWeights() => Safetensors.Load(Fixtures.TinyClip);

    private static void DisposeAll(Dictionary<string, Tensor> d)
    {
        foreach (var t in d.Values) t.Dispose();
    }

    private string SaveModified(string name, Action<Dictionary<string, Tensor>> edit)
    {
        var weights = FixtureWeights();
        try
        {
            edit(weights);
            var path = Path.Combine(_dir, name);
            Safetensors.Save(path, weights);
            return path;
        }
        finally { DisposeAll(weights); }
    }

    [Fact]
    public void Missing_and_unexpected_keys_are_listed()
    {
        var path = SaveModified("keys.safetensors", w =>
        {
            w.Remove("visual.ln_post.bias", out var removed);
            removed!.Dispose();
            w["extra.weight"] = torch.zeros(3);
        });
        var ex = Assert.Throws<DeftException>(() => ClipLoader.Load(path));
        Assert.Contains(path, ex.Message);
        Assert.Contains("1 missing key(s): visual.ln_post.bias", ex.Message);
        Assert.Contains("1 unexpected key(s): extra.weight", ex.Message);
    }

    [Fact]
    public void Long_key_lists_are_cut_with_a_count()
    {
        var path = SaveModified("many.safetensors", w =>
        {
            for (var i = 0; i < 15; i++) w[$"extra.{i:D2}"] = torch.zeros(1);
        });
        var ex = Assert.Throws<DeftException>(() => ClipLoader.Load(path));
        Assert.Contains("15 unexpected key(s): extra.00, extra.01", ex.Message);
        Assert.Contains("(5 more)", ex.Message);
        Assert.DoesNotContain("extra.14", ex.Message);
    }

    [Fact]
    public void Shape_mismatch_names_the_key_and_both_shapes()
    {
        using var model = ClipLoader.Load("random:tiny");
        var weights = FixtureWeights();
        try
        {
            weights["visual.proj"].Dispose();
            weights["visual.proj"] = torch.zeros(128, 32);
            var ex = Assert.Throws<DeftException>(() => ClipLoader.LoadStateDict(model, weights, "edited"));
            Assert.Contains("'visual.proj' has shape [128, 32] in the file but the model expects [128, 64]", ex.Message);
        }
        finally { DisposeAll(weights); }
    }

    [Fact]
    public void Integer_weights_are_rejected()
    {
        var path = SaveModified("int.safetensors", w =>
        {
            w["ln_final.weight"].Dispose();
            w["ln_final.weight"] = torch.ones(64, ScalarType.Int64);
        });
        var ex = Assert.Throws<DeftException>(() => ClipLoader.Load(path));
        Assert.Contains("'ln_final.weight' has dtype Int64", ex.Message);
    }

    [Fact]
    public void Half_precision_weights_load_as_float32()
    {
        var path = SaveModified("half.safetensors", w =>
        {
            foreach (var key in w.Keys.ToList())
            {
                var half = w[key].to(ScalarType.Float16);
                w[key].Dispose();
                w[key] = half;
            }
        });
        using var model = ClipLoader.Load(path);
        Assert.All(model.NamedClipParameters(), p => Assert.Equal(ScalarType.Float32, p.Parameter.dtype));
        using var reference = new TinyReference();
        using var noGrad = torch.no_grad();
        using var features = model.EncodeImage(reference.Images);
        Assert.True(TensorAssert.MinRowCosine(reference.ImageFeatures, features) > 0.999);
    }

    [Fact]
    public void Open_clip_config_sets_the_activation_and_the_option_overrides_it()
    {
        var modelDir = Path.Combine(_dir, "openclip");
        Directory.CreateDirectory(modelDir);
        File.Copy(Fixtures.TinyClip, Path.Combine(modelDir, "open_clip_model.safetensors"));
        File.WriteAllText(Path.Combine(modelDir, "open_clip_config.json"),
            """{"model_cfg": {"embed_dim": 64, "vision_cfg": {"image_size": 32, "layers": 2, "width": 128, "patch_size": 8}, "text_cfg": {"context_length": 77, "vocab_size": 1514, "width": 64, "heads": 1, "layers": 2}}}""");
        using var reference = new TinyReference();
        using var noGrad = torch.no_grad();

        using (var gelu = ClipLoader.Load(modelDir))
        {
            Assert.Equal(ClipActivation.Gelu, gelu.Config.Activation);
            using var features = gelu.EncodeImage(reference.Images);
            Assert.True(TensorAssert.MaxAbsDiff(reference.ImageFeatures, features) > 1e-3, "exact GELU must differ from the QuickGELU reference");
        }
        using (var quick = ClipLoader.Load(modelDir, new ClipLoadOptions { Activation = ClipActivation.QuickGelu }))
        {
            using var features = quick.EncodeImage(reference.Images);
            TensorAssert.Close(reference.ImageFeatures, features, 1e-4, "QuickGELU override");
        }
    }

    [Fact]
    public void Config_is_inferred_from_state_dict_shapes()
    {
        foreach (var config in new[] { ClipConfig.ViTB32, ClipConfig.Tiny, Fixtures.TinyClipConfig })
        {
            using var model = new ClipModel(config, torch.CPU);
            var shapes = model.NamedClipParameters().ToDictionary(p => p.Name, p => p.Parameter.shape);
            Assert.Equal(config, ClipConfig.FromOpenAiStateDict(shapes));
        }
    }

    [Fact]
    public void Unknown_specs_and_presets_say_what_is_valid()
    {
        var ex = Assert.Throws<DeftException>(() => ClipLoader.Load("random:ViT-H-99"));
        Assert.Contains("ViT-B-32, ViT-B-16, ViT-L-14, tiny", ex.Message);
        ex = Assert.Throws<DeftException>(() => ClipLoader.Load(Path.Combine(_dir, "nothing-here.pt")));
        Assert.Contains("random:<preset>", ex.Message);
        ex = Assert.Throws<DeftException>(() => ClipLoader.Load("random:tiny@x"));
        Assert.Contains("seed", ex.Message);
    }

    [Fact]
    public void Safetensors_round_trip_keeps_dtype_shape_and_values()
    {
        var path = Path.Combine(_dir, "rt.safetensors");
        using var a = torch.arange(12, ScalarType.Float32).view(3, 4);
        using var b = torch.tensor(new long[] { 1, -2, 3 });
        using var c = torch.tensor(3.5f).to(ScalarType.BFloat16);
        Safetensors.Save(path, new Dictionary<string, Tensor> { ["a"] = a, ["b"] = b, ["c"] = c }, new Dictionary<string, string> { ["k"] = "v" });
        var loaded = Safetensors.Load(path, out var meta);
        try
        {
            Assert.Equal("v", meta["k"]);
            Assert.True(loaded["a"].allclose(a, 0, 0));
            Assert.Equal(new long[] { 1, -2, 3 }, loaded["b"].data<long>().ToArray());
            Assert.Equal(ScalarType.BFloat16, loaded["c"].dtype);
            Assert.Empty(loaded["c"].shape);
        }
        finally { DisposeAll(loaded); }
    }

    // ---- hostile pickles: nothing may run, and the error must say why -------------------------------------------

    private static byte[] Pickle(params object[] parts) => Hostile.HostileFiles.Bytes(parts);

    private static byte[] BinUnicode(string s) => Hostile.HostileFiles.BinUnicode(s);

    /// <summary>pickle.dumps of a __reduce__ to os.system(command) — GLOBAL + REDUCE, protocol 2.</summary>
    private static byte[] SystemCall(string module, string command) =>
        Pickle((byte)0x80, (byte)2, $"c{module}\nsystem\n", BinUnicode(command), (byte)0x85, "R.");

    private string TorchZip(string name, byte[] dataPkl)
    {
        var path = Path.Combine(_dir, name);
        using var zip = ZipFile.Open(path, ZipArchiveMode.Create);
        foreach (var (entry, content) in new[] { ("archive/data.pkl", dataPkl), ("archive/version", "3\n"u8.ToArray()) })
        {
            using var s = zip.CreateEntry(entry, CompressionLevel.NoCompression).Open();
            s.Write(content);
        }
        return path;
    }

    [Fact]
    public void Pickle_calling_os_system_is_rejected_and_nothing_runs()
    {
        var marker = Path.Combine(_dir, "pwned");
        var path = TorchZip("evil.pt", SystemCall("posix", $"touch {marker}"));
        var ex = Assert.Throws<DeftException>(() => ClipLoader.Load(path));
        Assert.Contains("posix.system", ex.Message);
        Assert.Contains("refusing to load", ex.Message);
        Assert.False(File.Exists(marker));
    }

    [Fact]
    public void Hostile_global_hidden_inside_a_state_dict_is_rejected()
    {
        var marker = Path.Combine(_dir, "pwned2");
        // {"weight": os.system("touch …")}: EMPTY_DICT, MARK, key, GLOBAL+REDUCE, SETITEMS.
        var pkl = Pickle((byte)0x80, (byte)2, "}(", BinUnicode("weight"), $"cos\nsystem\n", BinUnicode($"touch {marker}"), (byte)0x85, "Ru.");
        var path = TorchZip("nested.pt", pkl);
        var ex = Assert.Throws<DeftException>(() => ClipLoader.Load(path));
        Assert.Contains("os.system", ex.Message);
        Assert.False(File.Exists(marker));
    }

    [Fact]
    public void Protocol_4_stack_global_is_rejected()
    {
        var pkl = Pickle((byte)0x80, (byte)4, (byte)0x8c, (byte)5, "posix", (byte)0x8c, (byte)6, "system", (byte)0x93,
            (byte)0x8c, (byte)4, "true", (byte)0x85, "R.");
        var path = TorchZip("stack.pt", pkl);
        var ex = Assert.Throws<DeftException>(() => ClipLoader.Load(path));
        Assert.Contains("refusing to load", ex.Message);
    }

    [Fact]
    public void Bare_pickle_file_is_rejected_without_unpickling()
    {
        var marker = Path.Combine(_dir, "pwned3");
        var path = Path.Combine(_dir, "bare.pt");
        File.WriteAllBytes(path, SystemCall("posix", $"touch {marker}"));
        var ex = Assert.Throws<DeftException>(() => ClipLoader.Load(path));
        Assert.Contains("not a zip archive", ex.Message);
        Assert.False(File.Exists(marker));
    }

    [Fact]
    public void Restricted_unpickler_reads_the_real_torch_save_fixture()
    {
        var tensors = TorchPickle.LoadStateDict(Fixtures.Path("clip-tiny-openai.pt"));
        try { Assert.Contains("visual.conv1.weight", tensors.Keys); }
        finally { foreach (var t in tensors.Values) t.Dispose(); }
    }
}
