using System.Text;

namespace Deft;

/// <summary>
/// A problem with the user's input or environment that the user can fix. The message names the file, line or
/// sample and says what to do; the CLI prints it without a stack trace. A message built from an interpolated string
/// records the <see cref="Setting"/>s it names (<see cref="References"/>): <see cref="Exception.Message"/> names them by
/// their domain names ("Resume and Force exclude each other"), <see cref="Render"/> as a front end does
/// ("--resume and --force exclude each other").
/// </summary>
public class DeftException(string message, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>The message from <paramref name="message"/>, with the settings it names recorded.</summary>
    public DeftException(ref SettingMessage message, Exception? inner = null) : this(message.Build(), inner) { }

    private DeftException((string Text, SettingReference[] References) built, Exception? inner) : this(built.Text, inner) =>
        References = built.References;

    /// <summary>The settings the message names, in order, with where (empty for a plain message).</summary>
    public IReadOnlyList<SettingReference> References { get; } = [];

    /// <summary>The message with each setting written as <paramref name="name"/> gives it.</summary>
    public string Render(Func<Setting, string> name)
    {
        var text = new StringBuilder(Message.Length + 8 * References.Count);
        var at = 0;
        foreach (var r in References)
        {
            text.Append(Message, at, r.Start - at).Append(name(r.Setting));
            at = r.Start + r.Length;
        }
        return text.Append(Message, at, Message.Length - at).ToString();
    }
}
