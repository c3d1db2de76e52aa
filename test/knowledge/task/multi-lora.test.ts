import { describe, expect, it } from 'vitest';
import { AdapterPool } from '../../../src/knowledge/task/pool.js';
import { MultiTenantLora, type BatchSegment } from '../../../src/knowledge/task/multi-lora.js';
import { TenantNotResidentError } from '../../../src/knowledge/task/errors.js';
import { ShapeError } from '../../../src/errors.js';
import { allocBuffer, readF32, uploadBuffer } from '../../../src/gpu/buffers.js';
import type { GpuContext } from '../../../src/gpu/device.js';
import type { LoraAdapter } from '../../../src/formats/types.js';
import { expectClose, randomFloats, testContext } from '../../helpers/gpu.js';
import { denseLora, randomAdapter, type ModuleSpec } from './fixtures.js';

const H = 15;
const DIMS: Record<string, [number, number]> = { q: [15, 15], up: [15, 45], down: [45, 15], odd: [15, 37] };
const RANKS = [1, 2, 3, 7, 16, 64];

function tenant(t: number, seed = t + 1): LoraAdapter {
  const mods: ModuleSpec[] = [];
  const r = RANKS[t % RANKS.length];
  mods.push({ path: 'q', r, inDim: 15, outDim: 15 });
  if (t % 2 === 0) mods.push({ path: 'up', r, inDim: 15, outDim: 45 });
  if (t % 3 !== 1) mods.push({ path: 'down', r: Math.max(1, r - 1), inDim: 45, outDim: 15 });
  if (t % 4 !== 3) mods.push({ path: 'odd', r, inDim: 15, outDim: 37 });
  return randomAdapter(seed, mods, t % 7 === 6 ? undefined : { numLabels: 1 + (t % 5) * 3, hidden: H });
}

