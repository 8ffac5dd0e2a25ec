using Deft.Cli;
using Deft.Native;

// The native-library fix must run before anything touches TorchSharp (see TorchNativeSetup).
// `deft doctor` inspects first and patches only with --fix, so it can show the machine as a user finds it.
if (args.Length == 0 || args[0] != "doctor")
    TorchNativeSetup.EnsureLoadable();
MallocTuning.Apply();

return CliEntry.Run(args);
