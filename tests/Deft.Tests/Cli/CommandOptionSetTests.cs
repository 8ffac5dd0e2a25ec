using System.Text.RegularExpressions;
using Deft.Cli;

namespace Deft.Tests.Cli;

/// <summary>
/// The options (and their defaults) each command's help lists, pinned against the lists recorded from the CLI
/// before its settings were regrouped into shared classes: composing settings must neither drop an option nor
/// change a user-visible default (e.g. --split is train for detect but test for zero-shot).
/// </summary>
public class CommandOptionSetTests
{
    /// <summary>
    /// Recorded from `deft COMMAND --help` at fb5bf36: "--flag &lt;VALUE&gt;=default", sorted. Changes since:
    /// subsample's --classes &lt;VALUE&gt; reads --classes &lt;FILE&gt;, the shared option's value name (same meaning);
    /// detect and run no longer list --device (hidden: they compute on the CPU in every build; #17).
    /// </summary>
    private static readonly Dictionary<string, string[]> Recorded = new(StringComparer.Ordinal)
    {
        ["adapt"] = ["--adapter-dim <N>=8", "--augment <PRESET>=auto", "--backbone <KIND>=auto", "--batch <N>=64", "--classes <FILE>", "--data <PATH>", "--epochs <N>=10", "--force", "--format <FORMAT>", "--head-epochs <N>", "--head-init <INIT>=auto", "--help", "--holdout <FRAC>", "--json", "--label-smoothing <EPS>=0", "--labels <FILE>", "--limit <N>", "--lora-rank <N>=8", "--loss <LOSS>=ce", "--lr <LR>", "--lr-rule <RULE>=fixed", "--mean <R,G,B>", "--model <SPEC>", "--momentum <M>", "--on-bad-image <POLICY>=skip", "--optimizer <NAME>", "--out <DIR>", "--partial <K>", "--peft <KINDS>", "--pseudo-threshold <P>=0.8", "--pseudo-weight <W>=1", "--recipe <NAME>", "--resolution <PX>", "--resume", "--schedule <SCHEDULE>=cosine", "--seed <N>=0", "--selection <FILE>", "--split <SPLIT>=train", "--std <R,G,B>", "--templates <TEXT>", "--test <PATH>", "--test-split <SPLIT>=test", "--threads <N>", "--tower-lr-scale <F>", "--unselected <USE>=drop", "--vocab <PATH>", "--vpt-len <N>=20", "--weight-decay <WD>", "--wise-ft <ALPHA>", "--workers <N>"],
        ["bench detect-step"] = ["--batch <N>=8", "--classes <N>=10", "--dtype <DTYPE>=fp32", "--features <N>=40000", "--full-text", "--help", "--json", "--lora-rank <R>=8", "--model <SPEC>=random:ViT-B-16", "--n-ctx <N>=16", "--partial <K>", "--peft <METHOD>=vpt-deep", "--steps <N>=3", "--threads <N>", "--vocab <FILE>", "--vpt-len <N>=20"],
        ["bench encoder"] = ["--batch=8", "--dtype=fp32", "--help", "--json", "--model=random:ViT-B-16", "--no-cosine", "--seconds=20", "--threads", "--warmup=2"],
        ["bench gemm"] = ["--batch=8", "--help", "--json", "--preset=ViT-B-16", "--seconds=3", "--threads"],
        ["bench mini"] = ["--adapt <LIST>", "--cache-dir <DIR>", "--data <DIR>", "--epochs <N>=5", "--help", "--methods <LIST>", "--no-adapt", "--out <FILE>=docs/results/mini.md", "--resume", "--samples <N>", "--seeds <LIST>=0", "--settings <LIST>", "--threads <N>=1", "--work <DIR>=runs/bench-mini"],
        ["bench pretrain"] = ["--batch=256", "--help", "--json", "--steps=10", "--threads", "--vocab-size=1024"],
        ["cache merge"] = ["--cache-dir <DIR>", "--help", "--json", "--keep-shards"],
        ["compare"] = ["--help", "--json", "--out <FILE>"],
        ["data info"] = ["--classes <FILE>", "--data <PATH>", "--format <FORMAT>", "--help", "--json", "--on-bad-image <POLICY>=skip", "--split <SPLIT>=train"],
        ["demo"] = ["--cache-dir <DIR>", "--data <DIR>", "--epochs <N>=5", "--help", "--noise <SETTING>=sym-0.4", "--out <DIR>=runs/demo", "--samples <N>=10000", "--seed <N>=0"],
        ["detect"] = ["--adapter-dim <D>=8", "--augment <PRESET>", "--batch <N>=64", "--cache-dir <DIR>", "--class-token-position <POS>=end", "--classes <FILE>", "--classifier <WHICH>=prompts", "--csc", "--ctx-init <WORDS>", "--data <PATH>", "--data-issues <WHICH>=all", "--dtype <DTYPE>=auto", "--duplicate-threshold <COS>=0.98", "--epochs <N>=10", "--filter-by <RULE>=method", "--flag-agreeing", "--folds <K>=5", "--force", "--format <FORMAT>", "--fp16-trainables", "--frac-noise <F>=1", "--gmm-refit", "--help", "--json", "--labels <FILE>", "--lora-rank <R>=8", "--lr <LR>=0.03", "--mean <R,G,B>", "--method <METHOD>=clip-posterior", "--model <SPEC>", "--n-ctx <N>=16", "--noise-rate <R>", "--num-to-remove <N>", "--on-bad-image <POLICY>=skip", "--out <DIR>", "--partial <K>", "--peft <METHOD>=vpt-deep", "--resume", "--seed <N>=0", "--selection <WHICH>=last-epoch", "--shard <I/N>", "--split <SPLIT>=train", "--std <R,G,B>", "--templates <T>", "--test <PATH>", "--test-split <SPLIT>=test", "--threads <N>", "--variant <WHICH>=synthetic", "--vocab <FILE>", "--vpt-len <N>=20", "--warmup <N>=1"],
        ["doctor"] = ["--fix", "--help", "--json"],
        ["embed"] = ["--batch <N>=32", "--data <PATH>", "--device <DEVICE>=cpu", "--dtype <DTYPE>=auto", "--format <FORMAT>", "--help", "--keep-shards", "--limit <N>", "--mean <R,G,B>", "--merge-shards", "--model <SPEC>", "--on-bad-image <POLICY>=skip", "--out <FILE>", "--shard <I/N>", "--split <SPLIT>=train", "--std <R,G,B>", "--synthetic <N>", "--texts <FILE>", "--vocab <FILE>"],
        ["noise"] = ["--data <PATH>", "--format <FORMAT>", "--help", "--json", "--labels-file <FILE>", "--mode <MODE>", "--on-bad-image <POLICY>=skip", "--out <FILE>", "--ratio <R>", "--seed <SEED>=1", "--split <SPLIT>=train"],
        ["predict"] = ["--batch <N>=64", "--classes <FILE>", "--data <PATH>", "--format <FORMAT>", "--help", "--json", "--model-dir <DIR>", "--on-bad-image <POLICY>=skip", "--out <FILE>=predictions.csv", "--split <SPLIT>=test", "--workers <N>"],
        ["pretrain"] = ["--batch <N>=256", "--data <PATH>", "--epochs <N>=5", "--help", "--json", "--limit <N>", "--lr <LR>=0.0005", "--mini", "--out <DIR>", "--seed <N>=0", "--threads <N>", "--warmup <FRACTION>=0.1", "--weight-decay <WD>=0.1"],
        ["reproduce"] = ["--dry-run", "--epochs <N>", "--help", "--images-per-second <X>=1.1", "--json", "--list", "--measure", "--model <MODEL>=MODEL", "--out <DIR>=runs", "--root <PATH>", "--seed <N>=0"],
        ["run"] = ["--adapt-batch <N>=64", "--adapt-epochs <N>=10", "--adapt-lr <LR>", "--adapter-dim <D>=8", "--augment <PRESET>", "--batch <N>=64", "--cache-dir <DIR>", "--class-token-position <POS>=end", "--classes <FILE>", "--classifier <WHICH>=prompts", "--csc", "--ctx-init <WORDS>", "--data <PATH>", "--data-issues <WHICH>=all", "--dtype <DTYPE>=auto", "--duplicate-threshold <COS>=0.98", "--epochs <N>=10", "--filter-by <RULE>=method", "--flag-agreeing", "--folds <K>=5", "--force", "--format <FORMAT>", "--fp16-trainables", "--frac-noise <F>=1", "--gmm-refit", "--head-init <INIT>=auto", "--help", "--json", "--labels <FILE>", "--lora-rank <R>=8", "--lr <LR>=0.03", "--mean <R,G,B>", "--method <METHOD>=clip-posterior", "--model <SPEC>", "--n-ctx <N>=16", "--noise-rate <R>", "--num-to-remove <N>", "--on-bad-image <POLICY>=skip", "--out <DIR>", "--partial <K>", "--peft <METHOD>=vpt-deep", "--resume", "--seed <N>=0", "--selection <WHICH>=last-epoch", "--shard <I/N>", "--split <SPLIT>=train", "--std <R,G,B>", "--templates <T>", "--test <PATH>", "--test-split <SPLIT>=test", "--threads <N>", "--variant <WHICH>=synthetic", "--vocab <FILE>", "--vpt-len <N>=20", "--warmup <N>=1"],
        ["score"] = ["--batch <N>=64", "--classes <FILE>", "--data <PATH>", "--filter-by <RULE>=method", "--flag-agreeing", "--format <FORMAT>", "--frac-noise <F>=1", "--help", "--json", "--labels <FILE>", "--model <SPEC>", "--num-to-remove <N>", "--on-bad-image <POLICY>=skip", "--out <DIR>", "--run <DIR>", "--split <SPLIT>=train", "--vocab <FILE>"],
        ["subsample"] = ["--classes <FILE>", "--data <PATH>", "--format <FORMAT>", "--help", "--on-bad-image <POLICY>=skip", "--out <FILE>", "--seed <SEED>=0", "--size <N>", "--split <SPLIT>=train"],
        ["zero-shot"] = ["--batch <N>=64", "--classes <FILE>", "--data <PATH>", "--device <DEVICE>=cpu", "--dtype <DTYPE>=auto", "--format <FORMAT>", "--help", "--json", "--limit <N>", "--mean <R,G,B>", "--model <SPEC>", "--on-bad-image <POLICY>=skip", "--split <SPLIT>=test", "--std <R,G,B>", "--templates <T>", "--vocab <FILE>"],
    };

