import 'fake-indexeddb/auto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DirChunkStore, IdbChunkStore, MemoryChunkStore, type ChunkStore } from '../../../src/knowledge/domain/chunk-store.js';
import { CorruptChunkError, PlotMismatchError } from '../../../src/knowledge/domain/errors.js';
import { decodeChunk, decodeIndex, encodeChunk, encodeIndex } from '../../../src/knowledge/domain/plot-codec.js';
import { PlotStore } from '../../../src/knowledge/domain/plot-store.js';
import { plotLayout, PlotTable, type PlotDtype } from '../../../src/knowledge/domain/plot-table.js';
import { trigramKey } from '../../../src/knowledge/domain/trigram.js';
import { randomFloats } from '../../helpers/gpu.js';

const H = 5;

function table(dtype: PlotDtype, n: number): PlotTable {
  const t = new PlotTable(plotLayout('bert', H, 'model-a', 2, dtype));
  for (let i = 0; i < n; i++) t.set(trigramKey(i, i + 1, 3 * i), randomFloats(3 * H, 10 + i));
  return t;
}

describe('PLOT records', () => {
  it('round-trip an index and a chunk, f32 and f16', () => {
    for (const dtype of ['f32', 'f16'] as const) {
      const t = table(dtype, 3);
      const keys = [...t.keys()];
      const index = decodeIndex('i', encodeIndex({ layout: t.layout, scope: 'base', generation: 4, numChunks: 2, keys: Float64Array.from(keys) }));
      expect(index.layout).toEqual(t.layout);
      expect(index.scope).toBe('base');
      expect(Array.from(index.keys)).toEqual(keys);
      const chunk = decodeChunk('c', t.layout, { generation: 4, chunk: 1 }, encodeChunk(t.layout, { generation: 4, chunk: 1, keys, values: keys.map((k) => t.raw(k)!) }));
      expect(chunk.keys).toEqual(keys);
      chunk.values.forEach((v, i) => expect(Array.from(v)).toEqual(Array.from(t.raw(keys[i])!)));
    }
  });

  it('any flipped byte is a CorruptChunkError', () => {
    const t = table('f32', 2);
    const keys = [...t.keys()];
    const bytes = encodeChunk(t.layout, { generation: 1, chunk: 0, keys, values: keys.map((k) => t.raw(k)!) });
    for (const at of [0, 9, 33, bytes.length - 9, bytes.length - 1]) {
      const bad = bytes.slice();
      bad[at] ^= 4;
      expect(() => decodeChunk('c', t.layout, { generation: 1, chunk: 0 }, bad)).toThrow(CorruptChunkError);
    }
    expect(() => decodeChunk('c', t.layout, { generation: 2, chunk: 0 }, bytes)).toThrow(CorruptChunkError);
    expect(() => decodeIndex('i', bytes.subarray(0, 8))).toThrow(CorruptChunkError);
  });

  it('f16 tables store half the bytes and decode to the nearest halves', () => {
    const a = table('f32', 4);
    const b = table('f16', 4);
    expect(b.bytes * 2).toBe(a.bytes);
    for (const k of a.keys()) {
      const x = a.get(k)!;
      const y = b.get(k)!;
      for (let i = 0; i < x.length; i++) expect(Math.abs(x[i] - y[i])).toBeLessThanOrEqual(Math.abs(x[i]) * 2 ** -11 + 1e-7);
    }
  });
});

async function roundTrip(backend: ChunkStore): Promise<void> {
  const store = new PlotStore(backend, 'ns', 3);
  const t = table('f32', 10);
  await store.save('law', t, 'base');
  expect(t.generation).toBe(1);
  const loaded = (await store.loadIndex('law', t.layout, 'base'))!;
  expect(loaded.size).toBe(10);
  const k = [...t.keys()][4];
  expect(loaded.get(k)).toBeUndefined();
  const chunk = loaded.pendingChunk(k)!;
  await store.loadChunk('law', loaded, chunk);
  expect(Array.from(loaded.get(k)!)).toEqual(Array.from(t.get(k)!));
  expect(loaded.unloadedChunks()).not.toContain(chunk);

  // A second save replaces the generation and deletes the first one's chunks.
  t.delete(k);
  await store.save('law', t, 'base');
  const names = await backend.list('ns/law/');
  expect(names.some((n) => n.includes('/g1/'))).toBe(false);
  expect(names.filter((n) => n.includes('/g2/')).length).toBe(3);
  const again = (await store.loadIndex('law', t.layout, 'base'))!;
  expect(again.has(k)).toBe(false);
  expect(again.size).toBe(9);

  await expect(store.loadIndex('law', { ...t.layout, modelHash: 'model-b' }, 'base')).rejects.toThrow(PlotMismatchError);
  await expect(store.loadIndex('law', { ...t.layout, splitLayer: 3 }, 'base')).rejects.toThrow(PlotMismatchError);
  await expect(store.loadIndex('law', t.layout, 'w:other-weights')).rejects.toThrow(PlotMismatchError);
  expect(await store.loadIndex('tax', t.layout, 'base')).toBeUndefined();
  await store.remove('law');
  expect(await backend.list('ns/law/')).toEqual([]);
}

describe('PLOT store backends', () => {
  it('memory', async () => {
    await roundTrip(new MemoryChunkStore());
  });

  it('a directory (Node)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hmi-plot-'));
    try {
      await roundTrip(new DirChunkStore(join(dir, 'plot')));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('IndexedDB', async () => {
    await roundTrip(new IdbChunkStore('hmi-plot-test', 'chunks'));
  });
});
