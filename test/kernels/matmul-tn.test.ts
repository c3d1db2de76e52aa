import { describe, expect, it } from 'vitest';
import { encodeMatmulTN, type MatmulTnArgs } from '../../src/kernels/matmul-tn.js';
import { matmulTnRef } from '../../src/kernels/cpu/matmul-tn.js';
import { encodeMatmul, MATMUL_VARIANTS, type WeightLayout } from '../../src/kernels/matmul.js';
import { matmulRef } from '../../src/kernels/cpu/matmul.js';
import { run } from '../../src/gpu/dispatch.js';
import { allocBuffer, readF32, uploadBuffer } from '../../src/gpu/buffers.js';
import type { GpuContext } from '../../src/gpu/device.js';
import { ShapeError } from '../../src/errors.js';
import { expectClose, randomFloats, testContext } from '../helpers/gpu.js';
import { maxRelError, numericGradient } from '../helpers/gradients.js';

interface TnCase {
  M: number;
  N: number;
  K: number;
  lda?: number;
  ldb?: number;
  alpha?: number;
  accumulate?: boolean;
}

async function tnOnGpu(ctx: GpuContext, c: TnCase, a: Float32Array, b: Float32Array, c0: Float32Array): Promise<Float32Array> {
  const [ga, gb, gc] = await Promise.all([uploadBuffer(ctx, a, 'a'), uploadBuffer(ctx, b, 'b'), uploadBuffer(ctx, c0, 'c')]);
  run(ctx, (pass) => encodeMatmulTN(ctx, pass, { a: ga, b: gb, c: gc, ...c }));
  const out = await readF32(ctx, gc, c.M * c.N);
  for (const buf of [ga, gb, gc]) buf.destroy();
  return out;
}

function inputs(c: TnCase, seed: number): { a: Float32Array; b: Float32Array; c0: Float32Array } {
  const lda = c.lda ?? c.M;
  const ldb = c.ldb ?? c.N;
  return {
    a: randomFloats(Math.max(1, c.K * lda), seed),
    b: randomFloats(Math.max(1, c.K * ldb), seed + 1),
    c0: randomFloats(c.M * c.N, seed + 2),
  };
}

// Odd sizes in every dimension, tails of 1..3 in the 4x4 blocks, LoRA-like thin outputs (M or N
// a rank) over many rows, strided views (a and b as columns of wider row-major matrices).
const CASES: TnCase[] = [
  { M: 1, N: 1, K: 1 },
  { M: 1, N: 3, K: 5 },
  { M: 7, N: 5, K: 33 },
  { M: 37, N: 129, K: 7 },
  { M: 130, N: 33, K: 129 },
  { M: 8, N: 128, K: 513 },
  { M: 129, N: 4, K: 130 },
  { M: 5, N: 37, K: 33, lda: 17, ldb: 40 },
  { M: 33, N: 7, K: 130, alpha: -0.375, accumulate: true },
  { M: 6, N: 9, K: 11, lda: 6, ldb: 12, alpha: 2, accumulate: true },
];

const label = (c: TnCase): string =>
  `M=${c.M} N=${c.N} K=${c.K}${c.lda ? ` lda=${c.lda}` : ''}${c.ldb ? ` ldb=${c.ldb}` : ''}${c.alpha !== undefined ? ` alpha=${c.alpha}` : ''}${c.accumulate ? ' accumulate' : ''}`;


const dot = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};

