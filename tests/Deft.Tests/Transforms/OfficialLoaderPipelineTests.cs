using Deft.Data.Transforms;
using Deft.Recipes;
using Deft.Tests.Recipes;

namespace Deft.Tests.Transforms;

/// <summary>
/// The official DeFT loaders outside CIFAR (HotanLee/DeFT dataloader_{cub,stanford_cars,tiny_imagenet,webvision,
/// clothing1M}.py), step by step as torchvision runs them, and the recipes that use them.
/// </summary>
public class OfficialLoaderPipelineTests
{
    [Fact]
    public void Cub_cars_and_tiny_imagenet_resize_to_a_square_then_crop_and_test_on_a_square_resize()
    {
        // transforms.Resize((256, 256), Image.BILINEAR), RandomCrop((224, 224)), RandomHorizontalFlip(); test Resize((224, 224)).
        Assert.Equal<ImageStep>([new ResizeTo(256, 256, ResampleFilter.Bilinear), new RandomCropWithPadding(224, 0), new RandomHorizontalFlip()],
            ImagePipeline.ForTraining(AugmentPreset.OfficialSquare, 224).Steps);
        Assert.Equal<ImageStep>([new ResizeTo(224, 224, ResampleFilter.Bilinear)], ImagePipeline.EvalFor(AugmentPreset.OfficialSquare, 224).Steps);
    }

    [Fact]
    public void WebVision_trains_as_cub_and_tests_on_a_center_crop_of_the_square_resize()
    {
        // test: Resize((256, 256), Image.BILINEAR), CenterCrop((224, 224)).
        Assert.Equal(ImagePipeline.ForTraining(AugmentPreset.OfficialSquare, 224).Steps, ImagePipeline.ForTraining(AugmentPreset.OfficialCenter, 224).Steps);
        Assert.Equal<ImageStep>([new ResizeTo(256, 256, ResampleFilter.Bilinear), new CenterCrop(224, 224)],
            ImagePipeline.EvalFor(AugmentPreset.OfficialCenter, 224).Steps);
    }

    [Fact]
    public void Clothing1M_resizes_the_shorter_side()
    {
        // Resize(256), RandomCrop(224), flip; test Resize(256), CenterCrop(224) (torchvision's default: bilinear).
        Assert.Equal<ImageStep>([new ResizeShorterSide(256, ResampleFilter.Bilinear), new RandomCropWithPadding(224, 0), new RandomHorizontalFlip()],
            ImagePipeline.ForTraining(AugmentPreset.OfficialShortSide, 224).Steps);
        Assert.Equal<ImageStep>([new ResizeShorterSide(256, ResampleFilter.Bilinear), new CenterCrop(224, 224)],
            ImagePipeline.EvalFor(AugmentPreset.OfficialShortSide, 224).Steps);
    }

    [Fact]
    public void Other_presets_keep_clips_evaluation_transform_and_every_pipeline_makes_the_model_resolution()
    {
        foreach (var preset in new[] { AugmentPreset.None, AugmentPreset.Cifar, AugmentPreset.Clip })
            Assert.Equal(ImagePipeline.Eval(224).Steps, ImagePipeline.EvalFor(preset, 224).Steps);
        var image = TestImages.Noise(300, 180, 4);
        foreach (var preset in Enum.GetValues<AugmentPreset>().Where(p => p.IsOfficialLoader()))
        {
            Assert.Equal(3 * 224 * 224, ImagePipeline.ForTraining(preset, 224).Apply(image, new SampleKey(1, 0, 3)).Length);
            Assert.Equal(3 * 224 * 224, ImagePipeline.EvalFor(preset, 224).Apply(image).Length);
            // At another resolution the resize keeps the official 256:224 ratio, so the crop always fits.
            Assert.Equal(3 * 336 * 336, ImagePipeline.ForTraining(preset, 336).Apply(image, new SampleKey(1, 0, 3)).Length);
        }
    }

