using System.Globalization;
using System.Text;
using Deft.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace Deft.Clip;

/// <summary>How to build the model a spec names.</summary>
public sealed record ClipLoadOptions
{
    /// <summary>"cpu" or "cuda[:N]".</summary>
    public string Device { get; init; } = "cpu";

    /// <summary>Weight dtype of both towers (Float32, or BFloat16 for the fast frozen path).</summary>
    public ScalarType DType { get; init; } = ScalarType.Float32;

    /// <summary>Overrides the activation (otherwise: config.json / open_clip_config.json, else QuickGELU for OpenAI layout).</summary>
    public ClipActivation? Activation { get; init; }
}

/// <summary>Where the weights came from.</summary>
public enum ClipWeightsFormat { Random, Safetensors, TorchPickle, TorchScript }

/// <summary>The state-dict layout the weights were written in.</summary>
public enum ClipWeightsLayout { OpenAi, HuggingFace }

/// <summary>A loaded model plus what the loader learned about it.</summary>
/// <param name="TokenizerDirectory">
/// A directory holding tokenizer files next to the weights (vocab.json + merges.txt, or bpe_simple_vocab_16e6.txt.gz); null if none.
/// </param>
public sealed record LoadedClip(
    ClipModel Model,
    string Spec,
    ClipWeightsFormat Format,
    ClipWeightsLayout Layout,
    string? WeightsPath,
    string? TokenizerDirectory);

/// <summary>
/// Builds a <see cref="ClipModel"/> from a model spec:
/// <list type="bullet">
/// <item><c>random:&lt;preset&gt;[@seed]</c> — ViT-B-32, ViT-B-16, ViT-L-14 or tiny with OpenAI's initialisation;</item>
/// <item>a <c>.safetensors</c> file or a PyTorch <c>.pt/.pth/.bin</c> file (torch.save zip, or TorchScript) in the
/// OpenAI/open_clip or Hugging Face layout; sizes are inferred from the shapes;</item>
/// <item>a directory: Hugging Face CLIPModel (config.json + model.safetensors or pytorch_model.bin) or open_clip
/// (open_clip_config.json + open_clip_model.safetensors or open_clip_pytorch_model.bin).</item>
/// </list>
/// Loading is strict: every CLIP parameter must be present with its shape, and nothing else may be.
/// </summary>
public static class ClipLoader
{
    public const string RandomPrefix = "random:";

    /// <summary>Keys that some checkpoints carry but are not weights (OpenAI's JIT metadata, HF's position ids).</summary>
    private static readonly HashSet<string> IgnoredKeys = new(StringComparer.Ordinal) { "input_resolution", "context_length", "vocab_size", "attn_mask" };

    /// <summary>open_clip's hub config file name (model_cfg + preprocess_cfg).</summary>
    public const string OpenClipConfigName = "open_clip_config.json";

    private static readonly string[] SafetensorsNames = ["model.safetensors", "open_clip_model.safetensors"];
    private static readonly string[] PickleNames = ["pytorch_model.bin", "open_clip_pytorch_model.bin"];

    public static ClipModel Load(string spec, ClipLoadOptions? options = null) => LoadWithInfo(spec, options).Model;

