using System.Reflection;
using Deft;
using Deft.Cli;
using Deft.Native;
using Spectre.Console.Cli;

// The native-library fix must run before anything touches TorchSharp (see TorchNativeSetup).
// `deft doctor` inspects first and patches only with --fix, so it can show the machine as a user finds it.
if (args.Length == 0 || args[0] != "doctor")
    TorchNativeSetup.EnsureLoadable();
MallocTuning.Apply();

return CliEntry.Run(args);

namespace Deft.Cli
{
    /// <summary>Adds every class marked with <see cref="CliCommandAttribute"/>; "a b" paths become branches.</summary>
    internal static class CommandRegistry
    {
        public static void Register(IConfigurator config, Assembly assembly)
        {
            var commands = assembly.GetTypes()
                .Select(t => (Type: t, Attr: t.GetCustomAttribute<CliCommandAttribute>()))
                .Where(x => x.Attr is not null && !x.Type.IsAbstract)
                .OrderBy(x => x.Attr!.Path, StringComparer.Ordinal)
                .ToList();
            foreach (var group in commands.GroupBy(c => c.Attr!.Path.Split(' ')[0]))
            {
                var items = group.ToList();
                if (items.Count == 1 && !items[0].Attr!.Path.Contains(' '))
                {
                    AddLeaf(config, group.Key, items[0].Type, items[0].Attr!);
                    continue;
                }
                config.AddBranch(group.Key, branch =>
                {
                    foreach (var (type, attr) in items)
                        AddLeaf(branch, attr!.Path.Split(' ', 2)[1], type, attr);
                });
            }
        }

        private static readonly MethodInfo AddRoot = typeof(IConfigurator).GetMethod(nameof(IConfigurator.AddCommand))!;

        private static void AddLeaf(object configurator, string name, Type type, CliCommandAttribute attr)
        {
            var method = configurator is IConfigurator
                ? AddRoot
                : configurator.GetType().GetInterfaces()
                    .SelectMany(i => i.GetMethods())
                    .First(m => m.Name == "AddCommand" && m.IsGenericMethodDefinition && m.GetParameters().Length == 1);
            var configuratorResult = method.MakeGenericMethod(type).Invoke(configurator, [name])!;
            var withDescription = configuratorResult.GetType().GetMethod("WithDescription")!;
            withDescription.Invoke(configuratorResult, [attr.Description]);
            var withExample = configuratorResult.GetType().GetMethod("WithExample")!;
            foreach (var example in attr.Examples)
                withExample.Invoke(configuratorResult, [example.Split(' ', StringSplitOptions.RemoveEmptyEntries)]);
        }
    }
}
