import { describe, expect, it } from 'vitest';
import { encodeMatmul, MATMUL_VARIANTS, type MatmulActivation, type WeightLayout } from '../../src/kernels/matmul.js';
import { geluErf, matmulRef } from '../../src/kernels/cpu/matmul.js';
import { run } from '../../src/gpu/dispatch.js';
import { allocBuffer, readF32, uploadBuffer, writeBuffer } from '../../src/gpu/buffers.js';
import { ShapeError } from '../../src/errors.js';
import { expectClose, randomFloats, testContext } from '../helpers/gpu.js';

interface Epilogue {
  name: string;
  bias?: boolean;
  alpha?: number;
  accumulate?: boolean;
  activation?: MatmulActivation;
}

const EPILOGUES: Epilogue[] = [
  { name: 'plain' },
  { name: 'bias, alpha', bias: true, alpha: -0.75 },
  { name: 'accumulate, bias', bias: true, accumulate: true },
  { name: 'gelu_erf, bias', bias: true, activation: 'gelu_erf' },
  { name: 'gelu_tanh, alpha, accumulate', alpha: 1.5, activation: 'gelu_tanh', accumulate: true },
];

// [M, N, K]: size 1, tails of 1..3 in every dimension, and shapes the vec4 path of rb4x4 takes
// (K % 4 == 0, and N % 4 == 0 for 'kn'), one with M in the thousands.
const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [1, 3, 5],
  [7, 65, 5],
  [33, 97, 63],
  [130, 33, 129],
  [5, 4, 8],
  [3, 68, 36],
  [66, 67, 64],
  [2050, 5, 7],
];

