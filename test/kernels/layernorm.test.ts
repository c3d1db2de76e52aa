import { describe, expect, it } from 'vitest';
import { encodeLayerNorm, type LayerNormArgs } from '../../src/kernels/layernorm.js';
import { layerNormRef } from '../../src/kernels/cpu/layernorm.js';
import { run } from '../../src/gpu/dispatch.js';
import { allocBuffer, readF32, uploadBuffer } from '../../src/gpu/buffers.js';
import { ShapeError } from '../../src/errors.js';
import { expectClose, randomFloats, testContext } from '../helpers/gpu.js';

async function layerNormOnGpu(
  x: Float32Array,
  gamma: Float32Array,
  beta: Float32Array,
  rows: number,
  cols: number,
  eps: number,
  workgroupSize?: number,
): Promise<Float32Array> {
  const ctx = await testContext();
  const [gx, gg, gb, gy] = await Promise.all([
    uploadBuffer(ctx, x, 'x'),
    uploadBuffer(ctx, gamma, 'gamma'),
    uploadBuffer(ctx, beta, 'beta'),
    allocBuffer(ctx, rows * cols * 4, 'y'),
  ]);
  run(ctx, (pass) => encodeLayerNorm(ctx, pass, { x: gx, gamma: gg, beta: gb, y: gy, rows, cols, eps, workgroupSize }));
  const y = await readF32(ctx, gy, rows * cols);
  for (const b of [gx, gg, gb, gy]) b.destroy();
  return y;
}

// 4 and 64: the workgroup sizes picked for CPU adapters and for GPUs.
const SHAPES = [4, 64].flatMap((wg) => [1, 7, 33].flatMap((rows) => [1, 3, 65, 127, 769].map((cols) => ({ wg, rows, cols }))));

describe('layernorm kernel', () => {
  for (const { wg, rows, cols } of SHAPES) {
    it(`matches the CPU reference for ${rows}x${cols}, workgroup ${wg}`, async () => {
      // An offset mean and a wide spread: the kernel must centre before squaring.
      const x = randomFloats(rows * cols, rows * 1000 + cols, 4).map((v, i) => v + 3 + (i % cols === 0 ? 5 : 0));
      const gamma = randomFloats(cols, 7, 1.5);
      const beta = randomFloats(cols, 8, 0.5);
      const eps = 1e-5;
      const y = await layerNormOnGpu(x, gamma, beta, rows, cols, eps, wg);
      expectClose(y, layerNormRef(x, gamma, beta, rows, cols, eps), 1e-4, 2e-5);
    });
  }

  it('gives beta for a constant row (variance 0) and honours eps', async () => {
    const cols = 65;
    const x = new Float32Array(2 * cols).fill(2.5);
    x.fill(-1, cols);
    x[cols] = 1; // second row: one outlier, variance small next to eps = 1
    const gamma = randomFloats(cols, 3);
    const beta = randomFloats(cols, 4);
    const y = await layerNormOnGpu(x, gamma, beta, 2, cols, 1);
    const ref = layerNormRef(x, gamma, beta, 2, cols, 1);
    expectClose(y.subarray(0, cols), beta, 0, 1e-7);
    expectClose(y, ref, 1e-4, 1e-6);
  });

  it('rejects bad shapes with ShapeError', async () => {
    const ctx = await testContext();
    const small = await allocBuffer(ctx, 16, 'small');
    const big = await allocBuffer(ctx, 4096, 'big');
    const y = await allocBuffer(ctx, 4096, 'y');
    const base: LayerNormArgs = { x: big, gamma: big, beta: big, y, rows: 2, cols: 8, eps: 1e-5 };
    const enc = (over: Partial<LayerNormArgs>): void => run(ctx, (pass) => encodeLayerNorm(ctx, pass, { ...base, ...over }));
    ctx.device.pushErrorScope('validation');
    enc({});
    expect(await ctx.device.popErrorScope()).toBeNull();
    expect(() => enc({ cols: 0 })).toThrow(ShapeError);
    expect(() => enc({ rows: 1.5 })).toThrow(ShapeError);
    expect(() => enc({ rows: 100, cols: 100 })).toThrow(ShapeError);
    expect(() => enc({ gamma: small })).toThrow(ShapeError);
    expect(() => enc({ workgroupSize: 512 })).toThrow(ShapeError);
    expect(() => enc({ eps: -1 })).toThrow(ShapeError);
    expect(() => enc({ y: big })).toThrow(/different GPUBuffer/);
    for (const b of [small, big, y]) b.destroy();
  });
});
