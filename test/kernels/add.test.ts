import { describe, expect, it } from 'vitest';
import { encodeAdd } from '../../src/kernels/add.js';
import { addRef } from '../../src/kernels/cpu/add.js';
import { run } from '../../src/gpu/dispatch.js';
import { allocBuffer, readF32, uploadBuffer } from '../../src/gpu/buffers.js';
import { expectClose, randomFloats, testContext } from '../helpers/gpu.js';

describe('add kernel', () => {
  for (const n of [1, 3, 255, 257, 1000, 70000 * 4]) {
    it(`matches the CPU reference for n=${n}`, async () => {
      const ctx = await testContext();
      const a = randomFloats(n, 1);
      const b = randomFloats(n, 2);
      const [ga, gb, go] = await Promise.all([uploadBuffer(ctx, a, 'a'), uploadBuffer(ctx, b, 'b'), allocBuffer(ctx, n * 4, 'out')]);
      run(ctx, (pass) => encodeAdd(ctx, pass, ga, gb, go, n));
      const out = await readF32(ctx, go, n);
      expectClose(out, addRef(a, b), 1e-6, 0);
      expect(out.length).toBe(n);
      for (const buf of [ga, gb, go]) buf.destroy();
    });
  }
});
