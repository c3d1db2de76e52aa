/**
 * Tenant isolation. Runtime: random (seeded) batches of many tenants, with a pool too small
 * to hold them all, give every request its tenant's solo output bit for bit. Kernels: a
 * tenant's rows read only its own pages (every other page of the pool poisoned with NaN),
 * and adversarial tiles never write rows outside their own.
 * (test/kernels/lora-*.test.ts already cover page indices past the pool and ranks past
 * tmpStride; test/knowledge/task/multi-lora.test.ts covers mixed-vs-alone at that level.)
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HmiRuntime } from '../../src/runtime/runtime.js';
import { createRuntime } from '../../src/create-runtime.js';
import { nodeGpu } from '../../src/gpu/node.js';
import { AdapterPool } from '../../src/knowledge/task/pool.js';
import { MemoryTenantStore } from '../../src/knowledge/task/store-memory.js';
import { MultiTenantLora, type BatchSegment } from '../../src/knowledge/task/multi-lora.js';
import { syntheticTenant } from '../../src/runtime/synthetic-tenants.js';
import { readF32, uploadBuffer, writeBuffer } from '../../src/gpu/buffers.js';
import { run } from '../../src/gpu/dispatch.js';
import { encodeLoraExpand } from '../../src/kernels/lora-expand.js';
import { encodeLoraShrink } from '../../src/kernels/lora-shrink.js';
import type { TenantSpec } from '../../src/runtime/api.js';
import type { LoraAdapter } from '../../src/formats/types.js';
import { randomFloats, testContext } from '../helpers/gpu.js';
import { writeBertDir } from '../helpers/models.js';
import { randomAdapter } from '../knowledge/task/fixtures.js';

const SHAPE = { hiddenSize: 32, numLayers: 2, numHeads: 2, intermediateSize: 48, maxPositions: 64 };
const TEXTS = ['the river ran fast', 'a cold clear morning under the old stone bridge', 'we', 'deep water'];
const SEED = 20261125;

describe('runtime: random batches of many tenants equal their solo outputs bit for bit', () => {
  let rt: HmiRuntime;
  let specs: TenantSpec[];
  const solo = new Map<string, string>();
  const soloEmbed = new Map<string, Float32Array>();
  const key = (id: string, text: number): string => `${id}\u0000${text}`;

  beforeAll(async () => {
    const dir = await writeBertDir(SHAPE);
    const gpu = await nodeGpu();
    const probe = (await createRuntime({ gpu, model: dir, store: new MemoryTenantStore() })) as HmiRuntime;
    specs = Array.from({ length: 20 }, (_, i) => syntheticTenant(probe.config, probe.split, i, { count: 20, seed: 41, ranks: [1, 2, 3, 5, 8, 16] }));
    await probe.dispose();
    // A pool for about a third of the tenants: mixed batches page tenants in and out.
    const all = specs.reduce((n, s) => n + AdapterPool.bytesNeeded(s.adapter, SHAPE.hiddenSize), 0);
    rt = (await createRuntime({ gpu, model: dir, store: new MemoryTenantStore(), poolBytes: Math.ceil(all / 3) })) as HmiRuntime;
    await rt.tenants.add(specs);
    // Solo: one request at a time, so every batch holds exactly one request.
    for (const s of specs) {
      for (let t = 0; t < TEXTS.length; t++) solo.set(key(s.id, t), (await rt.classify(s.id, TEXTS[t])).scores.join(','));
      soloEmbed.set(s.id, (await rt.embed(s.id, TEXTS[0])).hidden);
    }
  });
  afterAll(async () => rt?.dispose());

  it('classify and embed, 10 seeded rounds of up to 40 concurrent requests', async () => {
    const request = fc.record({ tenant: fc.nat({ max: 19 }), text: fc.nat({ max: TEXTS.length - 1 }), embed: fc.boolean() });
    const rounds = fc.sample(fc.array(request, { minLength: 2, maxLength: 40 }), { seed: SEED, numRuns: 10 });
    for (const round of rounds) {
      const out = await Promise.all(
        round.map(async (r) => {
          const id = specs[r.tenant].id;
          if (r.embed) return { r, embed: (await rt.embed(id, TEXTS[0])).hidden };
          return { r, scores: (await rt.classify(id, TEXTS[r.text])).scores.join(',') };
        }),
      );
      for (const o of out) {
        const id = specs[o.r.tenant].id;
        if ('embed' in o) expect(o.embed).toEqual(soloEmbed.get(id));
        else expect(o.scores).toBe(solo.get(key(id, o.r.text)));
      }
    }
    const m = await rt.metrics();
    expect(m.poolBytesUsed).toBeLessThanOrEqual(m.poolBytesTotal);
    expect(m.tenantsResident).toBeLessThan(specs.length);
  });
});

describe('kernels: a tenant reads only its own pages; tiles write only their own rows', () => {
  const H = 16;
  const DIMS = { q: [16, 16], up: [16, 40] } as const;

  function adapter(t: number): LoraAdapter {
    const r = [1, 3, 4, 7, 16][t % 5];
    return randomAdapter(t + 7, [
      { path: 'q', r, inDim: 16, outDim: 16 },
      { path: 'up', r: Math.max(1, r - 1), inDim: 16, outDim: 40 },
    ]);
  }

  it('every page not owned by the batch\'s tenant poisoned with NaN: its output is unchanged, bit for bit', async () => {
    const ctx = await testContext();
    const adapters = new Map(Array.from({ length: 6 }, (_, t) => [`t${t}`, adapter(t)] as const));
    const need = [...adapters.values()].reduce((n, a) => n + AdapterPool.bytesNeeded(a, H), 0);
    // Spare pages, and tenants loaded, evicted and reloaded so their pages interleave.
    const pool = await AdapterPool.create(ctx, { pageFloats: H, budgetBytes: need + 12 * H * 4 });
    for (const [id, a] of adapters) pool.load(id, a);
    pool.evict('t1');
    pool.evict('t3');
    pool.load('t3', adapters.get('t3')!);
    pool.load('t1', adapters.get('t1')!);
    pool.pin(adapters.keys());
    const lora = new MultiTenantLora(ctx, pool);
    const totalPages = pool.bytesTotal / (H * 4);
    const clean = await readF32(ctx, pool.buffer(0), totalPages * H);

    const rows = 11;
    const seg: BatchSegment[] = [{ tenantId: '', rowStart: 2, rowCount: 7 }];
    for (const [module, [inDim, outDim]] of Object.entries(DIMS)) {
      const x = randomFloats(rows * inDim, 3);
      const y0 = randomFloats(rows * outDim, 4);
      for (const id of adapters.keys()) {
        const apply = async (): Promise<Float32Array> => {
          const gx = await uploadBuffer(ctx, x, 'x');
          const gy = await uploadBuffer(ctx, y0, 'y');
          lora.setBatch([{ ...seg[0], tenantId: id }]);
          run(ctx, (pass) => lora.apply(pass, module, gx, gy, rows, inDim, outDim));
          const y = await readF32(ctx, gy, rows * outDim);
          gx.destroy();
          gy.destroy();
          return y;
        };
        writeBuffer(ctx, pool.buffer(0), clean);
        const expected = await apply();
        const own = new Set(pool.resident(id)!.pages);
        const poisoned = clean.slice();
        for (let p = 0; p < totalPages; p++) if (!own.has(p)) poisoned.fill(Number.NaN, p * H, (p + 1) * H);
        writeBuffer(ctx, pool.buffer(0), poisoned);
        const got = await apply();
        expect(got.every(Number.isFinite)).toBe(true);
        expect(got).toEqual(expected);
        // Rows outside the segment are untouched.
        expect(got.subarray(0, 2 * outDim)).toEqual(y0.subarray(0, 2 * outDim));
        expect(got.subarray(9 * outDim)).toEqual(y0.subarray(9 * outDim));
      }
    }
    lora.destroy();
    pool.destroy();
  });

  it('a tile whose rowStart + rowCount overflows u32 writes no row (shrink and expand)', async () => {
    const ctx = await testContext();
    const a = adapter(2);
    const m = a.modules.get('q')!;
    // One tenant on pages 0.. of a tiny pool: A rows then B^T rows, one page each (in = out = H).
    const pool = new Float32Array(2 * m.r * H);
    for (let k = 0; k < m.r; k++) {
      pool.set(m.A.subarray(k * H, (k + 1) * H), k * H);
      for (let c = 0; c < H; c++) pool[(m.r + k) * H + c] = m.B[c * m.r + k];
    }
    const scaleBits = new Uint32Array(new Float32Array([m.scale]).buffer)[0];
    const table = new Uint32Array([m.r, scaleBits, 4, 4 + m.r, ...Array.from({ length: 2 * m.r }, (_, i) => i)]);
    const rows = 8;
    // A legitimate tile for rows 4..7, and tiles starting near 2^32 whose ends wrap to rows 0..2.
    const tiles = new Uint32Array([4, 4, 0, 0, 0xffffffff, 2, 0, 0, 0xfffffffe, 4, 0, 0, 0xfffffffd, 4, 0, 0]);
    const x = randomFloats(rows * H, 5);
    const tmp0 = randomFloats(rows * m.r, 6);
    const y0 = randomFloats(rows * H, 7);
    const [gx, gpool, gtiles, gtable, gtmp, gtmpIn, gy] = await Promise.all([
      uploadBuffer(ctx, x, 'x'),
      uploadBuffer(ctx, pool, 'pool'),
      uploadBuffer(ctx, tiles, 'tiles'),
      uploadBuffer(ctx, table, 'table'),
      uploadBuffer(ctx, tmp0, 'tmp'),
      uploadBuffer(ctx, tmp0, 'tmp-in'),
      uploadBuffer(ctx, y0, 'y'),
    ]);
    run(ctx, (pass) => encodeLoraShrink(ctx, pass, { x: gx, pool: gpool, tiles: gtiles, table: gtable, tmp: gtmp }, { rows, inDim: H, pageFloats: H, tmpStride: m.r, kCount: m.r, tileOffset: 0, numTiles: 4, metaOffset: 0 }));
    // Expand reads its own copy of tmp, so each kernel is judged on its own.
    run(ctx, (pass) => encodeLoraExpand(ctx, pass, { tmp: gtmpIn, pool: gpool, tiles: gtiles, table: gtable, y: gy }, { rows, outDim: H, pageFloats: H, tmpStride: m.r, tileOffset: 0, numTiles: 4, metaOffset: 0 }));
    const tmp = await readF32(ctx, gtmp, rows * m.r);
    const y = await readF32(ctx, gy, rows * H);
    for (const b of [gx, gpool, gtiles, gtable, gtmp, gtmpIn, gy]) b.destroy();
    const touched = (got: Float32Array, before: Float32Array, width: number): number[] =>
      [0, 1, 2, 3].filter((r) => got.subarray(r * width, (r + 1) * width).some((v, i) => v !== before[r * width + i]));
    // Rows 0..3 belong to no valid tile: neither kernel may write them.
    expect({ shrink: touched(tmp, tmp0, m.r), expand: touched(y, y0, H) }).toEqual({ shrink: [], expand: [] });
    // The legitimate tile was computed.
    expect(tmp.subarray(4 * m.r)).not.toEqual(tmp0.subarray(4 * m.r));
    expect(y.subarray(4 * H)).not.toEqual(y0.subarray(4 * H));
  });
});
