import { describe, expect, it } from 'vitest';
import { CROSS_ENTROPY_IGNORE, encodeCrossEntropy, type CrossEntropyArgs } from '../../src/kernels/cross-entropy.js';
import { crossEntropyRef } from '../../src/kernels/cpu/cross-entropy.js';
import { run } from '../../src/gpu/dispatch.js';
import { allocBuffer, readF32, uploadBuffer } from '../../src/gpu/buffers.js';
import { ShapeError } from '../../src/errors.js';
import { Rng } from '../../src/util/rng.js';
import { expectClose, randomFloats, testContext } from '../helpers/gpu.js';
import { maxRelError, numericGradient } from '../helpers/gradients.js';

interface Inputs {
  logits: Float32Array;
  labels: Uint32Array;
}

/** Wide logits around an offset; every fifth row ignored, every seventh with a label past the classes. */
function inputs(rows: number, classes: number, seed: number, spread = 8): Inputs {
  const rng = new Rng(seed);
  const logits = randomFloats(rows * classes, seed + 1, spread).map((v) => v + 20);
  const labels = Uint32Array.from({ length: rows }, (_, r) =>
    r % 5 === 4 ? CROSS_ENTROPY_IGNORE : r % 7 === 6 ? classes + (r % 3) : Math.floor(rng.next() * classes),
  );
  return { logits, labels };
}

async function onGpu(inp: Inputs, rows: number, classes: number, scale: number, workgroupSize?: number): Promise<{ loss: Float32Array; dLogits: Float32Array }> {
  const ctx = await testContext();
  const [gl, glab, gd, gloss] = await Promise.all([
    uploadBuffer(ctx, inp.logits, 'logits'),
    uploadBuffer(ctx, inp.labels, 'labels'),
    // Garbage: ignored rows must be zeroed, not left alone.
    uploadBuffer(ctx, new Float32Array(rows * classes).fill(7), 'dLogits'),
    uploadBuffer(ctx, new Float32Array(rows).fill(7), 'loss'),
  ]);
  run(ctx, (pass) => encodeCrossEntropy(ctx, pass, { logits: gl, labels: glab, dLogits: gd, loss: gloss, rows, classes, scale, workgroupSize }));
  const loss = await readF32(ctx, gloss, rows);
  const dLogits = await readF32(ctx, gd, rows * classes);
  for (const b of [gl, glab, gd, gloss]) b.destroy();
  return { loss, dLogits };
}

// 4 and 64: the workgroup sizes picked for CPU adapters and for GPUs.
const SHAPES = [4, 64].flatMap((wg) => [1, 7, 33, 130].flatMap((rows) => [1, 5, 37, 129, 1000].map((classes) => ({ wg, rows, classes }))));