    public static LoadedClip LoadWithInfo(string spec, ClipLoadOptions? options = null)
    {
        options ??= new ClipLoadOptions();
        var device = ParseDevice(options.Device);
        if (spec.StartsWith(RandomPrefix, StringComparison.OrdinalIgnoreCase))
        {
            var (config, seed) = ParseRandomSpec(spec[RandomPrefix.Length..]);
            if (options.Activation is { } act) config = config with { Activation = act };
            var random = new ClipModel(config, seed, device.ToString());
            return new LoadedClip(random.ToDType(options.DType), spec, ClipWeightsFormat.Random, ClipWeightsLayout.OpenAi, null, null);
        }

        var (weightsPath, directory) = ResolveWeightsPath(spec);
        var format = weightsPath.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase)
            ? ClipWeightsFormat.Safetensors
            : TorchCheckpoint.Detect(weightsPath) == TorchCheckpoint.Kind.TorchScript ? ClipWeightsFormat.TorchScript : ClipWeightsFormat.TorchPickle;
        var fileTensors = ReadStateDict(weightsPath);
        var stateDict = fileTensors;
        try
        {
            var layout = stateDict.Keys.Any(k => k.StartsWith("vision_model.", StringComparison.Ordinal) || k.StartsWith("text_model.", StringComparison.Ordinal))
                ? ClipWeightsLayout.HuggingFace
                : ClipWeightsLayout.OpenAi;
            ClipConfig config;
            if (layout == ClipWeightsLayout.HuggingFace)
            {
                stateDict = HuggingFaceToOpenAi(fileTensors);
                var hfConfig = Path.Combine(directory, "config.json");
                ClipActivation act = ClipActivation.QuickGelu;
                double eps = 1e-5;
                int? visionHeads = null, textHeads = null;
                var configFile = File.Exists(hfConfig) ? HuggingFaceConfigFile.Read(hfConfig) : null;
                if (configFile is not null) (act, eps, visionHeads, textHeads) = (configFile.Activation, configFile.LayerNormEps, configFile.VisionHeads, configFile.TextHeads);
                config = ClipConfig.FromOpenAiStateDict(Shapes(stateDict), options.Activation ?? act, eps, visionHeads, textHeads, weightsPath);
                configFile?.CheckAgainst(config, weightsPath);
            }
            else
            {
                var openClipConfig = Path.Combine(directory, OpenClipConfigName);
                var declared = File.Exists(openClipConfig) ? ClipConfigs.ReadOpenClipConfigFile(openClipConfig).Model : null;
                var act = options.Activation ?? declared?.Activation ?? ClipActivation.QuickGelu;
                config = ClipConfig.FromOpenAiStateDict(Shapes(stateDict), act, declared?.LayerNormEps ?? ClipConfigs.DefaultLayerNormEps,
                    declared?.Vision.Heads, declared?.Text.Heads, weightsPath);
                if (declared is not null) CheckAgainst(declared, config, openClipConfig, weightsPath);
            }

            var model = new ClipModel(config, device);
            try
            {
                LoadStateDict(model, stateDict, weightsPath);
                model.ToDType(options.DType);
            }
            catch
            {
                model.Dispose();
                throw;
            }
            return new LoadedClip(model, spec, format, layout, weightsPath, FindTokenizerDirectory(directory));
        }
        finally
        {
            // The HF mapping reuses some tensor objects and creates others (fused qkv, transposes): dispose each once.
            foreach (var t in fileTensors.Values.Concat(stateDict.Values).Distinct(ReferenceEqualityComparer.Instance)) ((Tensor)t!).Dispose();
        }
    }

    /// <summary>The raw tensors of a weights file (.safetensors, torch.save zip, TorchScript); the caller owns them.</summary>
    public static Dictionary<string, Tensor> ReadStateDict(string path)
    {
        if (!File.Exists(path)) throw new DeftException($"Weights file not found: {path}");
        var dict = path.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase)
            ? Safetensors.Load(path)
            : TorchCheckpoint.Detect(path) == TorchCheckpoint.Kind.TorchScript
                ? TorchCheckpoint.LoadTorchScriptStateDict(path)
                : TorchCheckpoint.LoadPickledStateDict(path);
        // DistributedDataParallel checkpoints prefix every key with "module.".
        if (dict.Count > 0 && dict.Keys.All(k => k.StartsWith("module.", StringComparison.Ordinal)))
            dict = dict.ToDictionary(kv => kv.Key["module.".Length..], kv => kv.Value, StringComparer.Ordinal);
        return dict;
    }

    /// <summary>
    /// Copies an OpenAI-layout state dict into the model's CLIP parameters (attached PEFT/prompt modules are not
    /// touched), converting floating dtypes. Throws a <see cref="DeftException"/> listing missing and unexpected keys,
    /// shape mismatches and non-floating tensors.
    /// </summary>
    public static void LoadStateDict(ClipModel model, IReadOnlyDictionary<string, Tensor> stateDict, string source)
    {
        var expected = model.NamedClipParameters().ToDictionary(p => p.Name, p => p.Parameter, StringComparer.Ordinal);
        var missing = expected.Keys.Where(k => !stateDict.ContainsKey(k)).ToList();
        var unexpected = stateDict.Keys.Where(k => !expected.ContainsKey(k) && !IsIgnored(k)).ToList();
        if (missing.Count > 0 || unexpected.Count > 0)
        {
            var message = new StringBuilder($"{source}: the weights do not match {Describe(model.Config)}.");
            if (missing.Count > 0) message.Append($"\n  {missing.Count} missing key(s): {ListSome(missing)}");
            if (unexpected.Count > 0) message.Append($"\n  {unexpected.Count} unexpected key(s): {ListSome(unexpected)}");
            message.Append("\n  Deft expects an OpenAI/open_clip or Hugging Face CLIP ViT state dict.");
            throw new DeftException(message.ToString());
        }

        var problems = new List<string>();
        foreach (var (name, param) in expected)
        {
            var loaded = stateDict[name];
            if (!loaded.shape.SequenceEqual(param.shape))
                problems.Add($"'{name}' has shape [{string.Join(", ", loaded.shape)}] in the file but the model expects [{string.Join(", ", param.shape)}]");
            else if (!loaded.is_floating_point())
                problems.Add($"'{name}' has dtype {loaded.dtype}; CLIP weights must be floating point (float32, float16, bfloat16, float64)");
        }
        if (problems.Count > 0)
            throw new DeftException($"{source}: {problems.Count} tensor(s) cannot be loaded into {Describe(model.Config)}:\n  {string.Join("\n  ", problems.Take(10))}" +
                (problems.Count > 10 ? $"\n  … and {problems.Count - 10} more" : ""));

        using var noGrad = torch.no_grad();
        foreach (var (name, param) in expected) param.copy_(stateDict[name]);
    }

    /// <summary>
    /// Renames a Hugging Face CLIPModel state dict to OpenAI's layout (q/k/v fused, projections transposed); unknown
    /// keys pass through unchanged. Renamed entries reuse the input's tensor objects, fused/transposed ones are new:
    /// the caller disposes the union of both dictionaries' values.
    /// </summary>
    public static Dictionary<string, Tensor> HuggingFaceToOpenAi(IReadOnlyDictionary<string, Tensor> hf)
    {
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        var qkv = new Dictionary<string, Tensor?[]>(StringComparer.Ordinal);
        foreach (var (key, tensor) in hf)
        {
            if (key.EndsWith(".position_ids", StringComparison.Ordinal)) continue;
            var mapped = MapHuggingFaceKey(key, out var qkvSlot);
            if (qkvSlot >= 0)
            {
                if (!qkv.TryGetValue(mapped, out var slots)) qkv[mapped] = slots = new Tensor?[3];
                slots[qkvSlot] = tensor;
                continue;
            }
            result[mapped] = mapped is "visual.proj" or "text_projection" && key.EndsWith(".weight", StringComparison.Ordinal)
                ? tensor.t().contiguous()
                : tensor;
        }
        foreach (var (key, slots) in qkv)
        {
            if (slots.All(s => s is not null)) result[key] = torch.cat(slots!, 0);
            else
            {
                // Leave the parts under their HF names so the strict check reports what is missing.
                var names = new[] { "q_proj", "k_proj", "v_proj" };
                for (var i = 0; i < 3; i++)
                    if (slots[i] is { } t) result[$"{key} (from {names[i]})"] = t;
            }
        }
        return result;
    }

    private static string MapHuggingFaceKey(string key, out int qkvSlot)
    {
        qkvSlot = -1;
        switch (key)
        {
            case "logit_scale": return key;
            case "text_model.embeddings.token_embedding.weight": return "token_embedding.weight";
            case "text_model.embeddings.position_embedding.weight": return "positional_embedding";
            case "text_projection.weight": return "text_projection";
            case "vision_model.embeddings.class_embedding": return "visual.class_embedding";
            case "vision_model.embeddings.patch_embedding.weight": return "visual.conv1.weight";
            case "vision_model.embeddings.position_embedding.weight": return "visual.positional_embedding";
            case "visual_projection.weight": return "visual.proj";
        }
        foreach (var (hfPrefix, openAiPrefix) in new[]
                 {
                     ("text_model.final_layer_norm.", "ln_final."), ("vision_model.pre_layrnorm.", "visual.ln_pre."),
                     ("vision_model.post_layernorm.", "visual.ln_post."),
                 })
        {
            if (key.StartsWith(hfPrefix, StringComparison.Ordinal)) return openAiPrefix + key[hfPrefix.Length..];
        }
        foreach (var (hfPrefix, openAiPrefix) in new[] { ("vision_model.encoder.layers.", "visual.transformer.resblocks."), ("text_model.encoder.layers.", "transformer.resblocks.") })
        {
            if (!key.StartsWith(hfPrefix, StringComparison.Ordinal)) continue;
            var rest = key[hfPrefix.Length..];
            var dot = rest.IndexOf('.');
            if (dot <= 0) return key;
            var layer = rest[..dot];
            var (module, param) = SplitLast(rest[(dot + 1)..]);
            var prefix = $"{openAiPrefix}{layer}.";
            switch (module)
            {
                case "self_attn.q_proj": qkvSlot = 0; return $"{prefix}attn.in_proj_{param}";
                case "self_attn.k_proj": qkvSlot = 1; return $"{prefix}attn.in_proj_{param}";
                case "self_attn.v_proj": qkvSlot = 2; return $"{prefix}attn.in_proj_{param}";
                case "self_attn.out_proj": return $"{prefix}attn.out_proj.{param}";
                case "layer_norm1": return $"{prefix}ln_1.{param}";
                case "layer_norm2": return $"{prefix}ln_2.{param}";
                case "mlp.fc1": return $"{prefix}mlp.c_fc.{param}";
                case "mlp.fc2": return $"{prefix}mlp.c_proj.{param}";
                default: return key;
            }
        }
        return key;
    }

    private static (string Module, string Param) SplitLast(string s)
    {
        var i = s.LastIndexOf('.');
        return i < 0 ? ("", s) : (s[..i], s[(i + 1)..]);
    }

    internal static (ClipConfig Config, long Seed) ParseRandomSpec(string rest)
    {
        var at = rest.LastIndexOf('@');
        long seed = 0;
        var preset = rest;
        if (at >= 0)
        {
            if (!long.TryParse(rest[(at + 1)..], NumberStyles.Integer, CultureInfo.InvariantCulture, out seed))
                throw new DeftException($"Model spec '{RandomPrefix}{rest}': the seed after '@' must be an integer, e.g. {RandomPrefix}ViT-B-16@7.");
            preset = rest[..at];
        }
        return (ClipConfig.FromPreset(preset), seed);
    }

    private static (string WeightsPath, string Directory) ResolveWeightsPath(string spec)
    {
        if (File.Exists(spec)) return (Path.GetFullPath(spec), Path.GetDirectoryName(Path.GetFullPath(spec))!);
        if (Directory.Exists(spec))
        {
            var dir = Path.GetFullPath(spec);
            foreach (var name in SafetensorsNames.Concat(PickleNames))
                if (File.Exists(Path.Combine(dir, name))) return (Path.Combine(dir, name), dir);
            if (Directory.EnumerateFiles(dir, "*.index.json").Any())
                throw new DeftException($"{dir}: sharded checkpoints (*.index.json) are not supported; CLIP fits in one file — save it unsharded.");
            throw new DeftException($"{dir}: no weights found. Expected one of: {string.Join(", ", SafetensorsNames.Concat(PickleNames))}.");
        }
        throw new DeftException($"Model '{spec}' not found. Pass {RandomPrefix}<preset>[@seed] (presets: {string.Join(", ", ClipConfig.PresetNames)}), " +
            "a .safetensors/.pt file, or a Hugging Face / open_clip model directory.");
    }

    /// <summary>Throws naming the first field of an open_clip model_cfg that the weights contradict.</summary>
    private static void CheckAgainst(ClipConfig declared, ClipConfig fromWeights, string configPath, string weightsPath)
    {
        var fields = new (string Field, double Declared, double Actual)[]
        {
            ("model_cfg.embed_dim", declared.EmbedDim, fromWeights.EmbedDim),
            ("model_cfg.vision_cfg.image_size", declared.Vision.ImageSize, fromWeights.Vision.ImageSize),
            ("model_cfg.vision_cfg.patch_size", declared.Vision.PatchSize, fromWeights.Vision.PatchSize),
            ("model_cfg.vision_cfg.width", declared.Vision.Width, fromWeights.Vision.Width),
            ("model_cfg.vision_cfg.layers", declared.Vision.Layers, fromWeights.Vision.Layers),
            // Compared as hidden widths: open_clip writes rounded ratios such as 4.9231 for 8192/1664.
            ("model_cfg.vision_cfg.mlp_ratio × width", Math.Round(declared.Vision.MlpRatio * declared.Vision.Width), Math.Round(fromWeights.Vision.MlpRatio * fromWeights.Vision.Width)),
            ("model_cfg.text_cfg.context_length", declared.Text.ContextLength, fromWeights.Text.ContextLength),
            ("model_cfg.text_cfg.vocab_size", declared.Text.VocabSize, fromWeights.Text.VocabSize),
            ("model_cfg.text_cfg.width", declared.Text.Width, fromWeights.Text.Width),
            ("model_cfg.text_cfg.layers", declared.Text.Layers, fromWeights.Text.Layers),
            ("model_cfg.text_cfg.mlp_ratio × width", Math.Round(declared.Text.MlpRatio * declared.Text.Width), Math.Round(fromWeights.Text.MlpRatio * fromWeights.Text.Width)),
        };
        foreach (var (field, d, a) in fields)
            if (d != a)
                throw new DeftException(string.Create(CultureInfo.InvariantCulture,
                    $"{configPath}: {field} means {d}, but the weights in {Path.GetFileName(weightsPath)} have {a}. ") +
                    "The open_clip_config.json does not belong to these weights; fix the field or use the model's own config.");
    }

    private static string? FindTokenizerDirectory(string directory)
    {
        if (File.Exists(Path.Combine(directory, "vocab.json")) && File.Exists(Path.Combine(directory, "merges.txt"))) return directory;
        if (File.Exists(Path.Combine(directory, "bpe_simple_vocab_16e6.txt.gz"))) return directory;
        return null;
    }

    private static Device ParseDevice(string device)
    {
        // TorchSharp-cpu refuses "cuda" (or fails at the first tensor) with a native message: say why up front.
        var text = device.Trim().ToLowerInvariant();
        if ((text == "cuda" || text.StartsWith("cuda:", StringComparison.Ordinal)) && !CudaAvailable())
            throw new DeftException($"{Setting.Device} {device}: this build of Deft is CPU-only (it ships TorchSharp-cpu, which has no CUDA). Use cpu, or swap TorchSharp-cpu for a CUDA package (README, \"Using a GPU\").");
        try
        {
            return torch.device(text);
        }
        catch (Exception ex)
        {
            throw new DeftException($"{Setting.Device} '{device}' is not a device. Valid: cpu, cuda, cuda:N.", ex);
        }
    }

    private static bool CudaAvailable()
    {
        try { return torch.cuda.is_available(); }
        catch (Exception) { return false; }
    }

    // TorchScript archives can carry the text transformer's causal mask as a per-block attribute (not a weight).
    private static bool IsIgnored(string key) => IgnoredKeys.Contains(key) || key.EndsWith(".position_ids", StringComparison.Ordinal)
        || key.EndsWith(".attn_mask", StringComparison.Ordinal);

    private static Dictionary<string, long[]> Shapes(IReadOnlyDictionary<string, Tensor> stateDict) =>
        stateDict.ToDictionary(kv => kv.Key, kv => kv.Value.shape, StringComparer.Ordinal);

    private static string ListSome(IReadOnlyList<string> keys) =>
        string.Join(", ", keys.Take(10)) + (keys.Count > 10 ? $", … ({keys.Count - 10} more)" : "");

    private static string Describe(ClipConfig c) =>
        $"CLIP ViT (image {c.Vision.ImageSize}px/patch {c.Vision.PatchSize}, width {c.Vision.Width}×{c.Vision.Layers}; text width {c.Text.Width}×{c.Text.Layers}; embed {c.EmbedDim})";
}
