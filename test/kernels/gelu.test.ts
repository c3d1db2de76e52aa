import { describe, expect, it } from 'vitest';
import { encodeGelu, type GeluForm } from '../../src/kernels/gelu.js';
import { encodeMatmul, MATMUL_VARIANTS } from '../../src/kernels/matmul.js';
import { erf, geluRef } from '../../src/kernels/cpu/gelu.js';
import { run } from '../../src/gpu/dispatch.js';
import { allocBuffer, readF32, uploadBuffer } from '../../src/gpu/buffers.js';
import { ShapeError } from '../../src/errors.js';
import { expectClose, randomFloats, testContext } from '../helpers/gpu.js';

async function geluOnGpu(x: Float32Array, form: GeluForm, inPlace: boolean): Promise<Float32Array> {
  const ctx = await testContext();
  const n = x.length;
  const gx = await uploadBuffer(ctx, x, 'x');
  const gy = inPlace ? undefined : await allocBuffer(ctx, n * 4, 'y');
  run(ctx, (pass) => encodeGelu(ctx, pass, { x: gx, y: gy, n, form }));
  const y = await readF32(ctx, gy ?? gx, n);
  gx.destroy();
  gy?.destroy();
  return y;
}

const EXTREMES = [-100, -30, -10, -5.5, -1e-3, -1e-30, 0, 1e-30, 1e-3, 5.5, 10, 30, 100];

describe('gelu reference', () => {
  it('has an f64 erf', () => {
    // Values from CPython's math.erf.
    const table: [number, number][] = [
      [0, 0],
      [1e-8, 1.1283791670955126e-8],
      [0.5, 0.5204998778130465],
      [1, 0.8427007929497149],
      [2, 0.9953222650189527],
      [3, 0.9999779095030014],
      [-1.5, -0.9661051464753108],
      [4, 0.9999999845827421],
      [5.9, 0.9999999999999999],
    ];
    for (const [z, want] of table) expect(Math.abs(erf(z) - want)).toBeLessThan(5e-16);
  });
});

describe('gelu kernel', () => {
  for (const form of ['erf', 'tanh'] as const) {
    for (const inPlace of [false, true]) {
      for (const n of [1, 3, 255, 1001, 300_001]) {
        it(`${form} ${inPlace ? 'in place' : 'out of place'} matches the CPU reference for n=${n}`, async () => {
          const x = randomFloats(n, n + (inPlace ? 1 : 0), 6);
          x.set(EXTREMES.slice(0, n));
          const y = await geluOnGpu(x, form, inPlace);
          expectClose(y, geluRef(x, form), 2e-6, 1e-6);
        });
      }
    }
  }

  it('erf form: the erf behind it is within 1e-6', async () => {
    const n = 4001;
    const x = Float32Array.from({ length: n }, (_, i) => -8 + (16 * i) / (n - 1));
    const y = await geluOnGpu(x, 'erf', false);
    for (let i = 0; i < n; i++) {
      if (Math.abs(x[i]) < 1e-3) continue;
      const err = Math.abs((2 * y[i]) / x[i] - 1 - erf(x[i] / Math.SQRT2));
      if (err >= 1e-6) throw new Error(`erf error ${err} at x=${x[i]}`);
    }
  });

  // The fused epilogue and the standalone kernel are the two paths a layer's activation takes
  // (without / with a LoRA applier): they must agree to the bit, for every matmul variant.
  for (const form of ['erf', 'tanh'] as const) {
    it(`${form} form: bit-identical to the matmul epilogue's GELU`, async () => {
      const ctx = await testContext();
      const n = 20_001;
      const x = Float32Array.from({ length: n }, (_, i) => -12 + (24 * i) / (n - 1));
      x.set(EXTREMES);
      const want = await geluOnGpu(x, form, false);
      // x @ [[1]] (K = N = 1, alpha 1, no bias) leaves x exact, so y is the epilogue's gelu(x).
      const [gx, gw, gy] = await Promise.all([uploadBuffer(ctx, x, 'x'), uploadBuffer(ctx, new Float32Array([1]), 'w'), allocBuffer(ctx, n * 4, 'y')]);
      for (const variant of MATMUL_VARIANTS) {
        run(ctx, (pass) => encodeMatmul(ctx, pass, { x: gx, w: gw, y: gy, M: n, N: 1, K: 1, wLayout: 'kn', activation: form === 'erf' ? 'gelu_erf' : 'gelu_tanh', variant }));
        const got = await readF32(ctx, gy, n);
        expect(Buffer.from(got.buffer).equals(Buffer.from(want.buffer)), variant).toBe(true);
      }
      for (const b of [gx, gw, gy]) b.destroy();
    });
  }

  it('rejects bad shapes with ShapeError', async () => {
    const ctx = await testContext();
    const b = await allocBuffer(ctx, 16, 'b');
    const y = await allocBuffer(ctx, 16, 'y');
    ctx.device.pushErrorScope('validation');
    run(ctx, (pass) => encodeGelu(ctx, pass, { x: b, y, n: 4, form: 'erf' }));
    expect(await ctx.device.popErrorScope()).toBeNull();
    expect(() => run(ctx, (pass) => encodeGelu(ctx, pass, { x: b, n: 5, form: 'erf' }))).toThrow(ShapeError);
    expect(() => run(ctx, (pass) => encodeGelu(ctx, pass, { x: b, n: -1, form: 'tanh' }))).toThrow(ShapeError);
    // In place is spelled by omitting y: the same buffer in both slots would be a WebGPU usage conflict.
    expect(() => run(ctx, (pass) => encodeGelu(ctx, pass, { x: b, y: b, n: 4, form: 'tanh' }))).toThrow(/different GPUBuffer/);
    b.destroy();
    y.destroy();
  });
});
