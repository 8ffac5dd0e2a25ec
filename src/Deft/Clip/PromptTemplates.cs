namespace Deft.Clip;

/// <summary>Zero-shot prompt templates: "{}" stands for the class name.</summary>
public static class PromptTemplates
{
    public static IReadOnlyList<string> Default { get; } = ["a photo of a {}."];

    /// <summary>The seven ImageNet templates OpenAI's prompt-engineering notebook selected as the best small ensemble.</summary>
    public static IReadOnlyList<string> Ensemble7 { get; } =
    [
        "itap of a {}.", "a bad photo of the {}.", "a origami {}.", "a photo of the large {}.",
        "a {} in a video game.", "art of the {}.", "a photo of the small {}.",
    ];

    /// <summary>"default", "ensemble7", a file with one template per line, or one literal template containing "{}".</summary>
    public static IReadOnlyList<string> Resolve(string? spec)
    {
        if (string.IsNullOrWhiteSpace(spec) || spec == "default") return Default;
        if (spec == "ensemble7") return Ensemble7;
        if (File.Exists(spec))
        {
            var lines = File.ReadAllLines(spec).Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).ToList();
            for (var i = 0; i < lines.Count; i++)
                if (!lines[i].Contains("{}", StringComparison.Ordinal))
                    throw new DeftException($"{spec}: template \"{lines[i]}\" has no {{}} placeholder for the class name.");
            return lines.Count > 0 ? lines : throw new DeftException($"{spec} holds no templates (one per line, with {{}} for the class name).");
        }
        if (spec.Contains("{}", StringComparison.Ordinal)) return [spec];
        throw new DeftException($"Prompt templates '{spec}': neither a file nor a template with {{}}. Valid: default, ensemble7, a file, or e.g. \"a photo of a {{}}.\"");
    }
}
