using System.ComponentModel;
using System.Diagnostics;
using Deft.Cli.Binding;
using Deft.Clip;
using Deft.Data;
using Deft.Data.Loading;
using Deft.Data.Transforms;
using Deft.Detection;
using Spectre.Console;
using Spectre.Console.Cli;
using TorchSharp;
using static TorchSharp.torch;

namespace Deft.Cli.Commands;

internal sealed class EmbedCommand : Command<EmbedCommand.Settings>
{
    internal sealed class Settings : ClipModelSettings
    {
        [CommandOption("--data <PATH>")]
        [Description("A data set to embed (with --format, --split).")]
        public string? Images { get; init; }

        [CommandOption("--format <FORMAT>")]
        [Description(DataOptionTexts.Format)]
        public string? Format { get; init; }

        [CommandOption("--split <SPLIT>")]
        [Description(DataOptionTexts.Split)]
        [DefaultValue("train")]
        public string Split { get; init; } = "train";

        [CommandOption("--on-bad-image <POLICY>")] [Description(DataOptionTexts.OnBadImage)]
        [DefaultValue("skip")] [TypeConverter(typeof(KebabCaseEnumConverter<BadImagePolicy>))]
        public BadImagePolicy OnBadImage { get; init; } = BadImagePolicy.Skip;

        [CommandOption("--limit <N>")]
        [Description("Embed only the first N images.")]
        public int? Limit { get; init; }

        [CommandOption("--synthetic <N>")]
        [Description("Embed N seeded random images instead of a data set (benchmarks, smoke tests).")]
        public int? Synthetic { get; init; }

        [CommandOption("--texts <FILE>")]
        [Description("Prompts to embed, one per line.")]
        public string? Texts { get; init; }

        [CommandOption("--batch <N>")] [Description(TrainingOptionTexts.InferenceBatch)]
        [DefaultValue(32)]
        public int Batch { get; init; } = 32;

        protected override int CalibrationBatch => Batch;

        [CommandOption("--out <FILE>")]
        [Description("Output file; its extension picks the format. .safetensors: image_features [[N,E]] and text_features [[T,E]]. " +
            ".npy: the image features (float32, C order; numpy.load), text features in NAME.text_features.npy. .parquet: one row per image " +
            "(index, path, given_label[[, true_label]], feature_0..), for pandas. With --data, NAME.ids.csv (index,path,given_label[[,true_label]]) " +
            "names the rows of .npy and .safetensors.")]
        public string? Out { get; init; }

        [CommandOption("--shard <I/N>")]
        [Description("Embed only shard I of N of --data (numbered from 0: $SLURM_ARRAY_TASK_ID, $JOB_COMPLETION_INDEX; contiguous whole batches of --batch) into OUT_STEM.shards/shard-I-of-N.safetensors; then --merge-shards with the same --out writes the file one run writes.")]
        public string? Shard { get; init; }

        [CommandOption("--merge-shards")]
        [Description("Merge the shards in OUT_STEM.shards (all N, from the same model, data and settings) into --out, byte for byte what one unsharded run writes; needs neither --model nor --data.")]
        public bool MergeShards { get; init; }

        [CommandOption("--keep-shards")]
        [Description("With --merge-shards: keep the shard files after the merged output is written (default: remove them).")]
        public bool KeepShards { get; init; }

        [CommandOption("--device <DEVICE>")] [Description(DeviceOption.Description)] [DefaultValue(DeviceOption.Cpu)]
        public string Device { get; init; } = DeviceOption.Cpu;

        protected override string ComputeDevice => Device;

        /// <summary>Where the shards of <c>--out</c> go: OUT_STEM.shards beside it.</summary>
        public string ShardFolder => Path.Combine(Path.GetDirectoryName(Out) ?? "", Path.GetFileNameWithoutExtension(Out) + ".shards");

