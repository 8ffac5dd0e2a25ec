using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Deft.Clip;
using Deft.Peft;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Deft.Adaptation;

/// <summary>How the CLIP classifier's linear head starts (<c>--head-init</c>).</summary>
public enum HeadInit
{
    /// <summary>nn.Linear's default initialisation, as the official phase-2 code does.</summary>
    Random,
    /// <summary>
    /// Zero-shot weights mapped back through the projection: W = T · projᵀ with T the unit-norm class text embeddings
    /// [K, E] and proj [W, E]; bias 0. Then head(f) = (f · proj) · Tᵀ: the unnormalised image feature's dot product with
    /// each class embedding, the zero-shot cosine score times ‖f · proj‖ (no logit scale), so the argmax is the
    /// zero-shot classifier's.
    /// </summary>
    Text,
}

/// <summary>
/// CLIP's image tower with a linear head on ln_post(class token) (width → classes), as the official phase-2 code
/// builds it. Full fine-tuning (<see cref="PeftKind.Full"/>, the default) trains every transformer block and the
/// head; patch embedding, class/positional embeddings, ln_pre, ln_post and proj stay frozen. Other PEFT kinds train
/// only their modules and the head. Owns the CLIP model and the PEFT modules.
/// </summary>
internal sealed class ClipClassifier : IAdaptNetwork
{
    public const string HeadWeight = "head.weight";
    public const string HeadBias = "head.bias";
    public const string PeftPrefix = "peft.";

    private readonly ClipModel _clip;
    private readonly VisionPeft _peft;
    private readonly Parameter _headWeight;
    private readonly Parameter _headBias;
    private readonly List<(string, Parameter)> _trainables = new();

    /// <summary>Attaches PEFT modules built from <paramref name="peftOptions"/> and a head; takes ownership of <paramref name="clip"/>.</summary>
    public ClipClassifier(ClipModel clip, PeftOptions peftOptions, int classCount, Generator? generator)
    {
        _clip = clip;
        _peft = VisionPeft.Create(peftOptions, clip.Config.Vision, generator);
        var width = clip.Config.Vision.Width;
        _headWeight = new Parameter(torch.empty(classCount, width, device: clip.Device));
        _headBias = new Parameter(torch.empty(classCount, device: clip.Device));
        AdaptNetworkHelpers.LinearDefaultInit(_headWeight, _headBias, generator);
        var clipTrained = _peft.Attach(clip);
        _trainables.AddRange(_peft.Parameters.Select(p => (PeftPrefix + p.Name, p.Parameter)));
        // VisionPeft names CLIP's own parameters "clip.visual.…"; the saved model uses the state-dict name "visual.…".
        _trainables.AddRange(clipTrained.Select(p => (p.Name.StartsWith("clip.", StringComparison.Ordinal) ? p.Name["clip.".Length..] : p.Name, p.Parameter)));
        _trainables.Add((HeadWeight, _headWeight));
        _trainables.Add((HeadBias, _headBias));
        foreach (var (_, p) in _trainables) p.requires_grad = true;
        ClassCount = classCount;
    }

    public ClipModel Clip => _clip;
    public PeftOptions PeftOptions => _peft.Options;
    public BackboneKind Kind => BackboneKind.Clip;
    public int ClassCount { get; }
    public int Resolution => _clip.Config.Vision.ImageSize;
    public Device Device => _clip.Device;
    public bool BatchDependent => false;
    public IReadOnlyList<(string Name, Parameter Parameter)> Trainables => _trainables;
    public IReadOnlyList<(string Name, Tensor Tensor)> TrainingBuffers => [];
    public Parameter HeadWeightParameter => _headWeight;
    public Parameter HeadBiasParameter => _headBias;

