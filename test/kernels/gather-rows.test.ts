import { describe, expect, it } from 'vitest';
import { encodeGatherRows } from '../../src/kernels/gather-rows.js';
import { gatherRowsRef } from '../../src/kernels/cpu/gather-rows.js';
import { run } from '../../src/gpu/dispatch.js';
import { allocBuffer, readF32, uploadBuffer } from '../../src/gpu/buffers.js';
import { ShapeError } from '../../src/errors.js';
import { expectClose, randomFloats, testContext } from '../helpers/gpu.js';

describe('gather_rows kernel', () => {
  for (const rows of [1, 7, 33]) {
    for (const dim of [1, 3, 65, 127, 769]) {
      it(`matches the CPU reference gathering ${rows} rows of ${dim}`, async () => {
        const ctx = await testContext();
        const srcRows = 40;
        const src = randomFloats(srcRows * dim, dim);
        // Repeats, reversed order, and one index past the end (clamped to the last row).
        const rowIdx = Uint32Array.from({ length: rows }, (_, i) => (i === rows - 1 && rows > 1 ? 99 : (srcRows - 1 - 3 * i) % srcRows));
        const [gSrc, gIdx, gDst] = await Promise.all([uploadBuffer(ctx, src, 'src'), uploadBuffer(ctx, rowIdx, 'rowIdx'), allocBuffer(ctx, rows * dim * 4, 'dst')]);
        run(ctx, (pass) => encodeGatherRows(ctx, pass, { src: gSrc, rowIdx: gIdx, dst: gDst, rows, dim, srcRows }));
        const out = await readF32(ctx, gDst, rows * dim);
        expectClose(out, gatherRowsRef(src, rowIdx, dim, srcRows), 0, 0);
        for (const b of [gSrc, gIdx, gDst]) b.destroy();
      });
    }
  }

  it('writes through a BufferRef offset and rejects bad shapes with ShapeError', async () => {
    const ctx = await testContext();
    const dim = 5;
    const src = randomFloats(10 * dim, 11);
    const rowIdx = Uint32Array.from([2, 0, 1]);
    const [gSrc, gIdx, gDst] = await Promise.all([uploadBuffer(ctx, src, 'src'), uploadBuffer(ctx, rowIdx, 'rowIdx'), allocBuffer(ctx, 512 + 3 * dim * 4, 'dst')]);
    run(ctx, (pass) => encodeGatherRows(ctx, pass, { src: gSrc, rowIdx: gIdx, dst: { buffer: gDst, offset: 256 }, rows: 3, dim, srcRows: 10 }));
    expectClose(await readF32(ctx, gDst, 3 * dim, 64), gatherRowsRef(src, rowIdx, dim, 10), 0, 0);
    expect(() => run(ctx, (pass) => encodeGatherRows(ctx, pass, { src: gSrc, rowIdx: gIdx, dst: gDst, rows: 3, dim, srcRows: 11 }))).toThrow(ShapeError);
    expect(() => run(ctx, (pass) => encodeGatherRows(ctx, pass, { src: gSrc, rowIdx: gIdx, dst: gSrc, rows: 3, dim, srcRows: 2 }))).toThrow(/different GPUBuffer/);
    for (const b of [gSrc, gIdx, gDst]) b.destroy();
  });
});
