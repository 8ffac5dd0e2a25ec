namespace Deft.Clip;

public sealed record ClassAccuracy(int Id, string Name, int Samples, double Accuracy);

public sealed record ZeroShotResult(int Samples, double Top1, int K, double TopK, IReadOnlyList<ClassAccuracy> PerClass);

public static class ZeroShotEvaluation
{
    /// <summary>Scores ranked predictions: <paramref name="topIds"/> holds k class ids per sample, best first.</summary>
    public static ZeroShotResult Score(IReadOnlyList<int> labels, IReadOnlyList<long> topIds, int k, IReadOnlyList<string> classNames)
    {
        var n = labels.Count;
        var top1 = 0;
        var topk = 0;
        var perClassN = new int[classNames.Count];
        var perClassHit = new int[classNames.Count];
        for (var i = 0; i < n; i++)
        {
            var y = labels[i];
            perClassN[y]++;
            if (topIds[i * k] == y) { top1++; perClassHit[y]++; }
            for (var j = 0; j < k; j++)
                if (topIds[i * k + j] == y) { topk++; break; }
        }
        var perClass = Enumerable.Range(0, classNames.Count)
            .Select(c => new ClassAccuracy(c, classNames[c], perClassN[c], perClassN[c] == 0 ? double.NaN : (double)perClassHit[c] / perClassN[c]))
            .ToList();
        return new ZeroShotResult(n, n == 0 ? double.NaN : (double)top1 / n, k, n == 0 ? double.NaN : (double)topk / n, perClass);
    }
}
