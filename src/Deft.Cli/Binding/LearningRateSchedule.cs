namespace Deft.Cli.Binding;

/// <summary>--schedule: the learning rate over the epochs (the library takes it as ConstantLearningRate).</summary>
public enum LearningRateSchedule
{
    /// <summary>Cosine annealing stepped once per epoch (main_phase2.py).</summary>
    Cosine,
    /// <summary>The initial learning rate throughout (main_real_phase2.py never steps its scheduler).</summary>
    Constant,
}
