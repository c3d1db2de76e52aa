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

describe('GPU PLOT cache, batched inserts', () => {
  it('places a whole batch without evicting its own entries, in few writes', async () => {
    const ctx = await testContext();
    const cache = await PlotCache.create(ctx, { slots: 5, width: W });
    for (let k = 0; k < 5; k++) cache.insert('base', k, randomFloats(W, k));
    const before = cache.bytesUploaded;
    const values = [10, 11, 12, 13].map((k) => randomFloats(W, k));
    const queue = ctx.device.queue;
    const write = queue.writeBuffer.bind(queue);
    let writes = 0;
    queue.writeBuffer = ((...args: Parameters<GPUQueue['writeBuffer']>) => {
      writes++;
      write(...args);
    }) as GPUQueue['writeBuffer'];
    let slots: number[];
    try {
      slots = cache.insertMany(values.map((value, i) => ({ scope: 'base', key: 10 + i, value })));
    } finally {
      queue.writeBuffer = write;
    }
    // The four least recently used slots are 0..3: one run, one write.
    expect(slots).toEqual([0, 1, 2, 3]);
    expect(writes).toBe(1);
    expect(new Set(slots).size).toBe(4);
    for (let i = 0; i < 4; i++) expect(cache.lookup('base', 10 + i)).toBe(slots[i]);
    expect(cache.bytesUploaded - before).toBe(4 * W * 4);
    const all = await readF32(ctx, cache.buffer, 5 * W);
    slots.forEach((s, i) => expect(Array.from(all.subarray(s * W, s * W + W))).toEqual(Array.from(values[i])));
    cache.destroy();
  });

  it('a batch larger than the free slots throws, and what it placed is uploaded', async () => {
    const ctx = await testContext();
    const cache = await PlotCache.create(ctx, { slots: 3, width: W });
    cache.pin(cache.insert('base', 1, randomFloats(W, 1)));
    const values = [20, 21, 22].map((k) => randomFloats(W, k));
    expect(() => cache.insertMany(values.map((value, i) => ({ scope: 'base', key: 20 + i, value })))).toThrow(PlotCacheFullError);
    const all = await readF32(ctx, cache.buffer, 3 * W);
    for (let i = 0; i < 2; i++) {
      const s = cache.lookup('base', 20 + i)!;
      expect(Array.from(all.subarray(s * W, s * W + W))).toEqual(Array.from(values[i]));
    }
    expect(cache.has('base', 22)).toBe(false);
    cache.destroy();
  });

  it('f16 runs pack each slot as a single insert does', async () => {
    const ctx = await testContext();
    const one = await PlotCache.create(ctx, { slots: 3, width: W, dtype: 'f16' });
    const many = await PlotCache.create(ctx, { slots: 3, width: W, dtype: 'f16' });
    const values = [30, 31, 32].map((k) => randomFloats(W, k));
    values.forEach((v, i) => one.insert('base', i, v));
    many.insertMany(values.map((value, i) => ({ scope: 'base', key: i, value })));
    const words = 3 * Math.ceil(W / 2);
    expect(new Uint32Array(await readBytes(ctx, many.buffer, words * 4))).toEqual(new Uint32Array(await readBytes(ctx, one.buffer, words * 4)));
    one.destroy();
    many.destroy();
  });
});
