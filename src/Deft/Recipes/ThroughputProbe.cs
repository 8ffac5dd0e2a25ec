using System.Diagnostics;
using Deft.Clip;
using TorchSharp;

namespace Deft.Recipes;

/// <summary>
/// What a phase-1 step costs on this machine, per sample: an image through ViT-B/16 forward and backward to its input
/// (VPT-deep trains prompts inside frozen blocks, so the gradient crosses every block but no weight gradient is
/// formed), and one learnable prompt through the text tower forward and backward to its embeddings.
/// </summary>
/// <param name="VisionSecondsPerImage">Seconds per image.</param>
/// <param name="TextSecondsPerPrompt">Seconds per prompt of <see cref="ThroughputProbe.PromptTokens"/> tokens.</param>
/// <param name="Threads">TorchSharp's intra-op threads during the measurement.</param>
public sealed record Throughput(double VisionSecondsPerImage, double TextSecondsPerPrompt, int Threads)
{
    /// <summary>
    /// Images per second of a phase-1 step: a batch of images plus a positive and a negative prompt per class
    /// (DeFT encodes all 2K prompts every step).
    /// </summary>
    public double PhaseOneImagesPerSecond(int classes, int batchSize) =>
        batchSize / (batchSize * VisionSecondsPerImage + 2.0 * classes * TextSecondsPerPrompt);
}

/// <summary>Times <see cref="Throughput"/> with a randomly initialised ViT-B/16 CLIP (the weights do not change the cost).</summary>
public static class ThroughputProbe
{
    /// <summary>Start token, 16 context tokens, a few class-name tokens, end token: the length DeFT's prompts encode at.</summary>
    public const int PromptTokens = 22;

    public static Throughput Measure(int images = 8, int prompts = 40, int repeats = 2)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(images, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(prompts, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(repeats, 1);
        using var model = new ClipModel(ClipConfig.ViTB16, seed: 0);
        model.FreezeAll();
        var width = model.Config.Text.Width;

        double Vision(int n)
        {
            using var scope = torch.NewDisposeScope();
            var x = torch.randn(n, 3, ClipConfig.ViTB16.Vision.ImageSize, ClipConfig.ViTB16.Vision.ImageSize).requires_grad_(true);
            var watch = Stopwatch.StartNew();
            model.EncodeImage(x).sum().backward();
            return watch.Elapsed.TotalSeconds;
        }

        double Text(int n)
        {
            using var scope = torch.NewDisposeScope();
            var embeddings = torch.randn(n, PromptTokens, width).requires_grad_(true);
            var eot = torch.full(n, PromptTokens - 1, torch.int64);
            var watch = Stopwatch.StartNew();
            model.EncodeTextEmbeddings(embeddings, eot).sum().backward();
            return watch.Elapsed.TotalSeconds;
        }

        // One small warm-up call each: the first pass pays for allocation and kernel selection.
        Vision(1);
        Text(2);
        var vision = Enumerable.Range(0, repeats).Min(_ => Vision(images)) / images;
        var text = Enumerable.Range(0, repeats).Min(_ => Text(prompts)) / prompts;
        return new Throughput(vision, text, torch.get_num_threads());
    }
}
