import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../src/errors.js';
import { encodeLoraExpand, type LoraExpandParams } from '../../src/kernels/lora-expand.js';
import { loraExpandRef } from '../../src/kernels/cpu/lora-expand.js';
import { run } from '../../src/gpu/dispatch.js';
import { readF32, uploadBuffer } from '../../src/gpu/buffers.js';
import { expectClose, randomFloats, testContext } from '../helpers/gpu.js';
import { pagedBatch, randomAdapter, segmentsOf, type PagedBatch } from '../knowledge/task/fixtures.js';

const MOD = 'm';

async function expandOnGpu(b: PagedBatch, tmp: Float32Array, y0: Float32Array, p: LoraExpandParams): Promise<Float32Array> {
  const ctx = await testContext();
  const bufs = await Promise.all([
    uploadBuffer(ctx, tmp, 'tmp'),
    uploadBuffer(ctx, b.pool, 'pool'),
    uploadBuffer(ctx, b.tiles, 'tiles'),
    uploadBuffer(ctx, b.table, 'table'),
    uploadBuffer(ctx, y0, 'y'),
  ]);
  const [gtmp, gpool, gtiles, gtable, gy] = bufs;
  run(ctx, (pass) => encodeLoraExpand(ctx, pass, { tmp: gtmp, pool: gpool, tiles: gtiles, table: gtable, y: gy }, p));
  const out = await readF32(ctx, gy, y0.length);
  for (const buf of bufs) buf.destroy();
  return out;
}

