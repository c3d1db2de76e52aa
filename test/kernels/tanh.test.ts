import { describe, expect, it } from 'vitest';
import { encodeTanh } from '../../src/kernels/tanh.js';
import { tanhRef } from '../../src/kernels/cpu/tanh.js';
import { run } from '../../src/gpu/dispatch.js';
import { allocBuffer, readF32, uploadBuffer } from '../../src/gpu/buffers.js';
import { expectClose, randomFloats, testContext } from '../helpers/gpu.js';

describe('tanh kernel', () => {
  for (const [n, scale] of [
    [1, 1],
    [3, 0.05],
    [255, 4],
    [257, 100],
    [70000 * 4, 3],
  ] as const) {
    it(`matches the CPU reference for n=${n}, |x| < ${scale}`, async () => {
      const ctx = await testContext();
      const x = randomFloats(n, n, scale);
      const [gx, gy] = await Promise.all([uploadBuffer(ctx, x, 'x'), allocBuffer(ctx, n * 4, 'y')]);
      run(ctx, (pass) => encodeTanh(ctx, pass, { x: gx, y: gy, n }));
      const y = await readF32(ctx, gy, n);
      expectClose(y, tanhRef(x), 2e-6, 1e-7);
      gx.destroy();
      gy.destroy();
    });
  }

  it('saturates without NaN at extreme inputs and keeps tiny ones exact', async () => {
    const ctx = await testContext();
    const x = new Float32Array([1e30, -1e30, 88, -88, 1e-20, -1e-8, 0]);
    const [gx, gy] = await Promise.all([uploadBuffer(ctx, x, 'x'), allocBuffer(ctx, x.length * 4, 'y')]);
    run(ctx, (pass) => encodeTanh(ctx, pass, { x: gx, y: gy, n: x.length }));
    const y = await readF32(ctx, gy, x.length);
    expect(Array.from(y)).toEqual([1, -1, 1, -1, 1e-20, -1e-8, 0].map((v) => Math.fround(v)));
    gx.destroy();
    gy.destroy();
  });
});
