using System.Runtime.CompilerServices;
using Deft.Native;

namespace Deft.Tests;

internal static class TestSetup
{
    /// <summary>Runs before any test touches TorchSharp, so the suite never depends on a fix applied by hand.</summary>
    [ModuleInitializer]
    internal static void Init() => TorchNativeSetup.EnsureLoadable();
}

/// <summary>Paths of the read-only material beside the checkout (../shared).</summary>
internal static class Shared
{
    public static string Fixtures => KnownLocations.SharedFixtures()
        ?? throw new InvalidOperationException("shared/fixtures not found beside the checkout; set DEFT_SHARED.");

    public static string Fixture(string name) => Path.Combine(Fixtures, name);

    public static string ClipVocabulary => KnownLocations.ClipVocabulary()
        ?? throw new InvalidOperationException("shared/clip/bpe_simple_vocab_16e6.txt.gz not found; set DEFT_CLIP_VOCAB.");
}