        public override ValidationResult Validate()
        {
            if (string.IsNullOrWhiteSpace(Out)) return ValidationResult.Error("--out FILE.safetensors (or .npy, .parquet) is required.");
            var extension = Path.GetExtension(Out).ToLowerInvariant();
            if (extension is not (".safetensors" or ".npy" or ".parquet"))
                return ValidationResult.Error($"--out {Out}: the extension picks the format: .safetensors, .npy or .parquet.");
            if (MergeShards)
            {
                if (Shard is not null) return ValidationResult.Error("--merge-shards merges what the --shard runs wrote; give one or the other.");
                if (Images is not null || Synthetic is not null || Texts is not null)
                    return ValidationResult.Error("--merge-shards reads the shards only: leave out --data, --synthetic and --texts.");
                return ValidationResult.Success();
            }
            if (KeepShards) return ValidationResult.Error("--keep-shards applies to --merge-shards.");
            if (Shard is not null && (Images is null || Texts is not null))
                return ValidationResult.Error("--shard splits the images of --data; embed --synthetic and --texts in one run.");
            var baseResult = base.Validate();
            if (!baseResult.Successful) return baseResult;
            if (DeviceOption.Validate(Device) is { Successful: false } device) return device;
            if (extension == ".parquet" && Images is null && Synthetic is null)
                return ValidationResult.Error("--out .parquet holds image features, one row per image: give --data (or --synthetic); text features go to .safetensors or .npy.");
            if (Images is not null && Synthetic is not null) return ValidationResult.Error("Give --data or --synthetic, not both.");
            if (Images is null && Synthetic is null && Texts is null) return ValidationResult.Error("Nothing to embed: give --data, --synthetic or --texts.");
            if (Images is not null && Format is null) return ValidationResult.Error($"--format is required with --data: one of {string.Join(", ", DatasetFactory.Formats)}.");
            return Batch < 1 ? ValidationResult.Error("--batch must be ≥ 1.") : ValidationResult.Success();
        }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        if (settings.MergeShards) return Merge(settings);
        var shard = settings.Shard is null ? (FeatureShardSpec?)null : FeatureShardSpec.Parse(settings.Shard);
        using var bundle = settings.LoadBundle();
        if (shard is { } spec) return WriteShard(bundle, settings, spec, cancellationToken);
        var model = bundle.Model;
        model.eval();
        var tensors = new List<KeyValuePair<string, Tensor>>();
        SampleIds? ids = null;
        try
        {
            if (settings.Images is not null || settings.Synthetic is not null)
            {
                var watch = Stopwatch.StartNew();
                Tensor features;
                if (settings.Synthetic is { } n) features = EmbedSynthetic(model, n, settings.Batch);
                else (features, ids) = EmbedDataset(bundle, settings, cancellationToken);
                var rate = features.shape[0] / watch.Elapsed.TotalSeconds;
                tensors.Add(new("image_features", features));
                AnsiConsole.MarkupLineInterpolated($"image_features {features.shape[0]}×{features.shape[1]}: {rate:0.0} images/s");
            }
            if (settings.Texts is not null)
            {
                if (!File.Exists(settings.Texts)) throw new DeftException($"Prompt file not found: {settings.Texts}");
                var lines = File.ReadAllLines(settings.Texts).Where(l => l.Trim().Length > 0).ToList();
                if (lines.Count == 0) throw new DeftException($"{settings.Texts} has no prompts (one per line).");
                using var noGrad = torch.no_grad();
                using var tokens = bundle.Tokenizer.TokenizeToTensor(lines, model.Config.Text.ContextLength);
                var text = model.EncodeText(tokens.to(model.Device)).to(ScalarType.Float32).cpu();
                tensors.Add(new("text_features", text));
                AnsiConsole.MarkupLineInterpolated($"text_features {text.shape[0]}×{text.shape[1]} from {settings.Texts}");
            }
            foreach (var path in Save(settings.Out!, tensors, ids, OutputMetadata(settings, EncoderBenchmark.DTypeName(model.Visual.DType)))) AnsiConsole.MarkupLineInterpolated($"wrote {path}");
        }
        finally
        {
            foreach (var t in tensors) t.Value.Dispose();
        }
        return 0;
    }

