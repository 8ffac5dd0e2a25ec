using Deft.Clip;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Deft.Prompts;

/// <summary>
/// Encodes the dual prompts without repeating work the classes share. With one shared context and the class name at
/// the end, every prompt starts with the same tokens [SOS, ctx₁…ctxₙ]; under the causal mask their hidden states do
/// not depend on the class, so they are computed once per prompt set and the class tokens (name, ".", EOS) attend to
/// them. In the last block only the EOS tokens are needed. The features are those of
/// <see cref="ClipModel.EncodeTextEmbeddings"/> on the assembled prompts, up to float rounding, gradients included;
/// for 10 classes and 16 context tokens the text tower processes about a quarter of the tokens.
/// </summary>
public sealed class SharedPrefixTextEncoder : IDisposable
{
    private sealed record BlockWeights(
        Tensor Ln1W, Tensor Ln1B, Tensor InW, Tensor InB, Tensor OutW, Tensor OutB,
        Tensor Ln2W, Tensor Ln2B, Tensor FcW, Tensor FcB, Tensor ProjW, Tensor ProjB, int Heads);

    private readonly BlockWeights[] _blocks;
    private readonly Tensor _lnFinalW, _lnFinalB, _projection;
    private readonly Tensor _sos;            // [1, W] SOS embedding + position 0
    private readonly Tensor _ctxPositions;   // [n, W]
    private readonly Tensor _suffix;         // [2C·Ls, W] class tokens + their positions, both prompt sets
    private readonly Tensor _suffixMask;     // [Ls, Lp + Ls] bool: prefix always, suffix causally
    private readonly Tensor _eotRows;        // [2C] rows of the EOS tokens within the suffix block
    private readonly Tensor _eotPositions;   // [2C] positions of the EOS tokens within their suffix
    private readonly Tensor _eotMask;        // [2C, 1, 1, Lp + Ls] bool
    private readonly int _classes, _prefixLength, _suffixLength, _width;
    private readonly double _eps;
    private readonly ClipActivation _activation;

    /// <summary>Token positions one <see cref="Encode"/> runs through the text tower: each prompt set's prefix once, every class's suffix.</summary>
    public long TokensPerCall => 2L * _prefixLength + 2L * _classes * _suffixLength;

    /// <summary>Whether <paramref name="prompts"/> share their leading tokens across classes (shared context, name at the end).</summary>
    public static bool Applies(DualPromptLearner prompts, ClipModel clip) =>
        prompts.Options.Position == ClassTokenPosition.End && !prompts.Options.ClassSpecific &&
        clip.TextDType == ScalarType.Float32 && clip.TextBlocks.Count > 0;

    public SharedPrefixTextEncoder(ClipModel clip, DualPromptLearner prompts)
    {
        if (!Applies(prompts, clip))
            throw new ArgumentException("The shared-prefix encoder needs a shared context, the class name at the end and a float32 text tower.");
        var p = clip.named_parameters().ToDictionary(x => x.name, x => (Tensor)x.parameter);
        Tensor P(string name) => p.TryGetValue(name, out var t) ? t : throw new InvalidOperationException($"CLIP parameter '{name}' not found.");
        _blocks = clip.TextBlocks.Select((b, i) =>
        {
            var s = $"transformer.resblocks.{i}.";
            return new BlockWeights(P(s + "ln_1.weight"), P(s + "ln_1.bias"), P(s + "attn.in_proj_weight"), P(s + "attn.in_proj_bias"),
                P(s + "attn.out_proj.weight"), P(s + "attn.out_proj.bias"), P(s + "ln_2.weight"), P(s + "ln_2.bias"),
                P(s + "mlp.c_fc.weight"), P(s + "mlp.c_fc.bias"), P(s + "mlp.c_proj.weight"), P(s + "mlp.c_proj.bias"), b.Heads);
        }).ToArray();
        _lnFinalW = P("ln_final.weight");
        _lnFinalB = P("ln_final.bias");
        _projection = P("text_projection");
        _eps = clip.Config.LayerNormEps;
        _activation = clip.Config.Activation;
        _classes = prompts.ClassNames.Count;
        _prefixLength = 1 + prompts.NumContext;
        _suffixLength = prompts.MaxLength - _prefixLength;
        _width = prompts.Width;

        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var positions = P("positional_embedding");
        _sos = (prompts.Prefix[0].narrow(0, 0, 1) + positions.narrow(0, 0, 1)).MoveToOuterDisposeScope();
        _ctxPositions = positions.narrow(0, 1, prompts.NumContext).clone().MoveToOuterDisposeScope();
        var suffix = prompts.Suffix.narrow(1, 0, _suffixLength) + positions.narrow(0, _prefixLength, _suffixLength).unsqueeze(0);
        _suffix = cat([suffix, suffix], 0).reshape(2 * _classes * _suffixLength, _width).contiguous().MoveToOuterDisposeScope();
        var row = arange(_suffixLength).unsqueeze(1);
        var col = arange(_prefixLength + _suffixLength).unsqueeze(0);
        _suffixMask = col.lt(_prefixLength).logical_or(col.sub(_prefixLength).le(row)).MoveToOuterDisposeScope();
        var eot = prompts.EotIndex - _prefixLength;                  // position of each EOS within the suffix
        var eotBoth = cat([eot, eot]);
        _eotRows = (arange(2 * _classes) * _suffixLength + eotBoth).MoveToOuterDisposeScope();
        _eotPositions = eotBoth.MoveToOuterDisposeScope();
        _eotMask = col.le(eotBoth.unsqueeze(1) + _prefixLength).view(2 * _classes, 1, 1, -1).MoveToOuterDisposeScope();
    }