describe('matmul_tn kernel', () => {
  for (const c of CASES) {
    it(`matches the CPU reference for ${label(c)}`, async () => {
      const ctx = await testContext();
      const { a, b, c0 } = inputs(c, c.M * 100 + c.N);
      const out = await tnOnGpu(ctx, c, a, b, c0);
      const ref = matmulTnRef(a, b, c.M, c.N, c.K, c.lda, c.ldb, c.alpha, c.accumulate ? c0 : undefined);
      expectClose(out, ref, 1e-4, 1e-4);
    });
  }

  it('K = 0 gives zeros, or leaves c unchanged when accumulating', async () => {
    const ctx = await testContext();
    const c0 = randomFloats(15, 3);
    const a = new Float32Array(4);
    expect(Array.from(await tnOnGpu(ctx, { M: 3, N: 5, K: 0 }, a, a, c0))).toEqual(new Array(15).fill(0));
    expect(await tnOnGpu(ctx, { M: 3, N: 5, K: 0, accumulate: true }, a, a, c0)).toEqual(c0);
  });

  it('gives the same bits on every run', async () => {
    const ctx = await testContext();
    const c: TnCase = { M: 37, N: 129, K: 1031 };
    const { a, b, c0 } = inputs(c, 9);
    const first = await tnOnGpu(ctx, c, a, b, c0);
    const second = await tnOnGpu(ctx, c, a, b, c0);
    expect(new Uint32Array(second.buffer)).toEqual(new Uint32Array(first.buffer));
  });

  it('its CPU reference is the gradient of sum((x @ W) * G) with respect to W (finite differences)', () => {
    for (const [R, I, O] of [
      [7, 5, 3],
      [1, 4, 6],
      [9, 3, 1],
    ]) {
      const x = randomFloats(R * I, R + 1);
      const w = randomFloats(I * O, I + 2);
      const G = randomFloats(R * O, O + 3);
      // y = x @ W, W [I, O] ('kn'), loss = sum(y * G): dW = x^T G, reduced over the R rows.
      const loss = (wv: Float64Array): number => dot(matmulRef({ x, w: wv, M: R, N: O, K: I, wLayout: 'kn' }), G);
      const analytic = matmulTnRef(x, G, I, O, R);
      expect(maxRelError(analytic, numericGradient(loss, w))).toBeLessThan(1e-8);
    }
  });

  it('rejects bad shapes with ShapeError', async () => {
    const ctx = await testContext();
    const big = await allocBuffer(ctx, 4096, 'big');
    const small = await allocBuffer(ctx, 16, 'small');
    const c = await allocBuffer(ctx, 4096, 'c');
    const base: MatmulTnArgs = { a: big, b: big, c, M: 4, N: 8, K: 16 };
    const enc = (over: Partial<MatmulTnArgs>): void => run(ctx, (pass) => encodeMatmulTN(ctx, pass, { ...base, ...over }));
    ctx.device.pushErrorScope('validation');
    enc({});
    enc({ K: 0 });
    enc({ lda: 60, K: 16 });
    expect(await ctx.device.popErrorScope()).toBeNull();
    expect(() => enc({ M: 0 })).toThrow(ShapeError);
    expect(() => enc({ K: -1 })).toThrow(ShapeError);
    expect(() => enc({ N: 2.5 })).toThrow(ShapeError);
    expect(() => enc({ lda: 3 })).toThrow(/lda must be an integer >= 4/);
    expect(() => enc({ ldb: 7 })).toThrow(ShapeError);
    expect(() => enc({ lda: 80 })).toThrow(/a holds 1024 elements, needs 1204/);
    expect(() => enc({ b: small })).toThrow(ShapeError);
    expect(() => enc({ M: 32, N: 33 })).toThrow(/c holds/);
    expect(() => enc({ alpha: Number.NaN })).toThrow(ShapeError);
    expect(() => enc({ c: big })).toThrow(/different GPUBuffer/);
    for (const buf of [big, small, c]) buf.destroy();
  });
});

describe('input gradient dX = dY W^T through encodeMatmul with the opposite layout', () => {
  // Forward y[R, O] = x[R, I] @ W. With W 'kn' ([I, O]) the same buffer read 'nk' is an
  // [N=I, K=O] weight, so encodeMatmul(x = dY, w = W, 'nk') gives dY @ W^T; with W 'nk'
  // ([O, I]) it is read 'kn' as [K=O, N=I].
  const flip: Record<WeightLayout, WeightLayout> = { kn: 'nk', nk: 'kn' };
  for (const forward of ['kn', 'nk'] as const) {
    for (const variant of MATMUL_VARIANTS) {
      for (const [R, I, O] of [
        [1, 5, 3],
        [7, 37, 5],
        [33, 129, 37],
        [130, 8, 128],
      ]) {
        it(`forward W ${forward}, ${variant}: R=${R} in=${I} out=${O}`, async () => {
          const ctx = await testContext();
          const w = randomFloats(I * O, R + I);
          const dy = randomFloats(R * O, O + 1);
          const Wio = (i: number, o: number): number => (forward === 'kn' ? w[i * O + o] : w[o * I + i]);
          const ref = new Float64Array(R * I);
          for (let r = 0; r < R; r++) for (let i = 0; i < I; i++) for (let o = 0; o < O; o++) ref[r * I + i] += dy[r * O + o] * Wio(i, o);
          const [gw, gdy, gdx] = await Promise.all([uploadBuffer(ctx, w, 'w'), uploadBuffer(ctx, dy, 'dy'), allocBuffer(ctx, R * I * 4, 'dx')]);
          run(ctx, (pass) => encodeMatmul(ctx, pass, { x: gdy, w: gw, y: gdx, M: R, N: I, K: O, wLayout: flip[forward], variant }));
          expectClose(await readF32(ctx, gdx, R * I), ref, 1e-4, 1e-4);
          for (const b of [gw, gdy, gdx]) b.destroy();
        });
      }
    }
  }

  it('the CPU reference above is the gradient of sum((x @ W) * G) with respect to x (finite differences)', () => {
    const [R, I, O] = [5, 7, 3];
    for (const wLayout of ['kn', 'nk'] as const) {
      const x = randomFloats(R * I, 1);
      const w = randomFloats(I * O, 2);
      const G = randomFloats(R * O, 3);
      const loss = (xv: Float64Array): number => dot(matmulRef({ x: xv, w, M: R, N: O, K: I, wLayout }), G);
      const analytic = matmulRef({ x: G, w, M: R, N: I, K: O, wLayout: flip[wLayout] });
      expect(maxRelError(analytic, numericGradient(loss, x))).toBeLessThan(1e-8);
    }
  });
});
