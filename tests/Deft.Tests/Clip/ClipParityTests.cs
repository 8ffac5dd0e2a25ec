using Deft.Clip;
using Deft.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace Deft.Tests.Clip;

/// <summary>The tiny fixture's weights in all three layouts reproduce PyTorch's outputs (computed with OpenAI's code).</summary>
public sealed class ClipParityTests
{
    private const double Tolerance = 1e-4;

    [Theory]
    [InlineData("clip-tiny-openai.safetensors", ClipWeightsFormat.Safetensors, ClipWeightsLayout.OpenAi)]
    [InlineData("clip-tiny-openai.pt", ClipWeightsFormat.TorchPickle, ClipWeightsLayout.OpenAi)]
    [InlineData("clip-tiny-hf", ClipWeightsFormat.Safetensors, ClipWeightsLayout.HuggingFace)]
    public void Fixture_outputs_match_pytorch(string name, ClipWeightsFormat format, ClipWeightsLayout layout)
    {
        var loaded = ClipLoader.LoadWithInfo(Fixtures.Path(name));
        using var model = loaded.Model;
        Assert.Equal(format, loaded.Format);
        Assert.Equal(layout, loaded.Layout);
        Assert.Equal(Fixtures.TinyClipConfig, model.Config);
        using var reference = new TinyReference();
        using var noGrad = torch.no_grad();

        using var image = model.EncodeImage(reference.Images);
        using var pre = model.EncodeImagePreProjection(reference.Images);
        using var text = model.EncodeText(reference.TokenIds);
        using var logits = model.Logits(image, text);

        TensorAssert.Close(reference.ImageFeatures, image, Tolerance, "image_features");
        TensorAssert.Close(reference.ImagePreProjection, pre, Tolerance, "image_pre_projection");
        TensorAssert.Close(reference.TextFeatures, text, Tolerance, "text_features");
        TensorAssert.Close(reference.LogitsPerImage, logits, Tolerance, "logits_per_image");
    }

    [Fact]
    public void Hugging_face_directory_reports_its_tokenizer_files()
    {
        var loaded = ClipLoader.LoadWithInfo(Fixtures.Path("clip-tiny-hf"));
        loaded.Model.Dispose();
        Assert.Equal(Path.GetFullPath(Fixtures.Path("clip-tiny-hf")), loaded.TokenizerDirectory);
    }
}

public sealed class ClipTorchScriptTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"deft-clip-ts-{Guid.NewGuid():N}");

    public ClipTorchScriptTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void TorchScript_archive_is_read_as_data_and_matches_pytorch()
    {
        var path = Path.Combine(_dir, "tiny-jit.pt");
        var weights = Safetensors.Load(Fixtures.TinyClip);
        try
        {
            // OpenAI's released archives are float16; the loader converts.
            var half = weights.ToDictionary(kv => kv.Key, kv => kv.Value.to(ScalarType.Float16));
            TorchScriptArchive.Write(path, half);
            foreach (var t in half.Values) t.Dispose();
        }
        finally { foreach (var t in weights.Values) t.Dispose(); }

        var loaded = ClipLoader.LoadWithInfo(path);
        using var model = loaded.Model;
        Assert.Equal(ClipWeightsFormat.TorchScript, loaded.Format);
        using var reference = new TinyReference();
        using var noGrad = torch.no_grad();
        using var image = model.EncodeImage(reference.Images);
        using var text = model.EncodeText(reference.TokenIds);
        Assert.True(TensorAssert.MinRowCosine(reference.ImageFeatures, image) > 0.999);
        Assert.True(TensorAssert.MinRowCosine(reference.TextFeatures, text) > 0.999);
    }
}

public sealed class ClipPickleLayoutTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"deft-clip-pkl-{Guid.NewGuid():N}");

    public ClipPickleLayoutTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static void AssertParity(ClipModel model)
    {
        using var reference = new TinyReference();
        using var noGrad = torch.no_grad();
        using var image = model.EncodeImage(reference.Images);
        using var text = model.EncodeText(reference.TokenIds);
        TensorAssert.Close(reference.ImageFeatures, image, 1e-4, "image_features");
        TensorAssert.Close(reference.TextFeatures, text, 1e-4, "text_features");
    }

    [Fact]
    public void Hugging_face_directory_with_pytorch_model_bin_loads()
    {
        var dir = Path.Combine(_dir, "hf-bin");
        Directory.CreateDirectory(dir);
        File.Copy(Fixtures.Path("clip-tiny-hf/config.json"), Path.Combine(dir, "config.json"));
        var weights = Safetensors.Load(Fixtures.Path("clip-tiny-hf/model.safetensors"));
        // The HF copy is stored in float16; the archive writer takes float32 (the values are the same).
        try { TorchSaveArchive.Write(Path.Combine(dir, "pytorch_model.bin"), weights.ToDictionary(kv => kv.Key, kv => kv.Value.to(ScalarType.Float32))); }
        finally { foreach (var t in weights.Values) t.Dispose(); }

        var loaded = ClipLoader.LoadWithInfo(dir);
        using var model = loaded.Model;
        Assert.Equal(ClipWeightsFormat.TorchPickle, loaded.Format);
        Assert.Equal(ClipWeightsLayout.HuggingFace, loaded.Layout);
        AssertParity(model);
    }

    [Fact]
    public void Training_checkpoint_with_state_dict_and_module_prefix_loads()
    {
        var path = Path.Combine(_dir, "epoch_3.pt");
        var weights = Safetensors.Load(Fixtures.TinyClip);
        try { TorchSaveArchive.Write(path, weights.ToDictionary(kv => "module." + kv.Key, kv => kv.Value), checkpointEpoch: 3); }
        finally { foreach (var t in weights.Values) t.Dispose(); }

        using var model = ClipLoader.Load(path);
        AssertParity(model);
    }
}
