import { describe, expect, it } from 'vitest';
import { TokenizerError } from '../../src/formats/errors.js';
import { byteLevelBpeTokenizerFromFiles, idsOnlyTokenizer, loadTokenizer, wordPieceTokenizerFromVocab, type HmiTokenizer } from '../../src/formats/tokenizer.js';
import { wordPieceTokenizerFiles } from '../../src/formats/tokenizer-files.js';
import { bertVocab, GPT2_EOS, makeBertTokenizer, makeGpt2Tokenizer } from '../../src/model/synthetic.js';

const bertFiles = makeBertTokenizer(128);
const gptFiles = makeGpt2Tokenizer(1000, 256);
const bert = loadTokenizer(bertFiles.tokenizer, bertFiles.config);
const gpt = loadTokenizer(gptFiles.tokenizer, gptFiles.config);

function stream(tok: HmiTokenizer, ids: readonly number[]): string[] {
  const d = tok.createStreamDecoder();
  return [...ids.map((id) => d.push(id)), d.flush()];
}

describe('synthetic BERT tokenizer (WordPiece)', () => {
  it('has the specials at the BERT ids and a deterministic vocabulary', () => {
    expect(['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'].map((t) => bert.tokenToId(t))).toEqual([0, 1, 2, 3, 4]);
    expect(bert.vocabSize).toBe(bertVocab().length);
    expect(bert.tokenToId('##z')).toBeDefined();
    expect(bert.tokenToId('machine')).toBeDefined();
    expect([...bert.specialIds].sort()).toEqual([0, 1, 2, 3, 4]);
  });

  it('wraps the text in [CLS] ... [SEP], lowercases and splits words into pieces', () => {
    const ids = bert.encode('The Machine, fastly!');
    expect(ids[0]).toBe(2);
    expect(ids[ids.length - 1]).toBe(3);
    const id = (t: string): number => bert.tokenToId(t)!;
    expect(ids).toEqual([2, id('the'), id('machine'), id(','), id('fast'), id('##ly'), id('!'), 3]);
  });

  it('decodes back to the lowercased text without specials', () => {
    for (const s of ['hello world, the machine is running fast!', "don't stop", 'a1 b2.']) {
      expect(bert.decode(bert.encode(s))).toBe(s);
    }
    // As HF BERT: only punctuation that never takes a space before it is re-attached.
    expect(bert.decode(bert.encode('(c3)'))).toBe('( c3 )');
    expect(bert.decode(bert.encode('Héllo'))).toBe('hello');
    expect(bert.decode([])).toBe('');
  });

  it('maps characters outside the vocabulary to [UNK]', () => {
    expect(bert.encode('🙂 世界')).toEqual([2, 1, 1, 1, 3]);
  });

  it('streams WordPiece pieces, joining ## continuations', () => {
    const ids = bert.encode('running quickly now');
    const parts = stream(bert, ids);
    expect(parts.join('')).toBe('running quickly now');
    expect(parts[0]).toBe('');
  });
});

describe('synthetic GPT-2 tokenizer (byte-level BPE)', () => {
  it('has the 256 byte symbols first, ~1000 ids and <|endoftext|> last', () => {
    expect(gptFiles.vocabSize).toBe(1000);
    expect(gpt.vocabSize).toBe(1000);
    expect(gpt.tokenToId('!')).toBe(0);
    expect(gpt.tokenToId('Ā')).toBe(188); // byte 0, the first remapped symbol, as in GPT-2
    expect(gpt.tokenToId(GPT2_EOS)).toBe(999);
    expect([...gpt.specialIds]).toEqual([999]);
  });

  it('adds no specials and merges common words', () => {
    const ids = gpt.encode(' the');
    expect(ids).toEqual([gpt.tokenToId('Ġthe')]);
    expect(gpt.encode('the morning was cold').length).toBeLessThan(8);
  });

  it('round-trips any text exactly, including multi-byte characters', () => {
    for (const s of ['Hello world!', 'héllo 🙂 世界', '  spaces\tand\nnewlines  ', "it's 7:30", 'Ünïcödé ∑ 🤖🤖']) {
      expect(gpt.decode(gpt.encode(s))).toBe(s);
    }
  });

  it('drops <|endoftext|> when decoding', () => {
    expect(gpt.decode([...gpt.encode('hi'), 999])).toBe('hi');
  });

  it('stream decoder emits only complete UTF-8 characters', () => {
    const text = 'héllo 🙂 世界';
    const ids = gpt.encode(text);
    const parts = stream(gpt, ids);
    expect(parts.join('')).toBe(text);
    for (const p of parts) expect(p).not.toMatch(/\uFFFD/);
    // The emoji's 4 bytes are not a merged token here, so some pushes must have emitted nothing.
    expect(parts.slice(0, -1).some((p) => p === '')).toBe(true);
    expect(parts).toContain('🙂');
  });

  it('stream decoder turns an unfinished character into U+FFFD on flush, and recovers', () => {
    const firstByte = gpt.tokenToId('ð')!; // 0xF0: the lead byte of a 4-byte character
    const d = gpt.createStreamDecoder();
    expect(d.push(firstByte)).toBe('');
    expect(d.flush()).toBe('\uFFFD');
    expect(d.push(gpt.encode('ok')[0])).toBe('o');
    // An invalid continuation is replaced right away, not held.
    const d2 = gpt.createStreamDecoder();
    d2.push(firstByte);
    expect(d2.push(gpt.encode('a')[0])).toBe('\uFFFDa');
  });

  it('rejects ids outside the vocabulary', () => {
    expect(() => gpt.decode([1000])).toThrow(TokenizerError);
    expect(() => gpt.createStreamDecoder().push(-1)).toThrow(TokenizerError);
  });
});

