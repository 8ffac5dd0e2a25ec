using System.IO.Compression;
using Deft.IO;
using static TorchSharp.torch;

namespace Deft.Clip;

/// <summary>
/// Reads PyTorch checkpoints without Python and without running anything they contain: <c>torch.save</c> zip
/// archives (a pickled dict of tensors) and TorchScript archives (<c>torch.jit.save</c>, e.g. OpenAI's released
/// ViT-*.pt files) both go through <see cref="TorchPickle"/>, a restricted unpickler that rebuilds tensors only.
/// A TorchScript archive's code/ is never executed (libtorch's <c>torch.jit.load</c> is not used): only the tensor
/// attributes of its module objects are read.
/// </summary>
internal static class TorchCheckpoint
{
    public enum Kind { StateDictPickle, TorchScript }

    /// <summary>The one-line conversion to a plain state dict, for archives Deft cannot read as data.</summary>
    internal const string ConversionCommand = TorchPickle.ConversionCommand;

    /// <summary>Classifies a file by content: a zip with code/ or constants.pkl is TorchScript, a zip with data.pkl a torch.save pickle.</summary>
    public static Kind Detect(string path)
    {
        if (!IsZip(path))
            throw new DeftException($"{path}: not a zip archive. Deft reads PyTorch files written by torch.save in its default " +
                "zip format (PyTorch ≥ 1.6) and TorchScript archives; re-save legacy files with torch.save(state_dict, path) or convert to .safetensors.");
        List<string> names;
        try
        {
            using var zip = ZipFile.OpenRead(path);
            names = zip.Entries.Select(e => e.FullName).ToList();
        }
        catch (InvalidDataException ex)
        {
            throw new DeftException($"{path}: the zip archive is damaged or truncated ({ex.Message}). Download or save the file again.", ex);
        }
        if (names.Any(n => n.EndsWith("/constants.pkl", StringComparison.Ordinal) || n.Contains("/code/", StringComparison.Ordinal)))
            return Kind.TorchScript;
        if (names.Any(n => n.EndsWith("data.pkl", StringComparison.Ordinal)))
            return Kind.StateDictPickle;
        throw new DeftException($"{path}: a zip archive without data.pkl; not a PyTorch checkpoint.");
    }

    /// <summary>Loads a torch.save state dict (optionally nested under "state_dict"/"model"); the caller owns the tensors.</summary>
    public static Dictionary<string, Tensor> LoadPickledStateDict(string path) => TorchPickle.LoadStateDict(path);

    /// <summary>Parameters and buffers of a TorchScript archive, read as data (its code is never run).</summary>
    public static Dictionary<string, Tensor> LoadTorchScriptStateDict(string path) => TorchPickle.LoadStateDict(path);

    private static bool IsZip(string path)
    {
        Span<byte> magic = stackalloc byte[4];
        using var s = File.OpenRead(path);
        return s.ReadAtLeast(magic, 4, throwOnEndOfStream: false) == 4 && magic[0] == 0x50 && magic[1] == 0x4B && magic[2] == 0x03 && magic[3] == 0x04;
    }
}
