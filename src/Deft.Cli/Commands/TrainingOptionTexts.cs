namespace Deft.Cli.Commands;

/// <summary>
/// The one description of each training and batching option that several commands declare (--epochs, --batch, --lr,
/// --seed). The declarations stay per command, as --split's do (<see cref="DataSettings"/>): their defaults and types
/// differ by command (detect trains 10 epochs at lr 0.03, pretrain 5 at 5e-4), and Spectre reports an overriding
/// property as a second option. A command whose option means something else (reproduce's smoke-run --epochs) keeps
/// its own text.
/// </summary>
internal static class TrainingOptionTexts
{
    public const string Epochs = "Training epochs (passes over the training samples).";
    public const string Batch = "Training samples per optimizer step.";
    public const string InferenceBatch = "Images per forward pass (memory against speed; results do not depend on it).";
    public const string LearningRate = "Peak learning rate of the schedule.";
    public const string Seed = "Random seed (initialisation, shuffling, augmentation): the same seed gives the same run.";
}
