using Deft.Data;
using TorchSharp;

namespace Deft.Api;

/// <summary>
/// Data issues on arrays, without a model or files (cleanlab Datalab's near_duplicate and outlier checks): image
/// features, labels and the class prompts' text features in, ranked <see cref="DataIssue"/>s out. <c>deft detect</c>
/// runs the same check on the features it computes.
/// </summary>
public static class DataIssueFinder
{
    /// <summary>
    /// Near-duplicates (cosine similarity at least <see cref="FeatureIssueOptions.DuplicateThreshold"/>; a pair with
    /// different labels is a <see cref="DataIssueKind.ConflictingDuplicate"/>) and outliers (far from their k nearest
    /// neighbours and from every class prompt) among the rows of <paramref name="imageFeatures"/>. Conflicting
    /// duplicates come first, then near-duplicates, then outliers, each most severe (lowest score) first.
    /// </summary>
    /// <param name="imageFeatures">[N, E] image features, one row per sample (any norm: they are normalised).</param>
    /// <param name="labels">The given label of every row.</param>
    /// <param name="classTextFeatures">[K, E] text features of one prompt per class (CLIP's zero-shot weights), or null to judge outliers by their neighbours alone.</param>
    /// <param name="options">Thresholds; null: the defaults.</param>
    /// <param name="sources">Names of the rows for <see cref="DataIssue.Source"/> (file paths); null: "features#row".</param>
    /// <exception cref="ArgumentException">The shapes disagree.</exception>
    /// <exception cref="DeftException">A threshold is out of range.</exception>
    public static IReadOnlyList<DataIssue> Find(float[,] imageFeatures, int[] labels, float[,]? classTextFeatures = null,
        FeatureIssueOptions? options = null, IReadOnlyList<string>? sources = null)
    {
        ArgumentNullException.ThrowIfNull(imageFeatures);
        ArgumentNullException.ThrowIfNull(labels);
        if (sources is not null && sources.Count != imageFeatures.GetLength(0))
            throw new ArgumentException($"{sources.Count} sources for {imageFeatures.GetLength(0)} feature rows.", nameof(sources));
        using var scope = torch.NewDisposeScope();
        var features = torch.tensor(imageFeatures);
        var text = classTextFeatures is null ? null : torch.tensor(classTextFeatures);
        return FeatureIssues.Find(features, labels, text, options, sourceOf: sources is null ? null : r => sources[r]);
    }
}