describe('loadTokenizer errors', () => {
  it('wraps library failures in TokenizerError', () => {
    expect(() => loadTokenizer(null)).toThrow(TokenizerError);
    expect(() => loadTokenizer({ model: { type: 'Nope' } })).toThrow(/cannot load tokenizer.json: Unknown TokenizerModel type: Nope/);
    expect(() => loadTokenizer({ ...gptFiles.tokenizer, decoder: { type: 'Martian' } })).toThrow(TokenizerError);
    expect(() => loadTokenizer(gptFiles.tokenizer, 'x')).toThrow(/tokenizer_config.json must be a JSON object/);
  });
});

/** Accents, CJK, punctuation, special tokens written as text, odd whitespace, emoji, empty. */
const TEXTS = [
  'The Machine, fastly!',
  'Héllo Wörld, café naïve résumé',
  '世界 你好 ok世界ok',
  "it's (a) test... [x]; {y}: 7:30 -- a/b & c#d",
  '[CLS] the [SEP] [MASK] cold [PAD] [UNK]',
  `a ${GPT2_EOS} b${GPT2_EOS}`,
  '  spaces\tand\nnewlines \r\n  ',
  '🙂 🤖🤖 ∑ Ünïcödé',
  '',
];

/** vocab.txt as transformers writes it: one token per line, the line number is the id. */
const vocabTxt = `${bertVocab().join('\n')}\n`;
const gptVocab = (gptFiles.tokenizer.model as { vocab: Record<string, number> }).vocab;
const mergesTxt = `#version: 0.2\n${(gptFiles.tokenizer.model as { merges: string[] }).merges.join('\n')}\n`;

describe('vocab.txt (BERT WordPiece)', () => {
  it('tokenizes exactly as the tokenizer.json made from the same vocabulary', () => {
    const fromVocab = wordPieceTokenizerFromVocab(vocabTxt, bertFiles.config);
    const bare = wordPieceTokenizerFromVocab(vocabTxt);
    for (const t of TEXTS) {
      expect(fromVocab.encode(t), t).toEqual(bert.encode(t));
      expect(bare.encode(t), t).toEqual(bert.encode(t));
    }
    expect(fromVocab.vocabSize).toBe(bert.vocabSize);
    expect([...fromVocab.specialIds].sort()).toEqual([...bert.specialIds].sort());
    expect(fromVocab.decode(fromVocab.encode('Hello world, the machine!'))).toBe('hello world, the machine!');
    // Windows line ends are line ends.
    expect(wordPieceTokenizerFromVocab(vocabTxt.replaceAll('\n', '\r\n')).encode(TEXTS[3])).toEqual(bert.encode(TEXTS[3]));
  });

  it('follows do_lower_case / lowercase, strip_accents and tokenize_chinese_chars as BertTokenizer does', () => {
    const vocab = [...bertVocab(), 'The', 'é', '世界'];
    const txt = `${vocab.join('\n')}\n`;
    const same = (config: Record<string, unknown>, options: Parameters<typeof wordPieceTokenizerFiles>[2]): HmiTokenizer => {
      const t = wordPieceTokenizerFromVocab(txt, config);
      const files = wordPieceTokenizerFiles(vocab, 512, options);
      const ref = loadTokenizer(files.tokenizer, config);
      for (const s of [...TEXTS, 'The Héllo 世界']) expect(t.encode(s), s).toEqual(ref.encode(s));
      return t;
    };
    const id = (t: string): number => vocab.indexOf(t);
    const cased = same({ do_lower_case: false }, { lowercase: false });
    expect(cased.encode('The the')).toEqual([2, id('The'), id('the'), 3]);
    expect(same({ lowercase: false }, { lowercase: false }).encode('The')).toEqual([2, id('The'), 3]);
    const accents = same({ strip_accents: false }, { stripAccents: false });
    expect(accents.encode('é')).toEqual([2, id('é'), 3]);
    expect(wordPieceTokenizerFromVocab(txt).encode('é')).toEqual([2, id('e'), 3]);
    expect(same({ do_lower_case: false, strip_accents: true }, { lowercase: false, stripAccents: true }).encode('The é')).toEqual([2, id('The'), id('e'), 3]);
    const cjk = same({ tokenize_chinese_chars: false }, { handleChineseChars: false });
    expect(cjk.encode('世界')).toEqual([2, id('世界'), 3]);
    expect(wordPieceTokenizerFromVocab(txt).encode('世界')).toEqual([2, 1, 1, 3]);
  });

  it('takes the special tokens named in tokenizer_config.json, as strings or AddedToken objects', () => {
    const vocab = ['<pad>', '<unk>', '<s>', '</s>', '<mask>', ...bertVocab().slice(5)];
    const config = { unk_token: '<unk>', sep_token: { content: '</s>', __type: 'AddedToken' }, pad_token: '<pad>', cls_token: '<s>', mask_token: '<mask>' };
    const t = wordPieceTokenizerFromVocab(`${vocab.join('\n')}\n`, config);
    expect(t.encode('cold </s> 🙂')).toEqual([2, vocab.indexOf('cold'), 3, 1, 3]);
    expect([...t.specialIds].sort()).toEqual([0, 1, 2, 3, 4]);
    // Without [MASK] and [PAD] in the vocabulary a BERT tokenizer still works.
    const noMask = bertVocab().filter((v) => v !== '[MASK]' && v !== '[PAD]');
    expect(wordPieceTokenizerFromVocab(`${noMask.join('\n')}\n`).encode('the')).toEqual([noMask.indexOf('[CLS]'), noMask.indexOf('the'), noMask.indexOf('[SEP]')]);
  });

  it('rejects what transformers could not load, with a TokenizerError', () => {
    expect(() => wordPieceTokenizerFromVocab('a\nb\n')).toThrow(/vocab.txt.*lacks \[UNK\]/);
    expect(() => wordPieceTokenizerFromVocab(`${vocabTxt}the\n`)).toThrow(/vocab.txt lists "the" twice/);
    expect(() => wordPieceTokenizerFromVocab(vocabTxt, { do_lower_case: 'yes' })).toThrow(TokenizerError);
    expect(() => wordPieceTokenizerFromVocab(vocabTxt, { unk_token: 3 })).toThrow(/"unk_token" must be a token string/);
    expect(() => wordPieceTokenizerFromVocab(vocabTxt, [])).toThrow(/tokenizer_config.json must be a JSON object/);
  });
});

