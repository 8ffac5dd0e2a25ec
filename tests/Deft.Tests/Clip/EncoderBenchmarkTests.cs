using Deft.Clip;
using static TorchSharp.torch;

namespace Deft.Tests.Clip;

public sealed class EncoderBenchmarkTests
{
    [Fact]
    public void Benchmark_reports_consistent_figures_and_the_bf16_cosine()
    {
        var result = EncoderBenchmark.Run(new EncoderBenchmarkOptions
        {
            Model = "random:tiny", DType = ScalarType.BFloat16, Batch = 3, Seconds = 0.05, WarmupBatches = 1,
        });
        Assert.Equal("bf16", result.DType);
        Assert.Equal(3, result.Batch);
        Assert.True(result.Batches >= 1);
        Assert.Equal(result.Batches * 3 / result.Seconds, result.ImagesPerSecond, 6);
        Assert.NotNull(result.MinCosineVsFloat32);
        Assert.InRange(result.MinCosineVsFloat32!.Value, 0.999, 1.000001);
    }

    [Theory]
    [InlineData("fp32", ScalarType.Float32)]
    [InlineData("BF16", ScalarType.BFloat16)]
    [InlineData("bfloat16", ScalarType.BFloat16)]
    public void Dtype_names_parse(string name, ScalarType expected) => Assert.Equal(expected, EncoderBenchmark.ParseDType(name));

    [Fact]
    public void Unknown_dtype_lists_valid_names()
    {
        var ex = Assert.Throws<DeftException>(() => EncoderBenchmark.ParseDType("int8"));
        Assert.Contains("fp32, bf16", ex.Message);
    }
}
