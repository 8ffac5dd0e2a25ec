using System.ComponentModel;
using System.Diagnostics;
using Deft.Clip;
using Deft.Pretraining;
using Spectre.Console;
using Spectre.Console.Cli;
using TorchSharp;
using static TorchSharp.torch;

namespace Deft.Cli.Commands;

internal sealed class BenchPretrainCommand : Command<BenchPretrainCommand.Settings>
{
    internal sealed class Settings : CommandSettings
    {
        [CommandOption("--batch")] [Description(TrainingOptionTexts.Batch)] [DefaultValue(256)] public int Batch { get; init; } = 256;
        [CommandOption("--steps")] [Description("Timed training steps.")] [DefaultValue(10)] public int Steps { get; init; } = 10;
        [CommandOption("--vocab-size")] [Description("Token vocabulary of the mini text tower.")] [DefaultValue(1024)] public int VocabSize { get; init; } = 1024;
        [CommandOption("--threads")] [Description("Intra-op threads (default: one per core).")] public int? Threads { get; init; }
        [CommandOption("--json")] [Description("Print the timings as JSON.")] public bool Json { get; init; }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        if (settings.Threads is { } threads) torch.set_num_threads(threads);
        var config = MiniProtocol.TinyClip(settings.VocabSize);
        using var model = new ClipModel(config, seed: 0);
        model.train();
        var r = config.Vision.ImageSize;
        using var gen = new torch.Generator(1);
        using var images = torch.randn([settings.Batch, 3, r, r], generator: gen);
        // Captions of ~8 tokens, as the mini protocol's are: SOT, 6 words, EOT, padding.
        using var tokens = torch.zeros([settings.Batch, config.Text.ContextLength], dtype: ScalarType.Int64);
        using (var body = torch.randint(1, settings.VocabSize - 2, [settings.Batch, 6], generator: gen))
        {
            tokens[TensorIndex.Colon, 0] = settings.VocabSize - 2;
            tokens[TensorIndex.Colon, TensorIndex.Slice(1, 7)] = body;
            tokens[TensorIndex.Colon, 7] = settings.VocabSize - 1;
        }
        using var optimizer = torch.optim.AdamW(model.parameters(), lr: 5e-4, weight_decay: 0.1);
        double tImage = 0, tText = 0, tBackward = 0, tStep = 0;
        var total = Stopwatch.StartNew();
        for (var s = -1; s < settings.Steps; s++)
        {
            if (s == 0) { total.Restart(); tImage = tText = tBackward = tStep = 0; } // step -1 warms up
            using var scope = torch.NewDisposeScope();
            var w = Stopwatch.StartNew();
            var img = nn.functional.normalize(model.EncodeImage(images), dim: -1);
            tImage += w.Elapsed.TotalSeconds; w.Restart();
            var txt = nn.functional.normalize(model.EncodeText(tokens), dim: -1);
            tText += w.Elapsed.TotalSeconds; w.Restart();
            var logits = model.LogitScale.exp() * img.matmul(txt.t());
            var target = torch.arange(settings.Batch, dtype: ScalarType.Int64);
            var loss = (nn.functional.cross_entropy(logits, target) + nn.functional.cross_entropy(logits.t(), target)) / 2;
            optimizer.zero_grad();
            loss.backward();
            tBackward += w.Elapsed.TotalSeconds; w.Restart();
            optimizer.step();
            tStep += w.Elapsed.TotalSeconds;
        }
        var seconds = total.Elapsed.TotalSeconds / settings.Steps;
        var result = new
        {
            batch = settings.Batch, steps = settings.Steps, threads = torch.get_num_threads(),
            seconds_per_step = seconds, pairs_per_second = settings.Batch / seconds,
            seconds_per_mini_epoch = 20000.0 / settings.Batch * seconds,
            image_forward = tImage / settings.Steps, text_forward = tText / settings.Steps,
            backward = tBackward / settings.Steps, optimizer_step = tStep / settings.Steps,
        };
        if (settings.Json) Console.WriteLine(System.Text.Json.JsonSerializer.Serialize(result));
        else AnsiConsole.WriteLine($"{seconds:0.000} s/step, {result.pairs_per_second:0} pairs/s → {result.seconds_per_mini_epoch:0.0} s per 20,000-pair epoch " +
                                   $"(image fwd {result.image_forward:0.000}, text fwd {result.text_forward:0.000}, backward {result.backward:0.000}, step {result.optimizer_step:0.000}); threads {result.threads}");
        return 0;
    }
}
