namespace Deft.Adaptation;

/// <summary>How phase 2's learning rate and epoch count follow from the data size, the batch and the model width.</summary>
public enum LearningRateRule
{
    /// <summary>The learning rate and epochs as given (the official code's constants).</summary>
    Fixed,
    /// <summary>
    /// <see cref="ScaledSchedule"/>: the official CLIP ViT-B/16 settings carried to another width, batch and data size.
    /// </summary>
    Scaled,
}

/// <summary>
/// What <see cref="LearningRateRule.Scaled"/> gives for one run.
/// </summary>
/// <param name="Epochs">The given epochs, raised so that the run takes at least <see cref="ScaledSchedule.MinSteps"/> optimizer steps (at most <see cref="ScaledSchedule.MaxEpochs"/>).</param>
/// <param name="LearningRate">The head's learning rate: the given one times batch / <see cref="ScaledSchedule.ReferenceBatch"/>.</param>
/// <param name="TowerWidthFactor">The extra factor on the tower's learning rate: <see cref="ScaledSchedule.ReferenceWidth"/> / width.</param>
/// <param name="StepsPerEpoch">⌈training samples / batch⌉.</param>
public sealed record ScaledSchedule(int Epochs, double LearningRate, double TowerWidthFactor, int StepsPerEpoch)
{
    /// <summary>The image-tower width the official CLIP phase-2 settings (SGD lr 5e-4, batch 64, 10 epochs) were set for: ViT-B/16's 768.</summary>
    public const int ReferenceWidth = 768;

    /// <summary>The official phase-2 batch size.</summary>
    public const int ReferenceBatch = 64;

    /// <summary>
    /// The fewest optimizer steps a run takes. The official CIFAR-100 run takes ~4,700 (30k kept samples, batch 64,
    /// 10 epochs); 500 lets the zero-shot-initialised head settle on a small data set (a 1,000-image set at batch 64
    /// gets 32 epochs instead of 10) and leaves every set of 3,200+ images at its given epochs.
    /// </summary>
    public const int MinSteps = 500;

    /// <summary>The most epochs the step floor may raise a run to.</summary>
    public const int MaxEpochs = 100;

    /// <summary>
    /// The rule. lr ∝ batch (Goyal et al. 2017's linear scaling: SGD's movement per epoch stays the same when the batch
    /// changes the number of steps). Tower lr ∝ 1/width: under the standard parameterisation a pre-activation sums
    /// `width` inputs whose weights all move by lr · input in one SGD step, so its change per step grows with the
    /// width; lr · width fixed keeps the features' change per step what the official settings give ViT-B/16 (the
    /// maximal stable SGD step scales the same way, Yang &amp; Hu 2021). The head is scale-free (zero-shot logits)
    /// and keeps the given lr. Epochs: enough for <see cref="MinSteps"/> steps. At the reference point (width 768,
    /// batch 64, 3,200+ samples) it returns the given settings unchanged.
    /// </summary>
    public static ScaledSchedule For(int epochs, double learningRate, int batchSize, int trainSamples, int width)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(epochs, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(trainSamples, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        var steps = (trainSamples + batchSize - 1) / batchSize;
        var needed = (MinSteps + steps - 1) / steps;
        var scaledEpochs = Math.Max(epochs, Math.Min(needed, MaxEpochs));
        return new ScaledSchedule(scaledEpochs, learningRate * batchSize / ReferenceBatch, (double)ReferenceWidth / width, steps);
    }
}
