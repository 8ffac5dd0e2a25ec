using System.ComponentModel;
using Deft.Detection;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Deft.Cli.Commands;

/// <summary><c>deft cache merge</c>: turns every complete set of detect's feature shards into the cache entry an unsharded run writes.</summary>
internal sealed class CacheMergeCommand : Command<CacheMergeCommand.Settings>
{
    internal sealed class Settings : CommandSettings
    {
        [CommandOption("--cache-dir <DIR>")] [Description("The feature cache the shards were written to (default $DEFT_CACHE_DIR or ~/.cache/deft).")]
        public string? CacheDir { get; init; }

        [CommandOption("--keep-shards")] [Description("Keep each set's shard files after its merged entry is written and verified (default: remove them).")]
        public bool KeepShards { get; init; }

        [CommandOption("--json")] [Description("Print one JSON line per shard set.")]
        public bool Json { get; init; }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var cache = settings.CacheDir ?? FeatureCache.DefaultDirectory();
        var results = FeatureShards.MergeIntoCache(cache, settings.KeepShards);
        if (settings.Json)
        {
            foreach (var r in results)
                DetectCommand.JsonLine(new { @event = r.Error is null ? "merged" : "error", folder = r.ShardFolder, entry = r.EntryPath, shards = r.Shards, rows = r.Rows, message = r.Error });
        }
        else if (results.Count == 0)
            AnsiConsole.MarkupLineInterpolated($"Nothing to merge: no shard sets in {Path.Combine(cache, FeatureShards.CacheFolder)}.");
        else
        {
            foreach (var r in results)
            {
                if (r.Error is null)
                    AnsiConsole.MarkupLineInterpolated($"merged {r.Shards} shards ({r.Rows:N0} samples) → {r.EntryPath}{(settings.KeepShards ? $" (shards kept in {r.ShardFolder})" : "")}");
                else
                    AnsiConsole.MarkupLineInterpolated($"[red]error:[/] {r.Error}");
            }
        }
        return results.Any(r => r.Error is not null) ? 1 : 0;
    }
}