describe('cross_entropy kernel', () => {
  for (const { wg, rows, classes } of SHAPES) {
    it(`matches the CPU reference for ${rows}x${classes}, workgroup ${wg}`, async () => {
      const inp = inputs(rows, classes, rows * 1000 + classes);
      const counted = inp.labels.filter((l) => l < classes).length;
      const scale = 1 / Math.max(1, counted);
      const gpu = await onGpu(inp, rows, classes, scale, wg);
      const ref = crossEntropyRef(inp.logits, inp.labels, rows, classes, scale);
      expectClose(gpu.loss, ref.loss, 1e-5, 2e-5);
      // Gradients relative to the scale they are multiplied by.
      expectClose(gpu.dLogits, ref.dLogits, 1e-4, 1e-6 * scale);
    });
  }

  for (const classes of [65536, 70001]) {
    it(`handles GPT-sized vocabularies: 3 rows x ${classes} classes`, async () => {
      const inp = inputs(3, classes, classes, 4);
      inp.labels.set([17, classes - 1, 0]);
      const gpu = await onGpu(inp, 3, classes, 0.5);
      const ref = crossEntropyRef(inp.logits, inp.labels, 3, classes, 0.5);
      expectClose(gpu.loss, ref.loss, 1e-5, 1e-5);
      expectClose(gpu.dLogits, ref.dLogits, 1e-4, 1e-9);
    });
  }

  it('folds the grid past 65535 rows (one workgroup per row)', async () => {
    const [rows, classes] = [70001, 3];
    const inp = inputs(rows, classes, 4);
    const gpu = await onGpu(inp, rows, classes, 1 / rows);
    const ref = crossEntropyRef(inp.logits, inp.labels, rows, classes, 1 / rows);
    expectClose(gpu.loss, ref.loss, 1e-5, 2e-5);
    expectClose(gpu.dLogits, ref.dLogits, 1e-4, 1e-6 / rows);
  });

  it('ignored rows and labels past the classes give loss 0 and a zero gradient row', async () => {
    const [rows, classes] = [4, 9];
    const inp = inputs(rows, classes, 3);
    inp.labels.set([CROSS_ENTROPY_IGNORE, 2, classes, 0xfffffffe]);
    const gpu = await onGpu(inp, rows, classes, 1);
    for (const r of [0, 2, 3]) {
      expect(gpu.loss[r]).toBe(0);
      expect(Array.from(gpu.dLogits.subarray(r * classes, (r + 1) * classes)).every((v) => v === 0)).toBe(true);
    }
    expect(gpu.loss[1]).toBeGreaterThan(0);
    // softmax - onehot sums to 0 over a row.
    expect(Math.abs(gpu.dLogits.subarray(classes, 2 * classes).reduce((a, b) => a + b, 0))).toBeLessThan(1e-6);
  });

  it('a confident right answer has loss ~0, a confident wrong one loss ~ the margin', async () => {
    const classes = 5;
    const logits = new Float32Array([50, 0, 0, 0, 0, 0, 0, 0, 30, 0]);
    const gpu = await onGpu({ logits, labels: new Uint32Array([0, 2]) }, 2, classes, 1);
    expect(gpu.loss[0]).toBeLessThan(1e-6);
    expect(gpu.loss[1]).toBeCloseTo(30, 4);
  });

  it('gives the same bits on every run', async () => {
    const [rows, classes] = [33, 8191];
    const inp = inputs(rows, classes, 5);
    const first = await onGpu(inp, rows, classes, 1 / 29);
    const second = await onGpu(inp, rows, classes, 1 / 29);
    expect(new Uint32Array(second.loss.buffer)).toEqual(new Uint32Array(first.loss.buffer));
    expect(new Uint32Array(second.dLogits.buffer)).toEqual(new Uint32Array(first.dLogits.buffer));
  });

  it('its CPU gradient matches finite differences of scale * sum(loss)', () => {
    const [rows, classes] = [6, 7];
    const inp = inputs(rows, classes, 9, 3);
    const scale = 0.37;
    const total = (logits: Float64Array): number => crossEntropyRef(logits, inp.labels, rows, classes, scale).loss.reduce((a, b) => a + b, 0) * scale;
    const analytic = crossEntropyRef(inp.logits, inp.labels, rows, classes, scale).dLogits;
    const fd = numericGradient(total, inp.logits);
    expect(Math.max(...Array.from(fd, Math.abs))).toBeGreaterThan(0.1);
    expect(maxRelError(analytic, fd)).toBeLessThan(1e-8);
  });

  it('rejects bad shapes with ShapeError', async () => {
    const ctx = await testContext();
    const small = await allocBuffer(ctx, 16, 'small');
    const big = await allocBuffer(ctx, 4096, 'big');
    const d = await allocBuffer(ctx, 4096, 'd');
    const loss = await allocBuffer(ctx, 64, 'loss');
    const base: CrossEntropyArgs = { logits: big, labels: big, dLogits: d, loss, rows: 4, classes: 100, scale: 0.25 };
    const enc = (over: Partial<CrossEntropyArgs>): void => run(ctx, (pass) => encodeCrossEntropy(ctx, pass, { ...base, ...over }));
    ctx.device.pushErrorScope('validation');
    enc({});
    enc({ rows: 0 });
    enc({ loss: { buffer: d, offset: 2048, size: 16 }, dLogits: { buffer: d, offset: 0, size: 1600 } });
    expect(await ctx.device.popErrorScope()).toBeNull();
    expect(() => enc({ classes: 0 })).toThrow(ShapeError);
    expect(() => enc({ rows: 1.5 })).toThrow(ShapeError);
    expect(() => enc({ rows: 11 })).toThrow(ShapeError);
    expect(() => enc({ labels: small, rows: 5, classes: 10 })).toThrow(/labels holds 4 elements, needs 5/);
    expect(() => enc({ loss: small, rows: 5, classes: 10 })).toThrow(/loss holds/);
    expect(() => enc({ scale: Number.POSITIVE_INFINITY })).toThrow(ShapeError);
    expect(() => enc({ workgroupSize: 300 })).toThrow(ShapeError);
    expect(() => enc({ dLogits: big })).toThrow(/different GPUBuffer/);
    expect(() => enc({ loss: big })).toThrow(/different GPUBuffer/);
    for (const b of [small, big, d, loss]) b.destroy();
  });
});
