using System.ComponentModel;
using Deft.Clip;
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
    [Description("fp32 or bf16 (bf16: frozen towers in bfloat16, outputs in fp32).")]
    [DefaultValue("fp32")]
    public string DType { get; init; } = "fp32";

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

    public ClipBundle LoadBundle() => ClipBundle.Load(Model!, Vocab,
        new ClipLoadOptions { DType = ClipBundle.ParseDType(DType), Device = ComputeDevice });

    public override Spectre.Console.ValidationResult Validate() =>
        string.IsNullOrWhiteSpace(Model)
            ? Spectre.Console.ValidationResult.Error("--model is required (a weights file, a model directory, or random:<preset>).")
            : Spectre.Console.ValidationResult.Success();
}