describe('matmul kernels', () => {
  for (const variant of MATMUL_VARIANTS) {
    for (const wLayout of ['kn', 'nk'] as WeightLayout[]) {
      for (const [M, N, K] of SHAPES) {
        it(`${variant} ${wLayout} M=${M} N=${N} K=${K} matches the CPU reference with every epilogue`, async () => {
          const ctx = await testContext();
          const x = randomFloats(M * K, M + 1);
          const w = randomFloats(K * N, N + 2);
          const bias = randomFloats(N, K + 3);
          const y0 = randomFloats(M * N, 7);
          const [gx, gw, gb, gy] = await Promise.all([
            uploadBuffer(ctx, x, 'x'),
            uploadBuffer(ctx, w, 'w'),
            uploadBuffer(ctx, bias, 'bias'),
            allocBuffer(ctx, M * N * 4, 'y'),
          ]);
          for (const e of EPILOGUES) {
            writeBuffer(ctx, gy, y0);
            run(ctx, (pass) =>
              encodeMatmul(ctx, pass, {
                x: gx,
                w: gw,
                y: gy,
                M,
                N,
                K,
                wLayout,
                variant,
                alpha: e.alpha,
                accumulate: e.accumulate,
                activation: e.activation,
                ...(e.bias ? { bias: gb } : {}),
              }),
            );
            const out = await readF32(ctx, gy, M * N);
            const ref = matmulRef({ x, w, y: y0, M, N, K, wLayout, alpha: e.alpha, accumulate: e.accumulate, activation: e.activation, ...(e.bias ? { bias } : {}) });
            try {
              expectClose(out, ref, 1e-4, 1e-4);
            } catch (err) {
              throw new Error(`${e.name}: ${(err as Error).message}`);
            }
          }
          for (const b of [gx, gw, gb, gy]) b.destroy();
        });
      }
    }
  }

  // The runtime picks a variant per device by timing (and re-picks after a device loss), so an
  // answer may only stay the same bits if every variant adds the products in the same order.
  for (const wLayout of ['kn', 'nk'] as WeightLayout[]) {
    it(`every variant gives the same bits (${wLayout}, every shape, bias and GELU)`, async () => {
      const ctx = await testContext();
      for (const [M, N, K] of SHAPES) {
        const [gx, gw, gb] = await Promise.all([
          uploadBuffer(ctx, randomFloats(M * K, M + 5), 'x'),
          uploadBuffer(ctx, randomFloats(K * N, N + 6), 'w'),
          uploadBuffer(ctx, randomFloats(N, K + 7), 'bias'),
        ]);
        const outs: Float32Array[] = [];
        for (const variant of MATMUL_VARIANTS) {
          const gy = await allocBuffer(ctx, M * N * 4, 'y');
          run(ctx, (pass) => encodeMatmul(ctx, pass, { x: gx, w: gw, y: gy, bias: gb, M, N, K, wLayout, variant, activation: 'gelu_erf' }));
          outs.push(await readF32(ctx, gy, M * N));
          gy.destroy();
        }
        for (let v = 1; v < outs.length; v++) {
          const differ = outs[v].findIndex((y, i) => !Object.is(y, outs[0][i]));
          expect(differ, `${MATMUL_VARIANTS[v]} vs ${MATMUL_VARIANTS[0]} at M=${M} N=${N} K=${K}`).toBe(-1);
        }
        for (const b of [gx, gw, gb]) b.destroy();
      }
    });
  }

  it('reads and writes through buffer offsets', async () => {
    const ctx = await testContext();
    const [M, N, K] = [3, 5, 6];
    const off = ctx.limits.minStorageBufferOffsetAlignment;
    const x = randomFloats(M * K, 11);
    const w = randomFloats(N * K, 12);
    const store = await allocBuffer(ctx, 3 * off + M * N * 4, 'store');
    const gy = await allocBuffer(ctx, off + M * N * 4, 'y');
    writeBuffer(ctx, store, x, off);
    writeBuffer(ctx, store, w, 2 * off);
    run(ctx, (pass) =>
      encodeMatmul(ctx, pass, {
        x: { buffer: store, offset: off, size: M * K * 4 },
        w: { buffer: store, offset: 2 * off, size: N * K * 4 },
        y: { buffer: gy, offset: off },
        M,
        N,
        K,
        wLayout: 'nk',
        activation: 'gelu_erf',
      }),
    );
    const out = await readF32(ctx, gy, M * N, off / 4);
    expectClose(out, matmulRef({ x, w, M, N, K, wLayout: 'nk', activation: 'gelu_erf' }), 1e-4, 1e-5);
    store.destroy();
    gy.destroy();
  });

  it('approximates erf GELU within 1e-6 over a wide input range', async () => {
    const ctx = await testContext();
    // x @ [[1]] with K = N = 1 makes y the activation of x itself.
    const n = 4001;
    const x = Float32Array.from({ length: n }, (_, i) => -10 + (20 * i) / (n - 1));
    const [gx, gw, gy] = await Promise.all([uploadBuffer(ctx, x, 'x'), uploadBuffer(ctx, new Float32Array([1]), 'w'), allocBuffer(ctx, n * 4, 'y')]);
    run(ctx, (pass) => encodeMatmul(ctx, pass, { x: gx, w: gw, y: gy, M: n, N: 1, K: 1, wLayout: 'kn', activation: 'gelu_erf' }));
    const out = await readF32(ctx, gy, n);
    let worst = 0;
    for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(out[i] - geluErf(x[i])) / Math.max(1, Math.abs(x[i])));
    expect(worst).toBeLessThan(1e-6);
    for (const b of [gx, gw, gy]) b.destroy();
  });

  it('rejects bad shapes with a ShapeError saying what was expected', async () => {
    const ctx = await testContext();
    const [gx, gw, gy] = await Promise.all([allocBuffer(ctx, 4 * 8 * 4, 'x'), allocBuffer(ctx, 8 * 3 * 4, 'w'), allocBuffer(ctx, 4 * 3 * 4, 'y')]);
    const base = { x: gx, w: gw, y: gy, M: 4, N: 3, K: 8, wLayout: 'kn' as const };
    const attempt = (over: Record<string, unknown>): (() => void) => () =>
      run(ctx, (pass) => encodeMatmul(ctx, pass, { ...base, ...over }));
    expect(attempt({ M: 0 })).toThrow(ShapeError);
    expect(attempt({ K: 2.5 })).toThrow(/K must be a positive integer, got 2.5/);
    expect(attempt({ M: 5 })).toThrow(/x must hold \[M=5, K=8\] f32 = 160 bytes, its binding has 128/);
    expect(attempt({ N: 4 })).toThrow(/w must hold \[K=8, N=4\]/);
    expect(attempt({ bias: gx, N: 3, K: 2, x: gx, M: 1 })).not.toThrow();
    expect(attempt({ bias: { buffer: gw, offset: 0, size: 8 } })).toThrow(/bias must hold \[N=3\] f32 = 12 bytes, its binding has 8/);
    expect(attempt({ wLayout: 'nk', N: 4 })).toThrow(/w must hold \[N=4, K=8\]/);
    expect(attempt({ y: gx })).toThrow(/y must not share a GPUBuffer with x/);
    expect(attempt({ wLayout: 'kk' })).toThrow(/wLayout must be 'kn' or 'nk'/);
    expect(attempt({ variant: 'fast' })).toThrow(/unknown variant fast/);
    for (const b of [gx, gw, gy]) b.destroy();
  });
});
