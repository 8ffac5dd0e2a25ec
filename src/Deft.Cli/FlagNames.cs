namespace Deft.Cli;

/// <summary>
/// The CLI's name for each library <see cref="Setting"/>: the library names settings by their domain names, and only
/// the CLI knows its flags. <see cref="CliEntry"/> renders a <see cref="DeftException"/> with these.
/// </summary>
internal static class FlagNames
{
    public static IReadOnlyDictionary<Setting, string> BySetting { get; } = new Dictionary<Setting, string>
    {
        [Setting.Model] = "--model",
        [Setting.Vocabulary] = "--vocab",
        [Setting.Data] = "--data",
        [Setting.Format] = "--format",
        [Setting.Split] = "--split",
        [Setting.ClassesFile] = "--classes",
        [Setting.ClassCount] = "--classes",
        [Setting.Labels] = "--labels",
        [Setting.OutputDirectory] = "--out",
        [Setting.Resume] = "--resume",
        [Setting.Force] = "--force",
        [Setting.Method] = "--method",
        [Setting.NoiseRate] = "--noise-rate",
        [Setting.Folds] = "--folds",
        [Setting.Variant] = "--variant",
        [Setting.Epochs] = "--epochs",
        [Setting.BatchSize] = "--batch",
        [Setting.LearningRate] = "--lr",
        [Setting.WeightDecay] = "--weight-decay",
        [Setting.Momentum] = "--momentum",
        [Setting.Limit] = "--limit",
        [Setting.Resolution] = "--resolution",
        [Setting.Selection] = "--selection",
        [Setting.Peft] = "--peft",
        [Setting.HeadInit] = "--head-init",
        [Setting.HeadOnlyEpochs] = "--head-epochs",
        [Setting.TowerLearningRateScale] = "--tower-lr-scale",
        [Setting.HoldoutFraction] = "--holdout",
        [Setting.WiseFt] = "--wise-ft",
        [Setting.Recipe] = "--recipe",
        [Setting.UnselectedSamples] = "--unselected",
        [Setting.PseudoLabelThreshold] = "--pseudo-threshold",
        [Setting.PseudoLabelWeight] = "--pseudo-weight",
        [Setting.LabelSmoothing] = "--label-smoothing",
        [Setting.Loss] = "--loss",
        [Setting.LearningRateRule] = "--lr-rule",
        [Setting.Backbone] = "--backbone",
        [Setting.Augment] = "--augment",
        [Setting.Steps] = "--steps",
        [Setting.FilterBy] = "--filter-by",
        [Setting.NumToRemove] = "--num-to-remove",
        [Setting.FracNoise] = "--frac-noise",
        [Setting.FlagAgreeing] = "--flag-agreeing",
        [Setting.Warmup] = "--warmup",
        [Setting.Seed] = "--seed",
        [Setting.Threads] = "--threads",
        [Setting.Precision] = "--dtype",
        [Setting.Shard] = "--shard",
        [Setting.Device] = "--device",
        [Setting.Partial] = "--partial",
        [Setting.VptLength] = "--vpt-len",
        [Setting.LoraRank] = "--lora-rank",
        [Setting.AdapterDim] = "--adapter-dim",
        [Setting.ContextLength] = "--n-ctx",
        [Setting.OnBadImage] = "--on-bad-image",
        [Setting.FeatureIssues] = "--data-issues",
        [Setting.DuplicateThreshold] = "--duplicate-threshold",
        [Setting.MaxImagePixels] = CliEntry.MaxImagePixelsFlag,
        [Setting.LabelsFile] = "--labels-file",
        [Setting.ImagesPerSecond] = "--images-per-second",
        [Setting.DataRoot] = "--root",
        [Setting.SubsampleSize] = "--size",
        [Setting.BenchmarkSeconds] = "--seconds",
        [Setting.ListRecipes] = "--list",
        [Setting.TestData] = "--test",
        [Setting.GmmRefit] = "--gmm-refit",
        [Setting.Classifier] = "--classifier",
        [Setting.Fp16Trainables] = "--fp16-trainables",
    };

    /// <summary>The flag of <paramref name="setting"/>; its domain name if the CLI has none.</summary>
    public static string Of(Setting setting) => BySetting.TryGetValue(setting, out var flag) ? flag : setting.Name;

    /// <summary>The message of <paramref name="error"/> as the CLI shows it: settings as flags.</summary>
    public static string Render(Exception error) => error is DeftException d ? d.Render(Of) : error.Message;
}
