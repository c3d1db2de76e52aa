import { describe, expect, it } from 'vitest';
import { ATTENTION_BACKWARD_MAX_HEAD_DIM, encodeAttentionBackward, type AttentionBackwardArgs } from '../../src/kernels/attention-backward.js';
import { attentionBackwardRef, attentionForwardRef, type AttentionBackwardLayout } from '../../src/kernels/cpu/attention-backward.js';
import { attentionRef } from '../../src/kernels/cpu/attention.js';
import { run } from '../../src/gpu/dispatch.js';
import { allocBuffer, readF32, uploadBuffer } from '../../src/gpu/buffers.js';
import { ShapeError } from '../../src/errors.js';
import { expectClose, randomFloats, testContext } from '../helpers/gpu.js';
import { maxRelError, numericGradient } from '../helpers/gradients.js';

interface Case {
  numHeads: number;
  headDim: number;
  /** Sequence lengths, laid out in order with `gap` rows in no sequence before each. */
  lens: number[];
  causal: boolean;
  gap?: number;
  /** List the sequences in reverse order in the seqs buffer. */
  reverse?: boolean;
  /** Column layout; by default GPT-2's fused [q | k | v] with stride 3 * width. */
  layout?: { stride: number; qOffset: number; kOffset: number; vOffset: number };
  /** Input scale (large: peaked softmax). */
  scale?: number;
  seed?: number;
  workgroupSize?: number;
}

interface Built {
  a: AttentionBackwardLayout;
  qkv: Float32Array;
  dOut: Float32Array;
}

function build(c: Case): Built {
  const width = c.numHeads * c.headDim;
  const pairs: number[][] = [];
  let rows = 0;
  for (const len of c.lens) {
    rows += c.gap ?? 0;
    pairs.push([rows, len]);
    rows += len;
  }
  rows += c.gap ?? 0;
  if (c.reverse) pairs.reverse();
  const layout = c.layout ?? { stride: 3 * width, qOffset: 0, kOffset: width, vOffset: 2 * width };
  const seed = c.seed ?? 1;
  const a: AttentionBackwardLayout = { seqs: Uint32Array.from(pairs.flat()), numSeqs: pairs.length, rows, numHeads: c.numHeads, headDim: c.headDim, causal: c.causal, ...layout };
  return { a, qkv: randomFloats(rows * layout.stride, seed, c.scale ?? 1.5), dOut: randomFloats(rows * width, seed + 1) };
}

interface GpuResult {
  dQkv: Float32Array;
  stats: Float32Array;
}

const SENTINEL = 7.25;

async function onGpu(b: Built, workgroupSize?: number): Promise<GpuResult> {
  const ctx = await testContext();
  const { a } = b;
  const [gqkv, gdOut, gseqs, gdQkv, gstats] = await Promise.all([
    uploadBuffer(ctx, b.qkv, 'qkv'),
    uploadBuffer(ctx, b.dOut, 'dOut'),
    uploadBuffer(ctx, Uint32Array.from(a.seqs), 'seqs'),
    // A sentinel everywhere: columns outside q/k/v must keep it, gradients must overwrite it.
    uploadBuffer(ctx, new Float32Array(a.rows * a.stride).fill(SENTINEL), 'dQkv'),
    uploadBuffer(ctx, new Float32Array(a.rows * a.numHeads * 2).fill(SENTINEL), 'stats'),
  ]);
  run(ctx, (pass) => encodeAttentionBackward(ctx, pass, { ...a, qkv: gqkv, dOut: gdOut, seqs: gseqs, dQkv: gdQkv, stats: gstats, workgroupSize }));
  const dQkv = await readF32(ctx, gdQkv, a.rows * a.stride);
  const stats = await readF32(ctx, gstats, a.rows * a.numHeads * 2);
  for (const buf of [gqkv, gdOut, gseqs, gdQkv, gstats]) buf.destroy();
  return { dQkv, stats };
}

/** Whether column `col` of a row is one the gradients own. */
function owned(a: AttentionBackwardLayout, col: number): boolean {
  const width = a.numHeads * a.headDim;
  return [a.qOffset, a.kOffset, a.vOffset].some((o) => col >= o && col < o + width);
}

