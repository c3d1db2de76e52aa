import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import { createStore, set } from 'idb-keyval';
import { autotuneMatmul, loadMatmulChoices, matmulChoices, type AutotuneProgress } from '../../src/kernels/matmul-autotune.js';
import { createGpuContext, type GpuContext } from '../../src/gpu/device.js';
import { nodeGpu } from '../../src/gpu/node.js';
import { allocBuffer, readF32, uploadBuffer } from '../../src/gpu/buffers.js';
import { run } from '../../src/gpu/dispatch.js';
import { encodeMatmul, isMatmulVariant, matmulShapeClass, type MatmulShape } from '../../src/kernels/matmul.js';
import { matmulRef } from '../../src/kernels/cpu/matmul.js';
import { ShapeError } from '../../src/errors.js';
import { expectClose, randomFloats, testContext } from '../helpers/gpu.js';

// A second context on the same adapter: same deviceKey, empty in-memory table, as after a reload.
const freshContext = async (): Promise<GpuContext> => createGpuContext(await nodeGpu(), { label: 'fresh' });

const SHAPES: MatmulShape[] = [
  { M: 9, N: 20, K: 12, wLayout: 'kn' },
  { M: 8, N: 19, K: 13, wLayout: 'kn' }, // same class as the first
  { M: 3, N: 33, K: 17, wLayout: 'nk' },
];

describe('matmul autotune', () => {
  it('records a valid variant per shape class, and encodeMatmul stays exact with it', async () => {
    const ctx = await testContext();
    const seen: AutotuneProgress[] = [];
    const choices = await autotuneMatmul(ctx, SHAPES, (p) => seen.push(p));
    const classes = [...new Set(SHAPES.map(matmulShapeClass))].sort();
    expect(Object.keys(choices)).toEqual(classes);
    for (const c of classes) expect(isMatmulVariant(choices[c])).toBe(true);
    expect(seen.length).toBe(classes.length * 3);
    expect(seen.map((p) => p.done)).toEqual(seen.map((_, i) => i + 1));
    expect(seen.every((p) => p.total === seen.length && p.ms > 0)).toBe(true);
    // The recorded variant is the fastest of those reported for its class.
    for (const c of classes) {
      const timed = seen.filter((p) => p.shapeClass === c);
      const fastest = timed.reduce((a, b) => (b.ms < a.ms ? b : a));
      expect(choices[c]).toBe(fastest.variant);
    }
    expect(matmulChoices(ctx)).toEqual(choices);

    const { M, N, K, wLayout } = SHAPES[2];
    const x = randomFloats(M * K, 1);
    const w = randomFloats(N * K, 2);
    const [gx, gw, gy] = await Promise.all([uploadBuffer(ctx, x, 'x'), uploadBuffer(ctx, w, 'w'), allocBuffer(ctx, M * N * 4, 'y')]);
    run(ctx, (pass) => encodeMatmul(ctx, pass, { x: gx, w: gw, y: gy, M, N, K, wLayout }));
    expectClose(await readF32(ctx, gy, M * N), matmulRef({ x, w, M, N, K, wLayout }), 1e-4, 1e-5);
    for (const b of [gx, gw, gy]) b.destroy();
  });

  it('persists the table to IndexedDB and reloads it on the next context without re-timing', async () => {
    const ctx = await testContext();
    const tuned = await autotuneMatmul(ctx, SHAPES);
    const next = await freshContext();
    try {
      expect(next.deviceKey).toBe(ctx.deviceKey);
      expect(matmulChoices(next)).toEqual({});
      expect(await loadMatmulChoices(next)).toEqual(tuned);
      let timed = 0;
      expect(await autotuneMatmul(next, SHAPES, () => timed++)).toEqual(tuned);
      expect(timed).toBe(0);
    } finally {
      next.destroy();
    }
  });

  it('ignores saved entries that name no known variant', async () => {
    const next = await freshContext();
    try {
      await set(next.deviceKey, { 'kn:n4:k4': 'warp9', 'nk:n0:k0': 'naive', 'kn:n1:k1': 42 }, createStore('hmi-autotune', 'choices'));
      // Choices this process already measured may be present too; nothing invalid may be.
      const got = await loadMatmulChoices(next);
      expect(got['nk:n0:k0']).toBe('naive');
      expect(Object.values(got).every((v) => isMatmulVariant(v))).toBe(true);
      expect(got['kn:n1:k1']).toBeUndefined();
    } finally {
      next.destroy();
    }
  });

  it('rejects bad shapes before timing anything', async () => {
    const ctx = await testContext();
    await expect(autotuneMatmul(ctx, [{ M: 4, N: 0, K: 4, wLayout: 'kn' }])).rejects.toThrow(ShapeError);
  });
});