    public static IEnumerable<object[]> Commands() => CommandRegistry.Commands.Entries.Select(e => new object[] { e.Path });

    /// <summary>"--flag &lt;VALUE&gt;" (and "=default" where the DEFAULT column has one) for every option of a help page.</summary>
    internal static List<string> ListedOptions(string help)
    {
        // Spectre prints defaults in bold even without colours: the escapes are not part of the text.
        var lines = Regex.Replace(help, @"\x1b\[[0-9;]*m", "").Split('\n');
        var start = Array.FindIndex(lines, l => l.StartsWith("OPTIONS:", StringComparison.Ordinal));
        Assert.True(start >= 0, "no OPTIONS section");
        int? defaultColumn = null;
        var options = new List<string>();
        foreach (var line in lines.Skip(start + 1))
        {
            if (line.Trim().StartsWith("DEFAULT", StringComparison.Ordinal)) { defaultColumn = line.IndexOf("DEFAULT", StringComparison.Ordinal); continue; }
            var m = Regex.Match(line, @"^(?:    -\w, |        )(--[a-z0-9-]+(?: <[^>]+>| \[[^\]]+\])?)");
            if (!m.Success) continue;
            var value = "";
            if (defaultColumn is { } c && line.Length > c && line[c - 1] == ' ' && line[c] != ' ')
                value = Regex.Split(line[c..], @"\s{2,}")[0].Trim();
            options.Add(m.Groups[1].Value + (value.Length > 0 ? "=" + value : ""));
        }
        return options;
    }

    [Theory]
    [MemberData(nameof(Commands))]
    public void A_command_lists_the_options_and_defaults_it_listed_before_the_shared_settings(string path)
    {
        var (code, help) = CliConsole.Run([.. path.Split(' '), "--help"]);
        Assert.Equal(0, code);
        Assert.True(Recorded.TryGetValue(path, out var expected), $"no recorded option list for '{path}'");
        Assert.Equal(expected, ListedOptions(help).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Every_registered_command_has_a_recorded_option_list()
    {
        Assert.Equal(Recorded.Keys.Order(StringComparer.Ordinal), CommandRegistry.Commands.Entries.Select(e => e.Path).Order(StringComparer.Ordinal));
    }
}
