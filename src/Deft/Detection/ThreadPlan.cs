using Deft.Clip;
using Deft.Peft;

namespace Deft.Detection;

/// <summary>
/// Intra-op threads per phase. libtorch's thread team synchronises on every operation; for small operations (a tiny
/// tower, or the text-only steps of the frozen-tower path) that costs more than a second core gives, and on a busy
/// machine much more (measured on the 2-core box: tiny LoRA epochs 1 s with one thread, 2–17 s with two). Image
/// passes of a large tower are compute-bound and use every core.
/// </summary>
public sealed record ThreadPlan(int Images, int Training)
{
    /// <summary>Multiply-accumulates of one image-tower forward per batch above which all cores pay off.</summary>
    public const double HeavyBatchMacs = 10e9;

    public static ThreadPlan Choose(int? threads, PeftOptions peft, int batchSize, ClipVisionConfig vision, int cores)
    {
        if (threads is { } t) return new(t, t);
        var tokens = vision.SequenceLength + (peft.Has(PeftKind.VptDeep) || peft.Has(PeftKind.VptShallow) ? peft.VptLength : 0);
        var macs = (double)batchSize * tokens * vision.Layers * 12.0 * vision.Width * vision.Width;
        var images = macs >= HeavyBatchMacs ? cores : 1;
        return new(images, peft.AdaptsImageTower ? images : 1);
    }
}
