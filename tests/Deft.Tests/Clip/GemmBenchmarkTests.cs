using Deft.Clip;
using TorchSharp;

namespace Deft.Tests.Clip;

public sealed class GemmBenchmarkTests
{
    [Fact]
    public void VitB16ForwardIsAbout17Point6GigaMultiplyAdds()
    {
        // By hand: 196 patches · 768 inputs · 768 outputs = 115.6 M; per block 197 · 12 · 768² + 2 · 197² · 768 = 1453.95 M,
        // times 12 blocks = 17447.5 M; the 768 → 512 projection 0.39 M. Total 17563.5 M (fvcore reports 17.58 G).
        Assert.Equal(17_563_453_440, ClipConfig.ViTB16.Vision.MultiplyAddsPerImage(512), 0);
        // ViT-B/32: 49 patches, 50 tokens.
        var b32 = 49.0 * 3072 * 768 + 12 * (50.0 * 12 * 768 * 768 + 2 * 50.0 * 50 * 768) + 768 * 512;
        Assert.Equal(b32, ClipConfig.ViTB32.Vision.MultiplyAddsPerImage(512), 0);
    }

    [Fact]
    public void ReportsEachDTypeWithACeilingConsistentWithItsSpeed()
    {
        var result = GemmBenchmark.Run("tiny", batch: 2, secondsPerDType: 0.05, dtypes: [torch.ScalarType.Float32, torch.ScalarType.BFloat16]);
        Assert.Equal(["fp32", "bf16"], result.Rows.Select(r => r.DType));
        var tiny = ClipConfig.Tiny.Vision;
        Assert.Equal((2L * tiny.SequenceLength, 128L, 512L), (result.M, result.K, result.N));
        foreach (var row in result.Rows)
        {
            Assert.True(row.GigaflopsPerSecond > 0);
            Assert.Equal(2.0 * result.M * result.K * result.N / (row.MillisecondsPerProduct / 1000) / 1e9, row.GigaflopsPerSecond, 6);
            Assert.Equal(row.GigaflopsPerSecond / result.GigaflopsPerImage, row.ImagesPerSecondCeiling, 6);
        }
    }
}
