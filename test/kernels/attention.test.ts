import { describe, expect, it } from 'vitest';
import { ATTENTION_MAX_HEAD_DIM, encodeAttention, type AttentionArgs, type AttentionVariant } from '../../src/kernels/attention.js';
import { attentionRef } from '../../src/kernels/cpu/attention.js';
import { run } from '../../src/gpu/dispatch.js';
import { allocBuffer, readF32, uploadBuffer } from '../../src/gpu/buffers.js';
import { ShapeError } from '../../src/errors.js';
import { expectClose, randomFloats, testContext } from '../helpers/gpu.js';

interface Seq {
  qLen: number;
  kvLen: number;
}

interface Case {
  variant: AttentionVariant;
  numHeads: number;
  headDim: number;
  seqs: Seq[];
  causal: boolean;
  /** GPT-2 layout: one [T, 3H] buffer bound as q, k and v (needs qLen == kvLen). */
  fused?: boolean;
  /** Key mask: returns 0 for padding keys, by (sequence, key index). */
  mask?: (s: number, j: number) => number;
  /** Unused k/v rows before each sequence's cache, so kvStart is not qStart. */
  kvGap?: number;
  /** Unused q rows before each sequence (they must come out as zeros). */
  qGap?: number;
  /** List the sequences in reverse order in the seqs buffer. */
  reverse?: boolean;
  seed?: number;
}

async function checkCase(c: Case): Promise<Float32Array> {
  const ctx = await testContext();
  const { numHeads, headDim } = c;
  const width = numHeads * headDim;
  const seqs: number[][] = [];
  let qRows = 0;
  let kvRows = 0;
  for (const s of c.seqs) {
    qRows += c.qGap ?? 0;
    kvRows += c.kvGap ?? 0;
    if (c.fused) {
      if (s.qLen !== s.kvLen) throw new Error('fused qkv needs qLen == kvLen');
      seqs.push([qRows, s.qLen, qRows, s.kvLen]);
      qRows += s.qLen;
      kvRows = qRows;
    } else {
      seqs.push([qRows, s.qLen, kvRows, s.kvLen]);
      qRows += s.qLen;
      kvRows += s.kvLen;
    }
  }
  if (c.reverse) seqs.reverse();
  const seqData = Uint32Array.from(seqs.flat());
  const seed = c.seed ?? 1;
  let mask: Uint32Array | undefined;
  if (c.mask) {
    mask = new Uint32Array(kvRows);
    c.seqs.forEach((s, i) => {
      const kvStart = seqs[c.reverse ? c.seqs.length - 1 - i : i][2];
      for (let j = 0; j < s.kvLen; j++) mask![kvStart + j] = c.mask!(i, j);
    });
  }

  let layout: Pick<AttentionArgs, 'qStride' | 'qOffset' | 'kvStride' | 'kOffset' | 'vOffset'>;
  let q: Float32Array;
  let k: Float32Array;
  let v: Float32Array;
  if (c.fused) {
    q = k = v = randomFloats(qRows * 3 * width, seed, 1.5);
    layout = { qStride: 3 * width, qOffset: 0, kvStride: 3 * width, kOffset: width, vOffset: 2 * width };
  } else {
    q = randomFloats(qRows * width, seed, 1.5);
    k = randomFloats(kvRows * width, seed + 1, 1.5);
    v = randomFloats(kvRows * width, seed + 2);
    layout = { qStride: width, qOffset: 0, kvStride: width, kOffset: 0, vOffset: 0 };
  }
  const gq = await uploadBuffer(ctx, q, 'q');
  const gk = c.fused ? gq : await uploadBuffer(ctx, k, 'k');
  const gv = c.fused ? gq : await uploadBuffer(ctx, v, 'v');
  const gSeqs = await uploadBuffer(ctx, seqData, 'seqs');
  const gMask = mask ? await uploadBuffer(ctx, mask, 'mask') : undefined;
  // Garbage in out: rows the kernel must zero are really written.
  const gOut = await uploadBuffer(ctx, new Float32Array(qRows * width).fill(7), 'out');
  const common = { numSeqs: seqs.length, qRows, numHeads, headDim, ...layout, causal: c.causal };
  run(ctx, (pass) => encodeAttention(ctx, pass, { q: gq, k: gk, v: gv, out: gOut, seqs: gSeqs, kvRows, keyMask: gMask, variant: c.variant, ...common }));
  const out = await readF32(ctx, gOut, qRows * width);
  const ref = attentionRef({ q, k, v, seqs: seqData, keyMask: mask, ...common });
  expectClose(out, ref, 1e-4, 2e-6);
  for (const b of new Set([gq, gk, gv, gSeqs, gOut, ...(gMask ? [gMask] : [])])) b.destroy();
  return out;
}

const prefill = (...lens: number[]): Seq[] => lens.map((n) => ({ qLen: n, kvLen: n }));

