namespace Deft.Clip.Tokenization;

/// <summary>
/// Learns BPE merges from word counts the classic way (Sennrich et al.): repeatedly merge the most frequent
/// adjacent pair of symbols. Words are byte-level strings whose last symbol carries <c>&lt;/w&gt;</c>, exactly the
/// form CLIP's tokenizer merges, so the learned rules plug into the same encoder.
/// </summary>
internal static class BpeTrainer
{
    /// <summary>
    /// Merges in rank order. Stops when <paramref name="maxNewTokens"/> distinct tokens have been created, when no
    /// pair occurs <paramref name="minPairFrequency"/> times, or when every word is a single symbol. Ties go to the
    /// ordinally smallest pair so that the same corpus always yields the same vocabulary.
    /// </summary>
    public static List<(string First, string Second)> LearnMerges(IReadOnlyDictionary<string, int> wordCounts, int maxNewTokens, int minPairFrequency)
    {
        var symbols = new List<string>();
        var symbolIds = new Dictionary<string, int>(StringComparer.Ordinal);
        int SymbolId(string s)
        {
            if (symbolIds.TryGetValue(s, out var id)) return id;
            symbols.Add(s);
            return symbolIds[s] = symbols.Count - 1;
        }

        // Sorted so the word order (and with it nothing else, but cheaply so) does not depend on the dictionary's.
        var words = new List<List<int>>();
        var frequencies = new List<long>();
        foreach (var (word, count) in wordCounts.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            var parts = new List<int>(word.Length);
            for (var i = 0; i < word.Length; i++)
                parts.Add(SymbolId(i == word.Length - 1 ? word[i] + BpeVocabularyFiles.EndOfWord : word[i].ToString()));
            words.Add(parts);
            frequencies.Add(count);
        }

        var pairCounts = new Dictionary<long, long>();
        var pairWords = new Dictionary<long, HashSet<int>>();
        var queue = new PriorityQueue<long, (long Count, string First, string Second)>(new MostFrequentFirst());
        var touched = new HashSet<long>();

        void AddWordPairs(int w, int sign)
        {
            var parts = words[w];
            for (var i = 0; i + 1 < parts.Count; i++)
            {
                var key = Key(parts[i], parts[i + 1]);
                pairCounts[key] = pairCounts.GetValueOrDefault(key) + sign * frequencies[w];
                if (sign > 0)
                {
                    if (!pairWords.TryGetValue(key, out var set)) pairWords[key] = set = [];
                    set.Add(w);
                    touched.Add(key);
                }
            }
        }

        void Enqueue(long key)
        {
            var count = pairCounts.GetValueOrDefault(key);
            if (count > 0) queue.Enqueue(key, (count, symbols[(int)(key >> 32)], symbols[(int)key]));
        }

        for (var w = 0; w < words.Count; w++) AddWordPairs(w, +1);
        foreach (var key in touched) Enqueue(key);

        var merges = new List<(string, string)>();
        var created = new HashSet<string>(StringComparer.Ordinal);
        while (created.Count < maxNewTokens && queue.TryDequeue(out var best, out var priority))
        {
            var current = pairCounts.GetValueOrDefault(best);
            if (current != priority.Count)
            {
                Enqueue(best); // stale entry: the count dropped since it was queued
                continue;
            }
            if (current < minPairFrequency) break;

            var first = (int)(best >> 32);
            var second = (int)best;
            var merged = SymbolId(symbols[first] + symbols[second]);
            merges.Add((symbols[first], symbols[second]));
            created.Add(symbols[merged]);

            touched.Clear();
            foreach (var w in pairWords[best].ToArray())
            {
                var parts = words[w];
                if (!ContainsPair(parts, first, second)) continue;
                AddWordPairs(w, -1);
                var write = 0;
                for (var read = 0; read < parts.Count;)
                {
                    if (read + 1 < parts.Count && parts[read] == first && parts[read + 1] == second)
                    {
                        parts[write++] = merged;
                        read += 2;
                    }
                    else parts[write++] = parts[read++];
                }
                parts.RemoveRange(write, parts.Count - write);
                AddWordPairs(w, +1);
            }
            foreach (var key in touched) Enqueue(key);
        }
        return merges;
    }

    private static long Key(int first, int second) => ((long)first << 32) | (uint)second;

    private static bool ContainsPair(List<int> parts, int first, int second)
    {
        for (var i = 0; i + 1 < parts.Count; i++)
            if (parts[i] == first && parts[i + 1] == second) return true;
        return false;
    }

    private sealed class MostFrequentFirst : IComparer<(long Count, string First, string Second)>
    {
        public int Compare((long Count, string First, string Second) x, (long Count, string First, string Second) y)
        {
            var byCount = y.Count.CompareTo(x.Count);
            if (byCount != 0) return byCount;
            var byFirst = string.CompareOrdinal(x.First, y.First);
            return byFirst != 0 ? byFirst : string.CompareOrdinal(x.Second, y.Second);
        }
    }
}
