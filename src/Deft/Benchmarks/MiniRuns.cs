using Deft.Adaptation;
using Deft.Detection;
using Deft.Peft;
using Deft.Pretraining;
using Deft.Prompts;

namespace Deft.Benchmarks;

/// <summary>The mini protocol's detect and adapt runs, with its fixed hyper-parameters (see <see cref="MiniProtocol"/>).</summary>
public static class MiniRuns
{
    /// <summary>Writes the prompt class names (each class's first caption synonym) beside the runs; returns the path.</summary>
    public static string WriteClassNames(string directory)
    {
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, "classes.txt");
        IO.AtomicFile.WriteAllText(path, string.Join('\n', FashionMnistCaptions.PromptNames) + "\n");
        return path;
    }

    /// <summary>
    /// Phase 1 on the downstream label file: VPT-deep length 4, n_ctx 8, 5 epochs, warm-up 1, batch 64, otherwise the
    /// paper's settings (SGD 0.03, momentum 0.9, weight decay 5e-4, cosine). <paramref name="peft"/> none uses the
    /// cached-feature path.
    /// </summary>
    public static DetectOptions Detect(MiniWorkspace ws, string model, string labels, string classes, string output,
        DetectionMethod method = DetectionMethod.Deft, PeftKind peft = PeftKind.VptDeep, double? noiseRate = null, int epochs = 5) => new()
    {
        Model = model,
        Data = ws.FashionMnist,
        Format = "idx",
        Split = "train",
        Labels = labels,
        ClassesFile = classes,
        OutputDirectory = output,
        Method = method,
        NoiseRate = noiseRate,
        Peft = new PeftOptions(peft, VptLength: 4),
        Prompts = new PromptOptions(ContextLength: 8),
        Epochs = epochs,
        Warmup = 1,
        BatchSize = 64,
        Force = true,
    };

    /// <summary>
    /// Phase 2: full fine-tuning of the tiny CLIP's image tower (linear head, SGD 5e-4, cosine) for 5 epochs, on the
    /// samples a detection run kept (<paramref name="selection"/>) or on every sample with its noisy label
    /// (<paramref name="selection"/> null, <paramref name="labels"/> the noisy label file).
    /// </summary>
    public static AdaptOptions Adapt(string model, string output, string? selection, string? labels, int epochs = 5) => new()
    {
        Model = model,
        OutputDirectory = output,
        SelectionPath = selection,
        LabelsPath = selection is null ? labels : null,
        Epochs = epochs,
        BatchSize = 64,
        Force = true,
    };
}
