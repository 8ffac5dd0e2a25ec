namespace Deft.Cli;

/// <summary>
/// Registers a Spectre.Console.Cli command under <see cref="Path"/> ("doctor", "data info", "bench encoder").
/// Program discovers commands by this attribute, so a new command is one new file.
/// </summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
public sealed class CliCommandAttribute(string path, string description) : Attribute
{
    public string Path { get; } = path;
    public string Description { get; } = description;
    /// <summary>Example invocations shown in help, without the leading "deft".</summary>
    public string[] Examples { get; init; } = [];
}
