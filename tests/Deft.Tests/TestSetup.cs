using System.Runtime.CompilerServices;
using Deft.Native;

namespace Deft.Tests;

internal static class TestSetup
{
    /// <summary>Runs before any test touches TorchSharp, so the suite never depends on a fix applied by hand.</summary>
    [ModuleInitializer]
    internal static void Init() => TorchNativeSetup.EnsureLoadable();
}