    [Fact]
    public void Names_parse_both_ways_and_phase_two_uses_the_same_pipelines()
    {
        foreach (var preset in Enum.GetValues<AugmentPreset>())
        {
            Assert.Equal(preset, ImagePipeline.ParsePreset(preset.ToName()));
            AugmentSpec spec = preset;
            Assert.Equal(ImagePipeline.EvalFor(preset, 224).Steps, spec.Eval(224).Steps);
            if (preset.IsOfficialLoader())
                Assert.Equal(ImagePipeline.ForTraining(preset, 224).Steps, AugmentSpec.Parse(preset.ToName()).Build(500, 224).Steps);
        }
        Assert.Contains("official-short-side", Assert.Throws<DeftException>(() => ImagePipeline.ParsePreset("official")).Message);
    }

    [Theory]
    [InlineData("cub200-sym-0.2", "official-square", 0.485f)]
    [InlineData("stanford-cars-idn-0.3", "official-square", 0.48145466f)]
    [InlineData("tiny-imagenet-sym-0.4", "official-square", 0.48145466f)]
    [InlineData("webvision", "official-center", 0.485f)]
    [InlineData("clothing1m", "official-short-side", 0.6959f)]
    public void Each_paper_row_runs_its_official_loaders_pipeline_in_both_phases(string recipe, string augment, float meanRed)
    {
        var plan = ReproducePlanner.Plan(RecipeRegistry.Get(recipe), new PlanOptions(null, "m"));
        var detect = Assert.IsType<DetectAction>(plan.Steps.Single(s => s.Kind == StepKind.Detect).Action).Options;
        var adapt = Assert.IsType<AdaptAction>(plan.Steps.Single(s => s.Kind == StepKind.Adapt).Action).Options;
        Assert.Equal(augment, detect.Augment!.Value.ToName());
        Assert.Equal(meanRed, detect.Mean!.Value.R);
        Assert.Equal(augment, adapt.Augment!.Text);
        Assert.Equal(meanRed, adapt.Normalization!.Mean.R);
        Assert.Contains($"--augment {augment}", plan.Steps.Single(s => s.Kind == StepKind.Adapt).Command);
    }

    [Fact]
    public void Cifar_loader_resizes_bilinear_in_both_phases()
    {
        // dataloader_cifar.py: RandomCrop(32, padding=4), Resize(resolution) (bilinear), flip; test Resize(resolution).
        Assert.Equal<ImageStep>([new RandomCropWithPadding(32, 4), new ResizeTo(224, 224, ResampleFilter.Bilinear), new RandomHorizontalFlip()],
            ImagePipeline.ForTraining(AugmentPreset.OfficialCifar, 224).Steps);
        Assert.Equal<ImageStep>([new ResizeTo(224, 224, ResampleFilter.Bilinear)], ImagePipeline.EvalFor(AugmentPreset.OfficialCifar, 224).Steps);
        foreach (var (recipe, meanRed) in new[] { ("cifar100-sym-0.2", 0.507f), ("cifar100n", 0.507f) })
        {
            var plan = ReproducePlanner.Plan(RecipeRegistry.Get(recipe), new PlanOptions(null, "m"));
            var detect = Assert.IsType<DetectAction>(plan.Steps.Single(s => s.Kind == StepKind.Detect).Action).Options;
            var adapt = Assert.IsType<AdaptAction>(plan.Steps.Single(s => s.Kind == StepKind.Adapt).Action).Options;
            // Phase 1's CIFAR branch is the official loader already (same steps); phase 2 names it.
            var (train, eval) = Deft.Methods.DeftDetector.Pipelines("cifar100", detect.ResolveAugment(), 224, Normalization.Clip);
            Assert.Equal(ImagePipeline.ForTraining(AugmentPreset.OfficialCifar, 224).Steps, train.Steps);
            Assert.Equal(ImagePipeline.EvalFor(AugmentPreset.OfficialCifar, 224).Steps, eval.Steps);
            Assert.Equal("official-cifar", adapt.Augment!.Text);
            Assert.Equal(meanRed, adapt.Normalization!.Mean.R);
        }
    }
}