    /// <summary>The output file's metadata; <paramref name="dtype"/> is the tower's precision as run (auto resolved).</summary>
    private static Dictionary<string, string> OutputMetadata(Settings settings, string dtype) => new() { ["model"] = settings.Model!, ["dtype"] = dtype };

    /// <summary>
    /// <c>--shard I/N</c>: embeds that contiguous run of whole batches of the samples and writes it, with the rows' ids,
    /// their image digests and the set's identity (model, data, preprocessing, precision), to the shard folder.
    /// </summary>
    private static int WriteShard(ClipBundle bundle, Settings settings, FeatureShardSpec spec, CancellationToken ct)
    {
        bundle.Model.eval();
        var dtype = EncoderBenchmark.DTypeName(bundle.Model.Visual.DType);
        var (data, count, pipeline) = OpenData(bundle, settings);
        var (start, length) = spec.Range(count, settings.Batch);
        var indices = Enumerable.Range(start, length).ToArray();
        var identity = FeatureSetIdentity.Of(FeatureSetIdentity.EmbedPurpose, bundle.Loaded, settings.Images!, settings.Format!, settings.Split, data,
            Enumerable.Range(0, count).ToArray(), pipeline.ToString(), dtype);
        var watch = Stopwatch.StartNew();
        using var features = ImageFeatures.Compute(bundle.Model, data, indices, pipeline, settings.Batch, ct);
        var rate = length / watch.Elapsed.TotalSeconds;
        var path = Path.Combine(settings.ShardFolder, spec.FileName);
        FeatureShards.Write(path, identity, spec, count, start, settings.Batch, features, SampleIds.Of(data, indices), FeatureCache.SampleDigests(data, indices),
            OutputMetadata(settings, dtype));
        AnsiConsole.MarkupLineInterpolated($"shard {spec}: images {start:N0}–{start + length - 1:N0} of {count:N0}, {features.shape[0]}×{features.shape[1]}: {rate:0.0} images/s");
        AnsiConsole.MarkupLineInterpolated($"wrote {path}");
        AnsiConsole.MarkupLineInterpolated($"[grey]Once all {spec.Count} shards are written: deft embed --merge-shards --out {settings.Out}[/]");
        return 0;
    }

    /// <summary><c>--merge-shards</c>: checks the shards are one complete set and writes what one unsharded run writes.</summary>
    private static int Merge(Settings settings)
    {
        var folder = settings.ShardFolder;
        if (!Directory.Exists(folder))
            throw new DeftException($"{folder}: no such folder; `deft embed --shard I/N --out {settings.Out}` writes its shards there.");
        using var merged = FeatureShards.Merge(FeatureShards.Files(folder), folder);
        if (merged.Identity.Purpose != FeatureSetIdentity.EmbedPurpose)
            throw new DeftException($"{folder} holds {merged.Identity.Purpose} shards (from detect --shard); merge those with `deft cache merge`.");
        string Note(string name) => merged.Notes.TryGetValue(name, out var v) ? v : throw new DeftException($"{folder}: the shards do not record the {name} they were embedded with; rerun them.");
        // In the order an unsharded run writes them, so the files are the same bytes.
        var metadata = new Dictionary<string, string> { ["model"] = Note("model"), ["dtype"] = Note("dtype") };
        var features = merged.Features.alias();
        var tensors = new List<KeyValuePair<string, Tensor>> { new("image_features", features) };
        try
        {
            var written = Save(settings.Out!, tensors, merged.Ids, metadata);
            AnsiConsole.MarkupLineInterpolated($"merged {merged.Shards} shards: image_features {merged.Features.shape[0]}×{merged.Features.shape[1]}");
            foreach (var path in written) AnsiConsole.MarkupLineInterpolated($"wrote {path}");
        }
        finally
        {
            features.Dispose();
        }
        if (!settings.KeepShards) Directory.Delete(folder, recursive: true);
        return 0;
    }

