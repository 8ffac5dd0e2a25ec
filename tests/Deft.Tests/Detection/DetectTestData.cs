using System.Globalization;
using System.Text;
using Deft.Clip;
using Deft.Data;
using Deft.Data.Loading;
using Deft.Data.Transforms;
using TorchSharp;
using static TorchSharp.torch;

namespace Deft.Tests.Detection;

/// <summary>Small real inputs for detector tests: Fashion-MNIST samples and the tiny fixture CLIP (32 px).</summary>
internal static class DetectTestData
{
    public static string TinyModel => Fixtures.TinyClip;
    public static string FashionMnist => KnownLocations.FashionMnist()
        ?? throw new InvalidOperationException("Fashion-MNIST not found; apt-get install dataset-fashion-mnist.");

    /// <summary>
    /// A label file over samples first..first+count−1: every <paramref name="flipEvery"/>-th label is moved to the next
    /// class (true label kept in the third column).
    /// </summary>
    /// <summary>Runs detect and cancels it at step 1 of epoch 2, as a kill would: the epoch-1 checkpoint stays.</summary>
    public static void DetectUntilKilledInEpochTwo(Deft.Detection.DetectOptions options)
    {
        using var cts = new CancellationTokenSource();
        var progress = new TestProgress<Deft.Detection.DetectProgress>(p => { if (p.Epoch == 2 && p.Step == 1) cts.Cancel(); });
        Assert.ThrowsAny<OperationCanceledException>(() => Deft.Methods.DeftDetector.Detect(options, progress, null, cts.Token));
    }

    public static string WriteLabelFile(string directory, int count, int first = 0, int flipEvery = 5, bool withTruth = true)
    {
        var data = DatasetFactory.Open(new DatasetOptions(FashionMnist, "idx"));
        var sb = new StringBuilder("index,label,true_label\n");
        for (var i = first; i < first + count; i++)
        {
            var truth = data.GetLabel(i);
            var given = (i - first) % flipEvery == flipEvery - 1 ? (truth + 1) % 10 : truth;
            sb.Append(CultureInfo.InvariantCulture, $"{i},{given},{(withTruth ? truth.ToString(CultureInfo.InvariantCulture) : "")}\n");
        }
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, $"labels-{first}-{count}.csv");
        File.WriteAllText(path, sb.ToString());
        return path;
    }

    /// <summary>The first <paramref name="count"/> Fashion-MNIST training images at 32 px, CLIP-normalised, and their labels.</summary>
    public static (Tensor Images, long[] Labels) Batch(int count)
    {
        var data = DatasetFactory.Open(new DatasetOptions(FashionMnist, "idx"));
        var loader = new BatchLoader(data, Enumerable.Range(0, count).ToArray(), ImagePipeline.Eval(32), new BatchLoaderOptions(count, Shuffle: false, Workers: 1));
        using var batch = loader.ReadEpoch(0).Single();
        return (batch.Images.clone().DetachFromDisposeScope(), batch.Labels.Select(l => (long)l).ToArray());
    }

}

