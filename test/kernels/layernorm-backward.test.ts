import { describe, expect, it } from 'vitest';
import { encodeLayerNormBackward, type LayerNormBackwardArgs } from '../../src/kernels/layernorm-backward.js';
import { layerNormBackwardRef } from '../../src/kernels/cpu/layernorm-backward.js';
import { layerNormRef } from '../../src/kernels/cpu/layernorm.js';
import { run } from '../../src/gpu/dispatch.js';
import { allocBuffer, readF32, uploadBuffer } from '../../src/gpu/buffers.js';
import { ShapeError } from '../../src/errors.js';
import { expectClose, randomFloats, testContext } from '../helpers/gpu.js';
import { maxRelError, numericGradient } from '../helpers/gradients.js';

interface Inputs {
  x: Float32Array;
  gamma: Float32Array;
  dy: Float32Array;
  dx0: Float32Array;
}

function inputs(rows: number, cols: number, seed: number): Inputs {
  return {
    // An offset mean and a wide spread, as the forward's test: the kernel must centre before squaring.
    x: randomFloats(rows * cols, seed, 4).map((v, i) => v + 3 + (i % cols === 0 ? 5 : 0)),
    gamma: randomFloats(cols, seed + 1, 1.5),
    dy: randomFloats(rows * cols, seed + 2),
    dx0: randomFloats(rows * cols, seed + 3),
  };
}

async function onGpu(inp: Inputs, rows: number, cols: number, eps: number, extra: Partial<LayerNormBackwardArgs> = {}): Promise<Float32Array> {
  const ctx = await testContext();
  const [gx, gg, gdy, gdx] = await Promise.all([
    uploadBuffer(ctx, inp.x, 'x'),
    uploadBuffer(ctx, inp.gamma, 'gamma'),
    uploadBuffer(ctx, inp.dy, 'dy'),
    uploadBuffer(ctx, inp.dx0, 'dx'),
  ]);
  run(ctx, (pass) => encodeLayerNormBackward(ctx, pass, { x: gx, gamma: gg, dy: gdy, dx: gdx, rows, cols, eps, ...extra }));
  const dx = await readF32(ctx, gdx, rows * cols);
  for (const b of [gx, gg, gdy, gdx]) b.destroy();
  return dx;
}


// 4 and 64: the workgroup sizes picked for CPU adapters and for GPUs.
const SHAPES = [4, 64].flatMap((wg) => [1, 7, 33, 130].flatMap((rows) => [1, 5, 37, 129, 769].map((cols) => ({ wg, rows, cols }))));

describe('layernorm_backward kernel', () => {
  for (const { wg, rows, cols } of SHAPES) {
    it(`matches the CPU reference for ${rows}x${cols}, workgroup ${wg}`, async () => {
      const inp = inputs(rows, cols, rows * 1000 + cols);
      const eps = 1e-5;
      const dx = await onGpu(inp, rows, cols, eps, { workgroupSize: wg });
      expectClose(dx, layerNormBackwardRef(inp.x, inp.gamma, inp.dy, rows, cols, eps), 2e-4, 2e-5);
    });
  }

  it('accumulates onto dx', async () => {
    const [rows, cols] = [7, 37];
    const inp = inputs(rows, cols, 5);
    const dx = await onGpu(inp, rows, cols, 1e-12, { accumulate: true });
    expectClose(dx, layerNormBackwardRef(inp.x, inp.gamma, inp.dy, rows, cols, 1e-12, inp.dx0), 2e-4, 2e-5);
  });

  it('handles a constant row (variance 0): dx = (g - mean(g)) / sqrt(eps)', async () => {
    const cols = 37;
    const eps = 1e-3;
    const inp = inputs(2, cols, 6);
    inp.x.fill(2.5, 0, cols);
    const dx = await onGpu(inp, 2, cols, eps);
    const g = Array.from(inp.gamma, (gm, c) => gm * inp.dy[c]);
    const meanG = g.reduce((a, b) => a + b, 0) / cols;
    expectClose(dx.subarray(0, cols), g.map((v) => (v - meanG) / Math.sqrt(eps)), 1e-5, 1e-5);
    expectClose(dx, layerNormBackwardRef(inp.x, inp.gamma, inp.dy, 2, cols, eps), 2e-4, 2e-5);
  });

  it('gives the same bits on every run', async () => {
    const [rows, cols] = [33, 769];
    const inp = inputs(rows, cols, 7);
    const first = await onGpu(inp, rows, cols, 1e-5);
    const second = await onGpu(inp, rows, cols, 1e-5);
    expect(new Uint32Array(second.buffer)).toEqual(new Uint32Array(first.buffer));
  });

  for (const [rows, cols, eps] of [
    [3, 5, 1e-5],
    [2, 7, 1e-12],
    [1, 2, 0.5],
  ]) {
    it(`its CPU reference matches finite differences of the forward, ${rows}x${cols}, eps ${eps}`, () => {
      const inp = inputs(rows, cols, rows + cols);
      const beta = randomFloats(cols, 9);
      // loss = sum(LayerNorm(x) * dy): its gradient with respect to x is the backward of dy.
      const loss = (x: Float64Array): number => {
        const y = layerNormRef(x, inp.gamma, beta, rows, cols, eps);
        let s = 0;
        for (let i = 0; i < y.length; i++) s += y[i] * inp.dy[i];
        return s;
      };
      const analytic = layerNormBackwardRef(inp.x, inp.gamma, inp.dy, rows, cols, eps);
      expect(maxRelError(analytic, numericGradient(loss, inp.x))).toBeLessThan(1e-7);
    });
  }

  it('rejects bad shapes with ShapeError', async () => {
    const ctx = await testContext();
    const small = await allocBuffer(ctx, 16, 'small');
    const big = await allocBuffer(ctx, 4096, 'big');
    const dx = await allocBuffer(ctx, 4096, 'dx');
    const base: LayerNormBackwardArgs = { x: big, gamma: big, dy: big, dx, rows: 2, cols: 8, eps: 1e-5 };
    const enc = (over: Partial<LayerNormBackwardArgs>): void => run(ctx, (pass) => encodeLayerNormBackward(ctx, pass, { ...base, ...over }));
    ctx.device.pushErrorScope('validation');
    enc({});
    enc({ rows: 0 });
    expect(await ctx.device.popErrorScope()).toBeNull();
    expect(() => enc({ cols: 0 })).toThrow(ShapeError);
    expect(() => enc({ rows: 1.5 })).toThrow(ShapeError);
    expect(() => enc({ rows: 100, cols: 100 })).toThrow(ShapeError);
    expect(() => enc({ gamma: small })).toThrow(ShapeError);
    expect(() => enc({ dy: small })).toThrow(ShapeError);
    expect(() => enc({ workgroupSize: 512 })).toThrow(ShapeError);
    expect(() => enc({ eps: -1 })).toThrow(ShapeError);
    expect(() => enc({ dx: big })).toThrow(/different GPUBuffer/);
    for (const b of [small, big, dx]) b.destroy();
  });
});
