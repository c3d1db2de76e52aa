import { describe, it } from 'vitest';
import { encodeScatterRows } from '../../src/kernels/scatter-rows.js';
import { scatterRowsRef } from '../../src/kernels/cpu/scatter-rows.js';
import { run } from '../../src/gpu/dispatch.js';
import { readF32, uploadBuffer } from '../../src/gpu/buffers.js';
import { expectClose, randomFloats, testContext } from '../helpers/gpu.js';

/** Distinct destination rows in a shuffled order (deterministic). */
function distinctRows(rows: number, dstRows: number, seed: number): Uint32Array {
  const all = Array.from({ length: dstRows }, (_, i) => i);
  let s = seed;
  for (let i = all.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) >>> 0;
    const j = s % (i + 1);
    [all[i], all[j]] = [all[j], all[i]];
  }
  return Uint32Array.from(all.slice(0, rows));
}

describe('scatter-rows kernel', () => {
  const cases = [
    { rows: 1, dim: 1, srcStride: 1, srcOffset: 0, dstStride: 1, dstOffset: 0, dstRows: 1 },
    { rows: 3, dim: 10, srcStride: 15, srcOffset: 5, dstStride: 10, dstOffset: 0, dstRows: 7 },
    { rows: 5, dim: 7, srcStride: 21, srcOffset: 14, dstStride: 14, dstOffset: 7, dstRows: 13 },
    { rows: 300, dim: 1000, srcStride: 1500, srcOffset: 500, dstStride: 1000, dstOffset: 0, dstRows: 333 },
  ];
  for (const c of cases) {
    it(`matches the CPU reference for ${JSON.stringify(c)}`, async () => {
      const ctx = await testContext();
      const src = randomFloats(c.rows * c.srcStride, 1);
      const dst = randomFloats(c.dstRows * c.dstStride, 2);
      const idx = distinctRows(c.rows, c.dstRows, 7);
      const [gs, gi, gd] = await Promise.all([uploadBuffer(ctx, src, 'src'), uploadBuffer(ctx, idx, 'idx'), uploadBuffer(ctx, dst, 'dst')]);
      run(ctx, (pass) => encodeScatterRows(ctx, pass, { src: gs, rowIdx: gi, dst: gd, ...c }));
      const out = await readF32(ctx, gd, dst.length);
      expectClose(out, scatterRowsRef(src, idx, dst, c), 0, 0);
      for (const b of [gs, gi, gd]) b.destroy();
    });
  }
});
