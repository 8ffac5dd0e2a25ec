namespace Deft.Data;

// Placeholder until the readers land: the data-layer work replaces this file.
public static partial class DatasetFactory
{
    private static readonly string[] FormatNames = [];

    private static IImageDataset OpenCore(DatasetOptions options) =>
        throw new DeftException($"Unknown data format '{options.Format}'. Valid formats: (none yet).");
}
