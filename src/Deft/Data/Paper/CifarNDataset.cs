using System.Globalization;
using System.IO.Compression;
using System.Text;
using Deft.IO;

namespace Deft.Data.Paper;

/// <summary>
/// CIFAR-100N: the CIFAR-100 images (binary version, as <c>--format cifar100</c> reads them) with the human noisy labels
/// of Wei et al. (<c>CIFAR-100_human</c>). For the training split <see cref="GetLabel"/> is the noisy label and
/// <see cref="GetCleanLabel"/> CIFAR-100's own fine label; the test split is CIFAR-100's test set, unchanged.
/// The labels are read from the first of these found in the root or its <c>data/</c> folder:
/// <c>CIFAR-100_human.csv</c> (a <c>noisy_label</c> column, optionally <c>clean_label</c>; or one or two headerless
/// columns in that order), <c>CIFAR-100_human.npy</c> (the <c>noisy_label</c> array) or the official
/// <c>CIFAR-100_human.pt</c>. The official file pickles numpy arrays, which Deft's restricted unpickler cannot
/// rebuild (it only rebuilds torch tensors and runs no Python); a .pt holding torch tensors is read through it, and for the
/// numpy one the error gives the one-line conversion. When the file carries <c>clean_label</c> it is checked against
/// CIFAR-100's labels, which proves both are in the same order.
/// </summary>
internal sealed class CifarNDataset : IInMemoryDataset
{
    internal const string FormatName = "cifar100n";
    internal const string LabelFileStem = "CIFAR-100_human";

    /// <summary>The conversion a user runs once where Python and torch are at hand (also in docs/reproduce.md).</summary>
    internal const string ConversionCommand =
        "python -c \"import torch, numpy as np; d = torch.load('CIFAR-100_human.pt', weights_only=False); " +
        "np.savetxt('CIFAR-100_human.csv', np.stack([np.asarray(d['noisy_label']), np.asarray(d['clean_label'])], 1), " +
        "fmt='%d', delimiter=',', header='noisy_label,clean_label', comments='')\"";

    private readonly IInMemoryDataset _images;
    private readonly int[]? _noisy;

    private CifarNDataset(IInMemoryDataset images, int[]? noisy)
    {
        _images = images;
        _noisy = noisy;
    }

    public int Count => _images.Count;
    public IReadOnlyList<string> Classes => _images.Classes;
    public int ImageWidth => _images.ImageWidth;
    public int ImageHeight => _images.ImageHeight;
    public int GetLabel(int index) => _noisy is null ? _images.GetLabel(index) : _noisy[index];
    public int? GetCleanLabel(int index) => _noisy is null ? null : _images.GetLabel(index);
    public RgbImage GetImage(int index) => _images.GetImage(index);
    public byte[] GetRawPixels(int index) => _images.GetRawPixels(index);
    public string GetSource(int index) => _images.GetSource(index);

    internal static IImageDataset Open(string path, string split)
    {
        IInMemoryDataset images;
        try
        {
            images = CifarDataset.Open(path, split, CifarVariant.Cifar100);
        }
        catch (DeftException ex)
        {
            throw new DeftException($"{Setting.Format} {FormatName} reads the images of CIFAR-100's binary version (cifar-100-binary): {ex}", ex);
        }
        if (split != "train") return new CifarNDataset(images, null);

        var dirs = new[] { path, Path.Combine(path, "data") };
        var names = new[] { LabelFileStem + ".csv", LabelFileStem + ".npy", LabelFileStem + ".pt" };
        var file = dirs.SelectMany(d => names.Select(n => Path.Combine(d, n))).FirstOrDefault(File.Exists)
            ?? throw new DeftException(
                $"No CIFAR-100N label file in {path} or {Path.Combine(path, "data")}: looked for {string.Join(", ", names)}. " +
                $"Download {LabelFileStem}.pt from the CIFAR-N release and convert it once with: {ConversionCommand}");

        var (noisy, clean) = Path.GetExtension(file).ToLowerInvariant() switch
        {
            ".csv" => ReadCsv(file),
            ".npy" => (NpyFile.ReadIntegers(file), null),
            _ => ReadTorch(file),
        };
        if (noisy.Length != images.Count)
            throw new DeftException(
                $"{file} holds {noisy.Length} noisy labels; the CIFAR-100 training split has {images.Count} images. " +
                "The label file belongs to another data set (CIFAR-10N?) or the CIFAR-100 files are incomplete.");
        var labels = new int[noisy.Length];
        for (var i = 0; i < noisy.Length; i++)
        {
            if (noisy[i] < 0 || noisy[i] >= images.Classes.Count)
                throw new DeftException($"{file}: noisy label {noisy[i]} of sample {i} is outside 0..{images.Classes.Count - 1}. The file is damaged; convert it again.");
            labels[i] = (int)noisy[i];
        }
        if (clean is not null) CheckCleanLabels(file, clean, images);
        return new CifarNDataset(images, labels);
    }

