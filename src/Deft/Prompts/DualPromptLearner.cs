using System.Text.Json.Serialization;
using Deft.IO;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Deft.Prompts;

/// <summary>Where the class name sits among the learnable context tokens (CoOp's <c>CLASS_TOKEN_POSITION</c>).</summary>
public enum ClassTokenPosition
{
    /// <summary>[SOS] ctx… name . [EOS] (default).</summary>
    End,
    /// <summary>[SOS] first half of ctx, name, second half of ctx . [EOS].</summary>
    Middle,
    /// <summary>[SOS] name ctx… . [EOS].</summary>
    Front,
}

public static class ClassTokenPositions
{
    public static IReadOnlyList<string> ValidNames { get; } = ["end", "middle", "front"];

    public static ClassTokenPosition Parse(string name) => name.Trim().ToLowerInvariant() switch
    {
        "end" => ClassTokenPosition.End,
        "middle" => ClassTokenPosition.Middle,
        "front" => ClassTokenPosition.Front,
        _ => throw new DeftException($"Unknown class token position '{name}'. Valid values: {string.Join(", ", ValidNames)}."),
    };

    public static string ToName(this ClassTokenPosition p) => ValidNames[(int)p];
}

/// <summary>
/// Prompt settings. <paramref name="ContextLength"/>: learnable tokens per prompt (ignored when
/// <paramref name="InitWords"/> is given: then it is the number of tokens of those words, whose embeddings start both
/// contexts). <paramref name="ClassSpecific"/>: one context per class (CoOp's CSC) instead of one shared.
/// </summary>
public sealed record PromptOptions(
    [property: JsonPropertyName("n_ctx")] int ContextLength = 16,
    [property: JsonPropertyName("class_token_position"), JsonConverter(typeof(ClassTokenPositionJson))] ClassTokenPosition Position = ClassTokenPosition.End,
    [property: JsonPropertyName("class_specific_contexts")] bool ClassSpecific = false,
    [property: JsonPropertyName("ctx_init")] string? InitWords = null);

/// <summary>What a tokenizer must give the prompt learner: BPE ids of a text without start/end tokens.</summary>
public interface IPromptTokenizer
{
    IReadOnlyList<int> Encode(string text);
    int StartToken { get; }
    int EndToken { get; }
}

/// <summary>
/// DeFT's dual CoOp prompts: for every class a positive and a negative prompt, "[SOS] ctx₁…ctxₙ name. [EOS]", whose
/// contexts are learnable ([n, width], N(0, 0.02), shared by all classes unless class-specific). Each class text
/// "P P … P name." is tokenized once; the start token's embedding (prefix) and the embeddings from position 1+n on
/// (name, ".", end, padding: suffix) come from the positive text and serve both prompts, as in the official code.
/// Prompts are cut after the last end-of-text token: with the causal mask, the padding never influences it.
/// </summary>
public sealed class DualPromptLearner : nn.Module
{
    private readonly Parameter pos_ctx;
    private readonly Parameter neg_ctx;
    private readonly Tensor token_prefix;
    private readonly Tensor token_suffix;
    private readonly Tensor token_ids;
    private readonly Tensor eot_index;
    private readonly int[] _nameLengths;

    /// <summary>Builds the prompts for <paramref name="classNames"/> (underscores become spaces).</summary>
    /// <param name="embedTokens">The text tower's token embedding: [C, L] int64 → [C, L, width].</param>
    /// <param name="contextLength">The text tower's context (77 for CLIP).</param>
    public DualPromptLearner(
        IReadOnlyList<string> classNames, PromptOptions options, IPromptTokenizer tokenizer,
        Func<Tensor, Tensor> embedTokens, int contextLength, Generator? generator = null)
        : base(nameof(DualPromptLearner))
    {
        if (classNames.Count == 0) throw new DeftException("No class names: the prompt learner needs at least one class.");
        Options = options;
        ClassNames = classNames.Select(n => n.Replace('_', ' ').Trim()).ToArray();
        var nCls = ClassNames.Count;

        int[]? initTokens = null;
        int nCtx;
        if (!string.IsNullOrWhiteSpace(options.InitWords))
        {
            initTokens = tokenizer.Encode(options.InitWords.Replace('_', ' ')).ToArray();
            if (initTokens.Length == 0) throw new DeftException($"The context initialisation '{options.InitWords}' has no tokens.");
            nCtx = initTokens.Length;
        }
        else
        {
            nCtx = options.ContextLength;
            if (nCtx < 1) throw new DeftException($"{Setting.ContextLength} must be ≥ 1, got {nCtx}.");
        }
        NumContext = nCtx;

        var names = ClassNames.Select(tokenizer.Encode).ToArray();
        _nameLengths = names.Select(n => n.Count).ToArray();
        // The placeholder context tokens are replaced by the learnable vectors; only their count matters.
        var placeholder = initTokens ?? tokenizer.Encode("P").ToArray();
        if (placeholder.Length != 1 && initTokens is null)
            throw new InvalidOperationException("The tokenizer splits the placeholder 'P' into several tokens.");
        var period = tokenizer.Encode(".").ToArray();

        var ids = new long[nCls * contextLength];
        var eot = new long[nCls];
        for (var c = 0; c < nCls; c++)
        {
            var seq = new List<int> { tokenizer.StartToken };
            seq.AddRange(initTokens ?? Enumerable.Repeat(placeholder[0], nCtx));
            seq.AddRange(names[c]);
            seq.AddRange(period);
            seq.Add(tokenizer.EndToken);
            if (seq.Count > contextLength)
                throw new DeftException(
                    $"The prompt for class {c} ('{ClassNames[c]}') needs {seq.Count} tokens ({nCtx} context + {names[c].Count} name + start, '.', end), " +
                    $"more than the text tower's context of {contextLength}. Shorten the class name or use a smaller {Setting.ContextLength}.");
            for (var i = 0; i < seq.Count; i++) ids[c * contextLength + i] = seq[i];
            eot[c] = seq.Count - 1;
        }
        MaxLength = (int)eot.Max() + 1;

        using (no_grad())
        using (var scope = NewDisposeScope())
        {
            var idTensor = tensor(ids, [nCls, contextLength]);
            var embedding = embedTokens(idTensor).detach().to(ScalarType.Float32);
            token_ids = idTensor.MoveToOuterDisposeScope();
            eot_index = tensor(eot).MoveToOuterDisposeScope();
            token_prefix = embedding.narrow(1, 0, 1).clone().MoveToOuterDisposeScope();
            token_suffix = embedding.narrow(1, 1 + nCtx, contextLength - 1 - nCtx).clone().MoveToOuterDisposeScope();
            var width = embedding.shape[2];
            Width = (int)width;

            Tensor InitContext()
            {
                if (initTokens is not null)
                {
                    var ctx = embedding[0].narrow(0, 1, nCtx).clone();
                    return options.ClassSpecific ? ctx.unsqueeze(0).expand(nCls, -1, -1).clone() : ctx;
                }
                long[] shape = options.ClassSpecific ? [nCls, nCtx, width] : [nCtx, width];
                return randn(shape, generator: generator).mul_(0.02);
            }
            pos_ctx = new Parameter(InitContext().MoveToOuterDisposeScope());
            neg_ctx = new Parameter(InitContext().MoveToOuterDisposeScope());
        }
        RegisterComponents();
    }

