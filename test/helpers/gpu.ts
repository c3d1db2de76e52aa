import { createGpuContext, type GpuContext } from '../../src/gpu/device.js';
import { nodeGpu } from '../../src/gpu/node.js';
import { Rng } from '../../src/util/rng.js';

let shared: Promise<GpuContext> | undefined;

/** One Dawn device per test file (vitest isolates files in separate processes). */
export function testContext(): Promise<GpuContext> {
  shared ??= nodeGpu().then((gpu) => createGpuContext(gpu, { label: 'test' }));
  return shared;
}

/** Deterministic uniform floats in [-scale, scale). */
export function randomFloats(n: number, seed: number, scale = 1): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n }, () => (rng.next() * 2 - 1) * scale);
}

/** Max |a-b| / (|b| + atol-scale): fails loudly with the worst index. */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol = 1e-4, atol = 1e-5): void {
  if (actual.length !== expected.length) throw new Error(`length ${actual.length} != expected ${expected.length}`);
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (!Number.isFinite(a) || Math.abs(a - e) > atol + rtol * Math.abs(e)) {
      throw new Error(`mismatch at ${i}: got ${a}, expected ${e} (rtol ${rtol}, atol ${atol})`);
    }
  }
}
