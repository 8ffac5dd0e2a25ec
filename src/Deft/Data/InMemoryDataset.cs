namespace Deft.Data;

/// <summary>
/// A reader that holds every sample in memory, checked when the file was opened (IDX, CIFAR): decoding cannot fail
/// and every image has the same size, so validation and <see cref="DatasetInfo"/> need not decode anything.
/// </summary>
internal interface IInMemoryDataset : IImageDataset
{
    int ImageWidth { get; }
    int ImageHeight { get; }
}

/// <summary>Reading helpers shared by the binary readers.</summary>
internal static class BinaryFiles
{
    /// <summary>The file's bytes, gunzipped when they start with the gzip magic (whatever the extension).</summary>
    public static byte[] ReadMaybeGzipped(string path)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new DeftException($"Cannot read {path}: {ex.Message}", ex);
        }
        if (bytes.Length < 2 || bytes[0] != 0x1f || bytes[1] != 0x8b) return bytes;
        try
        {
            using var gz = new System.IO.Compression.GZipStream(new MemoryStream(bytes), System.IO.Compression.CompressionMode.Decompress);
            using var output = new MemoryStream(bytes.Length * 4);
            gz.CopyTo(output);
            return output.ToArray();
        }
        catch (InvalidDataException ex)
        {
            throw new DeftException($"{path} is gzip-compressed but corrupt ({ex.Message}). Download it again.", ex);
        }
    }
}
