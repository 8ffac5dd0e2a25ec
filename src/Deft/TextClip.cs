namespace Deft;

/// <summary>Keeps user-supplied text short in error messages: a 5 MB field is named by its start, not echoed in full.</summary>
public static class TextClip
{
    /// <summary><paramref name="text"/> cut to <paramref name="max"/> characters with "…" and the full length when cut.</summary>
    public static string Clip(string text, int max = 80) =>
        text.Length <= max ? text : $"{text[..max]}… ({text.Length} characters)";
}