    /// <summary>Sets the head to the zero-shot weights (see <see cref="HeadInit.Text"/>): W = T · projᵀ, b = 0.</summary>
    public void InitializeHeadFromText(Tensor classEmbeddings)
    {
        var proj = _clip.Visual.Proj; // [W, E]
        if (classEmbeddings.dim() != 2 || classEmbeddings.shape[0] != ClassCount || classEmbeddings.shape[1] != proj.shape[1])
            throw new DeftException($"Text head initialisation needs [{ClassCount}, {proj.shape[1]}] class embeddings; got [{string.Join(", ", classEmbeddings.shape)}].");
        using var noGrad = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var t = F.normalize(classEmbeddings.to(ScalarType.Float32).to(Device), dim: -1);
        _headWeight.copy_(t.matmul(proj.to(ScalarType.Float32).t()));
        _headBias.zero_();
    }

    /// <summary>‖ln_post(class token) · proj‖ per image [B] (what the zero-shot classifier normalises away).</summary>
    public Tensor ProjectedNorms(Tensor images)
    {
        using var scope = torch.NewDisposeScope();
        var pooled = _clip.Visual.EncodePreProjection(images.to(Device)).to(ScalarType.Float32);
        return pooled.matmul(_clip.Visual.Proj.to(ScalarType.Float32)).norm(1).MoveToOuterDisposeScope();
    }

    /// <summary>Multiplies the head's weights and bias by <paramref name="factor"/> (a temperature: the argmax stays).</summary>
    public void ScaleHead(double factor)
    {
        using var noGrad = torch.no_grad();
        _headWeight.mul_(factor);
        _headBias.mul_(factor);
    }

    public Tensor Logits(Tensor images)
    {
        using var scope = torch.NewDisposeScope();
        var pooled = _clip.Visual.EncodePreProjection(images.to(Device));
        if (pooled.dtype != ScalarType.Float32) pooled = pooled.to(ScalarType.Float32);
        return F.linear(pooled, _headWeight, _headBias).MoveToOuterDisposeScope();
    }

    // CLIP has neither dropout nor batch normalisation: training and evaluation compute the same function.
    public void SetTraining(bool training) { }

    public IEnumerable<(string Name, Tensor Tensor)> SavedState()
    {
        foreach (var (name, p) in _clip.NamedClipParameters())
            if (name.StartsWith("visual.", StringComparison.Ordinal)) yield return (name, p);
        foreach (var (name, p) in _peft.Parameters) yield return (PeftPrefix + name, p);
        yield return (HeadWeight, _headWeight);
        yield return (HeadBias, _headBias);
    }

    /// <summary>The settings records' JSON names (snake_case), as summary.json writes PEFT settings.</summary>
    private static readonly JsonSerializerOptions SettingsJson = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    private const string ModelConfigKey = "model_cfg";

    /// <summary>
    /// The classifier's shape: the CLIP config as open_clip's model_cfg (<see cref="ClipConfigs.ToJson(ClipConfig)"/>)
    /// and the PEFT settings as summary.json names them (peft, partial, vpt_len, lora_rank, adapter_dim).
    /// </summary>
    public JsonObject Architecture()
    {
        var json = JsonSerializer.SerializeToNode(_peft.Options, SettingsJson)!.AsObject();
        json.Insert(0, ModelConfigKey, ClipConfigs.ToJson(_clip.Config));
        return json;
    }

    /// <summary>
    /// Rebuilds a saved classifier (its text tower is a placeholder: prediction never uses it). Reads the
    /// <see cref="Architecture"/> form and the flat one earlier versions wrote (embed_dim, image_size, …, heads).
    /// </summary>
    public static ClipClassifier FromSaved(JsonObject arch, int classCount, IReadOnlyDictionary<string, Tensor> state, string source, Device device)
    {
        // The smallest valid text tower: only its shape is allocated, never used or saved.
        var placeholderText = new ClipTextConfig(ContextLength: 1, VocabSize: 1, Width: 1, Layers: 0, Heads: 1);
        var config = arch[ModelConfigKey] is JsonObject modelConfig
            // Re-parsed: ClipConfigs reads parsed JSON values, and a caller may hand over a built object.
            ? ClipConfigs.FromJson(JsonNode.Parse(modelConfig.ToJsonString()), source, "architecture.model_cfg.") with { Text = placeholderText }
            : FlatConfig(arch, source, placeholderText);
        PeftOptions peft;
        try { peft = arch.ContainsKey("peft") ? arch.Deserialize<PeftOptions>(SettingsJson)! : new PeftOptions(PeftKind.Full); }
        catch (JsonException ex) { throw new DeftException($"{source}: the architecture's PEFT settings are invalid ({ex.Message}).", ex); }
        var clip = new ClipModel(config, device);
        ClipClassifier? classifier = null;
        try
        {
            classifier = new ClipClassifier(clip, peft, classCount, generator: null);
            SavedStateIO.CopyInto(classifier.SavedState(), state, source);
            classifier.SetTrainable(false);
            return classifier;
        }
        catch
        {
            if (classifier is not null) classifier.Dispose(); else clip.Dispose();
            throw;
        }
    }