    private static void CheckCleanLabels(string file, long[] clean, IImageDataset images)
    {
        if (clean.Length != images.Count)
            throw new DeftException($"{file} holds {clean.Length} clean labels for {images.Count} images. The file is damaged; convert it again.");
        var mismatches = Enumerable.Range(0, clean.Length).Where(i => clean[i] != images.GetLabel(i)).ToList();
        if (mismatches.Count > 0)
        {
            var i = mismatches[0];
            throw new DeftException(
                $"{file}: clean_label disagrees with CIFAR-100's fine label at {mismatches.Count} of {clean.Length} samples " +
                $"(first: sample {i}, file {clean[i]}, CIFAR-100 {images.GetLabel(i)}). The label file does not belong to these images " +
                "or lists them in another order.");
        }
    }

    private static (long[] Noisy, long[]? Clean) ReadCsv(string file)
    {
        var noisy = new List<long>();
        var clean = new List<long>();
        int noisyColumn = 0, cleanColumn = -1, columns = -1;
        var lineNo = 0;
        foreach (var raw in File.ReadLines(file))
        {
            lineNo++;
            var text = raw.Trim();
            if (text.Length == 0) continue;
            var fields = text.Split(',').Select(f => f.Trim().Trim('"')).ToArray();
            if (columns < 0)
            {
                columns = fields.Length;
                if (fields.Any(f => !long.TryParse(f, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out _)))
                {
                    var header = fields.Select(f => f.ToLowerInvariant()).ToList();
                    noisyColumn = header.Count == 1 ? 0 : header.IndexOf("noisy_label");
                    if (noisyColumn < 0)
                        throw new DeftException($"{file} line {lineNo}: the header names no noisy_label column ({text}). Name the noisy labels' column noisy_label.");
                    cleanColumn = header.IndexOf("clean_label");
                    continue;
                }
                cleanColumn = columns >= 2 ? 1 : -1;
            }
            if (fields.Length != columns)
                throw new DeftException($"{file} line {lineNo}: {fields.Length} fields where the first line has {columns}. Fix the line.");
            noisy.Add(ParseLabel(file, lineNo, fields[noisyColumn], "noisy_label"));
            if (cleanColumn >= 0) clean.Add(ParseLabel(file, lineNo, fields[cleanColumn], "clean_label"));
        }
        if (noisy.Count == 0) throw new DeftException($"{file} holds no labels. Write one noisy label per line (see docs/reproduce.md).");
        return ([.. noisy], cleanColumn >= 0 ? [.. clean] : null);
    }

    private static long ParseLabel(string file, int line, string text, string column) =>
        long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var v) ? v
            : throw new DeftException($"{file} line {line}: {column} '{ListFiles.Shorten(text)}' is not an integer. Fix the line.");

    private static (long[] Noisy, long[]? Clean) ReadTorch(string file)
    {
        var how = $"Convert it once where Python and torch are at hand: {ConversionCommand} — and put the .csv beside the .pt.";
        byte[] pickle;
        using var zip = OpenZip(file, how);
        pickle = zip.ReadPickle();
        if (ContainsAscii(pickle, "numpy"))
            throw new DeftException(
                $"{file} stores its labels as numpy arrays; Deft's unpickler rebuilds torch tensors only (it runs no Python), so Deft cannot read " +
                $"this file directly. {how}");

        // The restricted unpickler refuses every callable that is not a tensor rebuild (os.system, exec, ...).
        var root = TorchPickle.Load(pickle, $"{file} ({zip.PickleName})", zip.LoadStorage, out var tensors);
        try
        {
            if (root is not Dictionary<object, object?> table)
                throw new DeftException($"{file}: the pickle holds no dict of label tensors. {how}");
            var noisy = TensorValues(table, "noisy_label", file, how)
                ?? throw new DeftException($"{file} has no noisy_label entry (keys: {string.Join(", ", table.Keys.Select(k => TextClip.Clip(k.ToString() ?? "", 40)).Take(10))}). {how}");
            return (noisy, TensorValues(table, "clean_label", file, how));
        }
        finally
        {
            foreach (var t in tensors) t.Dispose();
        }
    }

    private static TorchZip OpenZip(string file, string how)
    {
        Span<byte> magic = stackalloc byte[4];
        using (var s = File.OpenRead(file))
            if (s.ReadAtLeast(magic, 4, throwOnEndOfStream: false) < 4 || magic[0] != 0x50 || magic[1] != 0x4B)
                throw new DeftException($"{file} was written by torch.save's legacy (non-zip) format, which Deft cannot read. {how}");
        try
        {
            return TorchZip.Open(file);
        }
        catch (DeftException ex) when (ex.Message.Contains("without data.pkl", StringComparison.Ordinal))
        {
            throw new DeftException($"{file}: a zip archive without data.pkl, so not a torch.save file. {how}", ex);
        }
    }

    private static long[]? TensorValues(Dictionary<object, object?> table, string key, string file, string how)
    {
        if (!table.TryGetValue(key, out var value)) return null;
        if (value is not TorchSharp.torch.Tensor t)
            throw new DeftException($"{file}: {key} is a {value?.GetType().Name ?? "None"}, not a tensor. {how}");
        if (t.is_floating_point() || t.is_complex())
            throw new DeftException($"{file}: {key} is a {t.dtype} tensor; labels must be integers. {how}");
        using var flat = t.reshape(-1).to(TorchSharp.torch.int64);
        return flat.data<long>().ToArray();
    }

    private static bool ContainsAscii(byte[] haystack, string needle) =>
        haystack.AsSpan().IndexOf(Encoding.ASCII.GetBytes(needle)) >= 0;
}
