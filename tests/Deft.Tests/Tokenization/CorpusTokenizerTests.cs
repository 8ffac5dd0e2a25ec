using Deft.Clip.Tokenization;

namespace Deft.Tests.Tokenization;

/// <summary>The small vocabulary learned from captions, and its Hugging Face round trip.</summary>
public sealed class CorpusTokenizerTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("deft-tok-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static readonly string[] Captions =
    [
        "A photo of a T-shirt/top.", "a photo of a trouser", "A PHOTO OF A PULLOVER", "a photo of a dress",
        "a photo of a coat", "a photo of a sandal", "a photo of a shirt", "a photo of a sneaker", "a photo of a bag",
        "a photo of an ankle boot", "a blurry photo of a bag &amp; a coat", "café crème, naïve 😀",
    ];

    // Byte tokens are listed printable-first as in CLIP: 'a' is 64, "a</w>" is 256 + 64.
    private const int B = 256 + 'b' - '!';

    [Fact]
    public void Hand_computed_merges_ids_and_files()
    {
        // cat×2, car×1: (c,a)=3 first, then (ca,t</w>)=2, then (ca,r</w>)=1.
        var tokenizer = ClipTokenizer.BuildFromCorpus(["cat cat car"]);
        Assert.Equal(3, tokenizer.MergeCount);
        Assert.Equal(512 + 3 + 2, tokenizer.VocabSize);
        Assert.Equal((515, 516), (tokenizer.SotToken, tokenizer.EotToken));
        Assert.Equal([513, 514, 512, B], tokenizer.Encode("cat car cab"));

        tokenizer.SaveHuggingFace(_dir);
        Assert.Equal("#version: 0.2\nc a\nca t</w>\nca r</w>\n", File.ReadAllText(Path.Combine(_dir, "merges.txt")));
        var vocab = System.Text.Json.JsonSerializer.Deserialize<Dictionary<string, int>>(File.ReadAllText(Path.Combine(_dir, "vocab.json")))!;
        Assert.Equal(517, vocab.Count);
        Assert.Equal((64, 320, 512, 513, 514, 515, 516),
            (vocab["a"], vocab["a</w>"], vocab["ca"], vocab["cat</w>"], vocab["car</w>"], vocab["<|startoftext|>"], vocab["<|endoftext|>"]));

        var rare = ClipTokenizer.BuildFromCorpus(["cat cat car"], minPairFrequency: 2);
        Assert.Equal(2, rare.MergeCount);
    }

    [Fact]
    public void Corpus_words_become_single_tokens_and_specials_end_the_vocabulary()
    {
        var tokenizer = ClipTokenizer.BuildFromCorpus(Captions);
        Assert.Equal(tokenizer.VocabSize - 2, tokenizer.SotToken);
        Assert.Equal(tokenizer.VocabSize - 1, tokenizer.EotToken);
        foreach (var word in new[] { "photo", "trouser", "pullover", "sneaker", "ankle", "boot", "blurry", "café", "naïve" })
            Assert.Single(tokenizer.Encode(word));
        Assert.Equal(5, tokenizer.Encode("a photo of a sandal").Length);
        Assert.Equal("a photo of a bag & a coat ", tokenizer.Decode(tokenizer.Encode("a  Photo of a bag &amp; a coat")));
    }

    [Fact]
    public void Save_and_load_round_trip()
    {
        var built = ClipTokenizer.BuildFromCorpus(Captions);
        built.SaveHuggingFace(_dir);
        var loaded = ClipTokenizer.FromHuggingFace(_dir);

        Assert.Equal((built.VocabSize, built.SotToken, built.EotToken, built.MergeCount),
            (loaded.VocabSize, loaded.SotToken, loaded.EotToken, loaded.MergeCount));
        string[] unseen = ["a photo of a zebra", "Ünïcödé 中文 𝐀 ok!!'s", "<|startoftext|>photo<|endoftext|>", "12 trousers"];
        foreach (var text in Captions.Concat(unseen))
        {
            Assert.Equal(built.Encode(text), loaded.Encode(text));
            Assert.Equal(built.Decode(built.Encode(text)), loaded.Decode(loaded.Encode(text)));
        }
        Assert.Equal(built.TokenizeToArray(unseen, contextLength: 12, truncate: true), loaded.TokenizeToArray(unseen, contextLength: 12, truncate: true));
        Assert.Equal("ünïcödé 中文 𝐀 ok !!' s ", loaded.Decode(loaded.Encode(unseen[1])));

        var again = Path.Combine(_dir, "again");
        loaded.SaveHuggingFace(again);
        foreach (var file in new[] { "vocab.json", "merges.txt" })
            Assert.Equal(File.ReadAllBytes(Path.Combine(_dir, file)), File.ReadAllBytes(Path.Combine(again, file)));
    }

    [Fact]
    public void The_vocabulary_does_not_depend_on_caption_order_and_respects_the_size_limit()
    {
        var forward = ClipTokenizer.BuildFromCorpus(Captions);
        var backward = ClipTokenizer.BuildFromCorpus(Captions.Reverse());
        forward.SaveHuggingFace(Path.Combine(_dir, "f"));
        backward.SaveHuggingFace(Path.Combine(_dir, "b"));
        Assert.Equal(File.ReadAllText(Path.Combine(_dir, "f", "merges.txt")), File.ReadAllText(Path.Combine(_dir, "b", "merges.txt")));

        var small = ClipTokenizer.BuildFromCorpus(Captions, maxVocabSize: 530);
        Assert.Equal(530, small.VocabSize);
        Assert.Equal("a photo of a trouser ", small.Decode(small.Encode("A photo of a trouser")));
        Assert.True(small.Encode("trouser").Length > 1);

        Assert.Equal(514, ClipTokenizer.BuildFromCorpus([], maxVocabSize: 514).VocabSize);
        Assert.Throws<ArgumentOutOfRangeException>(() => ClipTokenizer.BuildFromCorpus(Captions, maxVocabSize: 513));
        Assert.Throws<ArgumentOutOfRangeException>(() => ClipTokenizer.BuildFromCorpus(Captions, minPairFrequency: 0));
    }
}
