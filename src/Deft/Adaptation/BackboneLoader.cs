using System.Globalization;
using System.Text.Json.Nodes;
using Deft.Clip;
using Deft.Clip.Tokenization;
using Deft.Data.Transforms;
using Deft.Peft;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Deft.Adaptation;

/// <summary>A freshly built network and what loading it involved.</summary>
/// <param name="Tokenizer">The CLIP model's tokenizer when it was asked for (text head initialisation), else null.</param>
internal sealed record BackboneBuild(IAdaptNetwork Network, Normalization Normalization, IReadOnlyList<string> Notes, ClipTokenizer? Tokenizer);

/// <summary>
/// Builds the phase-2 network from a model spec: <c>random:&lt;preset&gt;[@seed]</c> (CLIP presets, resnet50,
/// resnet-tiny, vit_base_patch16_224 / vit-b-16, vit-tiny), a CLIP directory, or a state-dict file
/// (.safetensors/.pt/.pth/.bin) whose key layout says what it is: OpenAI/open_clip or Hugging Face CLIP,
/// torchvision/timm ResNet, timm ViT.
/// </summary>
internal static class BackboneLoader
{
    private static readonly HashSet<string> IgnoredKeySuffixes = new(StringComparer.Ordinal) { "num_batches_tracked" };

    /// <param name="withTokenizer">Resolve a CLIP model's tokenizer too (<see cref="ClipBundle"/>: its directory's, <paramref name="vocab"/>, the installed one).</param>
    public static BackboneBuild Create(string spec, BackboneKind kind, int classCount, int? resolution, PeftOptions peft, long headSeed,
        bool withTokenizer = false, string? vocab = null)
    {
        if (classCount < 2) throw new DeftException($"Fine-tuning needs at least 2 classes; the data set has {classCount}.");
        using var generator = new Generator((ulong)headSeed);
        if (spec.StartsWith(ClipLoader.RandomPrefix, StringComparison.OrdinalIgnoreCase))
            return CreateRandom(spec, kind, classCount, resolution, peft, generator, withTokenizer, vocab);
        if (Directory.Exists(spec))
        {
            if (kind is not (BackboneKind.Auto or BackboneKind.Clip))
                throw new DeftException($"{spec} is a directory; only CLIP models come as directories. Pass a .safetensors/.pth file for {Setting.Backbone} {kind.ToName()}.");
            return CreateClip(spec, withTokenizer, vocab, classCount, resolution, peft, generator);
        }
        if (!File.Exists(spec))
            throw new DeftException($"Model '{spec}' not found. Pass random:<preset>[@seed] (CLIP: {string.Join(", ", ClipConfig.PresetNames)}; ResNet: " +
                $"{string.Join(", ", ResNetConfig.PresetNames)}; ViT: {string.Join(", ", VitConfig.PresetNames)}), a CLIP directory, or a .safetensors/.pth state dict.");

        var tensors = ClipLoader.ReadStateDict(spec);
        try
        {
            var layout = DetectLayout(tensors.Keys);
            if (kind != BackboneKind.Auto && layout != kind)
                throw LayoutMismatch(spec, tensors.Keys, kind, layout);
            switch (layout)
            {
                case BackboneKind.Clip:
                    DisposeAll(tensors);
                    tensors.Clear();
                    return CreateClip(spec, withTokenizer, vocab, classCount, resolution, peft, generator);
                case BackboneKind.ResNet:
                    return LoadResNet(spec, tensors, classCount, resolution, generator);
                case BackboneKind.Vit:
                    return LoadVit(spec, tensors, classCount, resolution, generator);
                default:
                    throw LayoutMismatch(spec, tensors.Keys, kind, BackboneKind.Auto);
            }
        }
        finally
        {
            DisposeAll(tensors);
        }
    }

    /// <summary>The layout a state dict's keys follow, or <see cref="BackboneKind.Auto"/> when none.</summary>
    public static BackboneKind DetectLayout(IEnumerable<string> keys)
    {
        var set = keys as ISet<string> ?? keys.ToHashSet(StringComparer.Ordinal);
        if (set.Contains("visual.conv1.weight") || set.Any(k => k.StartsWith("vision_model.", StringComparison.Ordinal))) return BackboneKind.Clip;
        if (set.Contains("conv1.weight") && set.Contains("layer1.0.conv1.weight")) return BackboneKind.ResNet;
        if (set.Contains("cls_token") && set.Contains("patch_embed.proj.weight")) return BackboneKind.Vit;
        return BackboneKind.Auto;
    }

