import { describe, expect, it } from 'vitest';
import { encodeSoftmax, type SoftmaxArgs } from '../../src/kernels/softmax.js';
import { softmaxRef } from '../../src/kernels/cpu/softmax.js';
import { run } from '../../src/gpu/dispatch.js';
import { allocBuffer, readF32, uploadBuffer } from '../../src/gpu/buffers.js';
import { ShapeError } from '../../src/errors.js';
import { expectClose, randomFloats, testContext } from '../helpers/gpu.js';

async function softmaxOnGpu(x: Float32Array, rows: number, cols: number, workgroupSize?: number): Promise<Float32Array> {
  const ctx = await testContext();
  const [gx, gy] = await Promise.all([uploadBuffer(ctx, x, 'x'), allocBuffer(ctx, rows * cols * 4, 'y')]);
  run(ctx, (pass) => encodeSoftmax(ctx, pass, { x: gx, y: gy, rows, cols, workgroupSize }));
  const y = await readF32(ctx, gy, rows * cols);
  gx.destroy();
  gy.destroy();
  return y;
}

// 4 and 64: the workgroup sizes picked for CPU adapters and for GPUs.
const SHAPES = [4, 64].flatMap((wg) => [1, 7, 33].flatMap((rows) => [1, 3, 65, 127, 769].map((cols) => ({ wg, rows, cols }))));

describe('softmax kernel', () => {
  for (const { wg, rows, cols } of SHAPES) {
    it(`matches the CPU reference for ${rows}x${cols}, workgroup ${wg}`, async () => {
      // Scores of +-60: exp without the max subtracted would overflow f32.
      const x = randomFloats(rows * cols, rows * 31 + cols, 60);
      const y = await softmaxOnGpu(x, rows, cols, wg);
      expectClose(y, softmaxRef(x, rows, cols), 1e-4, 1e-7);
      for (let r = 0; r < rows; r++) {
        let sum = 0;
        for (let c = 0; c < cols; c++) sum += y[r * cols + c];
        expect(Math.abs(sum - 1)).toBeLessThan(1e-5);
      }
    });
  }

  for (const wg of [4, 64]) {
    it(`treats -3e38 and below as masked and gives zeros for a fully masked row, workgroup ${wg}`, async () => {
      const rows = 3;
      const cols = 130;
      const x = randomFloats(rows * cols, 5, 3);
      for (let c = 0; c < cols; c += 3) x[c] = -3.4e38; // row 0: every third masked
      x.fill(-3.2e38, cols, 2 * cols); // row 1: all masked
      x[2 * cols + 129] = -3.1e38; // row 2: last column masked
      const y = await softmaxOnGpu(x, rows, cols, wg);
      const ref = softmaxRef(x, rows, cols);
      expectClose(y, ref, 1e-4, 1e-7);
      expect(Array.from(y.subarray(cols, 2 * cols)).every((v) => v === 0)).toBe(true);
      expect(y[0]).toBe(0);
    });
  }

  it('rejects bad shapes with ShapeError', async () => {
    const ctx = await testContext();
    const x = await allocBuffer(ctx, 64, 'x');
    const y = await allocBuffer(ctx, 64, 'y');
    const enc = (over: Partial<SoftmaxArgs>): void => run(ctx, (pass) => encodeSoftmax(ctx, pass, { x, y, rows: 4, cols: 4, ...over }));
    ctx.device.pushErrorScope('validation');
    enc({});
    expect(await ctx.device.popErrorScope()).toBeNull();
    expect(() => enc({ cols: 0 })).toThrow(ShapeError);
    expect(() => enc({ rows: 5, cols: 5 })).toThrow(ShapeError);
    expect(() => enc({ workgroupSize: 0 })).toThrow(ShapeError);
    expect(() => enc({ y: { buffer: x, offset: 0, size: 64 } })).toThrow(/different GPUBuffer/);
    x.destroy();
    y.destroy();
  });
});
