import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ShapeError } from '../../../src/errors.js';
import { bertKeys, gptKeys, MAX_VOCAB, trigramIds, trigramKey, windowsOf } from '../../../src/knowledge/domain/trigram.js';

describe('tri-gram keys', () => {
  it('pack three ids into one exact number and back', () => {
    const id = fc.integer({ min: 0, max: MAX_VOCAB - 1 });
    fc.assert(
      fc.property(id, id, id, (a, b, c) => {
        const k = trigramKey(a, b, c);
        expect(Number.isSafeInteger(k)).toBe(true);
        expect(trigramIds(k)).toEqual([a, b, c]);
      }),
    );
    expect(trigramKey(1, 2, 3)).not.toBe(trigramKey(3, 2, 1));
  });

  it('hBERT: (x[i-1], x[i], x[i+1]) with the pad id at both edges', () => {
    expect(bertKeys([7], 0).map(trigramIds)).toEqual([[0, 7, 0]]);
    expect(bertKeys([5, 6, 7], 9).map(trigramIds)).toEqual([
      [9, 5, 6],
      [5, 6, 7],
      [6, 7, 9],
    ]);
  });

  it('hGPT: (x[i-2], x[i-1], x[i]) with eos before the start, or the cached context', () => {
    expect(gptKeys([5, 6, 7], 1).map(trigramIds)).toEqual([
      [1, 1, 5],
      [1, 5, 6],
      [5, 6, 7],
    ]);
    expect(gptKeys([8], 1, [5, 6, 7]).map(trigramIds)).toEqual([[6, 7, 8]]);
    expect(gptKeys([8, 9], 1, [4]).map(trigramIds)).toEqual([
      [1, 4, 8],
      [4, 8, 9],
    ]);
  });

  it('windows are 3 ids per key, in key order', () => {
    expect(Array.from(windowsOf([trigramKey(1, 2, 3), trigramKey(4, 5, 6)]))).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('rejects ids a key cannot hold', () => {
    expect(() => bertKeys([MAX_VOCAB], 0)).toThrow(ShapeError);
    expect(() => bertKeys([1.5], 0)).toThrow(ShapeError);
    expect(() => gptKeys([1], -1)).toThrow(ShapeError);
  });
});