    /// <summary>Text features [C, E] of the positive and negative prompts for contexts [n, W].</summary>
    public (Tensor Pos, Tensor Neg) Encode(Tensor positiveContext, Tensor negativeContext)
    {
        using var scope = NewDisposeScope();
        int c = _classes, lp = _prefixLength, ls = _suffixLength, w = _width;
        var ctx = stack([positiveContext, negativeContext]) + _ctxPositions;                   // [2, n, W]
        var prefix = cat([_sos.unsqueeze(0).expand(2, 1, w), ctx], 1).reshape(2 * lp, w);     // [2Lp, W]
        var x = cat([prefix, _suffix], 0);                                                      // [2Lp + 2C·Ls, W]
        Tensor? eotHidden = null;
        for (var l = 0; l < _blocks.Length; l++)
        {
            var b = _blocks[l];
            int heads = b.Heads, d = w / heads;
            var qkv = F.linear(F.layer_norm(x, [w], b.Ln1W, b.Ln1B, _eps), b.InW, b.InB);
            var p = qkv.narrow(0, 0, 2 * lp).view(2, lp, 3, heads, d).permute(2, 0, 3, 1, 4);    // [3, 2, H, Lp, d]
            var s = qkv.narrow(0, 2 * lp, 2 * c * ls).view(2 * c, ls, 3, heads, d).permute(2, 0, 3, 1, 4); // [3, 2C, H, Ls, d]
            // Every class's tokens see the same prefix keys and values.
            var keys = cat([p[1].unsqueeze(1).expand(2, c, heads, lp, d).reshape(2 * c, heads, lp, d), s[1]], 2);
            var values = cat([p[2].unsqueeze(1).expand(2, c, heads, lp, d).reshape(2 * c, heads, lp, d), s[2]], 2);
            if (l < _blocks.Length - 1)
            {
                var prefixOut = F.scaled_dot_product_attention(p[0], p[1], p[2], is_casual: true).transpose(1, 2).reshape(2 * lp, w);
                var suffixOut = F.scaled_dot_product_attention(s[0], keys, values, _suffixMask).transpose(1, 2).reshape(2 * c * ls, w);
                x = x + F.linear(cat([prefixOut, suffixOut], 0), b.OutW, b.OutB);
                x = x + Mlp(x, b);
            }
            else
            {
                // Only the EOS tokens feed the features: the last block computes nothing else.
                var eotQueries = s[0].gather(2, _eotPositions.view(2 * c, 1, 1, 1).expand(2 * c, heads, 1, d));
                var attended = F.scaled_dot_product_attention(eotQueries, keys, values, _eotMask).reshape(2 * c, w);
                var residual = x.narrow(0, 2 * lp, 2 * c * ls).index_select(0, _eotRows);
                var h = residual + F.linear(attended, b.OutW, b.OutB);
                eotHidden = h + Mlp(h, b);
            }
        }
        var features = F.layer_norm(eotHidden!, [w], _lnFinalW, _lnFinalB, _eps).matmul(_projection);
        return (features.narrow(0, 0, c).MoveToOuterDisposeScope(), features.narrow(0, c, c).MoveToOuterDisposeScope());
    }

    private Tensor Mlp(Tensor x, BlockWeights b)
    {
        var h = F.linear(F.layer_norm(x, [_width], b.Ln2W, b.Ln2B, _eps), b.FcW, b.FcB);
        h = _activation == ClipActivation.Gelu ? F.gelu(h) : h * torch.sigmoid(h * 1.702);
        return F.linear(h, b.ProjW, b.ProjB);
    }

    public void Dispose()
    {
        foreach (var t in new[] { _sos, _ctxPositions, _suffix, _suffixMask, _eotRows, _eotPositions, _eotMask }) t.Dispose();
    }
}