/** Counts the dispatches encoded through a pass. */
function counting(pass: GPUComputePassEncoder): { pass: GPUComputePassEncoder; count: () => number } {
  let n = 0;
  const proxy = new Proxy(pass, {
    get(target, prop) {
      if (prop === 'dispatchWorkgroups') {
        return (x: number, y?: number, z?: number) => {
          n++;
          target.dispatchWorkgroups(x, y, z);
        };
      }
      const v = Reflect.get(target, prop) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  return { pass: proxy, count: () => n };
}

interface Setup {
  ctx: GpuContext;
  pool: AdapterPool;
  lora: MultiTenantLora;
  adapters: Map<string, LoraAdapter>;
}

async function setup(n: number, maxBufferBytes?: number): Promise<Setup> {
  const ctx = await testContext();
  const adapters = new Map(Array.from({ length: n }, (_, t) => [`t${t}`, tenant(t)] as const));
  const need = [...adapters.values()].reduce((s, a) => s + AdapterPool.bytesNeeded(a, H), 0);
  // Several buffers leave unusable tails (a tenant lives in one buffer): give them room.
  const budgetBytes = maxBufferBytes ? 2 * need : need + 10 * H * 4;
  const pool = await AdapterPool.create(ctx, { pageFloats: H, budgetBytes, ...(maxBufferBytes ? { maxBufferBytes } : {}) });
  for (const [id, a] of adapters) pool.load(id, a);
  pool.pin(adapters.keys());
  return { ctx, pool, lora: new MultiTenantLora(ctx, pool), adapters };
}

/** Runs one module's LoRA over x/y on the GPU; returns y and the number of dispatches. */
async function applyOnGpu(s: Setup, module: string, x: Float32Array, y0: Float32Array, rows: number): Promise<{ y: Float32Array; dispatches: number }> {
  const [inDim, outDim] = DIMS[module];
  const gx = await uploadBuffer(s.ctx, x, 'x');
  const gy = await uploadBuffer(s.ctx, y0, 'y');
  const enc = s.ctx.device.createCommandEncoder();
  const c = counting(enc.beginComputePass());
  s.lora.apply(c.pass, module, gx, gy, rows, inDim, outDim);
  c.pass.end();
  s.ctx.submit([enc.finish()]);
  const y = await readF32(s.ctx, gy, rows * outDim);
  gx.destroy();
  gy.destroy();
  return { y, dispatches: c.count() };
}

function reference(s: Setup, module: string, segments: readonly BatchSegment[], x: Float32Array, y0: Float32Array): Float64Array {
  const y = Float64Array.from(y0);
  for (const seg of segments) {
    const m = s.adapters.get(seg.tenantId)?.modules.get(module);
    if (m) denseLora(y, x, m, seg.rowStart, seg.rowCount);
  }
  return y;
}

/** 20 tenants in odd-length segments, empty segments, a tenant twice, rows of no tenant between. */
function mixedSegments(n: number): { segments: BatchSegment[]; rows: number } {
  const lengths = [5, 0, 3, 1, 7, 4, 9, 2, 11, 1, 6];
  const segments: BatchSegment[] = [];
  let row = 1;
  for (let i = 0; i < n + 2; i++) {
    segments.push({ tenantId: `t${i % n}`, rowStart: row, rowCount: lengths[i % lengths.length] });
    row += lengths[i % lengths.length] + (i % 4 === 2 ? 2 : 0);
  }
  return { segments, rows: row + 1 };
}

describe('MultiTenantLora', () => {
  it('adds every tenant’s delta for a 20-tenant batch with two dispatches per projection', async () => {
    const s = await setup(20);
    const { segments, rows } = mixedSegments(20);
    s.lora.setBatch(segments);
    for (const module of Object.keys(DIMS)) {
      const [inDim, outDim] = DIMS[module];
      const x = randomFloats(rows * inDim, 11);
      const y0 = randomFloats(rows * outDim, 12);
      const { y, dispatches } = await applyOnGpu(s, module, x, y0, rows);
      expect(dispatches).toBe(2);
      expectClose(y, reference(s, module, segments, x, y0), 1e-4, 2e-3);
    }
    const unknown = await applyOnGpu(s, 'q', randomFloats(rows * 15, 1), randomFloats(rows * 15, 2), rows);
    expect(unknown.dispatches).toBe(2);
    s.lora.destroy();
    s.pool.destroy();
  });

  it('skips modules no tenant of the batch adapts', async () => {
    const s = await setup(4);
    s.lora.setBatch([{ tenantId: 't1', rowStart: 0, rowCount: 3 }]);
    const y0 = randomFloats(3 * 45, 3);
    const { y, dispatches } = await applyOnGpu(s, 'up', randomFloats(3 * 15, 4), y0, 3);
    expect(dispatches).toBe(0);
    expect(y).toEqual(y0);
    s.lora.destroy();
    s.pool.destroy();
  });

  it('isolates tenants: a row is bit-identical alone or mixed, whatever other tenants hold', async () => {
    const s = await setup(12);
    const me = 't5';
    const myRows = 7;
    const myX = randomFloats(myRows * 15, 21);
    const myY = randomFloats(myRows * 37, 22);
    const mine = (y: Float32Array, start: number): Float32Array => y.slice(start * 37, (start + myRows) * 37);

    s.lora.setBatch([{ tenantId: me, rowStart: 0, rowCount: myRows }]);
    const alone = mine((await applyOnGpu(s, 'odd', myX, myY, myRows)).y, 0);

    const { segments, rows } = mixedSegments(12);
    const start = rows;
    const mixed = [...segments, { tenantId: me, rowStart: start, rowCount: myRows }];
    const total = start + myRows + 3;
    const x = randomFloats(total * 15, 23);
    const y0 = randomFloats(total * 37, 24);
    x.set(myX, start * 15);
    y0.set(myY, start * 37);
    s.lora.setBatch(mixed);
    const first = (await applyOnGpu(s, 'odd', x, y0, total)).y;
    expect(mine(first, start)).toEqual(alone);

    // Re-register another tenant of the batch with different weights.
    s.pool.unpin(['t4']);
    s.adapters.set('t4', tenant(4, 999));
    s.pool.load('t4', s.adapters.get('t4') as LoraAdapter);
    s.pool.pin(['t4']);
    s.lora.setBatch(mixed);
    const second = (await applyOnGpu(s, 'odd', x, y0, total)).y;
    expect(mine(second, start)).toEqual(alone);
    expect(second).not.toEqual(first);
    expectClose(second, reference(s, 'odd', mixed, x, y0), 1e-4, 2e-3);
    s.lora.destroy();
    s.pool.destroy();
  });

  it('serves tenants spread over several pool buffers', async () => {
    const s = await setup(9, 40 * 1024);
    expect(s.pool.numBuffers).toBeGreaterThan(1);
    const shardsUsed = new Set([...s.adapters.keys()].map((id) => s.pool.resident(id)?.shard)).size;
    expect(shardsUsed).toBeGreaterThan(1);
    const { segments, rows } = mixedSegments(9);
    s.lora.setBatch(segments);
    const x = randomFloats(rows * 45, 31);
    const y0 = randomFloats(rows * 15, 32);
    const { y, dispatches } = await applyOnGpu(s, 'down', x, y0, rows);
    expect(dispatches).toBe(2 * shardsUsed);
    expectClose(y, reference(s, 'down', segments, x, y0), 1e-4, 2e-3);
    s.lora.destroy();
    s.pool.destroy();
  });

  it('computes every request’s classifier head in one dispatch', async () => {
    const s = await setup(14);
    const ids = [...s.adapters.keys()];
    s.lora.setBatch(ids.map((tenantId, i) => ({ tenantId, rowStart: i, rowCount: 1 })));
    const requests = Array.from({ length: 23 }, (_, q) => ({ tenantId: ids[(q * 3) % ids.length] }));
    const pooled = randomFloats(requests.length * H, 41);
    const gp = await uploadBuffer(s.ctx, pooled, 'pooled');
    const maxL = Math.max(...requests.map((r) => s.adapters.get(r.tenantId)?.head.get('classifier.weight')?.shape[0] ?? 0));
    const gl = await allocBuffer(s.ctx, requests.length * maxL * 4, 'logits');
    const enc = s.ctx.device.createCommandEncoder();
    const c = counting(enc.beginComputePass());
    const layout = s.lora.encodeHeads(c.pass, gp, requests, gl);
    c.pass.end();
    s.ctx.submit([enc.finish()]);
    expect(c.count()).toBe(1);
    expect(layout.maxLabels).toBe(maxL);
    const logits = await readF32(s.ctx, gl, requests.length * maxL);
    const expected = new Float64Array(requests.length * maxL);
    requests.forEach((r, q) => {
      const head = s.adapters.get(r.tenantId)?.head;
      const w = head?.get('classifier.weight');
      const b = head?.get('classifier.bias');
      expect(layout.numLabels[q]).toBe(w?.shape[0] ?? 0);
      if (!w || !b) return;
      for (let l = 0; l < w.shape[0]; l++) {
        let acc = b.data[l];
        for (let j = 0; j < H; j++) acc += w.data[l * H + j] * pooled[q * H + j];
        expected[q * maxL + l] = acc;
      }
    });
    expectClose(logits, expected, 1e-5, 1e-5);
    s.lora.destroy();
    s.pool.destroy();
  });

  it('refuses batches it cannot serve correctly', async () => {
    const s = await setup(3);
    s.pool.unpin(['t2']);
    expect(() => s.lora.setBatch([{ tenantId: 't2', rowStart: 0, rowCount: 1 }])).toThrow(TenantNotResidentError);
    expect(() => s.lora.setBatch([{ tenantId: 'ghost', rowStart: 0, rowCount: 1 }])).toThrow(TenantNotResidentError);
    expect(() =>
      s.lora.setBatch([
        { tenantId: 't0', rowStart: 0, rowCount: 4 },
        { tenantId: 't1', rowStart: 3, rowCount: 2 },
      ]),
    ).toThrow(ShapeError);
    s.lora.setBatch([{ tenantId: 't0', rowStart: 2, rowCount: 4 }]);
    const gx = await allocBuffer(s.ctx, 6 * 45 * 4, 'x');
    const gy = await allocBuffer(s.ctx, 6 * 45 * 4, 'y');
    const enc = s.ctx.device.createCommandEncoder();
    const pass = enc.beginComputePass();
    expect(() => s.lora.apply(pass, 'q', gx, gy, 6, 15, 16)).toThrow(ShapeError);
    expect(() => s.lora.apply(pass, 'q', gx, gy, 5, 15, 15)).toThrow(ShapeError);
    expect(() => s.lora.encodeHeads(pass, gx, [{ tenantId: 't1' }], gy)).toThrow(TenantNotResidentError);
    pass.end();
    enc.finish();
    gx.destroy();
    gy.destroy();
    s.lora.destroy();
    s.pool.destroy();
  });
});
