import { describe, expect, it } from 'vitest';
import { TokenizerError } from '../../src/formats/errors.js';
import { loadTokenizer, type HmiTokenizer } from '../../src/formats/tokenizer.js';
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
