using Deft.Baselines;
using Deft.Clip;
using Deft.Detection;
using TorchSharp;
using static TorchSharp.torch;

namespace Deft.Methods;

/// <summary>
/// The paper's "CLIP label-match" baseline: zero-shot CLIP (prompt template(s) filled with the class names, as
/// <c>deft zero-shot</c>) on the frozen image features. A label is clean when the zero-shot prediction equals it;
/// label quality is the zero-shot softmax probability of the given label, softmax(exp(logit_scale) · cos) over classes.
/// </summary>
public sealed class LabelMatchMethod : IDetectionMethod
{
    public DetectionMethod Method => DetectionMethod.LabelMatch;

    public MethodOutcome Run(MethodContext context, CancellationToken cancellationToken)
    {
        var zeroShot = ZeroShot(context, cancellationToken);
        var probabilities = Softmax(zeroShot.Logits);
        var scores = Scores(probabilities, context.Labels.Labels);
        var settings = new Dictionary<string, object?>
        {
            ["templates"] = zeroShot.Templates,
            ["logit_scale"] = zeroShot.LogitScale,
            ["rule"] = "clean when the zero-shot argmax equals the given label; label_quality = zero-shot probability of the given label",
        };
        return new MethodOutcome(scores, "zero-shot", [], settings) { Probabilities = probabilities };
    }

    /// <summary>Zero-shot logits [N, K] (float64, exp(logit_scale) · cosine) of every participating sample, with the templates and scale used.</summary>
    internal static (double[,] Logits, IReadOnlyList<string> Templates, double LogitScale) ZeroShot(MethodContext context, CancellationToken cancellationToken)
    {
        var templates = PromptTemplates.Resolve(context.Options.Templates);
        var model = context.Bundle.Model;
        model.eval();
        using var source = context.FrozenFeatures(cancellationToken);
        using var classifier = ZeroShotClassifier.Create(model, context.Bundle.Tokenizer, context.Classes, templates);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var scale = model.LogitScale.detach().to(ScalarType.Float64).exp().cpu();
        var logits = ToMatrix(classifier.Similarities(source.Features).to(ScalarType.Float64) * scale);
        return (logits, templates, scale.item<double>());
    }

    /// <summary>Row-wise softmax of logits [N, K].</summary>
    internal static double[,] Softmax(double[,] logits)
    {
        var p = new double[logits.GetLength(0), logits.GetLength(1)];
        NoiseTransition.Softmax(logits, 1.0, p);
        return p;
    }

    /// <summary>Verdicts from zero-shot probabilities: an issue exactly when the (first) argmax differs from the given label.</summary>
    public static MethodScores Scores(double[,] probabilities, IReadOnlyList<int> labels)
    {
        var provisional = MethodScores.FromProbabilities(probabilities, labels, new bool[labels.Count]);
        var issues = provisional.Suggested.Select((s, i) => s != labels[i]).ToArray();
        return provisional with { IsIssue = issues };
    }

    internal static double[,] ToMatrix(Tensor t)
    {
        var (rows, cols) = ((int)t.shape[0], (int)t.shape[1]);
        var flat = t.to(ScalarType.Float64).cpu().contiguous().data<double>().ToArray();
        var matrix = new double[rows, cols];
        Buffer.BlockCopy(flat, 0, matrix, 0, flat.Length * sizeof(double));
        return matrix;
    }
}
