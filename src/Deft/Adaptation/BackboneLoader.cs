using System.Globalization;
using System.Text.RegularExpressions;
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
/// resnet-tiny, vit_base_patch16_224 / vit-b-16, vit-tiny, convnext_tiny / convnext-t, convnext-toy), a CLIP
/// directory, or a state-dict file (.safetensors/.pt/.pth/.bin, wrapped under state_dict/model or prefixed module.
/// as training checkpoints are) whose key layout says what it is: OpenAI/open_clip or Hugging Face CLIP,
/// torchvision/timm ResNet, timm ViT (without a head: MAE), timm or facebookresearch ConvNeXt.
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
                $"{string.Join(", ", ResNetConfig.PresetNames)}; ViT and MAE: {string.Join(", ", VitConfig.PresetNames)}; ConvNeXt: {string.Join(", ", ConvNextConfig.PresetNames)}), " +
                "a CLIP directory, or a .safetensors/.pth state dict.");

        var tensors = ClipLoader.ReadStateDict(spec);
        try
        {
            var layout = DetectLayout(tensors.Keys);
            // MAE and ViT share a layout: the requested kind chooses the settings, else the head's presence does.
            if (kind != BackboneKind.Auto && layout.Layout() != kind.Layout())
                throw LayoutMismatch(spec, tensors.Keys, kind, layout);
            var chosen = kind == BackboneKind.Auto ? layout : kind;
            switch (chosen)
            {
                case BackboneKind.Clip:
                    DisposeAll(tensors);
                    tensors.Clear();
                    return CreateClip(spec, withTokenizer, vocab, classCount, resolution, peft, generator);
                case BackboneKind.ResNet:
                    return LoadResNet(spec, tensors, classCount, resolution, generator);
                case BackboneKind.Vit or BackboneKind.Mae:
                    return LoadVit(spec, tensors, classCount, resolution, generator, chosen, guessed: kind == BackboneKind.Auto);
                case BackboneKind.ConvNext:
                    return LoadConvNext(spec, tensors, classCount, resolution, generator);
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
        if (set.Contains("cls_token") && set.Contains("patch_embed.proj.weight"))
            return set.Contains("head.weight") ? BackboneKind.Vit : BackboneKind.Mae;
        if (set.Contains("stem.0.weight") && set.Contains("stages.0.blocks.0.conv_dw.weight")) return BackboneKind.ConvNext;
        if (set.Contains("downsample_layers.0.0.weight") && set.Contains("stages.0.0.dwconv.weight")) return BackboneKind.ConvNext;
        return BackboneKind.Auto;
    }

    private static readonly (BackboneKind Kind, string Name, string[] Keys)[] Layouts =
    [
        (BackboneKind.Clip, "OpenAI/open_clip CLIP", ["visual.conv1.weight", "visual.class_embedding", "visual.transformer.resblocks.0.attn.in_proj_weight", "visual.proj"]),
        (BackboneKind.Clip, "Hugging Face CLIP", ["vision_model.embeddings.patch_embedding.weight", "vision_model.encoder.layers.0.self_attn.q_proj.weight"]),
        (BackboneKind.ResNet, "torchvision/timm ResNet", ["conv1.weight", "bn1.weight", "layer1.0.conv1.weight", "layer4.0.conv3.weight", "fc.weight"]),
        (BackboneKind.Vit, "timm ViT", ["cls_token", "pos_embed", "patch_embed.proj.weight", "blocks.0.attn.qkv.weight", "norm.weight", "head.weight"]),
        (BackboneKind.Mae, "timm/MAE ViT without a head", ["cls_token", "pos_embed", "patch_embed.proj.weight", "blocks.0.attn.qkv.weight", "norm.weight"]),
        (BackboneKind.ConvNext, "timm ConvNeXt", ["stem.0.weight", "stages.0.blocks.0.conv_dw.weight", "stages.0.blocks.0.mlp.fc1.weight", "stages.1.downsample.1.weight", "head.norm.weight", "head.fc.weight"]),
        (BackboneKind.ConvNext, "facebookresearch ConvNeXt", ["downsample_layers.0.0.weight", "stages.0.0.dwconv.weight", "stages.0.0.pwconv1.weight", "downsample_layers.1.1.weight", "norm.weight", "head.weight"]),
    ];

    private static DeftException LayoutMismatch(string path, IEnumerable<string> keys, BackboneKind wanted, BackboneKind found)
    {
        var list = keys.ToList();
        var tried = Layouts.Where(l => wanted == BackboneKind.Auto || l.Kind.Layout() == wanted.Layout()).ToList();
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
        var convnext = ConvNextConfig.FromPreset(preset);
        var chosen = kind != BackboneKind.Auto ? kind
            : isClip ? BackboneKind.Clip : resnet is not null ? BackboneKind.ResNet : vit is not null ? BackboneKind.Vit
            : convnext is not null ? BackboneKind.ConvNext : BackboneKind.Auto;
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
            case BackboneKind.Vit or BackboneKind.Mae when vit is not null:
            {
                var config = resolution is { } r ? vit with { ImageSize = r } : vit;
                return new BackboneBuild(new VitClassifier(config, classCount, init, chosen), VitNormalization(chosen), [], null);
            }
            case BackboneKind.ConvNext when convnext is not null:
            {
                var config = resolution is { } r ? convnext with { ImageSize = r } : convnext;
                return new BackboneBuild(new ConvNextClassifier(config, classCount, init), AdaptNetworkHelpers.ImageNet, [], null);
            }
        }
        var valid = chosen switch
        {
            BackboneKind.Clip => ClipConfig.PresetNames,
            BackboneKind.ResNet => ResNetConfig.PresetNames,
            BackboneKind.Vit or BackboneKind.Mae => VitConfig.PresetNames,
            BackboneKind.ConvNext => ConvNextConfig.PresetNames,
            _ => ClipConfig.PresetNames.Concat(ResNetConfig.PresetNames).Concat(VitConfig.PresetNames).Concat(ConvNextConfig.PresetNames).ToList(),
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

    /// <summary>timm's statistics for a ViT: the augreg weights' (0.5, 0.5), MAE's ImageNet ones (vit_base_patch16_224.mae's cfg).</summary>
    private static Normalization VitNormalization(BackboneKind kind) => kind == BackboneKind.Mae ? AdaptNetworkHelpers.ImageNet : AdaptNetworkHelpers.Half;

    /// <summary>MAE's pre-training decoder (mae_visualize_*.pth and other full checkpoints): not part of the encoder phase 2 fine-tunes.</summary>
    private static bool IsMaeDecoderKey(string key) => key.StartsWith("decoder_", StringComparison.Ordinal) || key == "mask_token";

    private static BackboneBuild LoadVit(string path, Dictionary<string, Tensor> file, int classCount, int? resolution, Generator generator,
        BackboneKind kind, bool guessed)
    {
        var notes = new List<string>();
        var tensors = file;
        if (kind == BackboneKind.Mae && file.Keys.Any(IsMaeDecoderKey))
        {
            tensors = file.Where(kv => !IsMaeDecoderKey(kv.Key)).ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
            notes.Add($"{file.Count - tensors.Count} MAE decoder tensor(s) (decoder_*, mask_token) in {Path.GetFileName(path)} left out: phase 2 fine-tunes the encoder");
        }
        if (kind == BackboneKind.Mae && guessed)
            notes.Add($"no classifier head in {Path.GetFileName(path)}: loaded with MAE's settings (timm's vit_base_patch16_224.mae: ImageNet statistics, " +
                "AdamW lr 1e-4, weight decay 1e-3, as the official phase 2); choose the vit backbone for the augreg ViT's");
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
        var network = new VitClassifier(config, classCount, generator, kind);
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
            return new BackboneBuild(network, VitNormalization(kind), notes, null);
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

    private static BackboneBuild LoadConvNext(string path, Dictionary<string, Tensor> file, int classCount, int? resolution, Generator generator)
    {
        var notes = new List<string>();
        var created = new List<Tensor>();
        var tensors = file;
        if (!file.ContainsKey("stem.0.weight") && file.ContainsKey("downsample_layers.0.0.weight"))
        {
            tensors = FacebookConvNextToTimm(file);
            notes.Add($"{Path.GetFileName(path)} has facebookresearch's ConvNeXt keys: renamed to timm's (downsample_layers → stem / stages.N.downsample, " +
                "stages.N.M → stages.N.blocks.M, dwconv → conv_dw, pwconv → mlp.fc, norm → head.norm, head → head.fc), as timm's checkpoint_filter_fn does");
        }
        try
        {
            // timm's conv_mlp variants (atto … nano) keep the MLP as 1×1 convolutions: the same numbers as the linear layers.
            foreach (var key in tensors.Keys.Where(k => k.EndsWith(".mlp.fc1.weight", StringComparison.Ordinal) || k.EndsWith(".mlp.fc2.weight", StringComparison.Ordinal)).ToList())
            {
                var t = tensors[key];
                if (t.dim() != 4 || t.shape[2] != 1 || t.shape[3] != 1) continue;
                if (ReferenceEquals(tensors, file)) tensors = new Dictionary<string, Tensor>(file, StringComparer.Ordinal);
                var flat = t.reshape(t.shape[0], t.shape[1]);
                created.Add(flat);
                tensors[key] = flat;
            }

            long[] Shape(string key, int rank) => tensors.TryGetValue(key, out var t) && t.dim() == rank
                ? t.shape
                : throw new DeftException($"{path}: ConvNeXt key '{key}' is missing or not {rank}-dimensional.");
            var stages = CountBlocks(tensors.Keys, "stages.");
            if (stages != 4)
                throw new DeftException($"{path}: a ConvNeXt with {stages} stage(s); Deft builds timm's four-stage ConvNeXt.");
            var depths = Enumerable.Range(0, 4).Select(i => CountBlocks(tensors.Keys, $"stages.{i}.blocks.")).ToArray();
            if (depths.Any(d => d == 0))
                throw new DeftException($"{path}: ConvNeXt stages without blocks ({string.Join(", ", depths.Select((d, i) => $"stages.{i}: {d}"))}).");
            var dims = Enumerable.Range(0, 4).Select(i => (int)Shape($"stages.{i}.blocks.0.conv_dw.weight", 4)[0]).ToArray();
            if (Shape("stem.0.weight", 4)[0] != dims[0])
                throw new DeftException($"{path}: stem.0.weight has {tensors["stem.0.weight"].shape[0]} output channels, stage 0 has {dims[0]}.");
            var config = new ConvNextConfig(depths, dims, resolution ?? 224);
            var network = new ConvNextClassifier(config, classCount, generator);
            try
            {
                var expected = network.SavedState().ToDictionary(s => s.Name, s => s.Tensor.shape, StringComparer.Ordinal);
                var headMatches = tensors.TryGetValue("head.fc.weight", out var fc) && fc.shape.SequenceEqual(expected["head.fc.weight"]);
                if (!headMatches)
                    notes.Add($"head.fc {(fc is null ? "absent" : $"[{string.Join(", ", fc.shape)}]")} in {Path.GetFileName(path)}: a new {classCount}-class head (trunc_normal 0.02, zero bias, as timm)");
                CheckKeys(path, tensors, expected, k => k.StartsWith("head.fc.", StringComparison.Ordinal), "timm ConvNeXt");
                network.LoadTensors(tensors, k => headMatches || !k.StartsWith("head.fc.", StringComparison.Ordinal));
                return new BackboneBuild(network, AdaptNetworkHelpers.ImageNet, notes, null);
            }
            catch
            {
                network.Dispose();
                throw;
            }
        }
        finally
        {
            foreach (var t in created) t.Dispose();
        }
    }

    /// <summary>
    /// facebookresearch/ConvNeXt's keys in timm's names (the renaming of timm's <c>checkpoint_filter_fn</c>). The
    /// result reuses the input's tensors.
    /// </summary>
    internal static Dictionary<string, Tensor> FacebookConvNextToTimm(IReadOnlyDictionary<string, Tensor> fb)
    {
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (key, tensor) in fb)
        {
            var k = key.StartsWith("downsample_layers.0.", StringComparison.Ordinal) ? "stem." + key["downsample_layers.0.".Length..] : key;
            k = Regex.Replace(k, @"^downsample_layers\.(\d+)\.(\d+)\.", "stages.$1.downsample.$2.");
            k = Regex.Replace(k, @"^stages\.(\d+)\.(\d+)\.", "stages.$1.blocks.$2.");
            k = k.Replace(".dwconv.", ".conv_dw.", StringComparison.Ordinal).Replace(".pwconv", ".mlp.fc", StringComparison.Ordinal);
            if (k.StartsWith("head.", StringComparison.Ordinal)) k = "head.fc." + k["head.".Length..];
            else if (k.StartsWith("norm.", StringComparison.Ordinal)) k = "head.norm." + k["norm.".Length..];
            result[k] = tensor;
        }
        return result;
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
