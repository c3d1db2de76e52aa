import { describe, expect, it } from 'vitest';
import { KvPool, type KvStepEntry } from '../../../src/model/kv/kv-pool.js';
import { KvPoolError, KvTooLargeError } from '../../../src/model/kv/errors.js';
import { encodePagedAttentionLayer } from '../../../src/model/kv/paged-attention-layer.js';
import { attentionRef } from '../../../src/kernels/cpu/attention.js';
import { run } from '../../../src/gpu/dispatch.js';
import { allocBuffer, readF32, uploadBuffer } from '../../../src/gpu/buffers.js';
import { expectClose, randomFloats, testContext } from '../../helpers/gpu.js';

const [NUM_LAYERS, FROM_LAYER, HEADS, HEAD_DIM, B] = [5, 1, 2, 3, 4];
const H = HEADS * HEAD_DIM;
const BLOCKS = 20;
const PER_BLOCK = B * 2 * H * 4 * (NUM_LAYERS - FROM_LAYER) + 20;
const BUDGET = 32 + BLOCKS * PER_BLOCK + 100;

async function makePool(): Promise<KvPool> {
  // Two cached layers per buffer: regions are BLOCKS * B * 2H floats.
  return KvPool.create(await testContext(), {
    numLayers: NUM_LAYERS, fromLayer: FROM_LAYER, hiddenSize: H, blockTokens: B, budgetBytes: BUDGET, maxBufferBytes: 2 * BLOCKS * B * 2 * H * 4 + 100,
  });
}

