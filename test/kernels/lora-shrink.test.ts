import { describe, expect, it } from 'vitest';
import { encodeLoraShrink, type LoraShrinkParams } from '../../src/kernels/lora-shrink.js';
import { loraShrinkRef } from '../../src/kernels/cpu/lora-shrink.js';
import { run } from '../../src/gpu/dispatch.js';
import { readF32, uploadBuffer } from '../../src/gpu/buffers.js';
import { expectClose, randomFloats, testContext } from '../helpers/gpu.js';
import { pagedBatch, randomAdapter, segmentsOf, type PagedBatch } from '../knowledge/task/fixtures.js';

const MOD = 'm';

async function shrinkOnGpu(b: PagedBatch, x: Float32Array, tmp0: Float32Array, p: LoraShrinkParams): Promise<Float32Array> {
  const ctx = await testContext();
  const bufs = await Promise.all([
    uploadBuffer(ctx, x, 'x'),
    uploadBuffer(ctx, b.pool, 'pool'),
    uploadBuffer(ctx, b.tiles, 'tiles'),
    uploadBuffer(ctx, b.table, 'table'),
    uploadBuffer(ctx, tmp0, 'tmp'),
  ]);
  const [gx, gpool, gtiles, gtable, gtmp] = bufs;
  run(ctx, (pass) => encodeLoraShrink(ctx, pass, { x: gx, pool: gpool, tiles: gtiles, table: gtable, tmp: gtmp }, p));
  const out = await readF32(ctx, gtmp, tmp0.length);
  for (const buf of bufs) buf.destroy();
  return out;
}

describe('lora_shrink kernel', () => {
  const cases = [
    { name: '20 tenants, ranks 1..64, in 37 over pages of 15', H: 15, inDim: 37, tenants: 20 },
    { name: 'in = 3 pages exactly (45 = 3*15)', H: 15, inDim: 45, tenants: 7 },
    { name: 'in = 1', H: 4, inDim: 1, tenants: 3 },
    { name: 'in 130 over pages of 64', H: 64, inDim: 130, tenants: 5 },
  ];
  const ranks = [1, 2, 3, 7, 16, 64];
  for (const c of cases) {
    it(`matches the CPU reference: ${c.name}`, async () => {
      // Tenant 4 has no LoRA on this module (rank 0 metadata): its rows must stay untouched.
      const adapters = Array.from({ length: c.tenants }, (_, t) =>
        randomAdapter(t + 1, t === 4 ? [{ path: 'other', r: 2, inDim: c.inDim, outDim: 5 }] : [{ path: MOD, r: ranks[t % ranks.length], inDim: c.inDim, outDim: 9 }]),
      );
      // Odd lengths, empty segments, a tenant in two segments, gaps of rows with no tenant.
      const lengths = Array.from({ length: c.tenants + 3 }, (_, i) => [5, 0, 3, 1, 7, 4, 9, 2][i % 8]);
      const { segments, rows } = segmentsOf(lengths, (i) => i % c.tenants, 2);
      const b = pagedBatch(c.H, adapters, MOD, segments, 100 + c.inDim);
      const x = randomFloats(rows * c.inDim, 5);
      const tmp0 = randomFloats(rows * b.tmpStride, 6, 100);
      const p: LoraShrinkParams = { rows, inDim: c.inDim, pageFloats: c.H, tmpStride: b.tmpStride, kCount: b.tmpStride, tileOffset: 0, numTiles: b.numTiles, metaOffset: 0 };
      const out = await shrinkOnGpu(b, x, tmp0, p);
      const ref = loraShrinkRef({ x, pool: b.pool, tiles: b.tiles, table: b.table, tmp: tmp0 }, p);
      expectClose(out, ref, 1e-5, 1e-4);

      // The paged reference itself equals x @ A^T read straight from the adapter.
      for (const s of segments) {
        const m = adapters[s.tenant].modules.get(MOD);
        for (let i = s.rowStart; i < s.rowStart + s.rowCount; i++) {
          for (let k = 0; k < b.tmpStride; k++) {
            let e = tmp0[i * b.tmpStride + k];
            if (m && k < m.r) {
              e = 0;
              for (let j = 0; j < c.inDim; j++) e += x[i * c.inDim + j] * m.A[k * c.inDim + j];
            }
            expect(Math.abs(ref[i * b.tmpStride + k] - e)).toBeLessThan(1e-9 * (1 + Math.abs(e)));
          }
        }
      }
    });
  }

  it('handles a large batch (600 rows, in 96) in one dispatch', async () => {
    const H = 32;
    const adapters = Array.from({ length: 6 }, (_, t) => randomAdapter(t + 50, [{ path: MOD, r: ranks[t], inDim: 96, outDim: 8 }]));
    const { segments, rows } = segmentsOf([101, 99, 100, 97, 103, 100], (i) => i);
    const b = pagedBatch(H, adapters, MOD, segments, 3);
    const x = randomFloats(rows * 96, 8);
    const tmp0 = new Float32Array(rows * b.tmpStride);
    const p: LoraShrinkParams = { rows, inDim: 96, pageFloats: H, tmpStride: b.tmpStride, kCount: b.tmpStride, tileOffset: 0, numTiles: b.numTiles, metaOffset: 0 };
    expectClose(await shrinkOnGpu(b, x, tmp0, p), loraShrinkRef({ x, pool: b.pool, tiles: b.tiles, table: b.table, tmp: tmp0 }, p), 1e-5, 1e-4);
  });

  it('clamps an adversarial table to the pool and tmp row', async () => {
    const H = 15;
    const adapters = [randomAdapter(1, [{ path: MOD, r: 3, inDim: 37, outDim: 5 }]), randomAdapter(2, [{ path: MOD, r: 2, inDim: 37, outDim: 5 }])];
    const { segments, rows } = segmentsOf([5, 6], (i) => i);
    const b = pagedBatch(H, adapters, MOD, segments, 9);
    const table = b.table.slice();
    // Tenant 0: page indices far past the pool. Tenant 1: a rank above tmpStride.
    for (let i = table[2]; i < table[2] + 9; i++) table[i] = i % 2 ? 0xffffffff : 1_000_000 + i;
    table[4] = 1000;
    const bad = { ...b, table };
    const x = randomFloats(rows * 37, 5);
    const tmp0 = randomFloats(rows * b.tmpStride, 6);
    const p: LoraShrinkParams = { rows, inDim: 37, pageFloats: H, tmpStride: b.tmpStride, kCount: 1000, tileOffset: 0, numTiles: b.numTiles, metaOffset: 0 };
    const out = await shrinkOnGpu(bad, x, tmp0, p);
    expect(out.every(Number.isFinite)).toBe(true);
    expectClose(out, loraShrinkRef({ x, pool: b.pool, tiles: b.tiles, table, tmp: tmp0 }, p), 1e-5, 1e-4);
  });
});