    private static readonly (BackboneKind Kind, string Name, string[] Keys)[] Layouts =
    [
        (BackboneKind.Clip, "OpenAI/open_clip CLIP", ["visual.conv1.weight", "visual.class_embedding", "visual.transformer.resblocks.0.attn.in_proj_weight", "visual.proj"]),
        (BackboneKind.Clip, "Hugging Face CLIP", ["vision_model.embeddings.patch_embedding.weight", "vision_model.encoder.layers.0.self_attn.q_proj.weight"]),
        (BackboneKind.ResNet, "torchvision/timm ResNet", ["conv1.weight", "bn1.weight", "layer1.0.conv1.weight", "layer4.0.conv3.weight", "fc.weight"]),
        (BackboneKind.Vit, "timm ViT", ["cls_token", "pos_embed", "patch_embed.proj.weight", "blocks.0.attn.qkv.weight", "norm.weight", "head.weight"]),
    ];

    private static DeftException LayoutMismatch(string path, IEnumerable<string> keys, BackboneKind wanted, BackboneKind found)
    {
        var list = keys.ToList();
        var tried = Layouts.Where(l => wanted == BackboneKind.Auto || l.Kind == wanted).ToList();
        var known = tried.SelectMany(l => l.Keys).ToHashSet(StringComparer.Ordinal);
        var unmatched = list.Where(k => !known.Contains(k)).Take(8).ToList();
        var triedText = string.Join("; ", tried.Select(l => $"{l.Name} (keys like {string.Join(", ", l.Keys.Take(3))})"));
        var what = wanted == BackboneKind.Auto ? "match no known layout" : $"do not follow the {wanted.ToName()} layout";
        var unmatchedText = $"{(unmatched.Count == 0 ? "(none)" : string.Join(", ", unmatched))}{(list.Count > unmatched.Count ? ", …" : "")}";
        if (found != BackboneKind.Auto && found != wanted)
            return new DeftException($"{path}: the {list.Count} key(s) {what}. Tried: {triedText}. First unmatched keys: {unmatchedText}. " +
                $"They look like a {found.ToName()} state dict: use {Setting.Backbone} {found.ToName()} or auto.");
        return new DeftException($"{path}: the {list.Count} key(s) {what}. Tried: {triedText}. First unmatched keys: {unmatchedText}.");
    }

    private static BackboneBuild CreateRandom(string spec, BackboneKind kind, int classCount, int? resolution, PeftOptions peft, Generator generator,
        bool withTokenizer, string? vocab)
    {
        var rest = spec[ClipLoader.RandomPrefix.Length..];
        var at = rest.LastIndexOf('@');
        var preset = at >= 0 ? rest[..at] : rest;
        long seed = 0;
        if (at >= 0 && !long.TryParse(rest[(at + 1)..], NumberStyles.Integer, CultureInfo.InvariantCulture, out seed))
            throw new DeftException($"Model spec '{spec}': the seed after '@' must be an integer, e.g. random:resnet-tiny@3.");
        var isClip = ClipConfig.PresetNames.Any(n => string.Equals(n.Replace('/', '-'), preset.Replace('/', '-'), StringComparison.OrdinalIgnoreCase));
        var resnet = ResNetConfig.FromPreset(preset);
        var vit = VitConfig.FromPreset(preset);
        var chosen = kind != BackboneKind.Auto ? kind
            : isClip ? BackboneKind.Clip : resnet is not null ? BackboneKind.ResNet : vit is not null ? BackboneKind.Vit : BackboneKind.Auto;
        using var init = new Generator((ulong)seed);
        switch (chosen)
        {
            case BackboneKind.Clip when isClip:
                return CreateClip(spec, withTokenizer, vocab, classCount, resolution, peft, generator);
            case BackboneKind.ResNet when resnet is not null:
            {
                var config = resolution is { } r ? resnet with { ImageSize = r } : resnet;
                return new BackboneBuild(new ResNetClassifier(config, classCount, init), AdaptNetworkHelpers.ImageNet, [], null);
            }
            case BackboneKind.Vit when vit is not null:
            {
                var config = resolution is { } r ? vit with { ImageSize = r } : vit;
                return new BackboneBuild(new VitClassifier(config, classCount, init), AdaptNetworkHelpers.Half, [], null);
            }
        }
        var valid = chosen switch
        {
            BackboneKind.Clip => ClipConfig.PresetNames,
            BackboneKind.ResNet => ResNetConfig.PresetNames,
            BackboneKind.Vit => VitConfig.PresetNames,
            _ => ClipConfig.PresetNames.Concat(ResNetConfig.PresetNames).Concat(VitConfig.PresetNames).ToList(),
        };
        if (kind == BackboneKind.Auto) throw new DeftException($"Unknown random preset '{preset}'. Valid presets: {string.Join(", ", valid)}.");
        throw new DeftException($"Unknown random preset '{preset}' for {Setting.Backbone} {kind.ToName()}. Valid presets: {string.Join(", ", valid)}.");
    }

