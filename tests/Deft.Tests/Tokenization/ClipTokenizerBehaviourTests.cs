using Deft.Clip.Tokenization;

namespace Deft.Tests.Tokenization;

/// <summary>Text clean-up, splitting, decoding, truncation and the end-token position.</summary>
public class ClipTokenizerBehaviourTests
{
    private static ClipTokenizer Clip => TokenizerFixtures.FromGz;

    /// <summary>
    /// Edge cases beyond the shared fixture, with ids from a Python transcription of OpenAI's simple_tokenizer.py
    /// (regex module, html.unescape, str.lower; no ftfy) run on bpe_simple_vocab_16e6.txt.gz.
    /// </summary>
    public static TheoryData<string, int[]> PythonReferenceCases() => new()
    {
        // Python's lower(): final sigma and the dotted capital I's full mapping (i + combining dot).
        { "ΟΔΟΣ ΣΑ Σ", [138, 123, 138, 112, 138, 123, 139, 480, 139, 225, 138, 365, 139, 481] },
        { "İstanbul", [328, 16384, 11231] },
        // The case-insensitive "'s" also matches the long s (ſ folds to s).
        { "it'ſ ok", [585, 6, 129, 379, 2481] },
        // Letters outside the BMP are \p{L}: one word, not surrogate punctuation.
        { "𝐀𝐁𝐂 bold", [15889, 222, 15889, 223, 15889, 480, 8911] },
        // HTML5 names (with and without ';', longest prefix), numeric references and their WHATWG fix-ups.
        { "a&hellip;b &amp x &notit; &#128; &#x1F600; &#0; &#xD800; &#99999999999; &#1;x &#x; &",
          [320, 959, 321, 261, 343, 126, 361, 585, 282, 6309, 7334, 39802, 39802, 39802, 343, 5, 258, 343, 282, 261] },
        // Unescaped twice.
        { "&amp;lt;b&amp;gt;", [283, 321, 285] },
        // Python's whitespace includes U+001C and the Unicode spaces.
        { "a\u001cb\u3000c\u00a0d\u2028e", [320, 321, 322, 323, 324] },
        { "😀😃 ok!!'s", [12832, 8520, 2481, 1443, 262, 338] },
        // Punctuation runs swallow the '<' of a special token.
        { "x!!<|endoftext|>", [343, 1443, 27, 347, 40786, 4160, 91, 285] },
        { "don't WE'LL I'M they'RE you've he'd", [847, 713, 649, 1342, 328, 880, 889, 982, 592, 1200, 797, 1896] },
        { "ǅemal", [131, 228, 908, 566] },
        { "٣ ½ Ⅻ", [149, 352, 33613, 158, 227, 375] },
    };

    [Theory]
    [MemberData(nameof(PythonReferenceCases))]
    public void Edge_cases_match_the_python_reference(string text, int[] expected)
    {
        Assert.Equal(expected, Clip.Encode(text));
        Assert.Equal(expected, TokenizerFixtures.FromHf.Encode(text));
    }

    [Fact]
    public void Html_entities_are_unescaped()
    {
        Assert.Equal(Clip.Encode("salt & pepper"), Clip.Encode("salt &amp; pepper"));
        Assert.Equal(Clip.Encode("<b>"), Clip.Encode("&amp;lt;b&amp;gt;"));
        Assert.NotEqual(Clip.Encode("&"), Clip.Encode("amp"));
    }

    [Fact]
    public void Whitespace_runs_collapse_and_ends_are_stripped()
    {
        var expected = Clip.Encode("a photo of a dog");
        Assert.Equal(expected, Clip.Encode("  a\tphoto \n\n of   a\r\ndog \u00a0"));
        Assert.Equal(expected, Clip.Encode("a\u2003photo\u3000of a dog"));
    }

    [Fact]
    public void Case_is_folded()
    {
        Assert.Equal(Clip.Encode("a photo of a cat"), Clip.Encode("A PHOTO Of a CaT"));
        Assert.Equal(Clip.Encode("über straße"), Clip.Encode("ÜBER STRAßE"));
    }

    [Fact]
    public void Unicode_letters_stay_one_word_and_numbers_split_per_digit()
    {
        // A word's inner characters carry no </w>, so a letter run encodes differently from its letters apart.
        Assert.NotEqual(Clip.Encode("中").Concat(Clip.Encode("文")), Clip.Encode("中文"));
        Assert.NotEqual(Clip.Encode("é").Concat(Clip.Encode("t")).Concat(Clip.Encode("é")), Clip.Encode("été"));
        // Every digit, ASCII or not, is a word of its own.
        Assert.Equal(Clip.Encode("1 2 3"), Clip.Encode("123"));
        Assert.Equal(Clip.Encode("１").Concat(Clip.Encode("２")), Clip.Encode("１２"));
    }