describe('vocab.json + merges.txt (GPT-2 byte-level BPE)', () => {
  it('tokenizes exactly as the tokenizer.json made from the same vocabulary and merges', () => {
    const fromFiles = byteLevelBpeTokenizerFromFiles(gptVocab, mergesTxt, gptFiles.config);
    const bare = byteLevelBpeTokenizerFromFiles(gptVocab, mergesTxt.replace(/^#version.*\n/, ''));
    for (const t of TEXTS) {
      expect(fromFiles.encode(t), t).toEqual(gpt.encode(t));
      expect(bare.encode(t), t).toEqual(gpt.encode(t));
      expect(fromFiles.decode(fromFiles.encode(t))).toBe(gpt.decode(gpt.encode(t)));
    }
    expect(fromFiles.vocabSize).toBe(gpt.vocabSize);
    expect([...bare.specialIds]).toEqual([999]);
    expect(fromFiles.encode(GPT2_EOS)).toEqual([999]);
  });

  it('adds the prefix space when tokenizer_config.json says add_prefix_space', () => {
    const t = byteLevelBpeTokenizerFromFiles(gptVocab, mergesTxt, { add_prefix_space: true });
    expect(t.encode('the')).toEqual(gpt.encode(' the'));
    expect(t.encode('cold river')).toEqual(gpt.encode(' cold river'));
  });

  it('rejects malformed files with a TokenizerError', () => {
    expect(() => byteLevelBpeTokenizerFromFiles([], mergesTxt)).toThrow(/vocab.json must be a JSON object/);
    expect(() => byteLevelBpeTokenizerFromFiles({ a: 'x' }, '')).toThrow(/ids must be integers/);
    expect(() => byteLevelBpeTokenizerFromFiles(gptVocab, '#version: 0.2\na b c\n')).toThrow(/merges.txt line 2 must be two tokens/);
    expect(() => byteLevelBpeTokenizerFromFiles({ ...gptVocab, huge: 2 ** 31 }, mergesTxt)).toThrow(TokenizerError);
  });
});

describe('idsOnlyTokenizer', () => {
  it('refuses text with the reason, streams ids with empty text', () => {
    const t = idsOnlyTokenizer(50, 'no tokenizer files here');
    expect(() => t.encode('hi')).toThrow(TokenizerError);
    expect(() => t.decode([1])).toThrow(/no tokenizer files here/);
    expect(t.vocabSize).toBe(50);
    expect(t.tokenToId('[SEP]')).toBeUndefined();
    const d = t.createStreamDecoder();
    expect(d.push(3) + d.flush()).toBe('');
  });
});
