using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Deft.Clip;
using Deft.Data;
using Deft.Data.Loading;
using Deft.Data.Transforms;
using Deft.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace Deft.Adaptation;

/// <summary>One image's prediction.</summary>
/// <param name="GivenLabel">The data set's label when its classes are the model's; else null.</param>
public sealed record Prediction(int Index, string Source, int PredictedLabel, double Probability, int? GivenLabel);

/// <summary>
/// A fine-tuned classifier as phase 2 saves it: <c>model.safetensors</c> (every tensor prediction needs, in the
/// backbone's own key layout: CLIP <c>visual.*</c> + <c>peft.*</c> + <c>head.*</c>, torchvision ResNet, timm ViT) and
/// <c>adapt_config.json</c> (backbone, architecture, classes, resolution, normalisation, training summary).
/// </summary>
public sealed class AdaptedModel : IDisposable
{
    public const string WeightsFile = "model.safetensors";
    public const string ConfigFile = "adapt_config.json";
    public const string Format = "deft-adapted-model";

    private readonly IAdaptNetwork _network;

    private AdaptedModel(IAdaptNetwork network, IReadOnlyList<string> classes, Normalization normalization, string directory, AugmentSpec? trainedWith = null)
    {
        _network = network;
        Classes = classes;
        Normalization = normalization;
        _trainedWith = trainedWith;
        Directory = directory;
    }

    public IReadOnlyList<string> Classes { get; }
    public Normalization Normalization { get; }

    /// <summary>The training augmentation, which decides the evaluation transform for the official loaders' presets.</summary>
    private readonly AugmentSpec? _trainedWith;

    /// <summary>The evaluation transform predictions use: the one the model was tested with during training.</summary>
    public ImagePipeline EvalPipeline => _trainedWith?.Eval(Resolution, Normalization) ?? ImagePipeline.Eval(Resolution, Normalization);
    public string Directory { get; }
    public BackboneKind Backbone => _network.Kind;
    public int Resolution => _network.Resolution;

    internal IAdaptNetwork Network => _network;