describe('KvPool', () => {
  it('sizes its blocks from the budget and spreads layers over buffers of bounded size', async () => {
    const pool = await makePool();
    expect(pool.numBlocks).toBe(BLOCKS);
    expect(pool.bytesTotal).toBeLessThanOrEqual(BUDGET);
    expect(pool.bufferCount).toBe(2);
    const region = BLOCKS * B * 2 * H;
    expect(pool.layer(1)).toMatchObject({ layerBase: 0 });
    expect(pool.layer(2)).toMatchObject({ layerBase: region });
    expect(pool.layer(3)).toMatchObject({ layerBase: 0 });
    expect(pool.layer(3).pool).not.toBe(pool.layer(1).pool);
    expect(() => pool.layer(0)).toThrow(KvPoolError);
    expect(() => pool.layer(5)).toThrow(KvPoolError);
    pool.dispose();
    const ctx = await testContext();
    await expect(KvPool.create(ctx, { numLayers: 2, hiddenSize: 768, budgetBytes: 1000 })).rejects.toThrow(KvPoolError);
  });

  it('never allocates more than its budget, for odd sizes', async () => {
    const ctx = await testContext();
    for (const [numLayers, hiddenSize, blockTokens, budgetBytes, maxBufferBytes] of [
      [1, 5, 1, 233, undefined],
      [3, 7, 3, 10_007, 1000],
      [12, 48, 16, 3_000_001, 600_000],
      [2, 768, 16, 2 * 98_304 + 1000, undefined],
    ] as const) {
      const pool = await KvPool.create(ctx, { numLayers, hiddenSize, blockTokens, budgetBytes, maxBufferBytes });
      expect(pool.bytesTotal, `${numLayers}x${hiddenSize}`).toBeLessThanOrEqual(budgetBytes);
      expect(pool.numBlocks * pool.blockBytes).toBeLessThanOrEqual(pool.bytesTotal);
      if (maxBufferBytes) expect(pool.bufferCount).toBeGreaterThan(1);
      for (let l = 0; l < numLayers; l++) {
        const { pool: buf, layerBase } = pool.layer(l);
        expect(buf.size).toBeLessThanOrEqual(maxBufferBytes ?? Infinity);
        expect((layerBase + pool.numBlocks * blockTokens * 2 * hiddenSize) * 4).toBeLessThanOrEqual(buf.size);
      }
      pool.dispose();
    }
  });

  it('admits within its budget, refuses when short, rejects what never fits, and frees at once', async () => {
    const pool = await makePool();
    expect(() => pool.admit(1, B * BLOCKS, 2)).toThrow(KvTooLargeError);
    expect(pool.admit(1, 30, 11)).toBe(true); // 40 positions = 10 blocks
    expect(pool.admit(2, 37, 4)).toBe(true); // 40 = 10 blocks
    expect(pool.admit(3, 1, 1)).toBe(false);
    expect(pool.bytesReserved).toBe(BLOCKS * pool.blockBytes);
    expect(pool.bytesUsed).toBe(0);
    pool.stageStep([{ seqId: 1, qStart: 0, qLen: 30 }]);
    expect(pool.bytesUsed).toBe(8 * pool.blockBytes);
    pool.free(1);
    expect(pool.bytesUsed).toBe(0);
    expect(pool.admit(3, 1, 1)).toBe(true);
    expect(pool.liveSequences).toBe(2);
    pool.free(2);
    pool.free(3);
    expect([pool.bytesUsed, pool.bytesReserved, pool.liveSequences]).toEqual([0, 0, 0]);
    pool.dispose();
  });

  it('serves prefill and decode steps of sequences joining and leaving: every layer equals contiguous attention', async () => {
    const ctx = await testContext();
    const pool = await makePool();
    // Each sequence's cached keys/values per layer, as contiguous rows [K | V] (the reference's cache).
    const history = new Map<number, number[][][]>();
    const steps: { admit?: [number, number, number][]; free?: number[]; entries: [number, number][] }[] = [
      { admit: [[7, 5, 6], [3, 9, 3]], entries: [[7, 5], [3, 9]] },
      { entries: [[7, 1], [3, 1]] },
      { admit: [[11, 3, 4]], entries: [[7, 1], [11, 3], [3, 1]] },
      { free: [3], entries: [[11, 1], [7, 1]] },
      { entries: [[7, 1], [11, 1]] },
    ];
    let seed = 1000;
    for (const step of steps) {
      for (const [id, prompt, maxNew] of step.admit ?? []) {
        expect(pool.admit(id, prompt, maxNew)).toBe(true);
        history.set(id, Array.from({ length: NUM_LAYERS }, () => []));
      }
      for (const id of step.free ?? []) {
        pool.free(id);
        history.delete(id);
      }
      let rows = 0;
      const entries: KvStepEntry[] = step.entries.map(([seqId, qLen]) => {
        const e = { seqId, qStart: rows, qLen };
        rows += qLen;
        return e;
      });
      const kv = pool.stageStep(entries);
      const qkv = Array.from({ length: NUM_LAYERS }, () => randomFloats(rows * 3 * H, seed++));
      const gQkv = await Promise.all(qkv.map((x, l) => uploadBuffer(ctx, x, `qkv${l}`)));
      const gOut = await Promise.all(qkv.map((_, l) => allocBuffer(ctx, rows * H * 4, `out${l}`)));
      run(ctx, (pass) => {
        for (let l = FROM_LAYER; l < NUM_LAYERS; l++) {
          encodePagedAttentionLayer(ctx, pass, { pool, step: kv, layer: l, qkv: gQkv[l], out: gOut[l], rows, numHeads: HEADS });
        }
      });
      pool.advance(entries);
      for (let l = FROM_LAYER; l < NUM_LAYERS; l++) {
        const kvRows: number[] = [];
        const seqs: number[] = [];
        for (const e of entries) {
          const h = history.get(e.seqId)![l];
          for (let j = 0; j < e.qLen; j++) {
            const r = (e.qStart + j) * 3 * H;
            h.push(Array.from(qkv[l].subarray(r + H, r + 3 * H)));
          }
          seqs.push(e.qStart, e.qLen, kvRows.length / (2 * H), h.length);
          for (const row of h) kvRows.push(...row);
        }
        const want = attentionRef({
          q: qkv[l], k: kvRows, v: kvRows, seqs, numSeqs: entries.length, qRows: rows, numHeads: HEADS, headDim: HEAD_DIM,
          qStride: 3 * H, qOffset: 0, kvStride: 2 * H, kOffset: 0, vOffset: H, causal: true,
        });
        expectClose(await readF32(ctx, gOut[l], rows * H), want, 1e-4, 1e-5);
      }
      for (const e of entries) expect(pool.length(e.seqId)).toBe(history.get(e.seqId)![FROM_LAYER].length);
      for (const b of [...gQkv, ...gOut]) b.destroy();
    }
    pool.free(7);
    pool.free(11);
    expect([pool.bytesUsed, pool.bytesReserved, pool.liveSequences]).toEqual([0, 0, 0]);
    pool.dispose();
  });

  it('rejects a step naming a sequence twice or one it never admitted', async () => {
    const pool = await makePool();
    pool.admit(1, 4, 1);
    expect(() => pool.stageStep([{ seqId: 1, qStart: 0, qLen: 1 }, { seqId: 1, qStart: 1, qLen: 1 }])).toThrow(KvPoolError);
    expect(() => pool.stageStep([{ seqId: 2, qStart: 0, qLen: 1 }])).toThrow(KvPoolError);
    expect(() => pool.stageStep([{ seqId: 1, qStart: 0, qLen: 5 }])).toThrow(KvPoolError);
    pool.dispose();
  });
});
