import { describe, expect, it } from 'vitest';
import { encodeKvScatter, type KvScatterArgs } from '../../src/kernels/kv-scatter.js';
import { kvScatterRef } from '../../src/kernels/cpu/kv-scatter.js';
import { run } from '../../src/gpu/dispatch.js';
import { readF32, uploadBuffer } from '../../src/gpu/buffers.js';
import { ShapeError } from '../../src/errors.js';
import { expectClose, randomFloats, testContext } from '../helpers/gpu.js';
import { mulberry32, shuffle } from '../../src/util/rng.js';

/** A deterministic permutation of 0..n-1. */
const shuffled = (n: number, seed: number): number[] => shuffle(Array.from({ length: n }, (_, i) => i), mulberry32(seed));

interface Case {
  numHeads: number;
  headDim: number;
  blockTokens: number;
  /** Per sequence: positions cached before the step, and rows written by the step. */
  seqs: { past: number; qLen: number }[];
  /** Extra descriptors appended after the real ones (corrupt on purpose). */
  extraSeqs?: number[][];
  /** Unused src rows before each sequence. */
  gap?: number;
}

async function checkCase(c: Case, seed: number): Promise<void> {
  const ctx = await testContext();
  const W = c.numHeads * c.headDim;
  const B = c.blockTokens;
  const blocksPerSeq = c.seqs.map((s) => Math.ceil((s.past + s.qLen) / B));
  const numBlocks = blocksPerSeq.reduce((a, b) => a + b, 0) + 3;
  const perm = shuffled(numBlocks, seed);
  // The layer's region sits between guard floats: nothing there may change.
  const layerBase = 2 * W * B + 7;
  const poolLen = layerBase + numBlocks * B * 2 * W + 11;
  const pool = randomFloats(poolLen, seed + 1);
  const table: number[] = [];
  const seqs: number[][] = [];
  let rows = 0;
  c.seqs.forEach((s, i) => {
    rows += c.gap ?? 0;
    seqs.push([rows, s.qLen, table.length, s.past + s.qLen]);
    for (let b = 0; b < blocksPerSeq[i]; b++) table.push(perm[table.length]);
    rows += s.qLen;
  });
  seqs.push(...(c.extraSeqs ?? []));
  const srcStride = 3 * W + 2;
  const src = randomFloats(Math.max(1, rows) * srcStride, seed + 2);
  const seqData = Uint32Array.from(seqs.flat());
  const tableData = Uint32Array.from(table.length ? table : [0]);
  const [gSrc, gSeqs, gTable, gPool] = await Promise.all([
    uploadBuffer(ctx, src, 'src'),
    uploadBuffer(ctx, seqData, 'seqs'),
    uploadBuffer(ctx, tableData, 'table'),
    uploadBuffer(ctx, pool, 'pool'),
  ]);
  const shape = { layerBase, numBlocks, blockTokens: B, numSeqs: seqs.length, tableLen: table.length, rows, width: W, srcStride, kOffset: W + 1, vOffset: 2 * W + 2 };
  run(ctx, (pass) => encodeKvScatter(ctx, pass, { ...shape, pool: gPool, seqs: gSeqs, table: gTable, src: gSrc }));
  const got = await readF32(ctx, gPool, poolLen);
  const want = kvScatterRef({ ...shape, pool, seqs: seqData, table: tableData, src });
  expectClose(got, want, 0, 0);
  // The reference itself must have written every step row where the table says.
  c.seqs.forEach((s, i) => {
    const [qStart, , tableOffset] = seqs[i];
    for (let j = 0; j < s.qLen; j++) {
      const pos = s.past + j;
      const row = table[tableOffset + Math.floor(pos / B)] * B + (pos % B);
      expect(want[layerBase + row * 2 * W]).toBe(src[(qStart + j) * srcStride + W + 1]);
      expect(want[layerBase + row * 2 * W + 2 * W - 1]).toBe(src[(qStart + j) * srcStride + 3 * W + 1]);
    }
  });
  for (const b of [gSrc, gSeqs, gTable, gPool]) b.destroy();
}

describe('kv_scatter kernel', () => {
  const shapes = [
    { numHeads: 1, headDim: 5 },
    { numHeads: 3, headDim: 5 },
    { numHeads: 1, headDim: 16 },
    { numHeads: 3, headDim: 16 },
  ];
  shapes.forEach((sh, i) => {
    it(`prefill and decode rows land in shuffled blocks (${sh.numHeads} heads x ${sh.headDim})`, async () => {
      await checkCase(
        {
          ...sh,
          blockTokens: 16,
          seqs: [
            { past: 0, qLen: 1 },
            { past: 0, qLen: 15 },
            { past: 15, qLen: 1 },
            { past: 0, qLen: 17 },
            { past: 16, qLen: 1 },
            { past: 39, qLen: 1 },
            { past: 0, qLen: 40 },
            { past: 20, qLen: 20 },
          ],
          gap: 1,
        },
        10 + i,
      );
    });
  });

  it('odd block sizes (1, 3, 7) and a lone sequence', async () => {
    for (const blockTokens of [1, 3, 7]) {
      await checkCase({ numHeads: 3, headDim: 5, blockTokens, seqs: [{ past: 5, qLen: 9 }] }, 30 + blockTokens);
    }
  });

  it('GPT-2 small width (768) and more than 65535 rows (2D grid)', async () => {
    await checkCase({ numHeads: 12, headDim: 64, blockTokens: 16, seqs: [{ past: 99, qLen: 1 }, { past: 0, qLen: 33 }] }, 50);
    await checkCase({ numHeads: 1, headDim: 1, blockTokens: 16, seqs: [{ past: 3, qLen: 70_001 }] }, 51);
  });

  it('skips rows the table cannot address, never writing outside the layer region', async () => {
    // Corrupt descriptors: kvLen < qLen, a table offset past the table, kvLen past the table.
    await checkCase(
      {
        numHeads: 2,
        headDim: 3,
        blockTokens: 4,
        seqs: [{ past: 2, qLen: 3 }],
        gap: 6,
        extraSeqs: [
          [0, 2, 0, 1],
          [2, 2, 1000, 2],
          [4, 2, 0, 5000],
        ],
      },
      40,
    );
  });

  it('rejects shapes that do not fit with ShapeError', async () => {
    const ctx = await testContext();
    const small = await uploadBuffer(ctx, new Float32Array(64), 'small');
    const pool = await uploadBuffer(ctx, new Float32Array(64), 'pool');
    const base: KvScatterArgs = {
      pool, layerBase: 0, numBlocks: 2, blockTokens: 4, seqs: small, numSeqs: 1, table: small, tableLen: 2,
      src: small, rows: 2, width: 4, srcStride: 12, kOffset: 4, vOffset: 8,
    };
    const encode = (a: KvScatterArgs): void => run(ctx, (pass) => encodeKvScatter(ctx, pass, a));
    expect(() => encode({ ...base, numBlocks: 3 })).toThrow(ShapeError);
    expect(() => encode({ ...base, vOffset: 9 })).toThrow(ShapeError);
    expect(() => encode({ ...base, rows: 6 })).toThrow(ShapeError);
    expect(() => encode({ ...base, blockTokens: 0 })).toThrow(ShapeError);
    expect(() => encode({ ...base, src: pool })).toThrow(ShapeError);
    expect(() => encode(base)).not.toThrow();
    small.destroy();
    pool.destroy();
  });
});
