using System.Text.Json;
using System.Text.Json.Nodes;
using Deft.Clip;
using Deft.Data.Transforms;
using TorchSharp;

namespace Deft.Tests.Clip;

public sealed class ClipConfigsTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"deft-clipconfigs-{Guid.NewGuid():N}");

    public ClipConfigsTests() => Directory.CreateDirectory(_dir);

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    /// <summary>The values the C# statics held before the presets became embedded JSON (commit 508cf35).</summary>
    public static TheoryData<string, ClipConfig> PinnedPresets => new()
    {
        { "ViT-B-32", new(512, new(224, 32, 768, 12, 12), new(77, 49408, 512, 12, 8)) },
        { "ViT-B-16", new(512, new(224, 16, 768, 12, 12), new(77, 49408, 512, 12, 8)) },
        { "ViT-L-14", new(768, new(224, 14, 1024, 24, 16), new(77, 49408, 768, 12, 12)) },
        { "tiny", new(64, new(32, 8, 128, 2, 2), new(77, 49408, 128, 2, 2)) },
    };

    [Theory]
    [MemberData(nameof(PinnedPresets))]
    public void Embedded_presets_equal_the_former_statics(string name, ClipConfig pinned)
    {
        Assert.Equal(pinned, ClipConfigs.Preset(name));
        Assert.Equal(ClipActivation.QuickGelu, ClipConfigs.Preset(name).Activation);
        Assert.Equal(1e-5, ClipConfigs.Preset(name).LayerNormEps);
        Assert.Equal(pinned, ClipConfig.FromPreset(name.ToUpperInvariant()));
        Assert.Equal(pinned, ClipConfig.FromPreset(name.Replace("B-", "B/").Replace("L-", "L/")));
    }

    [Fact]
    public void Named_statics_are_the_presets()
    {
        Assert.Same(ClipConfigs.Preset("ViT-B-32"), ClipConfig.ViTB32);
        Assert.Same(ClipConfigs.Preset("ViT-B-16"), ClipConfig.ViTB16);
        Assert.Same(ClipConfigs.Preset("ViT-L-14"), ClipConfig.ViTL14);
        Assert.Same(ClipConfigs.Preset("tiny"), ClipConfig.Tiny);
    }

    [Fact]
    public void Every_embedded_file_is_a_listed_preset_and_the_reverse()
    {
        Assert.Equal(ClipConfigs.PresetNames.Order(StringComparer.Ordinal), ClipConfigs.EmbeddedPresetNames().Order(StringComparer.Ordinal));
        var ex = Assert.Throws<DeftException>(() => ClipConfigs.Preset("ViT-H-99"));
        Assert.Contains("'ViT-H-99'", ex.Message);
        Assert.Contains("ViT-B-32, ViT-B-16, ViT-L-14, tiny", ex.Message);
    }

    [Fact]
    public void The_initial_temperature_is_ln_1_over_0_07()
    {
        Assert.Equal(ClipConfig.OpenAiInitLogitScale, Math.Log(1 / 0.07));
        using var model = new ClipModel(ClipConfig.Tiny, seed: 3);
        Assert.Equal((float)Math.Log(1 / 0.07), model.LogitScale.item<float>());
    }

    /// <summary>
    /// The keys and shapes of an OpenAI CLIP ViT checkpoint, written from OpenAI's model.py (CLIP.__init__,
    /// VisionTransformer, ResidualAttentionBlock) rather than from Deft's modules.
    /// </summary>
    private static Dictionary<string, long[]> OpenAiShapes(ClipConfig c)
    {
        var d = new Dictionary<string, long[]>(StringComparer.Ordinal);
        void Blocks(string prefix, int layers, long w, long hidden)
        {
            for (var i = 0; i < layers; i++)
            {
                var p = $"{prefix}{i}.";
                d[p + "attn.in_proj_weight"] = [3 * w, w];
                d[p + "attn.in_proj_bias"] = [3 * w];
                d[p + "attn.out_proj.weight"] = [w, w];
                d[p + "attn.out_proj.bias"] = [w];
                d[p + "ln_1.weight"] = [w];
                d[p + "ln_1.bias"] = [w];
                d[p + "mlp.c_fc.weight"] = [hidden, w];
                d[p + "mlp.c_fc.bias"] = [hidden];
                d[p + "mlp.c_proj.weight"] = [w, hidden];
                d[p + "mlp.c_proj.bias"] = [w];
                d[p + "ln_2.weight"] = [w];
                d[p + "ln_2.bias"] = [w];
            }
        }
        var v = c.Vision;
        long vw = v.Width, grid = v.ImageSize / v.PatchSize;
        d["visual.class_embedding"] = [vw];
        d["visual.positional_embedding"] = [grid * grid + 1, vw];
        d["visual.conv1.weight"] = [vw, 3, v.PatchSize, v.PatchSize];
        d["visual.ln_pre.weight"] = [vw];
        d["visual.ln_pre.bias"] = [vw];
        Blocks("visual.transformer.resblocks.", v.Layers, vw, (long)Math.Round(v.MlpRatio * vw));
        d["visual.ln_post.weight"] = [vw];
        d["visual.ln_post.bias"] = [vw];
        d["visual.proj"] = [vw, c.EmbedDim];
        var t = c.Text;
        d["positional_embedding"] = [t.ContextLength, t.Width];
        d["token_embedding.weight"] = [t.VocabSize, t.Width];
        Blocks("transformer.resblocks.", t.Layers, t.Width, (long)Math.Round(t.MlpRatio * t.Width));
        d["ln_final.weight"] = [t.Width];
        d["ln_final.bias"] = [t.Width];
        d["text_projection"] = [t.Width, c.EmbedDim];
        d["logit_scale"] = [];
        return d;
    }

    [Fact]
    public void The_hand_written_OpenAI_layout_is_the_models_layout()
    {
        using var model = new ClipModel(ClipConfig.Tiny, torch.CPU);
        var actual = model.NamedClipParameters().ToDictionary(p => p.Name, p => p.Parameter.shape);
        var expected = OpenAiShapes(ClipConfig.Tiny);
        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), actual.Keys.Order(StringComparer.Ordinal));
        foreach (var (key, shape) in expected) Assert.True(shape.SequenceEqual(actual[key]), key);
    }

    [Theory]
    [MemberData(nameof(PinnedPresets))]
    public void Inference_from_an_OpenAI_state_dict_gives_the_preset(string name, ClipConfig pinned)
    {
        Assert.Equal(ClipConfigs.Preset(name), ClipConfig.FromOpenAiStateDict(OpenAiShapes(pinned)));
    }

    // open_clip's src/open_clip/model_configs/ViT-B-16.json, verbatim: no quick_gelu, so exact GELU.
    private const string OpenClipViTB16 = """
        {
            "embed_dim": 512,
            "vision_cfg": {
                "image_size": 224,
                "layers": 12,
                "width": 768,
                "patch_size": 16
            },
            "text_cfg": {
                "context_length": 77,
                "vocab_size": 49408,
                "width": 512,
                "heads": 8,
                "layers": 12
            }
        }
        """;

    [Fact]
    public void Open_clip_model_configs_read_with_open_clips_defaults()
    {
        Assert.Equal(ClipConfig.ViTB16 with { Activation = ClipActivation.Gelu }, ClipConfigs.FromJson(OpenClipViTB16, "ViT-B-16.json"));
        var quick = JsonNode.Parse(OpenClipViTB16)!.AsObject();
        quick["quick_gelu"] = true; // open_clip's ViT-B-16-quickgelu.json
        Assert.Equal(ClipConfig.ViTB16, ClipConfigs.FromJson(quick, "ViT-B-16-quickgelu.json"));
    }

    [Fact]
    public void Open_clip_config_json_reads_model_and_preprocessing()
    {
        var path = Path.Combine(_dir, "open_clip_config.json");
        File.WriteAllText(path, """
            {"model_cfg": {"embed_dim": 64, "quick_gelu": true,
                           "vision_cfg": {"image_size": 32, "layers": 2, "width": 128, "patch_size": 8},
                           "text_cfg": {"context_length": 77, "vocab_size": 1514, "width": 64, "heads": 1, "layers": 2}},
             "preprocess_cfg": {"mean": [0.5, 0.25, 0.125], "std": [0.2, 0.3, 0.4], "interpolation": "bilinear", "resize_mode": "squash"}}
            """);
        var file = ClipConfigs.ReadOpenClipConfigFile(path);
        Assert.Equal(Fixtures.TinyClipConfig, file.Model);
        Assert.Equal(new ClipPreprocessConfig(32, new Normalization(new(0.5f, 0.25f, 0.125f), new(0.2f, 0.3f, 0.4f)),
            ClipInterpolation.Bilinear, ClipResizeMode.Squash), file.Preprocess);

        File.WriteAllText(path, """{"model_cfg": {"embed_dim": 64, "vision_cfg": {"image_size": [32, 32], "layers": 2, "width": 128, "patch_size": 8}, "text_cfg": {"vocab_size": 1514, "width": 64, "heads": 1, "layers": 2}}}""");
        file = ClipConfigs.ReadOpenClipConfigFile(path);
        Assert.Equal(Fixtures.TinyClipConfig with { Activation = ClipActivation.Gelu }, file.Model);
        Assert.Equal(ClipPreprocessConfig.OpenAi(32), file.Preprocess);
        Assert.Equal(Normalization.Clip, file.Preprocess.Normalization);
    }

    [Fact]
    public void Hugging_face_config_json_reads_as_the_fixture_model()
    {
        var parsed = ClipConfigs.FromHuggingFace(Path.Combine(Fixtures.Path("clip-tiny-hf"), "config.json"));
        // The fixture's logit_scale_init_value is transformers' rounded ln(1/0.07).
        Assert.Equal(Fixtures.TinyClipConfig with { InitLogitScale = 2.6592 }, parsed);
        using var loaded = ClipLoader.Load(Fixtures.Path("clip-tiny-hf"));
        Assert.Equal(loaded.Config with { InitLogitScale = 2.6592 }, parsed);
    }

    [Fact]
    public void Absent_hugging_face_fields_take_transformers_defaults()
    {
        var path = Path.Combine(_dir, "config.json");
        File.WriteAllText(path, """{"model_type": "clip", "vision_config": {"patch_size": 16}, "text_config": {}}""");
        Assert.Equal(ClipConfig.ViTB16, ClipConfigs.FromHuggingFace(path));
    }

    public static TheoryData<ClipConfig> RoundTripConfigs => new()
    {
        ClipConfig.ViTB32, ClipConfig.ViTB16, ClipConfig.ViTL14, ClipConfig.Tiny, Fixtures.TinyClipConfig,
        // ViT-bigG's MLP ratio, exact GELU, SigLIP-like eps and temperature.
        new(1280, new(224, 14, 1664, 48, 16, 8192.0 / 1664), new(77, 49408, 1280, 32, 20, 4.0), ClipActivation.Gelu, 1e-6, Math.Log(10)),
    };

    [Theory]
    [MemberData(nameof(RoundTripConfigs))]
    public void Serialization_round_trips_in_open_clip_shape(ClipConfig config)
    {
        var json = ClipConfigs.ToJson(config);
        Assert.Equal(config, ClipConfigs.FromJson(json.ToJsonString(), "round trip"));
        Assert.Equal(json.ToJsonString(), JsonSerializer.Serialize(config));
        Assert.Equal(config, JsonSerializer.Deserialize<ClipConfig>(JsonSerializer.Serialize(config)));
        Assert.Equal(config.Vision, JsonSerializer.Deserialize<ClipVisionConfig>(JsonSerializer.Serialize(config.Vision)));
        Assert.Equal(config.Text, JsonSerializer.Deserialize<ClipTextConfig>(JsonSerializer.Serialize(config.Text)));
    }

    [Fact]
    public void Serialized_presets_have_open_clips_keys()
    {
        var json = ClipConfigs.ToJson(ClipConfig.ViTB16);
        Assert.Equal(new[] { "embed_dim", "quick_gelu", "vision_cfg", "text_cfg" }, json.Select(kv => kv.Key));
        Assert.Equal(new[] { "image_size", "layers", "width", "head_width", "mlp_ratio", "patch_size" }, json["vision_cfg"]!.AsObject().Select(kv => kv.Key));
        Assert.Equal(new[] { "context_length", "vocab_size", "width", "heads", "layers", "mlp_ratio" }, json["text_cfg"]!.AsObject().Select(kv => kv.Key));
        Assert.Equal(64, (int)json["vision_cfg"]!["head_width"]!);
        Assert.True((bool)json["quick_gelu"]!);
        // A record wrapping a config (as the run settings do) gets the same shape.
        var wrapped = JsonNode.Parse(JsonSerializer.Serialize(new { clip = ClipConfig.ViTB16 }))!;
        Assert.True(JsonNode.DeepEquals(json, wrapped["clip"]));
        var withEps = ClipConfigs.ToJson(ClipConfig.Tiny with { LayerNormEps = 1e-6 });
        Assert.Equal(1e-6, (double)withEps["text_cfg"]!["norm_kwargs"]!["eps"]!);
    }

    [Fact]
    public void Open_clip_config_json_round_trips_with_preprocessing()
    {
        var path = Path.Combine(_dir, "open_clip_config.json");
        var preprocess = new ClipPreprocessConfig(32, Normalization.From([0.286f, 0.286f, 0.286f], [0.353f, 0.353f, 0.353f]), ClipInterpolation.Nearest);
        File.WriteAllText(path, ClipConfigs.ToOpenClipConfigJson(Fixtures.TinyClipConfig, preprocess).ToJsonString());
        Assert.Equal(new OpenClipConfigFile(Fixtures.TinyClipConfig, preprocess), ClipConfigs.ReadOpenClipConfigFile(path));
    }

    [Theory]
    [InlineData("""{"model_cfg": {"embed_dim": 64, "vision_cfg": {"image_size": 32, "layers": 2, "width": "wide", "patch_size": 8}, "text_cfg": {"width": 64, "layers": 2}}}""",
        "model_cfg.vision_cfg.width is the string \"wide\", not a number")]
    [InlineData("""{"model_cfg": {"vision_cfg": {"image_size": 32, "layers": 2, "width": 128, "patch_size": 8}, "text_cfg": {"width": 64, "layers": 2}}}""",
        "model_cfg.embed_dim is missing")]
    [InlineData("""{"model_cfg": {"embed_dim": 64, "vision_cfg": {"image_size": 32, "layers": 2, "width": 128, "patch_size": 8}}}""",
        "model_cfg.text_cfg is missing")]
    [InlineData("""{"model_cfg": {"embed_dim": 64, "vision_cfg": {"image_size": 32, "layers": 2, "width": 128, "patch_size": 8, "head_width": 48}, "text_cfg": {"width": 64, "layers": 2}}}""",
        "model_cfg.vision_cfg.head_width = 48 does not divide model_cfg.vision_cfg.width = 128")]
    [InlineData("""{"model_cfg": {"embed_dim": 64, "quick_gelu": "yes", "vision_cfg": {"image_size": 32, "layers": 2, "width": 128, "patch_size": 8}, "text_cfg": {"width": 64, "layers": 2}}}""",
        "model_cfg.quick_gelu is the string \"yes\", not true or false")]
    [InlineData("""{"model_cfg": {"embed_dim": 64, "vision_cfg": {"timm_model_name": "vit_base_patch16_224"}, "text_cfg": {"width": 64, "layers": 2}}}""",
        "model_cfg.vision_cfg.timm_model_name = 'vit_base_patch16_224'")]
    [InlineData("""{"model_cfg": {"embed_dim": 64, "vision_cfg": {"image_size": 32, "layers": 2, "width": 128, "patch_size": 8}, "text_cfg": {"width": 64, "layers": 2}}, "preprocess_cfg": {"interpolation": "lanczos"}}""",
        "preprocess_cfg.interpolation = 'lanczos' is not supported (valid: bicubic, bilinear, nearest)")]
    [InlineData("""{"model_cfg": {"embed_dim": 64, "vision_cfg": {"image_size": 32, "layers": 2, "width": 128, "patch_size": 8}, "text_cfg": {"width": 64, "layers": 2}}, "preprocess_cfg": {"mean": [0.5, 0.5]}}""",
        "preprocess_cfg.mean is an array; it must be three numbers")]
    [InlineData("""{"preprocess_cfg": {}}""", "model_cfg is missing")]
    [InlineData("""[1, 2]""", "the JSON is an array, not an object with model_cfg")]
    [InlineData("""{"model_cfg": """, "not valid JSON")]
    public void Open_clip_config_errors_name_the_file_and_the_key(string json, string expected)
    {
        var path = Path.Combine(_dir, "open_clip_config.json");
        File.WriteAllText(path, json);
        var ex = Assert.Throws<DeftException>(() => ClipConfigs.ReadOpenClipConfigFile(path));
        Assert.Contains(path, ex.Message);
        Assert.Contains(expected, ex.Message);
    }

    [Theory]
    [InlineData("\"hidden_size\": 64", "\"hidden_size\": \"x\"", "text_config.hidden_size is the string \"x\", not a number")]
    [InlineData("\"projection_dim\": 64,", "\"projection_dim\": -3,", "projection_dim = -3; it must be a positive whole number")]
    [InlineData("\"logit_scale_init_value\": 2.6592", "\"logit_scale_init_value\": -1", "logit_scale_init_value = -1")]
    public void Hugging_face_config_errors_name_the_file_and_the_key(string find, string replace, string expected)
    {
        var text = File.ReadAllText(Path.Combine(Fixtures.Path("clip-tiny-hf"), "config.json"));
        Assert.Contains(find, text);
        var path = Path.Combine(_dir, "config.json");
        File.WriteAllText(path, text.Replace(find, replace));
        var ex = Assert.Throws<DeftException>(() => ClipConfigs.FromHuggingFace(path));
        Assert.Contains(path, ex.Message);
        Assert.Contains(expected, ex.Message);
    }

    private string OpenClipDirectory(string modelCfg, string? preprocessCfg = null)
    {
        var dir = Path.Combine(_dir, $"openclip-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        File.Copy(Fixtures.TinyClip, Path.Combine(dir, "open_clip_model.safetensors"));
        File.WriteAllText(Path.Combine(dir, "open_clip_config.json"),
            $$"""{"model_cfg": {{modelCfg}}{{(preprocessCfg is null ? "" : $", \"preprocess_cfg\": {preprocessCfg}")}}}""");
        return dir;
    }

    private const string TinyModelCfg =
        """{"embed_dim": 64, "quick_gelu": true, "vision_cfg": {"image_size": 32, "layers": 2, "width": 128, "patch_size": 8}, "text_cfg": {"context_length": 77, "vocab_size": 1514, "width": 64, "heads": 1, "layers": 2}}""";

    [Fact]
    public void Loading_an_open_clip_directory_uses_its_config_and_preprocessing()
    {
        var dir = OpenClipDirectory(TinyModelCfg, """{"mean": [0.286, 0.286, 0.286], "std": [0.353, 0.353, 0.353]}""");
        using var bundle = ClipBundle.Load(dir, vocab: Fixtures.TinyVocabulary);
        Assert.Equal(Fixtures.TinyClipConfig, bundle.Model.Config);
        Assert.Equal(new ClipPreprocessConfig(32, Normalization.From([0.286f, 0.286f, 0.286f], [0.353f, 0.353f, 0.353f])), bundle.Preprocess);
        Assert.Equal(bundle.Preprocess.Normalization, bundle.Normalization);
    }

    [Fact]
    public void An_open_clip_config_that_contradicts_the_weights_names_the_field()
    {
        var dir = OpenClipDirectory(TinyModelCfg.Replace("\"layers\": 2, \"width\": 128", "\"layers\": 3, \"width\": 128"));
        var ex = Assert.Throws<DeftException>(() => ClipLoader.Load(dir));
        Assert.Contains(Path.Combine(dir, "open_clip_config.json"), ex.Message);
        Assert.Contains("model_cfg.vision_cfg.layers means 3, but the weights in open_clip_model.safetensors have 2", ex.Message);
    }

    // The CLIPImageProcessor fields of openai/clip-vit-base-patch32's preprocessor_config.json.
    private const string OpenAiPreprocessor = """
        {"crop_size": {"height": 224, "width": 224}, "do_center_crop": true, "do_normalize": true, "do_resize": true,
         "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_processor_type": "CLIPImageProcessor",
         "image_std": [0.26862954, 0.26130258, 0.27577711], "resample": 3, "rescale_factor": 0.00392156862745098,
         "size": {"shortest_edge": 224}}
        """;

    [Fact]
    public void Hugging_face_preprocessor_config_reads_into_the_same_record()
    {
        var path = Path.Combine(_dir, "preprocessor_config.json");
        File.WriteAllText(path, OpenAiPreprocessor);
        Assert.Equal(ClipPreprocessConfig.OpenAi(224), ClipConfigs.ReadHuggingFacePreprocessorFile(path, defaultSize: 32));
        File.WriteAllText(path, """{"crop_size": 96, "image_mean": [0.5, 0.5, 0.5], "image_std": [0.25, 0.25, 0.25], "resample": 2}""");
        Assert.Equal(new ClipPreprocessConfig(96, Normalization.From([0.5f, 0.5f, 0.5f], [0.25f, 0.25f, 0.25f]), ClipInterpolation.Bilinear),
            ClipConfigs.ReadHuggingFacePreprocessorFile(path, defaultSize: 32));
        File.WriteAllText(path, """{"crop_size": {"height": 224, "width": 200}}""");
        var ex = Assert.Throws<DeftException>(() => ClipConfigs.ReadHuggingFacePreprocessorFile(path, 32));
        Assert.Contains(path, ex.Message);
        Assert.Contains("crop_size is 224×200", ex.Message);
        File.WriteAllText(path, """{"resample": 5}""");
        ex = Assert.Throws<DeftException>(() => ClipConfigs.ReadHuggingFacePreprocessorFile(path, 32));
        Assert.Contains("resample = 5 is not supported", ex.Message);
    }

    [Fact]
    public void A_hugging_face_directory_brings_its_preprocessing()
    {
        var dir = Path.Combine(_dir, "hf");
        Directory.CreateDirectory(dir);
        foreach (var file in Directory.GetFiles(Fixtures.Path("clip-tiny-hf"))) File.Copy(file, Path.Combine(dir, Path.GetFileName(file)));
        using (var plain = ClipBundle.Load(dir)) Assert.Equal(ClipPreprocessConfig.OpenAi(32), plain.Preprocess);
        File.WriteAllText(Path.Combine(dir, "preprocessor_config.json"), """{"crop_size": 32, "image_mean": [0.5, 0.5, 0.5], "image_std": [0.25, 0.25, 0.25]}""");
        using var bundle = ClipBundle.Load(dir);
        Assert.Equal(new ClipPreprocessConfig(32, Normalization.From([0.5f, 0.5f, 0.5f], [0.25f, 0.25f, 0.25f])), bundle.Preprocess);
        Assert.Equal(bundle.Preprocess.Normalization, bundle.Normalization);
    }
}