    /// <summary>Writes the features in the format <paramref name="output"/>'s extension names; returns the files written.</summary>
    private static IReadOnlyList<string> Save(string output, List<KeyValuePair<string, Tensor>> tensors, SampleIds? ids, Dictionary<string, string> metadata)
    {
        var stem = Path.Combine(Path.GetDirectoryName(output) ?? "", Path.GetFileNameWithoutExtension(output));
        var written = new List<string>();
        var image = tensors.FirstOrDefault(t => t.Key == "image_features").Value;
        var text = tensors.FirstOrDefault(t => t.Key == "text_features").Value;
        if (Path.GetExtension(output).Equals(".safetensors", StringComparison.OrdinalIgnoreCase))
        {
            IO.AtomicFile.Write(output, tmp => Safetensors.Save(tmp, tensors, metadata));
            written.Add(output);
            if (ids is not null)
            {
                SampleArrayFile.WriteIds(stem + SampleArrayFile.IdsSuffix, ids);
                written.Add(stem + SampleArrayFile.IdsSuffix);
            }
            return written;
        }
        if (image is not null)
        {
            var (n, width) = ((int)image.shape[0], (int)image.shape[1]);
            ids ??= new SampleIds(Enumerable.Range(0, n).ToArray(), Enumerable.Range(0, n).Select(i => $"synthetic#{i}").ToArray(), new int[n]);
            written.AddRange(Api.FeatureFile.Write(output, image.data<float>().ToArray(), width, ids, metadata));
        }
        if (text is not null)
        {
            var path = stem + ".text_features.npy";
            IO.NpyFile.Write(path, text.data<float>().ToArray(), (int)text.shape[0], (int)text.shape[1]);
            written.Add(path);
        }
        return written;
    }

    private static Tensor EmbedSynthetic(ClipModel model, int n, int batch)
    {
        var r = model.Config.Vision.ImageSize;
        using var generator = new torch.Generator(0);
        var parts = new List<Tensor>();
        using var noGrad = torch.no_grad();
        for (var start = 0; start < n; start += batch)
        {
            using var scope = torch.NewDisposeScope();
            var x = torch.randn([Math.Min(batch, n - start), 3, r, r], generator: generator).to(model.Device);
            parts.Add(model.EncodeImage(x).to(ScalarType.Float32).cpu().MoveToOuterDisposeScope());
        }
        var all = torch.cat(parts, 0);
        foreach (var p in parts) p.Dispose();
        return all;
    }

    private static (Tensor Features, SampleIds Ids) EmbedDataset(ClipBundle bundle, Settings settings, CancellationToken ct)
    {
        var (data, count, pipeline) = OpenData(bundle, settings);
        var indices = Enumerable.Range(0, count).ToArray();
        return (ImageFeatures.Compute(bundle.Model, data, indices, pipeline, settings.Batch, ct), SampleIds.Of(data, indices));
    }

    /// <summary>The data set, how many of its images are embedded (--limit) and the transform.</summary>
    private static (IImageDataset Data, int Count, ImagePipeline Pipeline) OpenData(ClipBundle bundle, Settings settings)
    {
        var data = DatasetFactory.Open(new DatasetOptions(settings.Images!, settings.Format!, settings.Split, settings.OnBadImage, Warn: w => Console.Error.WriteLine($"warning: {w}")));
        DataIssueConsole.Report(data);
        var count = settings.Limit is { } limit ? Math.Min(limit, data.Count) : data.Count;
        return (data, count, ImagePipeline.Eval(bundle.Resolution, ClipBundle.Resolve(bundle.Normalization, settings.Mean, settings.Std)));
    }
}
