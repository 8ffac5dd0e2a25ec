using TorchSharp;
using static TorchSharp.torch;

namespace Deft.Clip;

/// <summary>
/// OpenAI's <c>initialize_parameters</c>, drawn from a private generator so a seed always gives the same model:
/// embeddings N(0, 0.02) / N(0, 0.01), class token, positional embedding and projections N(0, width^-½), attention
/// in-projections N(0, width^-½), output projections N(0, width^-½·(2·layers)^-½), c_fc N(0, (2·width)^-½), zero
/// biases, unit layer norms, logit_scale = the config's InitLogitScale (OpenAI: ln(1/0.07)). The same block initialisation is used for both towers (OpenAI
/// leaves the vision blocks at PyTorch's defaults) so random models have activations of a trained model's scale.
/// </summary>
internal static class ClipInitializer
{
    public static void Initialize(ClipModel model, long seed)
    {
        using var noGrad = torch.no_grad();
        using var generator = new torch.Generator(unchecked((ulong)seed), model.Device);
        var config = model.Config;

        var visual = model.Visual;
        var vw = config.Vision.Width;
        var patchFanIn = 3.0 * config.Vision.PatchSize * config.Vision.PatchSize;
        var bound = 1.0 / Math.Sqrt(patchFanIn);
        visual.Conv1.Weight.uniform_(-bound, bound, generator);
        visual.ClassEmbedding.normal_(0, Math.Pow(vw, -0.5), generator);
        visual.PositionalEmbedding.normal_(0, Math.Pow(vw, -0.5), generator);
        visual.Proj.normal_(0, Math.Pow(vw, -0.5), generator);
        InitBlocks(visual.Blocks, vw, generator);

        var text = model.Text;
        var tw = config.Text.Width;
        text.TokenEmbeddingModule.Weight.normal_(0, 0.02, generator);
        text.PositionalEmbedding.normal_(0, 0.01, generator);
        InitBlocks(text.Blocks, tw, generator);
        text.Projection.normal_(0, Math.Pow(tw, -0.5), generator);
        model.LogitScale.fill_(config.InitLogitScale);

        // Layer norms: ones and zeros; every bias zero.
        foreach (var (name, p) in model.NamedClipParameters())
        {
            if (name.Contains(".ln_", StringComparison.Ordinal) || name.StartsWith("ln_", StringComparison.Ordinal))
            {
                if (name.EndsWith(".weight", StringComparison.Ordinal)) p.fill_(1);
                else p.zero_();
            }
            else if (name.EndsWith("bias", StringComparison.Ordinal)) p.zero_();
        }
    }

    private static void InitBlocks(IReadOnlyList<ResidualAttentionBlock> blocks, long width, torch.Generator generator)
    {
        var attnStd = Math.Pow(width, -0.5);
        var projStd = attnStd * Math.Pow(2.0 * blocks.Count, -0.5);
        var fcStd = Math.Pow(2.0 * width, -0.5);
        foreach (var block in blocks)
        {
            block.Attention.InProjWeight.normal_(0, attnStd, generator);
            block.Attention.OutProj.Weight.normal_(0, projStd, generator);
            block.Mlp.Fc.Weight.normal_(0, fcStd, generator);
            block.Mlp.Proj.Weight.normal_(0, projStd, generator);
        }
    }
}
