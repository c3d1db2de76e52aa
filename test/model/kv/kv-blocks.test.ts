import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { BlockAllocator, kvTokens } from '../../../src/model/kv/kv-blocks.js';
import { KvPoolError, KvTooLargeError } from '../../../src/model/kv/errors.js';
import { InvalidInputError } from '../../../src/runtime/errors.js';

type Op =
  | { kind: 'admit'; seq: number; prompt: number; maxNew: number }
  | { kind: 'step'; seq: number; count: number }
  | { kind: 'free'; seq: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('admit' as const), seq: fc.nat(30), prompt: fc.integer({ min: 1, max: 70 }), maxNew: fc.nat(60) }),
  fc.record({ kind: fc.constant('step' as const), seq: fc.nat(30), count: fc.integer({ min: 1, max: 20 }) }),
  fc.record({ kind: fc.constant('free' as const), seq: fc.nat(30) }),
);

/** Checks every invariant of the pool against a model of what each live sequence was promised. */
function checkInvariants(a: BlockAllocator, live: Map<number, { reserved: number; length: number }>): void {
  const owner = new Map<number, number>();
  let used = 0;
  let reserved = 0;
  for (const [seq, m] of live) {
    const table = a.blockTable(seq);
    expect(a.length(seq)).toBe(m.length);
    expect(table.length).toBeLessThanOrEqual(m.reserved);
    expect(table.length).toBeGreaterThanOrEqual(a.blocksFor(m.length));
    for (const b of table) {
      expect(Number.isInteger(b) && b >= 0 && b < a.numBlocks).toBe(true);
      expect(owner.has(b), `block ${b} shared by ${owner.get(b)} and ${seq}`).toBe(false);
      owner.set(b, seq);
    }
    used += table.length;
    reserved += m.reserved;
  }
  expect(a.usedBlocks).toBe(used);
  expect(a.reservedBlocks).toBe(reserved);
  expect(a.reservedBlocks).toBeLessThanOrEqual(a.numBlocks);
  expect(a.liveSequences).toBe(live.size);
}

describe('BlockAllocator', () => {
  it('reserves the worst case, takes blocks lazily, and frees them all', () => {
    const a = new BlockAllocator(10, 16);
    expect(kvTokens(20, 13)).toBe(32);
    expect(a.admit(1, 20, 13)).toBe(true);
    expect(a.reservedBlocks).toBe(2);
    expect(a.usedBlocks).toBe(0);
    a.advance(1, 20);
    expect(a.blockTable(1)).toEqual([0, 1]);
    a.advance(1, 12);
    expect(a.length(1)).toBe(32);
    expect(() => a.advance(1, 1)).toThrow(KvPoolError);
    expect(a.admit(2, 16 * 8, 1)).toBe(true);
    expect(a.admit(3, 1, 1)).toBe(false);
    a.free(1);
    expect(a.reservedBlocks).toBe(8);
    expect(a.usedBlocks).toBe(0);
    expect(a.admit(3, 1, 1)).toBe(true);
    a.free(2);
    a.free(3);
    a.free(3);
    expect([a.usedBlocks, a.reservedBlocks, a.liveSequences]).toEqual([0, 0, 0]);
  });

  it('throws KvTooLargeError for what could never fit, and names misuse', () => {
    const a = new BlockAllocator(4, 16);
    expect(() => a.admit(1, 64, 2)).toThrow(KvTooLargeError);
    expect(a.admit(1, 64, 1)).toBe(true);
    expect(() => a.admit(1, 1, 1)).toThrow(KvPoolError);
    expect(() => a.length(9)).toThrow(KvPoolError);
    expect(() => a.admit(2, 0, 1)).toThrow(InvalidInputError);
    expect(() => a.admit(2, 1, -1)).toThrow(InvalidInputError);
    expect(() => new BlockAllocator(0, 16)).toThrow(KvPoolError);
  });

  it('keeps its invariants over 1,000 random admit/grow/free sequences (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 24 }), fc.integer({ min: 1, max: 17 }), fc.array(op, { minLength: 1, maxLength: 120 }), (numBlocks, blockTokens, ops) => {
        const a = new BlockAllocator(numBlocks, blockTokens);
        const live = new Map<number, { reserved: number; length: number }>();
        for (const o of ops) {
          if (o.kind === 'admit') {
            const need = a.blocksFor(kvTokens(o.prompt, o.maxNew));
            if (need > numBlocks) {
              expect(() => a.admit(o.seq, o.prompt, o.maxNew)).toThrow(KvTooLargeError);
            } else if (live.has(o.seq)) {
              expect(() => a.admit(o.seq, o.prompt, o.maxNew)).toThrow(KvPoolError);
            } else {
              const promised = [...live.values()].reduce((n, m) => n + m.reserved, 0);
              const ok = a.admit(o.seq, o.prompt, o.maxNew);
              // Admission is exact: refused only when the reservation would not fit.
              expect(ok).toBe(promised + need <= numBlocks);
              if (ok) live.set(o.seq, { reserved: need, length: 0 });
            }
          } else if (o.kind === 'step') {
            const m = live.get(o.seq);
            if (!m) {
              expect(() => a.advance(o.seq, o.count)).toThrow(KvPoolError);
            } else if (a.blocksFor(m.length + o.count) > m.reserved) {
              expect(() => a.advance(o.seq, o.count)).toThrow(KvPoolError);
            } else {
              a.advance(o.seq, o.count);
              m.length += o.count;
            }
          } else {
            a.free(o.seq);
            live.delete(o.seq);
          }
          checkInvariants(a, live);
        }
        for (const seq of [...live.keys()]) a.free(seq);
        expect([a.usedBlocks, a.reservedBlocks, a.liveSequences]).toEqual([0, 0, 0]);
        // Every block is back: the whole pool can be reserved and filled again.
        expect(a.admit(999, numBlocks * blockTokens, 1)).toBe(true);
        a.advance(999, numBlocks * blockTokens);
        expect(new Set(a.blockTable(999)).size).toBe(numBlocks);
      }),
      { seed: 6_2026, numRuns: 1000 },
    );
  });
});
