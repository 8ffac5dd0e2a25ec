using Deft.Clip;
using Deft.Peft;

namespace Deft.Detection;

/// <summary>
/// Intra-op threads per phase. libtorch's thread team synchronises on every operation; for small operations (a tiny
/// tower, or the text-only steps of the frozen-tower path) that costs more than a second core gives, and on a busy
/// machine much more (measured on the 2-core box: tiny LoRA epochs 1 s with one thread, 2–17 s with two). Image
/// passes of a large tower are compute-bound and use every core, and so are the text passes of many classes: the
/// frozen-tower step of ViT-B/16 with 100 classes took 3.29 s on one thread and 2.07 s on two.
/// </summary>
public sealed record ThreadPlan(int Images, int Training)
{
    /// <summary>Multiply-accumulates of one image-tower forward per batch above which all cores pay off.</summary>
    public const double HeavyBatchMacs = 10e9;

    /// <param name="textStepMacs">Multiply-accumulates of one training step's text-tower forward (<see cref="TextMacs"/>):
    /// with the image tower frozen the step is text only, and enough of it uses every core.</param>
    public static ThreadPlan Choose(int? threads, PeftOptions peft, int batchSize, ClipVisionConfig vision, int cores, double textStepMacs = 0)
    {
        if (threads is { } t) return new(t, t);
        var tokens = vision.SequenceLength + (peft.Has(PeftKind.VptDeep) || peft.Has(PeftKind.VptShallow) ? peft.VptLength : 0);
        var macs = (double)batchSize * tokens * vision.Layers * 12.0 * vision.Width * vision.Width;
        var images = macs >= HeavyBatchMacs ? cores : 1;
        return new(images, peft.AdaptsImageTower ? images : textStepMacs >= HeavyBatchMacs ? cores : 1);
    }

    /// <summary>Multiply-accumulates of a text-tower forward over <paramref name="tokens"/> token positions (projections and MLP, 12·width² per token and layer).</summary>
    public static double TextMacs(ClipTextConfig text, long tokens) => tokens * text.Layers * 12.0 * text.Width * text.Width;
}
