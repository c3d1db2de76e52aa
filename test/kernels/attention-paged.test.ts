import { describe, expect, it } from 'vitest';
import { encodeAttentionPaged, type AttentionPagedArgs } from '../../src/kernels/attention-paged.js';
import type { AttentionVariant } from '../../src/kernels/attention.js';
import { attentionPagedRef } from '../../src/kernels/cpu/attention-paged.js';
import { encodeAttention } from '../../src/kernels/attention.js';
import { encodeKvScatter } from '../../src/kernels/kv-scatter.js';
import { run } from '../../src/gpu/dispatch.js';
import { allocBuffer, readF32, uploadBuffer } from '../../src/gpu/buffers.js';
import { ShapeError } from '../../src/errors.js';
import { expectClose, randomFloats, testContext } from '../helpers/gpu.js';
import { mulberry32, shuffle } from '../../src/util/rng.js';

/** A deterministic permutation of 0..n-1. */
const shuffled = (n: number, seed: number): number[] => shuffle(Array.from({ length: n }, (_, i) => i), mulberry32(seed));

interface Seq {
  qLen: number;
  kvLen: number;
}

/** Sequences packed in q, each with its own shuffled (non-contiguous) blocks of one pool layer. */
interface Layout {
  W: number;
  B: number;
  numBlocks: number;
  layerBase: number;
  poolLen: number;
  qRows: number;
  table: number[];
  /** qStart, qLen, tableOffset, kvLen per sequence. */
  seqs: number[][];
}

function layout(numHeads: number, headDim: number, B: number, seqs: readonly Seq[], seed: number, qGap = 0): Layout {
  const W = numHeads * headDim;
  const blocks = seqs.map((s) => Math.ceil(s.kvLen / B));
  const numBlocks = blocks.reduce((a, b) => a + b, 0) + 2;
  const perm = shuffled(numBlocks, seed);
  const table: number[] = [];
  const descs: number[][] = [];
  let qRows = 0;
  seqs.forEach((s, i) => {
    qRows += qGap;
    descs.push([qRows, s.qLen, table.length, s.kvLen]);
    for (let b = 0; b < blocks[i]; b++) table.push(perm[table.length]);
    qRows += s.qLen;
  });
  const layerBase = 2 * W * B + 5;
  return { W, B, numBlocks, layerBase, poolLen: layerBase + numBlocks * B * 2 * W, qRows, table, seqs: descs };
}

async function runPaged(
  variant: AttentionVariant,
  L: Layout,
  numHeads: number,
  headDim: number,
  q: Float32Array,
  qStride: number,
  qOffset: number,
  pool: Float32Array,
  seqs: number[][],
  table: number[],
): Promise<Float32Array> {
  const ctx = await testContext();
  const tableData = Uint32Array.from(table.length ? table : [0]);
  const [gq, gPool, gSeqs, gTable, gOut] = await Promise.all([
    uploadBuffer(ctx, q, 'q'),
    uploadBuffer(ctx, pool, 'pool'),
    uploadBuffer(ctx, Uint32Array.from(seqs.flat()), 'seqs'),
    uploadBuffer(ctx, tableData, 'table'),
    allocBuffer(ctx, L.qRows * L.W * 4, 'out'),
  ]);
  run(ctx, (pass) =>
    encodeAttentionPaged(ctx, pass, {
      q: gq, pool: gPool, seqs: gSeqs, table: gTable, out: gOut,
      layerBase: L.layerBase, numBlocks: L.numBlocks, blockTokens: L.B, numSeqs: seqs.length, tableLen: table.length,
      qRows: L.qRows, numHeads, headDim, qStride, qOffset, variant,
    }),
  );
  const out = await readF32(ctx, gOut, L.qRows * L.W);
  for (const b of [gq, gPool, gSeqs, gTable, gOut]) b.destroy();
  return out;
}

