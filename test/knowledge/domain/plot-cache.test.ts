import { describe, expect, it } from 'vitest';
import { readBytes, readF32 } from '../../../src/gpu/buffers.js';
import { unpackF16Pairs } from '../../../src/formats/f16.js';
import { PlotCacheFullError } from '../../../src/knowledge/domain/errors.js';
import { PlotCache } from '../../../src/knowledge/domain/plot-cache.js';
import { randomFloats, testContext } from '../../helpers/gpu.js';

const W = 7;

describe('GPU PLOT cache', () => {
  it('uploads entries into slots and finds them by (scope, key)', async () => {
    const ctx = await testContext();
    const cache = await PlotCache.create(ctx, { slots: 3, width: W });
    const a = randomFloats(W, 1);
    const b = randomFloats(W, 2);
    const sa = cache.insert('base', 11, a);
    const sb = cache.insert('w:x', 11, b);
    expect(sa).not.toBe(sb);
    expect(cache.lookup('base', 11)).toBe(sa);
    expect(cache.lookup('w:x', 11)).toBe(sb);
    expect(cache.lookup('base', 12)).toBeUndefined();
    const all = await readF32(ctx, cache.buffer, 3 * W);
    expect(Array.from(all.subarray(sa * W, sa * W + W))).toEqual(Array.from(a));
    expect(Array.from(all.subarray(sb * W, sb * W + W))).toEqual(Array.from(b));
    expect(cache.bytesUploaded).toBe(2 * W * 4);
    cache.destroy();
  });

  it('evicts the least recently used unpinned slot and never grows', async () => {
    const ctx = await testContext();
    const cache = await PlotCache.create(ctx, { slots: 3, width: W });
    const bytes = cache.bytes;
    const s1 = cache.insert('base', 1, randomFloats(W, 1));
    cache.insert('base', 2, randomFloats(W, 2));
    cache.insert('base', 3, randomFloats(W, 3));
    cache.lookup('base', 1); // 2 is now the least recent
    cache.pin(s1);
    cache.insert('base', 4, randomFloats(W, 4));
    expect(cache.has('base', 2)).toBe(false);
    expect(cache.has('base', 1)).toBe(true);
    cache.insert('base', 5, randomFloats(W, 5)); // evicts 3, the LRU unpinned; 1 stays pinned
    expect(cache.has('base', 3)).toBe(false);
    expect(cache.has('base', 1)).toBe(true);
    expect(cache.evictions).toBe(2);
    expect(cache.used).toBe(3);
    expect(cache.bytes).toBe(bytes);
    cache.destroy();
  });

  it('refuses to overwrite pinned slots', async () => {
    const ctx = await testContext();
    const cache = await PlotCache.create(ctx, { slots: 2, width: W });
    cache.pin(cache.insert('base', 1, randomFloats(W, 1)));
    const s2 = cache.insert('base', 2, randomFloats(W, 2));
    cache.pin(s2);
    cache.pin(s2);
    expect(() => cache.insert('base', 3, randomFloats(W, 3))).toThrow(PlotCacheFullError);
    cache.unpin(s2);
    expect(() => cache.insert('base', 3, randomFloats(W, 3))).toThrow(PlotCacheFullError);
    cache.unpin(s2);
    expect(cache.insert('base', 3, randomFloats(W, 3))).toBe(s2);
    cache.destroy();
  });

  it('f16 slots hold halves packed two per word', async () => {
    const ctx = await testContext();
    const cache = await PlotCache.create(ctx, { slots: 2, width: W, dtype: 'f16' });
    expect(cache.bytes).toBe(2 * Math.ceil(W / 2) * 4);
    const v = randomFloats(W, 9);
    const slot = cache.insert('base', 1, v);
    const words = Math.ceil(W / 2);
    const packed = new Uint32Array(await readBytes(ctx, cache.buffer, words * 4, slot * words * 4));
    const back = unpackF16Pairs(packed, W);
    for (let i = 0; i < W; i++) expect(Math.abs(back[i] - v[i])).toBeLessThanOrEqual(Math.abs(v[i]) * 2 ** -11 + 1e-7);
    cache.destroy();
  });
});