    private static BackboneBuild CreateClip(string spec, bool withTokenizer, string? vocab, int classCount, int? resolution, PeftOptions peft, Generator generator)
    {
        LoadedClip loaded;
        ClipTokenizer? tokenizer = null;
        Normalization normalization;
        if (withTokenizer)
        {
            var bundle = ClipBundle.Load(spec, vocab);
            (loaded, tokenizer, normalization) = (bundle.Loaded, bundle.Tokenizer, bundle.Normalization);
        }
        else
        {
            loaded = ClipLoader.LoadWithInfo(spec);
            normalization = ClipBundle.ModelNormalization(loaded);
        }
        var size = loaded.Model.Config.Vision.ImageSize;
        if (resolution is { } r && r != size)
        {
            loaded.Model.Dispose();
            throw new DeftException($"{loaded.Spec}: CLIP's image tower takes {size} px images (its positional embedding is fixed); drop {Setting.Resolution} or pass {size}.");
        }
        try
        {
            var network = new ClipClassifier(loaded.Model, peft, classCount, generator);
            return new BackboneBuild(network, normalization, [], tokenizer);
        }
        catch
        {
            loaded.Model.Dispose();
            throw;
        }
    }

    private static BackboneBuild LoadResNet(string path, Dictionary<string, Tensor> tensors, int classCount, int? resolution, Generator generator)
    {
        if (!tensors.ContainsKey("layer1.0.conv3.weight"))
            throw new DeftException($"{path}: a basic-block ResNet (ResNet-18/34: no layer1.0.conv3.weight); Deft fine-tunes bottleneck ResNets (ResNet-50/101/152).");
        var layers = Enumerable.Range(1, 4).Select(stage => CountBlocks(tensors.Keys, $"layer{stage}.")).ToArray();
        if (layers.Any(l => l == 0))
            throw new DeftException($"{path}: ResNet stages without blocks ({string.Join(", ", layers.Select((l, i) => $"layer{i + 1}: {l}"))}).");
        var widthPerGroup = (int)tensors["layer1.0.conv1.weight"].shape[0];
        var config = new ResNetConfig(layers, widthPerGroup, resolution ?? 224);
        var network = new ResNetClassifier(config, classCount, generator);
        try
        {
            var expected = network.SavedState().ToDictionary(s => s.Name, s => s.Tensor.shape, StringComparer.Ordinal);
            var notes = new List<string>();
            var headMatches = tensors.TryGetValue("fc.weight", out var fc) && fc.shape.SequenceEqual(expected["fc.weight"]);
            if (!headMatches)
                notes.Add($"fc {(fc is null ? "absent" : $"[{string.Join(", ", fc.shape)}]")} in {Path.GetFileName(path)}: a new {classCount}-class head (nn.Linear default initialisation)");
            CheckKeys(path, tensors, expected, k => k.StartsWith("fc.", StringComparison.Ordinal), "ResNet");
            network.LoadTensors(tensors, k => headMatches || !k.StartsWith("fc.", StringComparison.Ordinal));
            return new BackboneBuild(network, AdaptNetworkHelpers.ImageNet, notes, null);
        }
        catch
        {
            network.Dispose();
            throw;
        }
    }

