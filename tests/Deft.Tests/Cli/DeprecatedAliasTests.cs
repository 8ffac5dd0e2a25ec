using Deft.Cli;
using Deft.Cli.Commands;

namespace Deft.Tests.Cli;

/// <summary>One name per concept: --cache-dir, --templates and $DEFT_CACHE_DIR; the old names still work and warn.</summary>
public class DeprecatedAliasTests
{
    private static (string[] Args, List<string> Warnings) Apply(params string[] args)
    {
        var warnings = new List<string>();
        var result = CliEntry.ApplyDeprecatedAliases(args, warnings.Add);
        return (result, warnings.Where(w => !w.Contains("DEFT_CACHE", StringComparison.Ordinal)).ToList());
    }

    [Fact]
    public void Old_option_names_become_the_new_ones_with_one_warning_each()
    {
        var (args, warnings) = Apply("adapt", "--template", "a {}.", "--template=the {}.", "--cache", "c", "--out", "o");
        Assert.Equal(["adapt", "--templates", "a {}.", "--templates=the {}.", "--cache-dir", "c", "--out", "o"], args);
        Assert.Equal(["--template is deprecated; use --templates.", "--cache is deprecated; use --cache-dir."], warnings);
    }

    [Fact]
    public void Embed_takes_its_data_set_as_data_like_every_other_command()
    {
        var (args, warnings) = Apply("embed", "--images", "d", "--format", "idx", "--out", "f.npy");
        Assert.Equal(["embed", "--data", "d", "--format", "idx", "--out", "f.npy"], args);
        Assert.Equal(["--images is deprecated; use --data."], warnings);
        Assert.Equal(["reproduce", "--images-per-second", "3"], Apply("reproduce", "--images-per-second", "3").Args);
    }

    [Fact]
    public void Current_names_values_and_words_after_the_separator_are_left_alone()
    {
        var (args, warnings) = Apply("detect", "--templates", "--template-file", "--cache-dir", "d", "--", "--cache");
        Assert.Equal(["detect", "--templates", "--template-file", "--cache-dir", "d", "--", "--cache"], args);
        Assert.Empty(warnings);
    }

    [Fact]
    public void The_old_names_bind_the_options_the_new_ones_do()
    {
        string[] Line(string templates, string a, string b) =>
            CliEntry.ApplyDeprecatedAliases(["adapt", "--model", "random:tiny", "--data", "d", "--format", "idx", "--out", "o", templates, a, templates, b], _ => { });
        var old = KebabCaseEnumConverterTests.Parse<AdaptCommand.Settings>(Line("--template", "a {}.", "the {}."));
        var current = KebabCaseEnumConverterTests.Parse<AdaptCommand.Settings>(Line("--templates", "a {}.", "the {}."));
        Assert.Equal(["a {}.", "the {}."], old.Templates!);
        Assert.Equal(current.Templates, old.Templates);
        Assert.Equal(["a {}.", "the {}."], AdaptCommand.BuildOptions(old).HeadTemplates);

        var demo = KebabCaseEnumConverterTests.Parse<DemoCommand.Settings>(CliEntry.ApplyDeprecatedAliases(["demo", "--cache", "/tmp/c"], _ => { }));
        Assert.Equal("/tmp/c", demo.Cache);
        var mini = KebabCaseEnumConverterTests.Parse<BenchMiniCommand.Settings>(CliEntry.ApplyDeprecatedAliases(["bench", "mini", "--cache=/tmp/m"], _ => { }));
        Assert.Equal("/tmp/m", mini.Cache);
    }

    [Fact]
    public void Help_shows_only_the_current_names()
    {
        var (_, adapt) = CliConsole.Run("adapt", "--help");
        Assert.Contains("--templates <TEXT>", adapt);
        Assert.DoesNotContain("--template ", adapt);
        foreach (var command in new[] { new[] { "demo" }, ["bench", "mini"] })
        {
            var (_, help) = CliConsole.Run([.. command, "--help"]);
            Assert.Contains("--cache-dir <DIR>", help);
            Assert.DoesNotContain("--cache <", help);
        }
    }

    [Fact]
    public void Both_caches_read_DEFT_CACHE_DIR_then_the_deprecated_DEFT_CACHE()
    {
        using var dir = new TempDir();
        var current = Path.Combine(dir.Path, "current");
        var old = Path.Combine(dir.Path, "old");
        WithVariables(current, null, () =>
        {
            Assert.Equal(current, KnownLocations.CacheDirectory(KnownLocations.DeprecatedCacheVariable, "fallback"));
            Assert.Equal(current, KnownLocations.CacheDirectory(KnownLocations.CacheVariable, "fallback"));
        });
        WithVariables(null, old, () =>
        {
            Assert.Equal(old, KnownLocations.CacheDirectory(KnownLocations.CacheVariable, "fallback"));
            var warnings = new List<string>();
            CliEntry.ApplyDeprecatedAliases(["doctor"], warnings.Add);
            Assert.Equal(["DEFT_CACHE is deprecated; set DEFT_CACHE_DIR instead."], warnings);
        });
        WithVariables(current, old, () => Assert.Equal(current, KnownLocations.CacheDirectory(KnownLocations.DeprecatedCacheVariable, "fallback")));
        WithVariables(null, null, () => Assert.Equal("fallback", KnownLocations.CacheDirectory(KnownLocations.CacheVariable, "fallback")));
    }

    private static readonly Lock EnvironmentLock = new();

    private static void WithVariables(string? cacheDir, string? cache, Action body)
    {
        lock (EnvironmentLock)
        {
            var saved = (Environment.GetEnvironmentVariable(KnownLocations.CacheVariable), Environment.GetEnvironmentVariable(KnownLocations.DeprecatedCacheVariable));
            try
            {
                Environment.SetEnvironmentVariable(KnownLocations.CacheVariable, cacheDir);
                Environment.SetEnvironmentVariable(KnownLocations.DeprecatedCacheVariable, cache);
                body();
            }
            finally
            {
                Environment.SetEnvironmentVariable(KnownLocations.CacheVariable, saved.Item1);
                Environment.SetEnvironmentVariable(KnownLocations.DeprecatedCacheVariable, saved.Item2);
            }
        }
    }
}
