using System.Globalization;
using System.Reflection;
using Deft.Cli.Binding;
using Deft.Data;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Deft.Cli;

/// <summary>
/// The process entry after native setup: global options (<c>--verbose</c>, <c>--max-image-pixels N</c>, valid
/// anywhere on the line and removed before the strict per-command parsing), then the command, with every failure
/// turned into one <c>error:</c> line. An unexpected exception (a bug, not a user error) gets its type and message
/// and a hint to re-run with <c>--verbose</c> (or DEFT_VERBOSE=1), which prints the stack trace.
/// </summary>
public static class CliEntry
{
    public const string VerboseFlag = "--verbose";
    public const string MaxImagePixelsFlag = "--max-image-pixels";

    /// <summary>128 + SIGINT, what a shell reports for a job stopped by Ctrl-C.</summary>
    public const int InterruptedExitCode = 130;

    /// <summary>Remembers the settings the command line bound, for the interruption hint.</summary>
    private sealed class SettingsRecorder : ICommandInterceptor
    {
        public CommandSettings? Settings { get; private set; }
        public void Intercept(CommandContext context, CommandSettings settings) => Settings = settings;
    }

    /// <summary>
    /// The command app as `deft` configures it: every command, strict parsing (a misspelt flag is an error, not
    /// silently ignored: a typo would otherwise run with the default), exceptions propagated to the caller.
    /// </summary>
    public static CommandApp CreateApp(Action<IConfigurator>? configure = null) => CreateApp(configure, null);

    private static CommandApp CreateApp(Action<IConfigurator>? configure, SettingsRecorder? recorder)
    {
        var app = new CommandApp();
        app.Configure(config =>
        {
            config.SetApplicationName("deft");
            config.Settings.StrictParsing = true;
            config.PropagateExceptions();
            if (recorder is not null) config.SetInterceptor(recorder);
            config.SetHelpProvider(new Help.GroupedHelpProvider(config.Settings));
            foreach (var example in CommandRegistry.MainFlowExamples) config.AddExample(example.Split(' ', StringSplitOptions.RemoveEmptyEntries));
            CommandRegistry.Commands.Configure(config);
            configure?.Invoke(config);
        });
        return app;
    }

    /// <summary>Runs one command line; errors go to <paramref name="console"/> (default: the terminal).</summary>
    public static int Run(string[] args, IAnsiConsole? console = null, Action<IConfigurator>? configure = null)
    {
        if (console is null)
        {
            console = AnsiConsole.Console;
            ConsoleLayout.Configure(console, Console.IsOutputRedirected);
        }
        var verbose = Environment.GetEnvironmentVariable("DEFT_VERBOSE") is "1" or "true";
        string[] rest;
        try
        {
            rest = ApplyDeprecatedAliases(StripGlobalOptions(args, ref verbose), w => Console.Error.WriteLine($"warning: {w}"));
            CheckValuedOptions(rest);
        }
        catch (DeftException ex)
        {
            Error(console, ex.Message);
            return 2;
        }

        var recorder = new SettingsRecorder();
        var app = CreateApp(configure, recorder);
        try
        {
            return app.Run(rest);
        }
        catch (OperationCanceledException)
        {
            // Ctrl-C (Spectre cancels the commands' token) or a cancelled step: the shell's code for SIGINT.
            var hint = (recorder.Settings as IInterruptHint)?.InterruptHint();
            console.MarkupLineInterpolated($"[yellow]interrupted.[/]{(hint is null ? "" : " " + hint)}");
            return InterruptedExitCode;
        }
        catch (CommandRuntimeException ex) when (ex.InnerException is InvalidChoiceException choice)
        {
            Error(console, $"{OptionGiven(rest, choice.Value) ?? "a value"}: {choice.Message}");
            return 2;
        }
        catch (Exception ex) when (ex is CommandParseException or CommandRuntimeException)
        {
            Error(console, ex.Message);
            return 2;
        }
        catch (Exception ex) when (ex is DeftException or InvalidDataException or FileNotFoundException or DirectoryNotFoundException
                                       or UnauthorizedAccessException or IOException or ArgumentException)
        {
            Error(console, FlagNames.Render(ex));
            if (verbose) console.WriteLine(ex.ToString());
            return 1;
        }
        catch (Exception ex)
        {
            // Not a user error: one line, the trace only on request.
            var firstLine = ex.Message.Split('\n', 2)[0].TrimEnd();
            Error(console, $"unexpected {ex.GetType().Name}: {TextClip.Clip(firstLine, 300)}" +
                (verbose ? "" : $" (re-run with {VerboseFlag} or DEFT_VERBOSE=1 for the stack trace; please report it)"));
            if (verbose) console.WriteLine(ex.ToString());
            return 70;
        }
    }

