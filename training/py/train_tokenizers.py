"""Trains the two tokenizers on the training split's text: a WordPiece vocabulary for hBERT and
byte-level BPE merges for hGPT. Writes plain lists (vocab.txt-style and merges.txt-style); the
Node step turns them into tokenizer.json with the project's own writer, and every later step
tokenizes with @huggingface/tokenizers, exactly as the runtime does.

Both use the same merge learner: count adjacent symbol pairs over the word-frequency table,
merge the most frequent (ties to the smaller pair, so runs are deterministic), and update only
the words that contain the merged pair.

usage: train_tokenizers.py WORK_DIR BERT_VOCAB GPT_VOCAB
"""
import collections
import heapq
import json
import re
import sys
import unicodedata


def learn_merges(word_counts, num_merges, join):
    """word_counts: {tuple(symbols): count}. Returns [(a, b)] merges in order."""
    words = [list(w) for w in word_counts]
    counts = list(word_counts.values())
    pairs = collections.Counter()
    where = collections.defaultdict(set)
    for i, w in enumerate(words):
        for a, b in zip(w, w[1:]):
            pairs[(a, b)] += counts[i]
            where[(a, b)].add(i)
    # Lazy max-heap of (-count, pair): stale entries are skipped when popped.
    heap = [(-c, p) for p, c in pairs.items()]
    heapq.heapify(heap)
    touched = set()
    merges = []
    while len(merges) < num_merges and heap:
        negc, (a, b) = heapq.heappop(heap)
        if pairs.get((a, b), 0) != -negc:
            continue
        if -negc < 2:
            break
        merges.append((a, b))
        merged = join(a, b)
        for i in list(where[(a, b)]):
            w = words[i]
            n = counts[i]
            for x, y in zip(w, w[1:]):
                pairs[(x, y)] -= n
                if pairs[(x, y)] <= 0:
                    del pairs[(x, y)]
                where[(x, y)].discard(i)
                touched.add((x, y))
            out = []
            k = 0
            while k < len(w):
                if k + 1 < len(w) and w[k] == a and w[k + 1] == b:
                    out.append(merged)
                    k += 2
                else:
                    out.append(w[k])
                    k += 1
            words[i] = out
            for x, y in zip(out, out[1:]):
                pairs[(x, y)] += n
                where[(x, y)].add(i)
                touched.add((x, y))
        where.pop((a, b), None)
        for p in touched:
            if p in pairs:
                heapq.heappush(heap, (-pairs[p], p))
        touched.clear()
    return merges


def bert_normalize(text):
    text = unicodedata.normalize('NFD', text.lower())
    return ''.join(ch for ch in text if unicodedata.category(ch) != 'Mn')


BERT_SPLIT = re.compile(r'[^\W_]+|[^\w\s]|_', re.UNICODE)


def wordpiece_vocab(texts, size):
    words = collections.Counter()
    for t in texts:
        words.update(BERT_SPLIT.findall(bert_normalize(t)))
    chars = collections.Counter()
    for w, c in words.items():
        chars[w[0]] += c
        for ch in w[1:]:
            chars['##' + ch] += c
    specials = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']
    # Characters seen at least 20 times; rarer ones become [UNK] rather than crowd the vocabulary.
    alphabet = sorted(s for s, c in chars.items() if c >= 20)
    keep = set(alphabet)
    table = collections.Counter()
    for w, c in words.items():
        symbols = tuple([w[0]] + ['##' + ch for ch in w[1:]])
        if all(s in keep for s in symbols):
            table[symbols] += c
    merges = learn_merges(table, size - len(specials) - len(alphabet), lambda a, b: a + b[2:] if b.startswith('##') else a + b)
    vocab = specials + alphabet
    seen = set(vocab)
    for a, b in merges:
        t = a + (b[2:] if b.startswith('##') else b)
        if t not in seen:
            seen.add(t)
            vocab.append(t)
    return vocab


def bytes_to_unicode():
    bs = list(range(0x21, 0x7F)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


GPT2_SPLIT = re.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?[^\W\d_]+| ?\d+| ?(?:[^\s\w]|_)+|\s+(?!\S)|\s+""", re.UNICODE)


def bpe_merges(texts, size):
    sym = bytes_to_unicode()
    table = collections.Counter()
    for t in texts:
        for piece in GPT2_SPLIT.findall(t):
            table[tuple(sym[b] for b in piece.encode('utf-8'))] += 1
    # 256 byte symbols + merges + <|endoftext|>
    return learn_merges(table, size - 257, lambda a, b: a + b)


def main():
    work, bert_size, gpt_size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    with open(f'{work}/tokenizer-corpus.json', encoding='utf-8') as f:
        texts = json.load(f)
    vocab = wordpiece_vocab(texts, bert_size)
    with open(f'{work}/wordpiece-vocab.txt', 'w', encoding='utf-8') as f:
        f.write('\n'.join(vocab) + '\n')
    merges = bpe_merges(texts, gpt_size)
    with open(f'{work}/bpe-merges.txt', 'w', encoding='utf-8') as f:
        f.write('\n'.join(f'{a} {b}' for a, b in merges) + '\n')
    print(f'wordpiece {len(vocab)} tokens, bpe {len(merges)} merges', flush=True)


if __name__ == '__main__':
    main()
