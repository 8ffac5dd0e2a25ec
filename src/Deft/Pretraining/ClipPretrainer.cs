using System.Diagnostics;
using Deft.Clip;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Deft.Pretraining;

/// <summary>Progress of one pre-training step.</summary>
public sealed record PretrainProgress(int Epoch, int Epochs, int Step, int StepsPerEpoch, double Loss, double LogitScale, double LearningRate);

/// <summary>What pre-training did.</summary>
public sealed record PretrainResult(IReadOnlyList<double> EpochLosses, double FinalLogitScale, TimeSpan Elapsed, int Samples);

/// <summary>
/// CLIP contrastive pre-training: symmetric InfoNCE over the batch (image→text and text→image cross-entropy on the
/// scaled cosine similarities), learnable temperature clamped at <see cref="PretrainOptions.MaxLogitScale"/>, AdamW
/// with decoupled weight decay on matrices only (open_clip excludes gains, biases, embeddings' 1-D parameters and
/// logit_scale), cosine learning-rate schedule per step with optional linear warm-up.
/// </summary>
public static class ClipPretrainer
{
    /// <summary>
    /// Trains <paramref name="model"/> in place on (image, caption) pairs. <paramref name="images"/> is [N,3,R,R]
    /// normalised float32; <paramref name="tokens"/> is [N,ctx] int64. Each epoch visits a fresh permutation drawn
    /// from a generator seeded with (seed, epoch); the last incomplete batch is dropped, as open_clip does.
    /// </summary>
    public static PretrainResult Train(
        ClipModel model, Tensor images, Tensor tokens, PretrainOptions options,
        IProgress<PretrainProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        var n = (int)images.shape[0];
        if (tokens.shape[0] != n)
            throw new ArgumentException($"{n} images but {tokens.shape[0]} captions; they must pair up one to one.");
        if (n < 2) throw new DeftException("Contrastive pre-training needs at least 2 image–caption pairs.");
        var batch = Math.Min(options.BatchSize, n);
        var stepsPerEpoch = n / batch;
        var totalSteps = stepsPerEpoch * options.Epochs;
        var warmupSteps = (int)(options.WarmupFraction * totalSteps);
        var maxLogScale = Math.Log(options.MaxLogitScale);

        model.train();
        var decay = new List<Parameter>();
        var noDecay = new List<Parameter>();
        foreach (var (name, p) in model.named_parameters())
        {
            p.requires_grad = true;
            if (p.dim() < 2 || name.Contains("ln_") || name.EndsWith("bias", StringComparison.Ordinal) || name == "logit_scale" ||
                name.EndsWith("embedding", StringComparison.Ordinal))
                noDecay.Add(p);
            else
                decay.Add(p);
        }
        using var optimizer = torch.optim.AdamW(
            [
                new AdamW.ParamGroup(decay, new AdamW.Options { LearningRate = options.LearningRate, weight_decay = options.WeightDecay }),
                new AdamW.ParamGroup(noDecay, new AdamW.Options { LearningRate = options.LearningRate, weight_decay = 0.0 }),
            ],
            lr: options.LearningRate, beta1: 0.9, beta2: 0.98, eps: 1e-6);

        var watch = Stopwatch.StartNew();
        var epochLosses = new List<double>();
        var step = 0;
        for (var epoch = 1; epoch <= options.Epochs; epoch++)
        {
            using var generator = new torch.Generator((ulong)(options.Seed * 1000003L + epoch));
            using var order = torch.randperm(n, generator: generator);
            double lossSum = 0;
            for (var s = 0; s < stepsPerEpoch; s++, step++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var lr = step < warmupSteps
                    ? options.LearningRate * (step + 1) / warmupSteps
                    : 0.5 * (1 + Math.Cos(Math.PI * (step - warmupSteps) / Math.Max(1, totalSteps - warmupSteps))) * options.LearningRate;
                foreach (var group in optimizer.ParamGroups) group.LearningRate = lr;

                using var scope = torch.NewDisposeScope();
                var idx = order.narrow(0, (long)s * batch, batch);
                var x = images.index_select(0, idx);
                var t = tokens.index_select(0, idx);
                var loss = ContrastiveLoss(model, x, t);
                optimizer.zero_grad();
                loss.backward();
                optimizer.step();
                using (torch.no_grad())
                    model.LogitScale.clamp_(0, maxLogScale);
                var lossValue = loss.item<float>();
                if (!double.IsFinite(lossValue))
                    throw new DeftException($"Pre-training loss became {lossValue} at epoch {epoch}, step {s + 1}; lower the learning rate.");
                lossSum += lossValue;
                progress?.Report(new PretrainProgress(epoch, options.Epochs, s + 1, stepsPerEpoch, lossValue,
                    Math.Exp(model.LogitScale.item<float>()), lr));
            }
            epochLosses.Add(lossSum / stepsPerEpoch);
        }
        model.eval();
        foreach (var p in model.parameters()) p.requires_grad = false;
        return new PretrainResult(epochLosses, Math.Exp(model.LogitScale.item<float>()), watch.Elapsed, n);
    }

    /// <summary>Symmetric InfoNCE: mean of CE(image→text) and CE(text→image) with the matching pair as target.</summary>
    public static Tensor ContrastiveLoss(ClipModel model, Tensor images, Tensor tokens)
    {
        using var scope = torch.NewDisposeScope();
        var img = nn.functional.normalize(model.EncodeImage(images), dim: -1);
        var txt = nn.functional.normalize(model.EncodeText(tokens), dim: -1);
        var logits = model.LogitScale.exp() * img.matmul(txt.t());
        var target = torch.arange(images.shape[0], dtype: ScalarType.Int64, device: images.device);
        var loss = (nn.functional.cross_entropy(logits, target) + nn.functional.cross_entropy(logits.t(), target)) / 2;
        return loss.MoveToOuterDisposeScope();
    }
}
