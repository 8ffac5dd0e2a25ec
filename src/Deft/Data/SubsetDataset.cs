namespace Deft.Data;

/// <summary>
/// A view of some samples of another data set: sample k of the view is sample <c>Indices[k]</c> of the parent.
/// Used where a computation is defined on a split (the mini protocol's downstream images) and results are mapped back
/// to the parent's indices through <see cref="Indices"/>.
/// </summary>
public sealed class SubsetDataset : IImageDataset
{
    private readonly IImageDataset _parent;

    public SubsetDataset(IImageDataset parent, IReadOnlyList<int> indices)
    {
        foreach (var i in indices)
            if ((uint)i >= (uint)parent.Count)
                throw new ArgumentOutOfRangeException(nameof(indices), $"Index {i} is outside the parent's 0..{parent.Count - 1}.");
        _parent = parent;
        Indices = indices;
    }

    public IReadOnlyList<int> Indices { get; }
    public int Count => Indices.Count;
    public IReadOnlyList<string> Classes => _parent.Classes;
    public int GetLabel(int index) => _parent.GetLabel(Indices[index]);
    public int? GetCleanLabel(int index) => _parent.GetCleanLabel(Indices[index]);
    public RgbImage GetImage(int index) => _parent.GetImage(Indices[index]);
    public byte[] GetRawPixels(int index) => _parent.GetRawPixels(Indices[index]);
    public string GetSource(int index) => _parent.GetSource(Indices[index]);
}