describe('lora_expand kernel', () => {
  const ranks = [1, 2, 3, 7, 16, 64];
  const cases = [
    { name: '20 tenants, ranks 1..64, out 37 over pages of 15', H: 15, outDim: 37, tenants: 20 },
    { name: 'out = 3 pages exactly (45 = 3*15)', H: 15, outDim: 45, tenants: 7 },
    { name: 'out = 1', H: 4, outDim: 1, tenants: 3 },
    { name: 'out 6, pages of 3 (column groups straddle pages)', H: 3, outDim: 6, tenants: 4 },
    { name: 'out 130 over pages of 64', H: 64, outDim: 130, tenants: 5 },
  ];
  for (const c of cases) {
    it(`matches the CPU reference: ${c.name}`, async () => {
      const adapters = Array.from({ length: c.tenants }, (_, t) =>
        randomAdapter(t + 1, t === 2 ? [] : [{ path: MOD, r: ranks[t % ranks.length], inDim: 7, outDim: c.outDim }]),
      );
      const lengths = Array.from({ length: c.tenants + 3 }, (_, i) => [5, 0, 3, 1, 7, 4, 9, 2][i % 8]);
      const { segments, rows } = segmentsOf(lengths, (i) => i % c.tenants, 2);
      const b = pagedBatch(c.H, adapters, MOD, segments, 200 + c.outDim);
      const tmp = randomFloats(rows * b.tmpStride, 5);
      const y0 = randomFloats(rows * c.outDim, 6, 3);
      const p: LoraExpandParams = { rows, outDim: c.outDim, pageFloats: c.H, tmpStride: b.tmpStride, tileOffset: 0, numTiles: b.numTiles, metaOffset: 0 };
      const out = await expandOnGpu(b, tmp, y0, p);
      const ref = loraExpandRef({ tmp, pool: b.pool, tiles: b.tiles, table: b.table, y: y0 }, p);
      expectClose(out, ref, 1e-5, 1e-4);

      // The paged reference equals scale * tmp @ B^T read straight from the adapter; rows in
      // no segment and rows of tenant 2 (no LoRA here) keep y exactly.
      const covered = new Set<number>();
      for (const s of segments) {
        const m = adapters[s.tenant].modules.get(MOD);
        for (let i = s.rowStart; i < s.rowStart + s.rowCount; i++) {
          if (m) covered.add(i);
          for (let col = 0; col < c.outDim; col++) {
            let e = y0[i * c.outDim + col];
            if (m) {
              let acc = 0;
              for (let k = 0; k < m.r; k++) acc += tmp[i * b.tmpStride + k] * m.B[col * m.r + k];
              e += m.scale * acc;
            }
            expect(Math.abs(ref[i * c.outDim + col] - e)).toBeLessThan(1e-9 * (1 + Math.abs(e)));
          }
        }
      }
      for (let i = 0; i < rows; i++) {
        if (covered.has(i)) continue;
        for (let col = 0; col < c.outDim; col++) expect(out[i * c.outDim + col]).toBe(y0[i * c.outDim + col]);
      }
    });
  }

  for (const c of cases) {
    // The rows variant reads pages as vec4: same odd dims on pages rounded up to a multiple of 4.
    const H = 4 * Math.ceil(c.H / 4);
    it(`rows variant matches the reference and the block variant bit for bit: ${c.name} (pages of ${H})`, async () => {
      const adapters = Array.from({ length: c.tenants }, (_, t) => randomAdapter(t + 1, t === 2 ? [] : [{ path: MOD, r: ranks[t % ranks.length], inDim: 7, outDim: c.outDim }]));
      const lengths = Array.from({ length: c.tenants + 3 }, (_, i) => [5, 0, 3, 1, 7, 4, 9, 2][i % 8]);
      const { segments, rows } = segmentsOf(lengths, (i) => i % c.tenants, 2);
      const b = pagedBatch(H, adapters, MOD, segments, 400 + c.outDim);
      const tmp = randomFloats(rows * b.tmpStride, 7);
      const y0 = randomFloats(rows * c.outDim, 8, 3);
      const p: LoraExpandParams = { rows, outDim: c.outDim, pageFloats: H, tmpStride: b.tmpStride, tileOffset: 0, numTiles: b.numTiles, metaOffset: 0, variant: 'rows' };
      const out = await expandOnGpu(b, tmp, y0, p);
      expectClose(out, loraExpandRef({ tmp, pool: b.pool, tiles: b.tiles, table: b.table, y: y0 }, p), 1e-5, 1e-4);
      // A row's result must not depend on the variant its batch ran (tenant isolation).
      expect(await expandOnGpu(b, tmp, y0, { ...p, variant: 'block' })).toEqual(out);
    });
  }

  // The vec4 variant reads the pool and y as vec4: widths and pages multiples of 4, otherwise odd.
  const vec4Cases = [
    { name: '20 tenants, out 36 over pages of 12 (groups of 16 straddle pages)', H: 12, outDim: 36, tenants: 20 },
    { name: 'out 44 over pages of 20 (a last group of 12 columns)', H: 20, outDim: 44, tenants: 9 },
    { name: 'out = 4 on one page of 4', H: 4, outDim: 4, tenants: 3 },
    { name: 'out 200 over pages of 64', H: 64, outDim: 200, tenants: 5 },
  ];
  for (const c of vec4Cases) {
    it(`vec4 variant matches the reference and the block and rows variants bit for bit: ${c.name}`, async () => {
      const adapters = Array.from({ length: c.tenants }, (_, t) => randomAdapter(t + 1, t === 2 ? [] : [{ path: MOD, r: ranks[t % ranks.length], inDim: 7, outDim: c.outDim }]));
      const lengths = Array.from({ length: c.tenants + 3 }, (_, i) => [5, 0, 3, 1, 7, 4, 9, 2][i % 8]);
      const { segments, rows } = segmentsOf(lengths, (i) => i % c.tenants, 2);
      const b = pagedBatch(c.H, adapters, MOD, segments, 600 + c.outDim);
      const tmp = randomFloats(rows * b.tmpStride, 17);
      const y0 = randomFloats(rows * c.outDim, 18, 3);
      const p: LoraExpandParams = { rows, outDim: c.outDim, pageFloats: c.H, tmpStride: b.tmpStride, tileOffset: 0, numTiles: b.numTiles, metaOffset: 0, variant: 'vec4' };
      const out = await expandOnGpu(b, tmp, y0, p);
      expectClose(out, loraExpandRef({ tmp, pool: b.pool, tiles: b.tiles, table: b.table, y: y0 }, p), 1e-5, 1e-4);
      expect(await expandOnGpu(b, tmp, y0, { ...p, variant: 'block' })).toEqual(out);
      expect(await expandOnGpu(b, tmp, y0, { ...p, variant: 'rows' })).toEqual(out);
    });
  }

  it('rejects the vec4 variant on an output width that is not a multiple of 4', async () => {
    const b = pagedBatch(16, [randomAdapter(1, [{ path: MOD, r: 2, inDim: 4, outDim: 37 }])], MOD, [{ tenant: 0, rowStart: 0, rowCount: 1 }], 4);
    const p: LoraExpandParams = { rows: 1, outDim: 37, pageFloats: 16, tmpStride: 2, tileOffset: 0, numTiles: 1, metaOffset: 0, variant: 'vec4' };
    await expect(expandOnGpu(b, randomFloats(2, 1), new Float32Array(37), p)).rejects.toThrow(ShapeError);
  });

  it('rejects the rows variant on pages that are not a multiple of 4 floats', async () => {
    const b = pagedBatch(15, [randomAdapter(1, [{ path: MOD, r: 2, inDim: 4, outDim: 37 }])], MOD, [{ tenant: 0, rowStart: 0, rowCount: 1 }], 4);
    const p: LoraExpandParams = { rows: 1, outDim: 37, pageFloats: 15, tmpStride: 2, tileOffset: 0, numTiles: 1, metaOffset: 0, variant: 'rows' };
    await expect(expandOnGpu(b, randomFloats(2, 1), new Float32Array(37), p)).rejects.toThrow(ShapeError);
  });

  it('handles a large batch (600 rows, out 200) in one dispatch', async () => {
    const H = 48;
    const adapters = Array.from({ length: 6 }, (_, t) => randomAdapter(t + 50, [{ path: MOD, r: ranks[t], inDim: 4, outDim: 200 }]));
    const { segments, rows } = segmentsOf([101, 99, 100, 97, 103, 100], (i) => i);
    const b = pagedBatch(H, adapters, MOD, segments, 3);
    const tmp = randomFloats(rows * b.tmpStride, 8);
    const y0 = new Float32Array(rows * 200);
    const p: LoraExpandParams = { rows, outDim: 200, pageFloats: H, tmpStride: b.tmpStride, tileOffset: 0, numTiles: b.numTiles, metaOffset: 0 };
    const out = await expandOnGpu(b, tmp, y0, p);
    expectClose(out, loraExpandRef({ tmp, pool: b.pool, tiles: b.tiles, table: b.table, y: y0 }, p), 1e-5, 1e-4);
    expect(await expandOnGpu(b, tmp, y0, { ...p, variant: 'rows' })).toEqual(out);
  });

  it('rows variant on a decode batch (one-row segments of 41 tenants, out 37 over pages of 20: column groups straddle pages) equals the block variant bit for bit', async () => {
    const H = 20;
    const adapters = Array.from({ length: 41 }, (_, t) => randomAdapter(t + 70, t === 5 ? [] : [{ path: MOD, r: ranks[t % ranks.length], inDim: 3, outDim: 37 }]));
    const { segments, rows } = segmentsOf(Array.from({ length: 41 }, () => 1), (i) => i, 1);
    const b = pagedBatch(H, adapters, MOD, segments, 11);
    const tmp = randomFloats(rows * b.tmpStride, 12);
    const y0 = randomFloats(rows * 37, 13);
    const p: LoraExpandParams = { rows, outDim: 37, pageFloats: H, tmpStride: b.tmpStride, tileOffset: 0, numTiles: b.numTiles, metaOffset: 0, variant: 'rows' };
    const out = await expandOnGpu(b, tmp, y0, p);
    expectClose(out, loraExpandRef({ tmp, pool: b.pool, tiles: b.tiles, table: b.table, y: y0 }, p), 1e-5, 1e-4);
    expect(await expandOnGpu(b, tmp, y0, { ...p, variant: 'block' })).toEqual(out);
  });

  for (const [H, D, variants] of [[15, 37, ['block']], [16, 37, ['block', 'rows']], [16, 36, ['block', 'rows', 'vec4']]] as const) it(`clamps an adversarial table to the pool and tmp row (pages of ${H}, width ${D}: ${variants.join(', ')})`, async () => {
    const adapters = [randomAdapter(1, [{ path: MOD, r: 3, inDim: 4, outDim: D }]), randomAdapter(2, [{ path: MOD, r: 2, inDim: 4, outDim: D }])];
    const { segments, rows } = segmentsOf([5, 6], (i) => i);
    const b = pagedBatch(H, adapters, MOD, segments, 9);
    const table = b.table.slice();
    for (let i = table[3]; i < table[3] + 9; i++) table[i] = i % 2 ? 0xffffffff : 1_000_000 + i;
    table[4] = 1000;
    const tmp = randomFloats(rows * b.tmpStride, 5);
    const y0 = randomFloats(rows * D, 6);
    const p: LoraExpandParams = { rows, outDim: D, pageFloats: H, tmpStride: b.tmpStride, tileOffset: 0, numTiles: b.numTiles, metaOffset: 0 };
    for (const variant of variants) {
      const out = await expandOnGpu({ ...b, table }, tmp, y0, { ...p, variant });
      expect(out.every(Number.isFinite)).toBe(true);
      expectClose(out, loraExpandRef({ tmp, pool: b.pool, tiles: b.tiles, table, y: y0 }, p), 1e-5, 1e-4);
    }
  });
});