async function check(c: Case): Promise<GpuResult> {
  const b = build(c);
  const { a } = b;
  const gpu = await onGpu(b, c.workgroupSize);
  const ref = attentionBackwardRef(b.qkv, b.dOut, a);
  const expected = Float64Array.from(ref.dQkv, (v, i) => (owned(a, i % a.stride) ? v : SENTINEL));
  expectClose(gpu.dQkv, expected, 5e-4, 2e-5);
  expectClose(gpu.stats, ref.stats, 1e-4, 1e-5);
  return gpu;
}

describe('attention backward kernels', () => {
  for (const causal of [false, true]) {
    const kind = causal ? 'causal' : 'bidirectional';
    it(`${kind}: one sequence of one row, 1 head, headDim 1`, () => check({ numHeads: 1, headDim: 1, lens: [1], causal }));
    it(`${kind}: 1 head, headDim 5, lengths 2 and 17`, () => check({ numHeads: 1, headDim: 5, lens: [2, 17], causal }));
    it(`${kind}: 3 heads, headDim 37, lengths 1, 7, 33, 9, listed in reverse`, () => check({ numHeads: 3, headDim: 37, lens: [1, 7, 33, 9], causal, reverse: true, seed: 2 }));
    it(`${kind}: 2 heads, headDim 5, rows in no sequence between sequences get zero gradients`, async () => {
      const gpu = await check({ numHeads: 2, headDim: 5, lens: [3, 1, 8], causal, gap: 2, seed: 3 });
      // Rows 0, 1 are in no sequence: their q/k/v columns are zeros, not the sentinel.
      expect(Array.from(gpu.dQkv.subarray(0, 30)).every((v) => v === 0)).toBe(true);
    });
    it(`${kind}: a layout with spare columns, k before q before v (stride 3*width + 5)`, () =>
      check({ numHeads: 2, headDim: 7, lens: [5, 11, 1], causal, layout: { stride: 47, qOffset: 16, kOffset: 2, vOffset: 31 }, seed: 4 }));
    it(`${kind}: a peaked softmax (inputs x6)`, () => check({ numHeads: 2, headDim: 16, lens: [13, 40], causal, scale: 6, seed: 5 }));
    it(`${kind}: 4 heads x 32 over 130 rows in 3 sequences, workgroup 64`, () =>
      check({ numHeads: 4, headDim: 32, lens: [64, 1, 65], causal, workgroupSize: 64, seed: 6 }));
  }

  it('a 512-row sequence with headDim 128, causal, beside a 3-row one', () => check({ numHeads: 1, headDim: 128, lens: [512, 3], causal: true, seed: 7 }));
  it('a 512-row sequence with headDim 128, bidirectional', () => check({ numHeads: 1, headDim: 128, lens: [512], causal: false, seed: 8 }));
  it(`headDim ${ATTENTION_BACKWARD_MAX_HEAD_DIM} (the maximum), bidirectional over 21 rows`, () =>
    check({ numHeads: 1, headDim: ATTENTION_BACKWARD_MAX_HEAD_DIM, lens: [21], causal: false, seed: 9 }));

  it('folds the grid past 65535 workgroups: sequences at both ends of 65600 rows x 4 heads', async () => {
    const a: AttentionBackwardLayout = { seqs: Uint32Array.from([10, 5, 65590, 7]), numSeqs: 2, rows: 65600, numHeads: 4, headDim: 1, stride: 12, qOffset: 0, kOffset: 4, vOffset: 8, causal: true };
    const b: Built = { a, qkv: randomFloats(a.rows * a.stride, 12, 1.5), dOut: randomFloats(a.rows * 4, 13) };
    const gpu = await onGpu(b, 4);
    expectClose(gpu.dQkv, attentionBackwardRef(b.qkv, b.dOut, a).dQkv, 5e-4, 2e-5);
  });

  it('gives the same bits on every run', async () => {
    const b = build({ numHeads: 3, headDim: 37, lens: [70, 1, 33], causal: true, seed: 10 });
    const first = await onGpu(b);
    const second = await onGpu(b);
    expect(new Uint32Array(second.dQkv.buffer)).toEqual(new Uint32Array(first.dQkv.buffer));
    expect(new Uint32Array(second.stats.buffer)).toEqual(new Uint32Array(first.stats.buffer));
  });

  for (const causal of [false, true]) {
    it(`${causal ? 'causal' : 'bidirectional'}: the CPU forward is the attention reference's, and the CPU backward matches finite differences`, () => {
      const b = build({ numHeads: 2, headDim: 3, lens: [3, 1, 4], causal, gap: 1, layout: { stride: 20, qOffset: 13, kOffset: 0, vOffset: 6 }, seed: 11 });
      const { a } = b;
      const seqs4 = Array.from({ length: a.numSeqs }, (_, s) => [a.seqs[2 * s], a.seqs[2 * s + 1], a.seqs[2 * s], a.seqs[2 * s + 1]]).flat();
      const fwd = attentionForwardRef(b.qkv, a);
      const viaForwardKernelRef = attentionRef({ q: b.qkv, k: b.qkv, v: b.qkv, seqs: seqs4, numSeqs: a.numSeqs, qRows: a.rows, numHeads: a.numHeads, headDim: a.headDim, qStride: a.stride, qOffset: a.qOffset, kvStride: a.stride, kOffset: a.kOffset, vOffset: a.vOffset, causal });
      expectClose(fwd.out, viaForwardKernelRef, 1e-12, 1e-14);

      // loss = sum(out * dOut): its gradient with respect to qkv is what the backward computes.
      const loss = (qkv: Float64Array): number => {
        const out = attentionForwardRef(qkv, a).out;
        let s = 0;
        for (let i = 0; i < out.length; i++) s += out[i] * b.dOut[i];
        return s;
      };
      const coords = Array.from({ length: a.rows * a.stride }, (_, i) => i);
      const fd = numericGradient(loss, b.qkv, coords);
      const analytic = attentionBackwardRef(b.qkv, b.dOut, a).dQkv;
      const at = (v: ArrayLike<number>): number[] => coords.map((i) => v[i]);
      expect(Math.max(...at(fd).map(Math.abs))).toBeGreaterThan(0.1);
      expect(maxRelError(at(analytic), at(fd))).toBeLessThan(1e-8);
    });
  }

  it('rejects bad shapes with ShapeError', async () => {
    const ctx = await testContext();
    const b = await allocBuffer(ctx, 4096, 'b');
    const dQkv = await allocBuffer(ctx, 4096, 'dQkv');
    const stats = await allocBuffer(ctx, 256, 'stats');
    const base: AttentionBackwardArgs = {
      qkv: b, dOut: b, dQkv, stats, seqs: b, numSeqs: 1, rows: 4, numHeads: 2, headDim: 8,
      stride: 48, qOffset: 0, kOffset: 16, vOffset: 32, causal: true,
    };
    const enc = (over: Partial<AttentionBackwardArgs>): void => run(ctx, (pass) => encodeAttentionBackward(ctx, pass, { ...base, ...over }));
    ctx.device.pushErrorScope('validation');
    enc({});
    enc({ causal: false, workgroupSize: 64 });
    enc({ rows: 0 });
    expect(await ctx.device.popErrorScope()).toBeNull();
    expect(() => enc({ headDim: ATTENTION_BACKWARD_MAX_HEAD_DIM + 1, numHeads: 1, stride: 3 * 257, kOffset: 257, vOffset: 514 })).toThrow(/maximum/);
    expect(() => enc({ headDim: 0 })).toThrow(ShapeError);
    expect(() => enc({ vOffset: 33 })).toThrow(/exceeds the row stride/);
    expect(() => enc({ kOffset: 8 })).toThrow(/overlap/);
    expect(() => enc({ rows: 100 })).toThrow(ShapeError);
    expect(() => enc({ rows: 17 })).toThrow(/stats holds 64 elements, needs 68/);
    expect(() => enc({ numSeqs: 600 })).toThrow(ShapeError);
    expect(() => enc({ dQkv: b })).toThrow(/different GPUBuffer/);
    expect(() => enc({ stats: dQkv })).toThrow(/different GPUBuffer/);
    expect(() => enc({ stats: b })).toThrow(/different GPUBuffer/);
    expect(() => enc({ workgroupSize: 0 })).toThrow(ShapeError);
    for (const buf of [b, dQkv, stats]) buf.destroy();
  });
});
