using System.ComponentModel;
using Deft.Clip;
using Deft.Detection;
using Spectre.Console.Cli;

namespace Deft.Cli.Commands;

/// <summary>Options every command that loads a CLIP model shares.</summary>
internal abstract class ClipModelSettings : CommandSettings
{
    [CommandOption("--model <SPEC>")]
    [Description(PeftOptionTexts.Model)]
    public string? Model { get; init; }

    [CommandOption("--vocab <FILE>")]
    [Description(PeftOptionTexts.Vocabulary)]
    public string? Vocab { get; init; }

    [CommandOption("--dtype <DTYPE>")]
    [Description("auto, fp32 or bf16 (bf16: frozen towers in bfloat16, outputs in fp32; auto: whichever a short calibration finds faster on this CPU with the same features, cached per CPU and libtorch).")]
    [DefaultValue("auto")]
    public string DType { get; init; } = "auto";

    [CommandOption("--mean <R,G,B>")]
    [Description("Image normalisation mean (default: the model's, else CLIP's).")]
    public string? Mean { get; init; }

    [CommandOption("--std <R,G,B>")]
    [Description("Image normalisation standard deviation (default: the model's, else CLIP's).")]
    public string? Std { get; init; }

    /// <summary>
    /// The device the model loads on: cpu, unless the command declares <c>--device</c> (<see cref="DeviceOption"/>):
    /// only commands with a GPU path do, so no command offers a device it cannot use.
    /// </summary>
    protected virtual string ComputeDevice => DeviceOption.Cpu;

    /// <summary>The images per forward pass the command runs, which <c>--dtype auto</c> calibrates at.</summary>
    protected virtual int CalibrationBatch => 32;

    /// <summary>
    /// The bundle in the requested precision; for auto it loads in fp32, calibrates (or reads the cached timings) and
    /// converts, saying on stderr what it chose (stdout stays the command's own, JSON included).
    /// </summary>
    public ClipBundle LoadBundle()
    {
        var requested = TowerPrecisions.Parse(DType);
        var bundle = ClipBundle.Load(Model!, Vocab, new ClipLoadOptions
        {
            DType = requested == TowerPrecision.Auto ? TorchSharp.torch.ScalarType.Float32 : requested.ToScalarType(),
            Device = ComputeDevice,
        });
        if (requested != TowerPrecision.Auto) return bundle;
        try
        {
            // The frozen towers train nothing here, so the choice is the one detect makes for --peft none.
            var (precision, note) = TowerPrecisions.Resolve(requested, bundle.Model, new Deft.Peft.PeftOptions(Deft.Peft.PeftKind.None),
                Math.Max(1, CalibrationBatch), TorchSharp.torch.get_num_threads(), cacheDirectory: null);
            if (note is not null) Console.Error.WriteLine(note);
            if (precision != TowerPrecision.Fp32) bundle.Model.ToDType(precision.ToScalarType());
            return bundle;
        }
        catch
        {
            bundle.Dispose();
            throw;
        }
    }

    public override Spectre.Console.ValidationResult Validate() =>
        string.IsNullOrWhiteSpace(Model)
            ? Spectre.Console.ValidationResult.Error("--model is required (a weights file, a model directory, or random:<preset>).")
            : Spectre.Console.ValidationResult.Success();
}
