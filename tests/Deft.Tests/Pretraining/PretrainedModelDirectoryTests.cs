using Deft.Clip;
using Deft.Clip.Tokenization;
using Deft.Data.Transforms;
using Deft.Pretraining;

namespace Deft.Tests.Pretraining;

/// <summary>
/// A pre-trained model directory's open_clip_config.json is written by ClipConfigs, the one serialization of CLIP
/// configs, and read back to the same records; the file earlier versions wrote (a hand-built subset) still reads.
/// </summary>
public sealed class PretrainedModelDirectoryTests
{
    // open_clip_config.json as a94c486 wrote it for the mini CLIP (heads, not head_width; no mlp_ratio; preprocess
    // mean/std only).
    private const string OlderFile = """
        {
          "model_cfg": {
            "embed_dim": 128,
            "quick_gelu": true,
            "vision_cfg": { "image_size": 28, "patch_size": 7, "width": 128, "layers": 4, "heads": 2 },
            "text_cfg": { "context_length": 24, "vocab_size": 658, "width": 128, "layers": 4, "heads": 2 }
          },
          "preprocess_cfg": { "mean": [0.286, 0.286, 0.286], "std": [0.353, 0.353, 0.353] }
        }
        """;

    [Fact]
    public void The_config_file_reads_back_as_the_model_and_preprocessing_that_were_saved_and_older_files_read_alike()
    {
        using var dir = new TempDir("pretrained-dir");
        var olderPath = dir.File("older.json");
        File.WriteAllText(olderPath, OlderFile);
        var older = ClipConfigs.ReadOpenClipConfigFile(olderPath);
        Assert.Equal((128, 2, 7, 658), (older.Model.EmbedDim, older.Model.Vision.Heads, older.Model.Vision.PatchSize, older.Model.Text.VocabSize));

        using var model = new ClipModel(older.Model, seed: 1);
        var saved = Path.Combine(dir.Path, "model");
        PretrainedModelDirectory.Save(saved, model, ClipTokenizer.OpenAi(),
            new Dictionary<string, string> { ["mean"] = "[0.286, 0.286, 0.286]", ["std"] = "[0.353, 0.353, 0.353]" });

        var text = File.ReadAllText(Path.Combine(saved, PretrainedModelDirectory.ConfigFile));
        Assert.Contains("\"head_width\": 64", text); // open_clip's own spelling, from ClipConfigs.ToJson
        var read = ClipConfigs.ReadOpenClipConfigFile(Path.Combine(saved, PretrainedModelDirectory.ConfigFile));
        Assert.Equal(model.Config, read.Model);
        Assert.Equal(new ClipPreprocessConfig(28, new Normalization(new(0.286f, 0.286f, 0.286f), new(0.353f, 0.353f, 0.353f))), read.Preprocess);
        Assert.Equal(older, read);
    }

    [Fact]
    public void Without_statistics_the_model_keeps_openai_preprocessing_at_its_image_size()
    {
        using var dir = new TempDir("pretrained-dir");
        using var model = new ClipModel(ClipConfig.Tiny, seed: 1);
        PretrainedModelDirectory.Save(dir.Path, model, ClipTokenizer.OpenAi());
        var read = ClipConfigs.ReadOpenClipConfigFile(Path.Combine(dir.Path, PretrainedModelDirectory.ConfigFile));
        Assert.Equal(ClipPreprocessConfig.OpenAi(ClipConfig.Tiny.Vision.ImageSize), read.Preprocess);
        Assert.Equal(ClipConfig.Tiny, read.Model);
    }
}
