import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import { createStore, set, setMany } from 'idb-keyval';
import { autotuneMatmul, loadMatmulChoices, matmulChoices, type AutotuneProgress } from '../../src/kernels/matmul-autotune.js';
import { createGpuContext, type GpuContext } from '../../src/gpu/device.js';
import { nodeGpu } from '../../src/gpu/node.js';
import { allocBuffer, readF32, uploadBuffer } from '../../src/gpu/buffers.js';
import { run } from '../../src/gpu/dispatch.js';
import { defaultMatmulVariant, encodeMatmul, isMatmulVariant, matmulShapeClass, type MatmulShape } from '../../src/kernels/matmul.js';
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
    // Unbounded: this test counts every variant's timing, whatever the machine's speed.
    const choices = await autotuneMatmul(ctx, SHAPES, { budgetMs: Infinity, onProgress: (p) => seen.push(p) });
    const classes = [...new Set(SHAPES.map(matmulShapeClass))].sort();
    expect(Object.keys(choices)).toEqual(classes);
    for (const c of classes) expect(isMatmulVariant(choices[c])).toBe(true);
    expect(seen.length).toBe(classes.length * 3);
    expect(seen.map((p) => p.done)).toEqual(seen.map((_, i) => i + 1));
    expect(seen.every((p) => p.phase === 'autotune' && p.timed && p.total === seen.length && p.ms > 0)).toBe(true);
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
    const tuned = await autotuneMatmul(ctx, SHAPES, { budgetMs: Infinity });
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
      const idb = createStore('hmi-autotune', 'choices');
      await setMany(
        [
          [[next.deviceKey, 'kn:n4:k4'], 'warp9'],
          [[next.deviceKey, 'nk:n0:k0'], 'naive'],
          [[next.deviceKey, 'kn:n1:k1'], 42],
          [['another device', 'kn:n2:k2'], 'naive'],
        ],
        idb,
      );
      // The layout before choices were keyed by shape class: one record per device, ignored.
      await set(next.deviceKey, { 'kn:n3:k3': 'naive' }, idb);
      // Choices this process already measured may be present too; nothing invalid may be.
      const got = await loadMatmulChoices(next);
      expect(got['nk:n0:k0']).toBe('naive');
      expect(Object.values(got).every((v) => isMatmulVariant(v))).toBe(true);
      expect(got['kn:n1:k1']).toBeUndefined();
      expect(got['kn:n2:k2']).toBeUndefined();
      expect(got['kn:n3:k3']).toBeUndefined();
    } finally {
      next.destroy();
    }
  });

  it('rejects bad shapes before timing anything', async () => {
    const ctx = await testContext();
    await expect(autotuneMatmul(ctx, [{ M: 4, N: 0, K: 4, wLayout: 'kn' }])).rejects.toThrow(ShapeError);
  });

  // Three classes of equal FLOPs, so the cost per FLOP seen on one predicts the others exactly.
  const EVEN: MatmulShape[] = [
    { M: 4, N: 16, K: 64, wLayout: 'kn' },
    { M: 4, N: 64, K: 16, wLayout: 'kn' },
    { M: 4, N: 16, K: 64, wLayout: 'nk' },
  ];

  /** A clock that moves only when a variant has been timed, by `step` ms: the budget is spent deterministically. */
  function fakeClock(step: number): { now: () => number; onProgress: (p: AutotuneProgress) => void; seen: AutotuneProgress[] } {
    let t = 1000;
    const seen: AutotuneProgress[] = [];
    return {
      now: () => t,
      onProgress: (p) => {
        seen.push(p);
        if (p.timed) t += step;
      },
      seen,
    };
  }

  it('stops timing once its budget is spent, keeps defaults for the rest, and reports every class', async () => {
    const ctx = await freshContext();
    try {
      const clock = fakeClock(500);
      const choices = await autotuneMatmul(ctx, EVEN, { budgetMs: 1200, now: clock.now, onProgress: clock.onProgress });
      // 0 ms: time one; 500: 500 + 500 expected fits 1200, time another; 1000 + 500 does not.
      const timed = clock.seen.filter((p) => p.timed);
      expect(timed.length).toBe(2);
      expect(clock.seen.map((p) => p.done)).toEqual([1, 2, 3, 6, 9]);
      expect(clock.seen.every((p) => p.total === 9 && p.phase === 'autotune')).toBe(true);
      const given = clock.seen.filter((p) => !p.timed);
      expect(given.length).toBe(3);
      expect(given.every((p) => Number.isNaN(p.ms))).toBe(true);
      // The class cut short keeps the faster of its two timed variants, the untouched ones the default.
      const cut = timed[0].shapeClass;
      expect(timed[0].variant).toBe(defaultMatmulVariant(ctx));
      expect(choices[cut]).toBe(timed.reduce((a, b) => (b.ms < a.ms ? b : a)).variant);
      for (const p of given.filter((q) => q.shapeClass !== cut)) expect(choices[p.shapeClass]).toBe(defaultMatmulVariant(ctx));
      for (const s of EVEN) expect(isMatmulVariant(choices[matmulShapeClass(s)])).toBe(true);

      // Within this context the classes stay as they are (a running model never changes variant)...
      let again = 0;
      await autotuneMatmul(ctx, EVEN, { budgetMs: Infinity, onProgress: () => again++ });
      expect(again).toBe(0);
    } finally {
      ctx.destroy();
    }
    // ...but nothing unfinished was saved, so the next load times every class.
    const next = await freshContext();
    try {
      const clock = fakeClock(1);
      await autotuneMatmul(next, EVEN, { budgetMs: 1e6, now: clock.now, onProgress: clock.onProgress });
      expect(clock.seen.filter((p) => p.timed).length).toBe(9);
    } finally {
      next.destroy();
    }
  });

  it('with no budget times nothing and still completes its progress', async () => {
    const ctx = await freshContext();
    try {
      const seen: AutotuneProgress[] = [];
      const shapes: MatmulShape[] = [
        { M: 2, N: 40, K: 24, wLayout: 'nk' },
        { M: 2, N: 200, K: 24, wLayout: 'nk' },
      ];
      const choices = await autotuneMatmul(ctx, shapes, { budgetMs: 0, now: () => 5, onProgress: (p) => seen.push(p) });
      expect(seen.map((p) => [p.done, p.total, p.timed])).toEqual([
        [3, 6, false],
        [6, 6, false],
      ]);
      for (const s of shapes) expect(choices[matmulShapeClass(s)]).toBe(defaultMatmulVariant(ctx));
    } finally {
      ctx.destroy();
    }
  });

  it('hits its cache per device and shape class: a second model times only its new classes', async () => {
    const first: MatmulShape[] = [
      { M: 6, N: 48, K: 96, wLayout: 'nk' },
      { M: 6, N: 96, K: 48, wLayout: 'nk' },
    ];
    const second: MatmulShape[] = [
      { M: 5, N: 48, K: 96, wLayout: 'nk' }, // a class of the first model
      { M: 5, N: 200, K: 48, wLayout: 'nk' }, // new
    ];
    const ctx = await testContext();
    const seenFirst: AutotuneProgress[] = [];
    await autotuneMatmul(ctx, first, { budgetMs: Infinity, onProgress: (p) => seenFirst.push(p) });
    expect(new Set(seenFirst.map((p) => p.shapeClass))).toEqual(new Set(first.map(matmulShapeClass)));

    const next = await freshContext();
    try {
      // Same device, same shapes: nothing timed, the saved choices come back.
      let timed = 0;
      const again = await autotuneMatmul(next, first, { budgetMs: Infinity, onProgress: () => timed++ });
      for (const s of first) expect(again[matmulShapeClass(s)]).toBe(matmulChoices(ctx)[matmulShapeClass(s)]);
      expect(timed).toBe(0);
      const seen: AutotuneProgress[] = [];
      const choices = await autotuneMatmul(next, second, { budgetMs: Infinity, onProgress: (p) => seen.push(p) });
      expect(new Set(seen.map((p) => p.shapeClass))).toEqual(new Set([matmulShapeClass(second[1])]));
      expect(seen.map((p) => p.done)).toEqual([1, 2, 3]);
      expect(seen.every((p) => p.total === 3)).toBe(true);
      for (const s of [...first, ...second]) expect(isMatmulVariant(choices[matmulShapeClass(s)])).toBe(true);
    } finally {
      next.destroy();
    }
  });
});
