using Deft.Data.Transforms;
using Deft.Peft;

namespace Deft.Adaptation;

/// <summary>
/// Phase-2 settings. Null hyper-parameters take the backbone's defaults from the official code
/// (<see cref="Hyperparameters.For"/>).
/// </summary>
public sealed record AdaptOptions
{
    /// <summary>Model spec: random:&lt;preset&gt;[@seed], a CLIP directory, or a .safetensors/.pth state dict.</summary>
    public required string Model { get; init; }

    public BackboneKind Backbone { get; init; } = BackboneKind.Auto;

    /// <summary>Where the run's files go (run.json, checkpoint.safetensors, model.safetensors, adapt_config.json, result.json).</summary>
    public required string OutputDirectory { get; init; }

    /// <summary>The detector's samples.csv; null or "all": train on every sample with the data set's labels.</summary>
    public string? SelectionPath { get; init; }

    /// <summary>
    /// With <see cref="TrainsOnAll"/>: a label file (<c>index,label[,true_label]</c>, as <c>deft noise</c> writes) giving
    /// the samples that take part and their noisy labels; null: the data set's own labels.
    /// </summary>
    public string? LabelsPath { get; init; }

    public int Epochs { get; init; } = 10;

    /// <summary>
    /// Cosine annealing over the epochs (main_phase2.py), or the learning rate held constant: main_real_phase2.py never
    /// steps its scheduler, and the real-noise rows of <c>reproduce</c> use that.
    /// </summary>
    public bool ConstantLearningRate { get; init; }
    public int BatchSize { get; init; } = 64;
    public OptimizerKind? Optimizer { get; init; }
    public double? LearningRate { get; init; }
    public double? WeightDecay { get; init; }
    public double? Momentum { get; init; }

    public RobustLossKind Loss { get; init; } = RobustLossKind.CE;
    public RobustLossOptions LossOptions { get; init; } = new();

    /// <summary>Label smoothing ε of the cross-entropy (target (1 − ε) · onehot + ε / K); 0: none. CE only.</summary>
    public double LabelSmoothing { get; init; }

    /// <summary>
    /// What the samples the detector flagged do: <see cref="UnselectedSamples.Drop"/> (the paper), or
    /// <see cref="UnselectedSamples.PseudoLabel"/>: those with a confident suggested label train with it
    /// (<see cref="PseudoLabelOptions"/>). Needs a selection file.
    /// </summary>
    public UnselectedSamples Unselected { get; init; } = UnselectedSamples.Drop;

    /// <summary>The confidence bar and weight of <see cref="UnselectedSamples.PseudoLabel"/>.</summary>
    public PseudoLabelOptions PseudoLabels { get; init; } = new();

    /// <summary>How the learning rate and epochs follow from width, batch and data size (<see cref="ScaledSchedule"/>); CLIP only.</summary>
    public LearningRateRule LearningRateRule { get; init; } = LearningRateRule.Fixed;

    /// <summary>
    /// CLIP only: how the linear head starts; null: <see cref="HeadInit.Text"/> (the zero-shot classifier) for CLIP,
    /// except under <see cref="AdaptRecipe.Official"/>, which starts from the official code's random head.
    /// </summary>
    public HeadInit? HeadInit { get; init; }

    /// <summary>How the tower and the head are trained (<c>--recipe</c>); null: <see cref="AdaptRecipes.Default"/> for CLIP, official for the others.</summary>
    public AdaptRecipe? Recipe { get; init; }

    /// <summary>Overrides the recipe's tower learning-rate factor (tower lr = lr · factor; 0 freezes the tower).</summary>
    public double? TowerLearningRateScale { get; init; }

    /// <summary>Overrides the recipe's head-only epochs (the tower is frozen for the first N epochs).</summary>
    public int? HeadOnlyEpochs { get; init; }

    /// <summary>
    /// Holds out this fraction of the selected training samples (stratified by given label, seeded by <see cref="Seed"/>)
    /// as a validation part: they never train, and their accuracy against their given labels is measured before
    /// epoch 1 and after every epoch. Null: none. It is the part model choices (<see cref="WiseFt"/>'s α, a recipe)
    /// are made on, so the test set is only ever reported.
    /// </summary>
    public double? HoldoutFraction { get; init; }

    /// <summary>WiSE-FT: saves the fine-tuned weights mixed with the zero-shot ones (needs the text head); null: off.</summary>
    public WiseFtOptions? WiseFt { get; init; }

    /// <summary>Prompt templates for <see cref="HeadInit.Text"/> ("{}" is the class name).</summary>
    public IReadOnlyList<string> HeadTemplates { get; init; } = ["a photo of a {}."];

    /// <summary>CLIP vocabulary for <see cref="HeadInit.Text"/> (a .txt.gz merges file or a Hugging Face directory); null: the model's own, else the default.</summary>
    public string? Vocabulary { get; init; }

    /// <summary>CLIP only: null or <see cref="PeftKind.Full"/> is full fine-tuning of the transformer blocks.</summary>
    public PeftOptions? Peft { get; init; }

    /// <summary>
    /// Training augmentation; null: <see cref="AugmentSpec.ForImageSize"/> of the first training image (<c>cifar</c>, the
    /// official recipe, at 32 px; <c>none</c> below; <c>clip</c> above).
    /// </summary>
    public AugmentSpec? Augment { get; init; }

    /// <summary>Image normalisation; null: the backbone's own (CLIP's statistics for CLIP, ImageNet's for ResNet and ViT files).</summary>
    public Normalization? Normalization { get; init; }