    /// <summary>Old names of options, hidden from help: each still works, with a one-line warning naming the new one.</summary>
    internal static readonly IReadOnlyDictionary<string, string> DeprecatedOptions = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["--cache"] = "--cache-dir",
        ["--template"] = "--templates",
        // embed named its data set differently from every other command.
        ["--images"] = "--data",
    };

    /// <summary>
    /// Renames deprecated options (<see cref="DeprecatedOptions"/>, also as --old=value) before Spectre parses, and
    /// warns about each once; also warns when only the deprecated cache variable is set. After <c>--</c>: left alone.
    /// </summary>
    internal static string[] ApplyDeprecatedAliases(string[] args, Action<string> warn)
    {
        var warned = new HashSet<string>(StringComparer.Ordinal);
        var result = new string[args.Length];
        var literal = false;
        for (var i = 0; i < args.Length; i++)
        {
            var a = args[i];
            literal |= a == "--";
            var name = a.Split('=', 2)[0];
            if (!literal && DeprecatedOptions.TryGetValue(name, out var current))
            {
                if (warned.Add(name)) warn($"{name} is deprecated; use {current}.");
                a = current + a[name.Length..];
            }
            result[i] = a;
        }
        if (KnownLocations.Variable(KnownLocations.DeprecatedCacheVariable) is not null)
            warn(KnownLocations.Variable(KnownLocations.CacheVariable) is null
                ? $"{KnownLocations.DeprecatedCacheVariable} is deprecated; set {KnownLocations.CacheVariable} instead."
                : $"{KnownLocations.DeprecatedCacheVariable} is ignored: {KnownLocations.CacheVariable} is set (the one name for Deft's cache).");
        return result;
    }

    /// <summary>The option <paramref name="value"/> was given to (Spectre's conversion error does not name it).</summary>
    internal static string? OptionGiven(string[] args, string value)
    {
        for (var i = 0; i < args.Length; i++)
        {
            if (args[i] == "--") break;
            if (i + 1 < args.Length && args[i + 1] == value && args[i].StartsWith("--", StringComparison.Ordinal)) return args[i];
            if (args[i].StartsWith("--", StringComparison.Ordinal) && args[i].IndexOf('=') is > 2 and var eq && args[i][(eq + 1)..] == value)
                return args[i][..eq];
        }
        return null;
    }

    private static void Error(IAnsiConsole console, string message) =>
        console.MarkupLineInterpolated($"[red]error:[/] {TextClip.Clip(message, 4000)}");

    /// <summary>Removes the global options, applying <c>--max-image-pixels</c>; everything after <c>--</c> is left alone.</summary>
    internal static string[] StripGlobalOptions(string[] args, ref bool verbose)
    {
        var rest = new List<string>();
        for (var i = 0; i < args.Length; i++)
        {
            var a = args[i];
            if (a == "--") { rest.AddRange(args[i..]); break; }
            if (a == VerboseFlag) { verbose = true; continue; }
            string? value = null;
            if (a == MaxImagePixelsFlag)
            {
                if (i + 1 >= args.Length || args[i + 1].StartsWith("--", StringComparison.Ordinal))
                    throw new DeftException($"{MaxImagePixelsFlag} needs a value: the largest width × height to decode (default {ImageDecoder.DefaultMaxPixels}).");
                value = args[++i];
            }
            else if (a.StartsWith(MaxImagePixelsFlag + "=", StringComparison.Ordinal)) value = a[(MaxImagePixelsFlag.Length + 1)..];
            if (value is null) { rest.Add(a); continue; }
            if (!long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var limit) || limit < 1)
                throw new DeftException($"{MaxImagePixelsFlag} '{TextClip.Clip(value, 40)}' is not a positive whole number of pixels.");
            ImageDecoder.MaxPixels = limit;
        }
        return [.. rest];
    }

    /// <summary>The long options of the command <paramref name="args"/> starts with that always take a value.</summary>
    private static HashSet<string> ValuedOptions(string[] args)
    {
        var valued = new HashSet<string>(StringComparer.Ordinal);
        if (CommandRegistry.Commands.Find(args) is not { } command) return valued;
        var settings = SettingsType(command.CommandType);
        if (settings is null) return valued;
        foreach (var property in settings.GetProperties(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance))
            if (property.GetCustomAttribute<CommandOptionAttribute>() is { ValueName: not null, ValueIsOptional: false } option)
                foreach (var name in option.LongNames) valued.Add("--" + name);
        return valued;
    }

    internal static Type? SettingsType(Type command)
    {
        for (var t = command; t is not null; t = t.BaseType)
            if (t.IsGenericType && t.GetGenericArguments() is [var s] && typeof(CommandSettings).IsAssignableFrom(s)) return s;
        return null;
    }

    /// <summary>
    /// An option that always takes a value, given without one (last on the line, or followed by another option),
    /// is an error naming it; Spectre would otherwise take the next token, or an internal name, as its value.
    /// </summary>
    internal static void CheckValuedOptions(string[] args)
    {
        var valued = ValuedOptions(args);
        for (var i = 0; i < args.Length; i++)
        {
            if (args[i] == "--") return;
            if (!valued.Contains(args[i])) continue;
            if (i + 1 >= args.Length || (args[i + 1].StartsWith("--", StringComparison.Ordinal) && args[i + 1].Length > 2))
                throw new DeftException($"{args[i]} needs a value{(i + 1 < args.Length ? $" (found the option {TextClip.Clip(args[i + 1], 40)} after it)" : " (it is the last word of the command line)")}. " +
                    $"See `deft <command> --help`.");
        }
    }
}

/// <summary>Settings of a command that can continue after an interruption: what to tell the user (null: nothing to add).</summary>
internal interface IInterruptHint
{
    string? InterruptHint();
}