    [Fact]
    public void Special_tokens_in_text_map_to_their_ids()
    {
        Assert.Equal([Clip.SotToken, 3306, Clip.EotToken], Clip.Encode("<|startoftext|>hello<|endoftext|>"));
        Assert.Equal([Clip.EotToken], Clip.Encode("<|ENDOFTEXT|>"));
    }

    [Fact]
    public void Decode_joins_words_with_spaces_as_openai_does()
    {
        Assert.Equal("a photo of a cat . ", Clip.Decode(Clip.Encode("a photo of a cat.")));
        Assert.Equal("café 😀 ", Clip.Decode(Clip.Encode("Café 😀")));
        Assert.Equal("<|startoftext|>a <|endoftext|>!!!", Clip.Decode([Clip.SotToken, 320, Clip.EotToken, 0, 0, 0]));
        Assert.Throws<ArgumentOutOfRangeException>(() => Clip.Decode([Clip.VocabSize]));
    }

    [Fact]
    public void Encoding_twice_gives_the_same_ids()
    {
        var text = "a blurry photo of a cat, a photo of a cat";
        var first = Clip.Encode(text);
        first[0] = -1; // the result is the caller's to change; the cache must not share it
        Assert.Equal(Clip.Encode(text)[1..], first[1..]);
        Assert.Equal(320, Clip.Encode(text)[0]);
    }

    [Fact]
    public void Too_long_text_names_the_text_its_token_count_and_the_limit()
    {
        var text = "the quick brown fox jumps over the lazy dog " + string.Concat(Enumerable.Repeat("again ", 80));
        var tokens = Clip.Encode(text).Length + 2;
        var error = Assert.Throws<DeftException>(() => Clip.TokenizeToArray(["fine", text]));
        Assert.Contains(text[..60], error.Message);
        Assert.DoesNotContain(text[..61], error.Message);
        Assert.Contains($"{tokens} tokens", error.Message);
        Assert.Contains("77", error.Message);
        Assert.Contains("#1", error.Message);
    }

    [Fact]
    public void Truncation_keeps_the_first_tokens_and_ends_with_eot()
    {
        var text = string.Join(' ', Enumerable.Range(0, 40).Select(i => $"w{i}"));
        var ids = Clip.Encode(text);
        Assert.True(ids.Length > 20);
        var row = TokenizerFixtures.Row(Clip.TokenizeToArray([text], contextLength: 16, truncate: true), 0);
        Assert.Equal(16, row.Length);
        Assert.Equal(Clip.SotToken, row[0]);
        Assert.Equal(ids[..14].Select(i => (long)i), row[1..15]);
        Assert.Equal(Clip.EotToken, row[15]);

        // Exactly full: no truncation needed, EOT in the last slot.
        var exact = TokenizerFixtures.Row(Clip.TokenizeToArray(["a photo of a cat."], contextLength: 8), 0);
        Assert.Equal([49406L, 320, 1125, 539, 320, 2368, 269, 49407], exact);
        Assert.Throws<DeftException>(() => Clip.TokenizeToArray(["a photo of a cat."], contextLength: 7));
        Assert.Throws<ArgumentOutOfRangeException>(() => Clip.TokenizeToArray(["a"], contextLength: 1));
    }

    [Fact]
    public void Eot_index_is_one_past_the_last_word()
    {
        string[] texts = ["a photo of a cat.", "", "aquarium fish", string.Concat(Enumerable.Repeat("word ", 100))];
        var tokens = Clip.TokenizeToArray(texts, truncate: true);
        int[] expected = [Clip.Encode(texts[0]).Length + 1, 1, 3, 76];
        Assert.Equal(expected, ClipTokenizer.EotIndices(tokens));
        Assert.Equal(expected[2], ClipTokenizer.EotIndex(TokenizerFixtures.Row(tokens, 2)));
        using var tensor = Clip.TokenizeToTensor(texts, truncate: true);
        using var argmax = tensor.argmax(-1);
        Assert.Equal(expected.Select(i => (long)i), argmax.data<long>().ToArray());
    }

    [Fact]
    public void Empty_text_is_start_and_end_only()
    {
        Assert.Empty(Clip.Encode("   "));
        Assert.Equal([49406L, 49407, 0], TokenizerFixtures.Row(Clip.TokenizeToArray([""], contextLength: 3), 0));
    }
}