for (const variant of ['workgroup', 'thread'] as const) {
  describe(`attention kernel, ${variant} variant`, () => {
    const check = (c: Omit<Case, 'variant'>): Promise<Float32Array> => checkCase({ ...c, variant });
    for (const causal of [true, false]) {
      const kind = causal ? 'causal' : 'bidirectional';
      it(`${kind}: one sequence of one row, 1 head, headDim 1`, () => check({ numHeads: 1, headDim: 1, seqs: prefill(1), causal }));
      it(`${kind}: 1 head, headDim 5, lengths 2 and 17`, () => check({ numHeads: 1, headDim: 5, seqs: prefill(2, 17), causal }));
      it(`${kind}: 3 heads, headDim 16, lengths 1, 2, 17, 40`, () => check({ numHeads: 3, headDim: 16, seqs: prefill(1, 2, 17, 40), causal }));
      it(`${kind}: 3 heads, headDim 64, 5 sequences listed out of order`, () =>
        check({ numHeads: 3, headDim: 64, seqs: prefill(17, 1, 40, 2, 5), causal, reverse: true, seed: 4 }));
      it(`${kind}: 1 head, headDim 5, 5 sequences with unused q and k/v rows between them`, () =>
        check({ numHeads: 1, headDim: 5, seqs: prefill(2, 17, 1, 40, 3), causal, qGap: 2, kvGap: 3, seed: 5 }));
    }

    it('causal GPT-2 layout: fused [T, 3H] qkv with stride 3H, 3 heads of 16', () =>
      check({ numHeads: 3, headDim: 16, seqs: prefill(17, 40, 1), causal: true, fused: true, seed: 6 }));

    it('causal decode: qLen 1 over a KV cache of 9, and of 1, 2, 17, 40', () =>
      check({
        numHeads: 3,
        headDim: 16,
        seqs: [9, 1, 2, 17, 40].map((kvLen) => ({ qLen: 1, kvLen })),
        causal: true,
        kvGap: 4,
        seed: 7,
      }));

    it('causal chunked decode: qLen 3 over a cache of 9 (absolute positions 6..8)', () =>
      check({ numHeads: 1, headDim: 5, seqs: [{ qLen: 3, kvLen: 9 }, { qLen: 2, kvLen: 2 }], causal: true, seed: 8 }));

    it('bidirectional with a BERT key mask (trailing padding), one sequence fully masked gives zeros', async () => {
      const lens = [17, 40, 2, 5];
      const valid = [12, 40, 1, 0];
      const out = await check({ numHeads: 3, headDim: 5, seqs: prefill(...lens), causal: false, mask: (s, j) => (j < valid[s] ? 1 : 0), seed: 9 });
      const width = 15;
      const start = (17 + 40 + 2) * width;
      expect(Array.from(out.subarray(start, start + 5 * width)).every((x) => x === 0)).toBe(true);
    });

    it('causal with a key mask: queries whose visible keys are all masked give zeros', async () => {
      // Keys 0..3 of the first sequence and every fifth key masked: queries 0..4 see nothing, query 5 sees key 5.
      const out = await check({ numHeads: 1, headDim: 16, seqs: prefill(17, 9), causal: true, mask: (s, j) => (s === 0 && j < 4 ? 0 : j % 5 === 4 ? 0 : 1), seed: 10 });
      expect(Array.from(out.subarray(0, 5 * 16)).every((x) => x === 0)).toBe(true);
      expect(out.subarray(5 * 16, 6 * 16).some((x) => x !== 0)).toBe(true);
    });

    it('headDim 128 with kvLen 1024: decode and an 8-row chunk', () =>
      check({ numHeads: 2, headDim: 128, seqs: [{ qLen: 1, kvLen: 1024 }, { qLen: 8, kvLen: 1024 }], causal: true, seed: 11 }));

    it(`headDim ${ATTENTION_MAX_HEAD_DIM} (the maximum), bidirectional over 70 keys`, () =>
      check({ numHeads: 1, headDim: ATTENTION_MAX_HEAD_DIM, seqs: prefill(70), causal: false, seed: 12 }));
  });
}

describe('attention kernel', () => {
  it('rejects bad shapes with ShapeError', async () => {
    const ctx = await testContext();
    const b = await allocBuffer(ctx, 4096, 'b');
    const out = await allocBuffer(ctx, 4096, 'out');
    const base: AttentionArgs = {
      q: b, k: b, v: b, out, seqs: b, numSeqs: 1, qRows: 4, kvRows: 4, numHeads: 2, headDim: 8,
      qStride: 16, qOffset: 0, kvStride: 16, kOffset: 0, vOffset: 0, causal: true,
    };
    const enc = (over: Partial<AttentionArgs>): void => run(ctx, (pass) => encodeAttention(ctx, pass, { ...base, ...over }));
    ctx.device.pushErrorScope('validation');
    enc({});
    enc({ keyMask: { buffer: b, size: 16 }, variant: 'workgroup' });
    enc({ variant: 'thread' });
    expect(await ctx.device.popErrorScope()).toBeNull();
    expect(() => enc({ headDim: ATTENTION_MAX_HEAD_DIM + 1, qStride: 1024, kvStride: 1024, numHeads: 1 })).toThrow(ShapeError);
    expect(() => enc({ headDim: 0 })).toThrow(ShapeError);
    expect(() => enc({ qOffset: 1 })).toThrow(ShapeError);
    expect(() => enc({ kvStride: 48, vOffset: 33 })).toThrow(ShapeError);
    expect(() => enc({ qRows: 100 })).toThrow(ShapeError);
    expect(() => enc({ numSeqs: 300 })).toThrow(ShapeError);
    expect(() => enc({ keyMask: { buffer: b, size: 12 } })).toThrow(ShapeError);
    expect(() => enc({ out: { buffer: b, offset: 2048 } })).toThrow(/different GPUBuffer/);
    b.destroy();
    out.destroy();
  });
});
