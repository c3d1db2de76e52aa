import { createGpuContext, type GpuContext } from '../../src/gpu/device.js';
import { nodeGpu } from '../../src/gpu/node.js';

let shared: Promise<GpuContext> | undefined;

/** One Dawn device per test file (vitest isolates files in separate processes). */
export function testContext(): Promise<GpuContext> {
  shared ??= nodeGpu().then((gpu) => createGpuContext(gpu, { label: 'test' }));
  return shared;
}

export { randomFloats } from '../../src/util/rng.js';

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