    public PromptOptions Options { get; }
    public IReadOnlyList<string> ClassNames { get; }
    public int NumContext { get; }
    public int Width { get; }
    /// <summary>Tokens up to and including the longest prompt's end token: the text tower never needs more.</summary>
    public int MaxLength { get; }

    public Parameter PositiveContext => pos_ctx;
    public Parameter NegativeContext => neg_ctx;
    /// <summary>[C, context length] token ids of the positive texts (the negative ones differ only in placeholders).</summary>
    public Tensor TokenIds => token_ids;
    /// <summary>[C] position of each prompt's end-of-text token (the argmax of its ids).</summary>
    public Tensor EotIndex => eot_index;
    public Tensor Prefix => token_prefix;
    public Tensor Suffix => token_suffix;

    /// <summary>The trainable contexts with their stable names.</summary>
    public IReadOnlyList<(string Name, Parameter Parameter)> Trainables => [("pos_ctx", pos_ctx), ("neg_ctx", neg_ctx)];

    /// <summary>Replaces the contexts (fixtures, resumed runs, saved detectors).</summary>
    public void LoadContexts(Tensor positive, Tensor negative)
    {
        if (!positive.shape.SequenceEqual(pos_ctx.shape) || !negative.shape.SequenceEqual(neg_ctx.shape))
            throw new DeftException($"Saved prompt contexts have shapes [{string.Join(", ", positive.shape)}] and [{string.Join(", ", negative.shape)}]; this configuration needs [{string.Join(", ", pos_ctx.shape)}].");
        using var noGrad = no_grad();
        pos_ctx.copy_(positive);
        neg_ctx.copy_(negative);
    }

    /// <summary>Prompt embeddings [C, <paramref name="length"/>, width] for one context.</summary>
    public Tensor Assemble(Tensor ctx, int? length = null)
    {
        var len = length ?? MaxLength;
        using var scope = NewDisposeScope();
        var nCls = ClassNames.Count;
        var ctxAll = ctx.ndim == 2 ? ctx.unsqueeze(0).expand(nCls, -1, -1) : ctx;
        var suffix = token_suffix.to(ctx.dtype);
        var prefix = token_prefix.to(ctx.dtype);
        var suffixLen = len - 1 - NumContext;
        Tensor prompts;
        switch (Options.Position)
        {
            case ClassTokenPosition.End:
                prompts = cat([prefix, ctxAll, suffix.narrow(1, 0, suffixLen)], 1);
                break;
            case ClassTokenPosition.Middle:
            case ClassTokenPosition.Front:
            {
                var half = Options.Position == ClassTokenPosition.Middle ? NumContext / 2 : 0;
                var rows = new Tensor[nCls];
                for (var i = 0; i < nCls; i++)
                {
                    var nameLen = _nameLengths[i];
                    var parts = new List<Tensor> { prefix.narrow(0, i, 1) };
                    var ctxI = ctxAll.narrow(0, i, 1);
                    if (half > 0) parts.Add(ctxI.narrow(1, 0, half));
                    parts.Add(suffix.narrow(0, i, 1).narrow(1, 0, nameLen));
                    parts.Add(ctxI.narrow(1, half, NumContext - half));
                    parts.Add(suffix.narrow(0, i, 1).narrow(1, nameLen, suffixLen - nameLen));
                    rows[i] = cat(parts, 1);
                }
                prompts = cat(rows, 0);
                break;
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(Options), $"Unknown class token position {Options.Position}. Valid values: {string.Join(", ", ClassTokenPositions.ValidNames)}.");
        }
        return prompts.MoveToOuterDisposeScope();
    }
}

/// <summary>The class token position under its CLI/summary name ("end", "middle", "front").</summary>
internal sealed class ClassTokenPositionJson() : NamedEnumJson<ClassTokenPosition>(p => p.ToName(), ClassTokenPositions.Parse);