    internal static void Save(string directory, IAdaptNetwork network, IReadOnlyList<string> classes, Normalization normalization,
        AdaptOptions options, AdaptResult result)
    {
        System.IO.Directory.CreateDirectory(directory);
        var tensors = network.SavedState().Select(s => new KeyValuePair<string, Tensor>(s.Name, s.Tensor)).ToList();
        Safetensors.Save(Path.Combine(directory, WeightsFile), tensors, new Dictionary<string, string> { ["format"] = Format });
        var config = new JsonObject
        {
            ["format"] = Format,
            ["version"] = 1,
            ["backbone"] = network.Kind.ToName(),
            ["classes"] = new JsonArray(classes.Select(c => (JsonNode)JsonValue.Create(c)!).ToArray()),
            ["resolution"] = network.Resolution,
            ["normalization"] = new JsonObject
            {
                ["mean"] = new JsonArray(normalization.Mean.R, normalization.Mean.G, normalization.Mean.B),
                ["std"] = new JsonArray(normalization.Std.R, normalization.Std.G, normalization.Std.B),
            },
            ["architecture"] = network.Architecture(),
            ["training"] = new JsonObject
            {
                ["model"] = options.Model,
                ["selection"] = options.TrainsOnAll ? "all" : options.SelectionPath,
                ["labels"] = options.LabelsPath,
                ["loss"] = options.Loss.ToString().ToLowerInvariant(),
                ["label_smoothing"] = options.LabelSmoothing,
                ["unselected"] = options.Unselected == UnselectedSamples.Drop ? "drop" : "pseudo-label",
                ["pseudo_labelled"] = result.PseudoLabelledSamples,
                ["lr_rule"] = options.LearningRateRule.ToString().ToLowerInvariant(),
                ["head_init"] = result.HeadInit.ToString().ToLowerInvariant(),
                ["recipe"] = result.Recipe.ToName(),
                ["augment"] = result.Augment,
                ["epochs"] = result.Epochs.Count,
                ["start_test_accuracy"] = result.StartTestAccuracy,
                ["last_test_accuracy"] = result.LastTestAccuracy,
                ["best_test_accuracy"] = result.BestTestAccuracy,
                ["best_epoch"] = result.BestEpoch,
            },
        };
        AtomicFile.WriteAllText(Path.Combine(directory, ConfigFile), config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
    }

    public static AdaptedModel Load(string directory)
    {
        if (!System.IO.Directory.Exists(directory)) throw new DeftException($"Model directory not found: {directory}");
        var configPath = Path.Combine(directory, ConfigFile);
        var weightsPath = Path.Combine(directory, WeightsFile);
        if (!File.Exists(configPath) || !File.Exists(weightsPath))
            throw new DeftException($"{directory} is not a fine-tuned model: it needs {ConfigFile} and {WeightsFile} (written by 'deft adapt' when the run finishes).");
        JsonObject config;
        try
        {
            config = JsonNode.Parse(File.ReadAllText(configPath)) as JsonObject ?? throw new DeftException($"{configPath}: not a JSON object.");
        }
        catch (JsonException ex)
        {
            throw new DeftException($"{configPath} is not valid JSON ({ex.Message}).", ex);
        }
        if ((string?)config["format"] != Format) throw new DeftException($"{configPath}: format is not '{Format}'.");
        var classes = config["classes"]?.AsArray().Select(n => n!.GetValue<string>()).ToArray()
            ?? throw new DeftException($"{configPath}: 'classes' is missing.");
        var kind = BackboneKinds.Parse((string?)config["backbone"] ?? "");
        var arch = config["architecture"] as JsonObject ?? throw new DeftException($"{configPath}: 'architecture' is missing.");
        var norm = config["normalization"];
        var normalization = Normalization.From(
            norm?["mean"]?.AsArray().Select(n => n!.GetValue<float>()).ToList() ?? [],
            norm?["std"]?.AsArray().Select(n => n!.GetValue<float>()).ToList() ?? []);

        var state = Safetensors.Load(weightsPath);
        try
        {
            IAdaptNetwork network;
            switch (kind)
            {
                case BackboneKind.Clip:
                    network = ClipClassifier.FromSaved(arch, classes.Length, state, weightsPath, torch.CPU);
                    break;
                case BackboneKind.ResNet:
                    var resnet = new ResNetClassifier(ResNetClassifier.ConfigFrom(arch, configPath), classes.Length, generator: null);
                    network = LoadStrict(resnet, state, weightsPath);
                    break;
                case BackboneKind.Vit or BackboneKind.Mae:
                    var vit = new VitClassifier(VitClassifier.ConfigFrom(arch, configPath), classes.Length, generator: null, kind);
                    network = LoadStrict(vit, state, weightsPath);
                    break;
                case BackboneKind.ConvNext:
                    var convnext = new ConvNextClassifier(ConvNextClassifier.ConfigFrom(arch, configPath), classes.Length, generator: null);
                    network = LoadStrict(convnext, state, weightsPath);
                    break;
                default:
                    throw new DeftException($"{configPath}: backbone must be one of {string.Join(", ", BackboneKinds.ValidNames.Skip(1))}.");
            }
            foreach (var (_, p) in network.Trainables) p.requires_grad = false;
            network.SetTraining(false);
            // Older models name no augmentation, or one this version reads differently: CLIP's evaluation transform.
            AugmentSpec? trainedWith = null;
            if ((config["training"] as JsonObject)?["augment"] is JsonValue augment && augment.TryGetValue<string>(out var text))
                try { trainedWith = AugmentSpec.Parse(text); } catch (DeftException) { trainedWith = null; }
            return new AdaptedModel(network, classes, normalization, Path.GetFullPath(directory), trainedWith);
        }
        finally
        {
            foreach (var t in state.Values) t.Dispose();
        }
    }

    private static IAdaptNetwork LoadStrict(IAdaptNetwork network, IReadOnlyDictionary<string, Tensor> state, string source)
    {
        try
        {
            SavedStateIO.CopyInto(network.SavedState(), state, source);
            return network;
        }
        catch
        {
            network.Dispose();
            throw;
        }
    }

    /// <summary>Logits [B, K] for preprocessed images [B, 3, R, R].</summary>
    public Tensor Logits(Tensor images)
    {
        using var noGrad = torch.no_grad();
        return _network.Logits(images);
    }

    /// <summary>
    /// Predicts every sample of <paramref name="data"/> (or <paramref name="indices"/>) with the evaluation transform.
    /// Given labels are reported when the data set's classes are the model's.
    /// </summary>
    public IReadOnlyList<Prediction> Predict(IImageDataset data, IReadOnlyList<int>? indices = null, int batchSize = 64, int? workers = null,
        IProgress<(int Step, int Steps)>? progress = null, CancellationToken cancellationToken = default)
    {
        var order = indices?.ToArray() ?? Enumerable.Range(0, data.Count).ToArray();
        var labelled = data.Classes.SequenceEqual(Classes, StringComparer.Ordinal);
        var loader = new BatchLoader(data, order, EvalPipeline,
            new BatchLoaderOptions(Math.Max(1, batchSize), Shuffle: false, Workers: workers));
        var predictions = new List<Prediction>(order.Length);
        var step = 0;
        _network.SetTraining(false);
        using var noGrad = torch.no_grad();
        foreach (var batch in loader.ReadEpoch(0, cancellationToken))
        {
            using (batch)
            {
                using var scope = torch.NewDisposeScope();
                var probabilities = nn.functional.softmax(_network.Logits(batch.Images), 1);
                var (top, arg) = probabilities.max(1);
                var p = top.cpu().data<float>().ToArray();
                var k = arg.cpu().data<long>().ToArray();
                for (var j = 0; j < batch.Count; j++)
                {
                    var index = (int)batch.Indices[j];
                    predictions.Add(new Prediction(index, data.GetSource(index), (int)k[j], p[j], labelled ? batch.Labels[j] : null));
                }
            }
            progress?.Report((++step, loader.BatchCount));
        }
        return predictions;
    }

    public static readonly string[] CsvHeader = ["index", "source", "predicted_label", "predicted_name", "probability", "given_label", "given_name"];

    /// <summary>predictions.csv: one row per image; given_label/given_name stay empty when unknown.</summary>
    public string ToCsv(IEnumerable<Prediction> predictions)
    {
        var sb = new StringBuilder();
        sb.AppendJoin(',', CsvHeader).Append('\n');
        foreach (var p in predictions)
        {
            sb.Append(p.Index.ToString(CultureInfo.InvariantCulture)).Append(',')
              .Append(Escape(p.Source)).Append(',')
              .Append(p.PredictedLabel.ToString(CultureInfo.InvariantCulture)).Append(',')
              .Append(Escape(Classes[p.PredictedLabel])).Append(',')
              .Append(p.Probability.ToString("0.######", CultureInfo.InvariantCulture)).Append(',')
              .Append(p.GivenLabel?.ToString(CultureInfo.InvariantCulture) ?? "").Append(',')
              .Append(p.GivenLabel is { } g && g >= 0 && g < Classes.Count ? Escape(Classes[g]) : "")
              .Append('\n');
        }
        return sb.ToString();
    }

    public void WriteCsv(string path, IEnumerable<Prediction> predictions) => AtomicFile.WriteAllText(path, ToCsv(predictions));

    private static string Escape(string field) =>
        field.IndexOfAny([',', '"', '\n', '\r']) >= 0 ? "\"" + field.Replace("\"", "\"\"") + "\"" : field;

    public void Dispose() => _network.Dispose();
}
