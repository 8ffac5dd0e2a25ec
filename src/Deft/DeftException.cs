namespace Deft;

/// <summary>
/// A problem with the user's input or environment that the user can fix. The message names the file, line or
/// sample and says what to do; the CLI prints it without a stack trace.
/// </summary>
public class DeftException(string message, Exception? inner = null) : Exception(message, inner);