    /// <summary>Input resolution; null: the model's (CLIP and ViT), 224 for ResNet files, the preset's for random ResNets.</summary>
    public int? Resolution { get; init; }

    /// <summary>Seeds the head, the PEFT modules, the shuffle and the augmentations.</summary>
    public long Seed { get; init; }

    /// <summary>Train on the first N samples of the training set only (quick runs).</summary>
    public int? Limit { get; init; }

    public bool Resume { get; init; }
    public bool Force { get; init; }

    /// <summary>Decoding threads; null: one per core.</summary>
    public int? Workers { get; init; }

    /// <summary>Free-text provenance of the training and test data (paths, format, split) for run.json.</summary>
    public string? TrainDescription { get; init; }
    public string? TestDescription { get; init; }

    public bool TrainsOnAll => SelectionPath is null || string.Equals(SelectionPath, "all", StringComparison.OrdinalIgnoreCase);
}

/// <summary>The optimizer settings a run uses.</summary>
public sealed record Hyperparameters(OptimizerKind Optimizer, double LearningRate, double Momentum, double WeightDecay)
{
    /// <summary>
    /// The official phase-2 settings: CLIP SGD lr 5e-4, momentum 0.9, weight decay 5e-4; ResNet-50 AdamW lr 1e-3,
    /// weight decay 1e-5; ViT-B/16 SGD lr 1e-2 (no momentum), weight decay 1e-5; ConvNeXt-T AdamW lr 1e-4, weight
    /// decay 1e-4; MAE ViT-B/16 AdamW lr 1e-4, weight decay 1e-3. Options override each value.
    /// </summary>
    public static Hyperparameters For(BackboneKind kind, AdaptOptions options)
    {
        var defaults = kind switch
        {
            BackboneKind.Clip => new Hyperparameters(OptimizerKind.Sgd, 5e-4, 0.9, 5e-4),
            BackboneKind.ResNet => new Hyperparameters(OptimizerKind.AdamW, 1e-3, 0, 1e-5),
            BackboneKind.Vit => new Hyperparameters(OptimizerKind.Sgd, 1e-2, 0, 1e-5),
            BackboneKind.ConvNext => new Hyperparameters(OptimizerKind.AdamW, 1e-4, 0, 1e-4),
            BackboneKind.Mae => new Hyperparameters(OptimizerKind.AdamW, 1e-4, 0, 1e-3),
            _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Resolve the backbone first."),
        };
        return new Hyperparameters(options.Optimizer ?? defaults.Optimizer, options.LearningRate ?? defaults.LearningRate,
            options.Momentum ?? defaults.Momentum, options.WeightDecay ?? defaults.WeightDecay);
    }
}

/// <summary>Progress of one training or evaluation step.</summary>
public sealed record AdaptProgress(string Phase, int Epoch, int Epochs, int Step, int Steps, double Loss, double LearningRate);

/// <summary>One epoch of phase 2.</summary>
/// <param name="TrainLoss">Mean loss over the selected samples of the epoch (NaN when no batch had one).</param>
/// <param name="TrainAccuracy">Accuracy on the selected samples against their given labels, in training mode.</param>
/// <param name="TestAccuracy">Top-1 on the test set after the epoch; null without a test set.</param>
/// <param name="SkippedBatches">Batches without a selected sample (no step taken).</param>
/// <param name="ValidationAccuracy">Accuracy on the held-out selected samples against their given labels; null without a held-out part.</param>
public sealed record EpochRecord(int Epoch, double TrainLoss, double TrainAccuracy, double? TestAccuracy, double LearningRate,
    int Steps, int SkippedBatches, int TrainedImages, double TrainSeconds, double TestSeconds, double? ValidationAccuracy = null);

/// <summary>What phase 2 did. The headline is the last epoch's test accuracy; the best epoch is for comparison with the paper's scripts.</summary>
public sealed record AdaptResult(
    string OutputDirectory,
    BackboneKind Backbone,
    IReadOnlyList<EpochRecord> Epochs,
    double? LastTestAccuracy,
    double? BestTestAccuracy,
    int? BestEpoch,
    TimeSpan Elapsed,
    int TrainSamples,
    int SelectedSamples,
    int TestSamples,
    // Images through forward and backward per second of training time (evaluation excluded).
    double TrainImagesPerSecond,
    Hyperparameters Hyperparameters,
    IReadOnlyList<string> Warnings,
    IReadOnlyList<string> Notes,
    // The last epoch a resumed run found in its checkpoint (0: started fresh).
    int ResumedAfterEpoch,
    // The resolved recipe, head initialisation and augmentation.
    AdaptRecipe Recipe,
    HeadInit HeadInit,
    string Augment,
    // Test accuracy of the starting model (before epoch 1) when the head is text-initialised: the zero-shot accuracy.
    double? StartTestAccuracy,
    // Selected samples held out for validation (0: none) and the starting model's accuracy on them.
    int HoldoutSamples = 0,
    double? StartValidationAccuracy = null,
    // WiSE-FT's coefficient and the mixed model's accuracies; null when off.
    WiseFtResult? WiseFt = null,
    // Flagged samples that trained with their suggested label (included in SelectedSamples); 0: none.
    int PseudoLabelledSamples = 0,
    // The epochs run (the given ones unless the scaled rule raised them) and the tower's learning rate.
    int? EpochsRun = null,
    double? TowerLearningRate = null)
{
    /// <summary>Test accuracy of the saved model: WiSE-FT's mixed model when on, else the last epoch's.</summary>
    public double? ModelTestAccuracy => WiseFt is { } w ? w.TestAccuracy : LastTestAccuracy;
}