const MIXED: Seq[] = [
  { qLen: 1, kvLen: 1 },
  { qLen: 1, kvLen: 15 },
  { qLen: 1, kvLen: 16 },
  { qLen: 1, kvLen: 17 },
  { qLen: 1, kvLen: 40 },
  { qLen: 15, kvLen: 15 },
  { qLen: 17, kvLen: 17 },
  { qLen: 40, kvLen: 40 },
  { qLen: 3, kvLen: 20 },
];

for (const variant of ['workgroup', 'thread'] as const) describe(`attention_paged kernel (${variant})`, () => {
  const shapes = [
    { numHeads: 1, headDim: 5 },
    { numHeads: 3, headDim: 5 },
    { numHeads: 1, headDim: 16 },
    { numHeads: 3, headDim: 16 },
  ];
  shapes.forEach(({ numHeads, headDim }, i) => {
    it(`matches the f64 reference: decode and prefill over shuffled blocks (${numHeads} heads x ${headDim})`, async () => {
      const L = layout(numHeads, headDim, 16, MIXED, 100 + i, 1);
      const qStride = 3 * L.W + 1;
      const q = randomFloats(L.qRows * qStride, 200 + i, 2);
      const pool = randomFloats(L.poolLen, 300 + i, 2);
      const got = await runPaged(variant, L, numHeads, headDim, q, qStride, 1, pool, L.seqs, L.table);
      const want = attentionPagedRef({ ...L, q, pool, seqs: L.seqs.flat(), numSeqs: L.seqs.length, tableLen: L.table.length, blockTokens: L.B, numHeads, headDim, qStride, qOffset: 1 });
      expectClose(got, want, 1e-4, 1e-5);
    });
  });

  it('odd block sizes and keys beyond one 64-key tile', async () => {
    for (const B of [1, 5, 16]) {
      const L = layout(2, 7, B, [{ qLen: 1, kvLen: 150 }, { qLen: 70, kvLen: 70 }], 400 + B);
      const q = randomFloats(L.qRows * L.W, 500 + B);
      const pool = randomFloats(L.poolLen, 600 + B);
      const got = await runPaged(variant, L, 2, 7, q, L.W, 0, pool, L.seqs, L.table);
      const want = attentionPagedRef({ ...L, q, pool, seqs: L.seqs.flat(), numSeqs: L.seqs.length, tableLen: L.table.length, blockTokens: L.B, numHeads: 2, headDim: 7, qStride: L.W, qOffset: 0 });
      expectClose(got, want, 1e-4, 1e-5);
    }
  });

  it('GPT-2 small heads (12 x 64): decode at 100 positions and a 33-token prefill', async () => {
    const L = layout(12, 64, 16, [{ qLen: 1, kvLen: 100 }, { qLen: 33, kvLen: 33 }], 450);
    const q = randomFloats(L.qRows * 3 * L.W, 451);
    const pool = randomFloats(L.poolLen, 452);
    const got = await runPaged(variant, L, 12, 64, q, 3 * L.W, 0, pool, L.seqs, L.table);
    const want = attentionPagedRef({ ...L, q, pool, seqs: L.seqs.flat(), numSeqs: L.seqs.length, tableLen: L.table.length, blockTokens: L.B, numHeads: 12, headDim: 64, qStride: 3 * L.W, qOffset: 0 });
    expectClose(got, want, 1e-4, 1e-5);
  });

  // Only the workgroup variant (one workgroup per item) reaches the 65535-workgroup limit here.
  if (variant === 'workgroup') it('more than 65535 (row, head) items fold into a 2D grid', async () => {
    const [numHeads, headDim, B] = [1, 2, 4];
    const qRows = 70_003;
    const L = { ...layout(numHeads, headDim, B, [{ qLen: 5, kvLen: 9 }], 460), qRows };
    // The only sequence owns the last rows: every other row must come out as zeros.
    const seqs = [[qRows - 5, 5, 0, 9]];
    const q = randomFloats(qRows * L.W, 461);
    const pool = randomFloats(L.poolLen, 462);
    const got = await runPaged(variant, L, numHeads, headDim, q, L.W, 0, pool, seqs, L.table);
    const want = attentionPagedRef({ ...L, q, pool, seqs: seqs.flat(), numSeqs: 1, tableLen: L.table.length, blockTokens: B, numHeads, headDim, qStride: L.W, qOffset: 0 });
    expectClose(got, want, 1e-4, 1e-5);
    expect(Array.from(got.subarray((qRows - 5) * L.W)).some((x) => x !== 0)).toBe(true);
  });

  // One core, two key resolvers: on the same keys and values the two kernels must agree bit for bit.
  it('equals the contiguous attention kernel bit for bit on the same keys and values', async () => {
    const ctx = await testContext();
    const [numHeads, headDim] = [3, 16];
    const L = layout(numHeads, headDim, 16, MIXED, 700);
    const W = L.W;
    const q = randomFloats(L.qRows * W, 701);
    const pool = randomFloats(L.poolLen, 702);
    const paged = await runPaged(variant, L, numHeads, headDim, q, W, 0, pool, L.seqs, L.table);
    // Gather each sequence's keys/values out of its blocks into contiguous [kvRows, 2W] rows.
    const kvRows = L.seqs.reduce((n, s) => n + s[3], 0);
    const kv = new Float32Array(kvRows * 2 * W);
    const contigSeqs: number[] = [];
    let next = 0;
    for (const [qStart, qLen, tableOffset, kvLen] of L.seqs) {
      contigSeqs.push(qStart, qLen, next, kvLen);
      for (let t = 0; t < kvLen; t++) {
        const row = L.table[tableOffset + Math.floor(t / L.B)] * L.B + (t % L.B);
        kv.set(pool.subarray(L.layerBase + row * 2 * W, L.layerBase + (row + 1) * 2 * W), (next + t) * 2 * W);
      }
      next += kvLen;
    }
    const [gq, gkv, gSeqs, gOut] = await Promise.all([
      uploadBuffer(ctx, q, 'q'),
      uploadBuffer(ctx, kv, 'kv'),
      uploadBuffer(ctx, Uint32Array.from(contigSeqs), 'seqs'),
      allocBuffer(ctx, L.qRows * W * 4, 'out'),
    ]);
    run(ctx, (pass) =>
      encodeAttention(ctx, pass, {
        q: gq, k: gkv, v: gkv, out: gOut, seqs: gSeqs, numSeqs: L.seqs.length, qRows: L.qRows, kvRows,
        numHeads, headDim, qStride: W, qOffset: 0, kvStride: 2 * W, kOffset: 0, vOffset: W, causal: true, variant,
      }),
    );
    const contiguous = await readF32(ctx, gOut, L.qRows * W);
    expect(paged).toEqual(contiguous);
    for (const b of [gq, gkv, gSeqs, gOut]) b.destroy();
  });

  it('kv_scatter then attention_paged in one pass equals uncached attention over the fused qkv (GPT-2 prefill)', async () => {
    const ctx = await testContext();
    const [numHeads, headDim, B] = [3, 5, 4];
    const lens = [1, 4, 9, 6];
    const L = layout(numHeads, headDim, B, lens.map((n) => ({ qLen: n, kvLen: n })), 800);
    const W = L.W;
    const qkv = randomFloats(L.qRows * 3 * W, 801);
    const [gQkv, gPool, gSeqs, gTable, gPaged, gPlain, gPlainSeqs] = await Promise.all([
      uploadBuffer(ctx, qkv, 'qkv'),
      allocBuffer(ctx, L.poolLen * 4, 'pool'),
      uploadBuffer(ctx, Uint32Array.from(L.seqs.flat()), 'seqs'),
      uploadBuffer(ctx, Uint32Array.from(L.table), 'table'),
      allocBuffer(ctx, L.qRows * W * 4, 'paged'),
      allocBuffer(ctx, L.qRows * W * 4, 'plain'),
      uploadBuffer(ctx, Uint32Array.from(L.seqs.flatMap(([qs, ql]) => [qs, ql, qs, ql])), 'plain seqs'),
    ]);
    const paged = { pool: gPool, layerBase: L.layerBase, numBlocks: L.numBlocks, blockTokens: B, seqs: gSeqs, numSeqs: L.seqs.length, table: gTable, tableLen: L.table.length };
    run(ctx, (pass) => {
      encodeKvScatter(ctx, pass, { ...paged, src: gQkv, rows: L.qRows, width: W, srcStride: 3 * W, kOffset: W, vOffset: 2 * W });
      encodeAttentionPaged(ctx, pass, { ...paged, q: gQkv, out: gPaged, qRows: L.qRows, numHeads, headDim, qStride: 3 * W, qOffset: 0, variant });
      encodeAttention(ctx, pass, {
        q: gQkv, k: gQkv, v: gQkv, out: gPlain, seqs: gPlainSeqs, numSeqs: L.seqs.length, qRows: L.qRows, kvRows: L.qRows,
        numHeads, headDim, qStride: 3 * W, qOffset: 0, kvStride: 3 * W, kOffset: W, vOffset: 2 * W, causal: true,
      });
    });
    expectClose(await readF32(ctx, gPaged, L.qRows * W), await readF32(ctx, gPlain, L.qRows * W), 1e-5, 1e-6);
    for (const b of [gQkv, gPool, gSeqs, gTable, gPaged, gPlain, gPlainSeqs]) b.destroy();
  });

  it('masks what the table cannot address and writes zeros where no key is visible', async () => {
    const [numHeads, headDim, B] = [2, 3, 4];
    const L = layout(numHeads, headDim, B, [{ qLen: 2, kvLen: 10 }, { qLen: 3, kvLen: 3 }], 900, 2);
    const q = randomFloats(L.qRows * L.W, 901);
    const pool = randomFloats(L.poolLen, 902);
    const table = [...L.table];
    // A block id past the pool: those 4 keys must be skipped, not read.
    table[1] = L.numBlocks + 1000;
    const seqs = [
      ...L.seqs,
      [0, 2, 0, 1], // kvLen < qLen: the first query sees nothing
      [L.qRows - 1, 1, table.length + 5, 4], // table offset past the table: zeros
    ];
    const got = await runPaged(variant, L, numHeads, headDim, q, L.W, 0, pool, seqs, table);
    const want = attentionPagedRef({ ...L, q, pool, seqs: seqs.flat(), numSeqs: seqs.length, table, tableLen: table.length, blockTokens: B, numHeads, headDim, qStride: L.W, qOffset: 0 });
    expectClose(got, want, 1e-4, 1e-5);
    // Rows 0-1 are a gap claimed by the corrupt descriptor: row 0 has no visible key.
    expect(Array.from(got.subarray(0, L.W)).every((x) => x === 0)).toBe(true);
    expect(Array.from(got.subarray(L.W, 2 * L.W)).some((x) => x !== 0)).toBe(true);
  });

  it('rejects shapes that do not fit with ShapeError', async () => {
    const ctx = await testContext();
    const buf = await uploadBuffer(ctx, new Float32Array(256), 'buf');
    const outBuf = await allocBuffer(ctx, 256 * 4, 'out');
    const base: AttentionPagedArgs = {
      q: buf, pool: buf, seqs: buf, table: buf, out: outBuf, variant, layerBase: 0, numBlocks: 2, blockTokens: 4, numSeqs: 1, tableLen: 2,
      qRows: 4, numHeads: 2, headDim: 4, qStride: 8, qOffset: 0,
    };
    const encode = (a: AttentionPagedArgs): void => run(ctx, (pass) => encodeAttentionPaged(ctx, pass, a));
    expect(() => encode({ ...base, numBlocks: 5 })).toThrow(ShapeError);
    expect(() => encode({ ...base, qOffset: 1 })).toThrow(ShapeError);
    expect(() => encode({ ...base, headDim: 300, numHeads: 1, qStride: 300 })).toThrow(ShapeError);
    expect(() => encode({ ...base, tableLen: 300 })).toThrow(ShapeError);
    expect(() => encode({ ...base, out: buf })).toThrow(ShapeError);
    expect(() => encode(base)).not.toThrow();
    buf.destroy();
    outBuf.destroy();
  });
});
