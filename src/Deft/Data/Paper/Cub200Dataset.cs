using System.Text.RegularExpressions;

namespace Deft.Data.Paper;

/// <summary>
/// CUB-200-2011 as distributed (<c>CUB_200_2011/</c>): <c>images.txt</c> (<c>id relative/path.jpg</c>, relative to
/// <c>images/</c>), <c>image_class_labels.txt</c> (<c>id class</c>, classes from 1), <c>train_test_split.txt</c>
/// (<c>id 1</c> for training, <c>id 0</c> for test) and <c>classes.txt</c> (<c>class 001.Black_footed_Albatross</c>,
/// named "black footed albatross"). Samples follow <c>images.txt</c>. The path may be the folder itself or its parent.
/// </summary>
internal static partial class Cub200Dataset
{
    internal const string FormatName = "cub200";

    [GeneratedRegex(@"^\d+\.")]
    private static partial Regex NumberPrefix();

    /// <summary>"001.Black_footed_Albatross" → "black footed albatross".</summary>
    internal static string ClassName(string folderName) =>
        string.Join(' ', NumberPrefix().Replace(folderName, "").Split('_', StringSplitOptions.RemoveEmptyEntries)).ToLowerInvariant();

    internal static IImageDataset Open(string path, string split)
    {
        var root = File.Exists(Path.Combine(path, "images.txt")) || !Directory.Exists(Path.Combine(path, "CUB_200_2011"))
            ? path : Path.Combine(path, "CUB_200_2011");
        var imagesFile = ListFiles.RequireFile(root, FormatName, "the image list", "images.txt");
        var labelsFile = ListFiles.RequireFile(root, FormatName, "the image labels", "image_class_labels.txt");
        var splitFile = ListFiles.RequireFile(root, FormatName, "the train/test split", "train_test_split.txt");
        var classesFile = ListFiles.RequireFile(root, FormatName, "the class names", "classes.txt");

        var classIds = new List<int>();
        var folderNames = new List<string>();
        foreach (var line in ListFiles.ReadLines(classesFile))
        {
            ListFiles.ExpectFields(classesFile, line, 2, "class id, class folder name");
            var id = ListFiles.ParseInt(classesFile, line, line.Fields[0], "class id", 1, int.MaxValue);
            if (id != classIds.Count + 1)
                throw new DeftException($"{classesFile} line {line.Number}: class id {id} out of sequence (expected {classIds.Count + 1}). Restore the file.");
            classIds.Add(id);
            folderNames.Add(line.Fields[1]);
        }
        if (classIds.Count == 0) throw new DeftException($"{classesFile} lists no classes. Restore the file.");
        var classes = ListFiles.Disambiguate([.. folderNames.Select(ClassName)], folderNames);

        var labels = ReadIdMap(labelsFile, "class id", 1, classIds.Count);
        var isTrain = ReadIdMap(splitFile, "split flag (1 = train, 0 = test)", 0, 1);
        var wantTrain = split == "train" ? 1 : 0;

        var builder = new FileListDataset.Builder();
        var seen = new HashSet<int>();
        foreach (var line in ListFiles.ReadLines(imagesFile))
        {
            ListFiles.ExpectFields(imagesFile, line, 2, "image id, relative path");
            var id = ListFiles.ParseInt(imagesFile, line, line.Fields[0], "image id", 1, int.MaxValue);
            if (!seen.Add(id)) throw new DeftException($"{imagesFile} line {line.Number}: image id {id} repeats. Restore the file.");
            if (!labels.TryGetValue(id, out var label))
                throw new DeftException($"{imagesFile} line {line.Number}: image id {id} has no line in {labelsFile}. Restore the files from one archive.");
            if (!isTrain.TryGetValue(id, out var train))
                throw new DeftException($"{imagesFile} line {line.Number}: image id {id} has no line in {splitFile}. Restore the files from one archive.");
            if (train != wantTrain) continue;
            var image = Path.Combine(root, "images", line.Fields[1]);
            if (!File.Exists(image))
                throw new DeftException($"{imagesFile} line {line.Number}: image {image} not found. Restore the images/ folder from the archive.");
            builder.Add(image, label - 1, null, imagesFile, line.Number);
        }
        return builder.Build(classes, FormatName, $"{splitFile} marks no image as {split} ({wantTrain}).");
    }

    private static Dictionary<int, int> ReadIdMap(string file, string what, int min, int max)
    {
        var map = new Dictionary<int, int>();
        foreach (var line in ListFiles.ReadLines(file))
        {
            ListFiles.ExpectFields(file, line, 2, $"image id, {what}");
            var id = ListFiles.ParseInt(file, line, line.Fields[0], "image id", 1, int.MaxValue);
            var value = ListFiles.ParseInt(file, line, line.Fields[1], what, min, max);
            if (!map.TryAdd(id, value)) throw new DeftException($"{file} line {line.Number}: image id {id} repeats. Restore the file.");
        }
        return map;
    }
}