    private static BackboneBuild LoadVit(string path, Dictionary<string, Tensor> tensors, int classCount, int? resolution, Generator generator)
    {
        long[] Shape(string key, int rank) => tensors.TryGetValue(key, out var t) && t.dim() == rank
            ? t.shape
            : throw new DeftException($"{path}: timm ViT key '{key}' is missing or not {rank}-dimensional.");
        var width = (int)Shape("cls_token", 3)[2];
        var patch = (int)Shape("patch_embed.proj.weight", 4)[2];
        var depth = CountBlocks(tensors.Keys, "blocks.");
        var hidden = Shape("blocks.0.mlp.fc1.weight", 2)[0];
        var tokens = Shape("pos_embed", 3)[1];
        var grid = (int)Math.Round(Math.Sqrt(tokens - 1));
        if (grid * grid + 1 != tokens)
            throw new DeftException($"{path}: pos_embed has {tokens} positions, not a class token plus a square grid.");
        var heads = Math.Max(1, width / 64);
        var fileConfig = new VitConfig(grid * patch, patch, width, depth, heads, (double)hidden / width);
        var config = resolution is { } r ? fileConfig with { ImageSize = r } : fileConfig;
        var network = new VitClassifier(config, classCount, generator);
        var notes = new List<string>();
        Tensor? resampled = null;
        try
        {
            var expected = network.SavedState().ToDictionary(s => s.Name, s => s.Tensor.shape, StringComparer.Ordinal);
            var headMatches = tensors.TryGetValue("head.weight", out var head) && head.shape.SequenceEqual(expected["head.weight"]);
            if (!headMatches)
                notes.Add($"head {(head is null ? "absent" : $"[{string.Join(", ", head.shape)}]")} in {Path.GetFileName(path)}: a new {classCount}-class head (trunc_normal 0.02, as timm)");
            if (config.Grid != grid)
            {
                resampled = ResamplePositions(tensors["pos_embed"], grid, config.Grid);
                notes.Add($"pos_embed resampled from a {grid}×{grid} to a {config.Grid}×{config.Grid} grid (bicubic) for {config.ImageSize} px input");
            }
            var view = new Dictionary<string, Tensor>(tensors, StringComparer.Ordinal);
            if (resampled is not null) view["pos_embed"] = resampled;
            CheckKeys(path, view, expected, k => k.StartsWith("head.", StringComparison.Ordinal), "timm ViT");
            network.LoadTensors(view, k => headMatches || !k.StartsWith("head.", StringComparison.Ordinal));
            return new BackboneBuild(network, AdaptNetworkHelpers.Half, notes, null);
        }
        catch
        {
            network.Dispose();
            throw;
        }
        finally
        {
            resampled?.Dispose();
        }
    }

    /// <summary>Bicubic resampling of the patch positions (the class token's position is kept), as timm does on load.</summary>
    internal static Tensor ResamplePositions(Tensor posEmbed, int fromGrid, int toGrid)
    {
        using var scope = torch.NewDisposeScope();
        var width = posEmbed.shape[2];
        var cls = posEmbed.narrow(1, 0, 1);
        var grid = posEmbed.narrow(1, 1, fromGrid * fromGrid).to(ScalarType.Float32)
            .reshape(1, fromGrid, fromGrid, width).permute(0, 3, 1, 2);
        var resized = F.interpolate(grid, size: [toGrid, toGrid], mode: InterpolationMode.Bicubic, align_corners: false);
        var back = resized.permute(0, 2, 3, 1).reshape(1, toGrid * toGrid, width).to(posEmbed.dtype);
        return torch.cat([cls, back], 1).MoveToOuterDisposeScope();
    }

    /// <summary>Strict key check: every expected tensor present with its shape, nothing unknown; <paramref name="optional"/> keys may differ.</summary>
    private static void CheckKeys(string path, IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, long[]> expected,
        Func<string, bool> optional, string layout)
    {
        bool Ignorable(string k) => optional(k) || IgnoredKeySuffixes.Contains(k[(k.LastIndexOf('.') + 1)..]);
        var missing = expected.Keys.Where(k => !tensors.ContainsKey(k) && !Ignorable(k)).ToList();
        var unexpected = tensors.Keys.Where(k => !expected.ContainsKey(k) && !Ignorable(k)).ToList();
        var shapes = expected.Where(e => tensors.TryGetValue(e.Key, out var t) && !optional(e.Key) && !t.shape.SequenceEqual(e.Value))
            .Select(e => $"'{e.Key}' is [{string.Join(", ", tensors[e.Key].shape)}], expected [{string.Join(", ", e.Value)}]").ToList();
        if (missing.Count == 0 && unexpected.Count == 0 && shapes.Count == 0) return;
        throw new DeftException($"{path}: the weights do not fit the {layout} they look like" +
            (missing.Count > 0 ? $"; {missing.Count} missing key(s): {string.Join(", ", missing.Take(8))}" : "") +
            (unexpected.Count > 0 ? $"; {unexpected.Count} unexpected key(s): {string.Join(", ", unexpected.Take(8))}" : "") +
            (shapes.Count > 0 ? $"; {string.Join("; ", shapes.Take(5))}" : "") + ".");
    }

    private static int CountBlocks(IEnumerable<string> keys, string prefix)
    {
        var max = -1;
        foreach (var k in keys)
        {
            if (!k.StartsWith(prefix, StringComparison.Ordinal)) continue;
            var rest = k[prefix.Length..];
            var dot = rest.IndexOf('.');
            if (dot > 0 && int.TryParse(rest[..dot], NumberStyles.None, CultureInfo.InvariantCulture, out var i)) max = Math.Max(max, i);
        }
        return max + 1;
    }

    private static void DisposeAll(Dictionary<string, Tensor> tensors)
    {
        foreach (var t in tensors.Values) t.Dispose();
    }
}