    /// <summary>The CLIP config of the flat architecture form earlier versions wrote.</summary>
    private static ClipConfig FlatConfig(JsonObject arch, string source, ClipTextConfig text)
    {
        int Int(string key) => arch[key]?.GetValue<int>() ?? throw new DeftException($"{source}: architecture field '{key}' is missing.");
        var vision = new ClipVisionConfig(Int("image_size"), Int("patch_size"), Int("width"), Int("layers"), Int("heads"),
            arch["mlp_ratio"]?.GetValue<double>() ?? 4.0);
        var activation = (string?)arch["activation"] == "gelu" ? ClipActivation.Gelu : ClipActivation.QuickGelu;
        return new ClipConfig(Int("embed_dim"), vision, text, activation, arch["layer_norm_eps"]?.GetValue<double>() ?? 1e-5);
    }

    internal void SetTrainable(bool trainable)
    {
        foreach (var (_, p) in _trainables) p.requires_grad = trainable;
    }

    public void Dispose()
    {
        _peft.Dispose();
        _headWeight.Dispose();
        _headBias.Dispose();
        _clip.Dispose();
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"CLIP image tower {Resolution}px/{_clip.Config.Vision.PatchSize}, width {_clip.Config.Vision.Width}×{_clip.Config.Vision.Layers}, PEFT {_peft.Options.Name}");
}

/// <summary>Copies named tensors from a file's dictionary into a model, strictly.</summary>
internal static class SavedStateIO
{
    /// <summary>Copies the tensors <paramref name="include"/> accepts and <paramref name="state"/> has, converting dtype (shapes were checked by the caller).</summary>
    public static void CopyAvailable(IEnumerable<(string Name, Tensor Tensor)> targets, IReadOnlyDictionary<string, Tensor> state, Func<string, bool> include)
    {
        using var noGrad = torch.no_grad();
        foreach (var (name, target) in targets)
        {
            if (!include(name) || !state.TryGetValue(name, out var t)) continue;
            target.copy_(t.to(target.dtype));
        }
    }

    public static void CopyInto(IEnumerable<(string Name, Tensor Tensor)> targets, IReadOnlyDictionary<string, Tensor> state, string source)
    {
        var expected = targets.ToList();
        var names = expected.Select(e => e.Name).ToHashSet(StringComparer.Ordinal);
        var missing = expected.Where(e => !state.ContainsKey(e.Name)).Select(e => e.Name).ToList();
        var unexpected = state.Keys.Where(k => !names.Contains(k)).ToList();
        if (missing.Count > 0 || unexpected.Count > 0)
            throw new DeftException($"{source}: the saved tensors do not match the model its config describes" +
                (missing.Count > 0 ? $"; missing: {string.Join(", ", missing.Take(8))}{(missing.Count > 8 ? $" (+{missing.Count - 8})" : "")}" : "") +
                (unexpected.Count > 0 ? $"; unexpected: {string.Join(", ", unexpected.Take(8))}{(unexpected.Count > 8 ? $" (+{unexpected.Count - 8})" : "")}" : "") +
                ". The directory was written by another version or edited; train it again.");
        using var noGrad = torch.no_grad();
        foreach (var (name, target) in expected)
        {
            var t = state[name];
            if (!t.shape.SequenceEqual(target.shape))
                throw new DeftException($"{source}: '{name}' has shape [{string.Join(", ", t.shape)}]; the model expects [{string.Join(", ", target.shape)}].");
            target.copy_(t);
        }
    }
}
