using Deft.Cli.Commands;
using Deft.Recipes;

namespace Deft.Tests.Recipes;

/// <summary>A plan step's command line as <c>deft reproduce</c> prints and records it (<see cref="PlanCommandLine"/>).</summary>
internal static class PlanStepCommandLine
{
    extension(PlanStep step)
    {
        public IReadOnlyList<string> Arguments => PlanCommandLine.Arguments(step.Action);
        public string Command => PlanCommandLine.Of(step);
    }
}
