using Deft.Metrics;

namespace Deft.Tests.Metrics;

public class ClassificationMetricsTests
{
    [Fact]
    public void Accuracy_by_hand()
    {
        Assert.Equal(0.6, ClassificationMetrics.Accuracy([0, 1, 2, 2, 1], [0, 1, 1, 2, 0]), 15);
        Assert.True(double.IsNaN(ClassificationMetrics.Accuracy([], [])));
        Assert.Throws<ArgumentException>(() => ClassificationMetrics.Accuracy([0], [0, 1]));
    }

    [Fact]
    public void Top_k_accuracy_by_hand_with_ties_in_the_sample_s_favour()
    {
        float[] scores =
        [
            0.1f, 0.5f, 0.5f, 0.2f, // truth 2: ties the best → top-1 correct
            0.4f, 0.3f, 0.2f, 0.1f, // truth 3: three higher → needs k = 4
            0.1f, 0.2f, 0.3f, 0.4f, // truth 2: one higher → top-2
        ];
        int[] truth = [2, 3, 2];
        Assert.Equal(1.0 / 3, ClassificationMetrics.TopKAccuracy(scores, 4, truth, 1), 15);
        Assert.Equal(2.0 / 3, ClassificationMetrics.TopKAccuracy(scores, 4, truth, 2), 15);
        Assert.Equal(2.0 / 3, ClassificationMetrics.TopKAccuracy(scores, 4, truth, 3), 15);
        Assert.Equal(1.0, ClassificationMetrics.TopKAccuracy(scores, 4, truth, 4), 15);
        Assert.Throws<ArgumentException>(() => ClassificationMetrics.TopKAccuracy(scores, 5, truth, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => ClassificationMetrics.TopKAccuracy(scores, 4, truth, 0));
    }

    [Fact]
    public void Confusion_matrix_by_hand()
    {
        int[] truth = [0, 0, 0, 1, 1, 2];
        int[] predicted = [0, 1, 1, 1, 0, 1];
        var m = ClassificationMetrics.Confusion(truth, predicted, 3);
        Assert.Equal([1L, 2, 0], m.Counts[0]);
        Assert.Equal([1L, 1, 0], m.Counts[1]);
        Assert.Equal([0L, 1, 0], m.Counts[2]);
        Assert.Equal(6, m.Total);
        Assert.Equal(2.0 / 6, m.Accuracy, 15);
        var t = m.RowNormalized();
        Assert.Equal([1.0 / 3, 2.0 / 3, 0], t[0]);
        Assert.Equal([0.5, 0.5, 0], t[1]);
        Assert.Equal([0.0, 1.0, 0], t[2]);

        var empty = ClassificationMetrics.Confusion([0, 0], [0, 1], 3);
        Assert.Equal([0.0, 0, 0], empty.RowNormalized()[2]); // a class without samples keeps a zero row
        Assert.Throws<ArgumentOutOfRangeException>(() => ClassificationMetrics.Confusion([0, 3], [0, 1], 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => ClassificationMetrics.Confusion([0, 1], [0, -1], 3));
    }

    [Fact]
    public void Transition_matrix_is_given_label_distribution_per_true_class()
    {
        int[] truth = [0, 0, 0, 0, 1, 1];
        int[] given = [0, 0, 0, 1, 0, 1];
        var t = ClassificationMetrics.TransitionMatrix(truth, given, 2);
        Assert.Equal([0.75, 0.25], t[0]);
        Assert.Equal([0.5, 0.5], t[1]);
    }
}
