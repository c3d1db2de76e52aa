import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../src/errors.js';
import { chooseLoraVariant, encodeLoraShrink, type LoraShrinkParams } from '../../src/kernels/lora-shrink.js';
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

  for (const c of cases) {
    // The rows variant reads pages as vec4: same odd dims on pages rounded up to a multiple of 4.
    const H = 4 * Math.ceil(c.H / 4);
    it(`rows variant matches the reference and the block variant bit for bit: ${c.name} (pages of ${H})`, async () => {
      const adapters = Array.from({ length: c.tenants }, (_, t) => randomAdapter(t + 1, t === 4 ? [] : [{ path: MOD, r: ranks[t % ranks.length], inDim: c.inDim, outDim: 9 }]));
      const lengths = Array.from({ length: c.tenants + 3 }, (_, i) => [5, 0, 3, 1, 7, 4, 9, 2][i % 8]);
      const { segments, rows } = segmentsOf(lengths, (i) => i % c.tenants, 2);
      const b = pagedBatch(H, adapters, MOD, segments, 300 + c.inDim);
      const x = randomFloats(rows * c.inDim, 7);
      const tmp0 = randomFloats(rows * b.tmpStride, 8, 100);
      const p: LoraShrinkParams = { rows, inDim: c.inDim, pageFloats: H, tmpStride: b.tmpStride, kCount: b.tmpStride, tileOffset: 0, numTiles: b.numTiles, metaOffset: 0, variant: 'rows' };
      const out = await shrinkOnGpu(b, x, tmp0, p);
      expectClose(out, loraShrinkRef({ x, pool: b.pool, tiles: b.tiles, table: b.table, tmp: tmp0 }, p), 1e-5, 1e-4);
      // A row's result must not depend on the variant its batch ran (tenant isolation).
      expect(await shrinkOnGpu(b, x, tmp0, { ...p, variant: 'block' })).toEqual(out);
    });
  }

  // The vec4 variant reads x and the pool as vec4: widths and pages multiples of 4, otherwise odd.
  const vec4Cases = [
    { name: '20 tenants, in 36 over pages of 12 (3 pages)', H: 12, inDim: 36, tenants: 20 },
    { name: 'in 44 over pages of 20 (a short last page)', H: 20, inDim: 44, tenants: 9 },
    { name: 'in = 4 on one page of 4', H: 4, inDim: 4, tenants: 3 },
    { name: 'in 132 over pages of 64', H: 64, inDim: 132, tenants: 5 },
  ];
  for (const c of vec4Cases) {
    it(`vec4 variant matches the reference and the block and rows variants bit for bit: ${c.name}`, async () => {
      const adapters = Array.from({ length: c.tenants }, (_, t) => randomAdapter(t + 1, t === 4 ? [] : [{ path: MOD, r: ranks[t % ranks.length], inDim: c.inDim, outDim: 9 }]));
      const lengths = Array.from({ length: c.tenants + 3 }, (_, i) => [5, 0, 3, 1, 7, 4, 9, 2][i % 8]);
      const { segments, rows } = segmentsOf(lengths, (i) => i % c.tenants, 2);
      const b = pagedBatch(c.H, adapters, MOD, segments, 500 + c.inDim);
      const x = randomFloats(rows * c.inDim, 17);
      const tmp0 = randomFloats(rows * b.tmpStride, 18, 100);
      const p: LoraShrinkParams = { rows, inDim: c.inDim, pageFloats: c.H, tmpStride: b.tmpStride, kCount: b.tmpStride, tileOffset: 0, numTiles: b.numTiles, metaOffset: 0, variant: 'vec4' };
      const out = await shrinkOnGpu(b, x, tmp0, p);
      expectClose(out, loraShrinkRef({ x, pool: b.pool, tiles: b.tiles, table: b.table, tmp: tmp0 }, p), 1e-5, 1e-4);
      expect(await shrinkOnGpu(b, x, tmp0, { ...p, variant: 'block' })).toEqual(out);
      expect(await shrinkOnGpu(b, x, tmp0, { ...p, variant: 'rows' })).toEqual(out);
    });
  }

  it('rejects the vec4 variant on an input width that is not a multiple of 4', async () => {
    const b = pagedBatch(16, [randomAdapter(1, [{ path: MOD, r: 2, inDim: 37, outDim: 5 }])], MOD, [{ tenant: 0, rowStart: 0, rowCount: 1 }], 4);
    const p: LoraShrinkParams = { rows: 1, inDim: 37, pageFloats: 16, tmpStride: 2, kCount: 2, tileOffset: 0, numTiles: 1, metaOffset: 0, variant: 'vec4' };
    await expect(shrinkOnGpu(b, randomFloats(37, 1), new Float32Array(2), p)).rejects.toThrow(ShapeError);
  });

  it('rejects the rows variant on pages that are not a multiple of 4 floats', async () => {
    const b = pagedBatch(15, [randomAdapter(1, [{ path: MOD, r: 2, inDim: 37, outDim: 5 }])], MOD, [{ tenant: 0, rowStart: 0, rowCount: 1 }], 4);
    const p: LoraShrinkParams = { rows: 1, inDim: 37, pageFloats: 15, tmpStride: 2, kCount: 2, tileOffset: 0, numTiles: 1, metaOffset: 0, variant: 'rows' };
    await expect(shrinkOnGpu(b, randomFloats(37, 1), new Float32Array(2), p)).rejects.toThrow(ShapeError);
  });

  it('handles a large batch (600 rows, in 96) in one dispatch', async () => {
    const H = 32;
    const adapters = Array.from({ length: 6 }, (_, t) => randomAdapter(t + 50, [{ path: MOD, r: ranks[t], inDim: 96, outDim: 8 }]));
    const { segments, rows } = segmentsOf([101, 99, 100, 97, 103, 100], (i) => i);
    const b = pagedBatch(H, adapters, MOD, segments, 3);
    const x = randomFloats(rows * 96, 8);
    const tmp0 = new Float32Array(rows * b.tmpStride);
    const p: LoraShrinkParams = { rows, inDim: 96, pageFloats: H, tmpStride: b.tmpStride, kCount: b.tmpStride, tileOffset: 0, numTiles: b.numTiles, metaOffset: 0 };
    const out = await shrinkOnGpu(b, x, tmp0, p);
    expectClose(out, loraShrinkRef({ x, pool: b.pool, tiles: b.tiles, table: b.table, tmp: tmp0 }, p), 1e-5, 1e-4);
    expect(await shrinkOnGpu(b, x, tmp0, { ...p, variant: 'rows' })).toEqual(out);
  });

  it('rows variant on a decode batch (one-row segments of 41 tenants, in 37 over pages of 20) equals the block variant bit for bit', async () => {
    const H = 20;
    const adapters = Array.from({ length: 41 }, (_, t) => randomAdapter(t + 70, t === 5 ? [] : [{ path: MOD, r: ranks[t % ranks.length], inDim: 37, outDim: 3 }]));
    const { segments, rows } = segmentsOf(Array.from({ length: 41 }, () => 1), (i) => i, 1);
    const b = pagedBatch(H, adapters, MOD, segments, 11);
    const x = randomFloats(rows * 37, 12);
    const tmp0 = randomFloats(rows * b.tmpStride, 13, 100);
    const p: LoraShrinkParams = { rows, inDim: 37, pageFloats: H, tmpStride: b.tmpStride, kCount: b.tmpStride, tileOffset: 0, numTiles: b.numTiles, metaOffset: 0, variant: 'rows' };
    const out = await shrinkOnGpu(b, x, tmp0, p);
    expectClose(out, loraShrinkRef({ x, pool: b.pool, tiles: b.tiles, table: b.table, tmp: tmp0 }, p), 1e-5, 1e-4);
    expect(await shrinkOnGpu(b, x, tmp0, { ...p, variant: 'block' })).toEqual(out);
  });

  for (const [H, D, variants] of [[15, 37, ['block']], [16, 37, ['block', 'rows']], [16, 36, ['block', 'rows', 'vec4']]] as const) it(`clamps an adversarial table to the pool and tmp row (pages of ${H}, width ${D}: ${variants.join(', ')})`, async () => {
    const adapters = [randomAdapter(1, [{ path: MOD, r: 3, inDim: D, outDim: 5 }]), randomAdapter(2, [{ path: MOD, r: 2, inDim: D, outDim: 5 }])];
    const { segments, rows } = segmentsOf([5, 6], (i) => i);
    const b = pagedBatch(H, adapters, MOD, segments, 9);
    const table = b.table.slice();
    // Tenant 0: page indices far past the pool. Tenant 1: a rank above tmpStride.
    for (let i = table[2]; i < table[2] + 9; i++) table[i] = i % 2 ? 0xffffffff : 1_000_000 + i;
    table[4] = 1000;
    const bad = { ...b, table };
    const x = randomFloats(rows * D, 5);
    const tmp0 = randomFloats(rows * b.tmpStride, 6);
    const p: LoraShrinkParams = { rows, inDim: D, pageFloats: H, tmpStride: b.tmpStride, kCount: 1000, tileOffset: 0, numTiles: b.numTiles, metaOffset: 0 };
    for (const variant of variants) {
      const out = await shrinkOnGpu(bad, x, tmp0, { ...p, variant });
      expect(out.every(Number.isFinite)).toBe(true);
      expectClose(out, loraShrinkRef({ x, pool: b.pool, tiles: b.tiles, table, tmp: tmp0 }, p), 1e-5, 1e-4);
    }
  });
});

describe('chooseLoraVariant', () => {
  it('picks vec4 / rows / block by batch shape and width, as the runtime and the benchmark both ask', () => {
    const c = (op: 'shrink' | 'expand', pageFloats: number, dim: number, oneRowTiles: boolean): string => chooseLoraVariant(op, { pageFloats, dim, oneRowTiles });
    expect([c('shrink', 128, 128, false), c('shrink', 128, 128, true), c('shrink', 128, 37, false), c('shrink', 128, 37, true)]).toEqual(['vec4', 'vec4', 'block', 'rows']);
    expect([c('expand', 128, 128, false), c('expand', 128, 128, true), c('expand', 128, 37, false), c('expand', 128, 37, true)]).toEqual(['vec4', 'rows', 'block', 'rows']);
    // Pages not a multiple of 4: only the scalar kernels can read them.
    expect([c('shrink', 15, 128, true), c('expand', 15, 128, true), c('expand', 15, 128, false)]).toEqual(['block', 'block', 'block']);
  });
});
