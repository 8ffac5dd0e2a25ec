using System.Globalization;
using Deft.Clip;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Deft.Peft;

/// <summary>
/// Visual prompt tuning (Jia et al., 2022): learnable tokens appended to the image token sequence. Deep VPT gives
/// each adapted block its own tokens (those of the previous block are dropped first); shallow VPT appends one set
/// before block 0, and the tokens then flow through all blocks. The class token stays at position 0, so ln_post
/// reads the same token as without prompts.
/// </summary>
public sealed class VisualPromptTokens : nn.Module, IVisionPromptInjector
{
    // Registered by block index, so the state-dict name of block l's tokens is "l" ("vpt.l" inside VisionPeft).
    private readonly Dictionary<int, Parameter> _byLayer = new();

    /// <param name="layers">The blocks that receive prompts, ascending.</param>
    /// <param name="length">Prompt tokens per block.</param>
    /// <param name="patchSize">Patch size of the tower (for VPT's initialisation range).</param>
    /// <param name="width">Token width.</param>
    public VisualPromptTokens(IReadOnlyList<int> layers, int length, int patchSize, int width, Generator? generator = null)
        : base(nameof(VisualPromptTokens))
    {
        Layers = layers.ToArray();
        // VPT's Xavier-style range for a patch-embedding-sized fan: sqrt(6 / (3·patch² + width)).
        var bound = Math.Sqrt(6.0 / (3.0 * patchSize * patchSize + width));
        foreach (var layer in Layers)
        {
            using var init = rand([length, width], generator: generator);
            var p = new Parameter(init.mul(2 * bound).sub_(bound));
            register_parameter(layer.ToString(CultureInfo.InvariantCulture), p);
            _byLayer[layer] = p;
        }
        RegisterComponents();
    }

    public IReadOnlyList<int> Layers { get; }

    /// <summary>The prompt tokens [length, width] of <paramref name="layer"/>, or null when it has none.</summary>
    public Parameter? PromptsOf(int layer) => _byLayer.GetValueOrDefault(layer);

    public Tensor BeforeBlock(int layer, Tensor x, int originalLength)
    {
        if (!_byLayer.TryGetValue(layer, out var prompt)) return x;
        using var scope = NewDisposeScope();
        var kept = x.shape[1] > originalLength ? x.narrow(1, 0, originalLength) : x;
        var expanded = prompt.to(x.dtype).unsqueeze(0).expand(x.shape[0], -1, -1);
        return cat([kept, expanded], 1).MoveToOuterDisposeScope();
    }
}
