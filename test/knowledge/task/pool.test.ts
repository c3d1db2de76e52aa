import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { AdapterPool } from '../../../src/knowledge/task/pool.js';
import { adapterShape, fillPages, tenantLayout } from '../../../src/knowledge/task/page-table.js';
import { PoolExhaustedError, TenantNotResidentError, TenantPinnedError, TenantTooLargeError } from '../../../src/knowledge/task/errors.js';
import { readF32 } from '../../../src/gpu/buffers.js';
import type { LoraAdapter } from '../../../src/formats/types.js';
import { testContext } from '../../helpers/gpu.js';
import { randomAdapter } from './fixtures.js';

const H = 8;
const PAGE = H * 4;

describe('adapter pool', () => {
  it('allocates the budget up front, in buffers no larger than asked, and never more', async () => {
    const ctx = await testContext();
    const pool = await AdapterPool.create(ctx, { pageFloats: H, budgetBytes: 100 * PAGE + 17, maxBufferBytes: 40 * PAGE });
    expect(pool.numBuffers).toBe(3);
    expect([0, 1, 2].map((i) => pool.buffer(i).size)).toEqual([40 * PAGE, 40 * PAGE, 20 * PAGE]);
    expect(pool.bytesTotal).toBe(100 * PAGE);
    expect(pool.bytesPerTenantMax).toBe(40 * PAGE);
    expect(pool.stats()).toMatchObject({ bytesUsed: 0, residentTenants: 0, hits: 0, misses: 0, bytesUploaded: 0, evictions: 0 });
    pool.destroy();
    expect(AdapterPool.defaultBudget(ctx.limits)).toBe(Math.min(256 * 1024 * 1024, ctx.limits.maxStorageBufferBindingSize / 2));
  });

  it('uploads pages anywhere and the page table points at the right data', async () => {
    const ctx = await testContext();
    const pool = await AdapterPool.create(ctx, { pageFloats: 15, budgetBytes: 200 * 60 });
    const a = randomAdapter(1, [{ path: 'x', r: 3, inDim: 37, outDim: 45 }], { numLabels: 4, hidden: 15 });
    const filler = randomAdapter(2, [{ path: 'x', r: 2, inDim: 15, outDim: 15 }]);
    // Fragment the pool: a, filler, then a again after filler's pages are freed.
    pool.load('f1', filler);
    pool.load('a', a);
    pool.load('f2', filler);
    pool.evict('f1');
    pool.load('a', randomAdapter(9, [{ path: 'x', r: 1, inDim: 15, outDim: 15 }]));
    pool.load('b', a);
    const t = pool.resident('b');
    if (!t) throw new Error('b not resident');
    const expected = fillPages(a, tenantLayout(adapterShape(a), 15));
    expect(t.pages.length).toBe(expected.length / 15);
    expect(pool.stats().bytesUsed).toBe(['a', 'b', 'f2'].reduce((n, id) => n + (pool.resident(id)?.pages.length ?? 0) * 60, 0));
    const all = await readF32(ctx, pool.buffer(0), 200 * 15);
    t.pages.forEach((p, lp) => expect(all.subarray(p * 15, p * 15 + 15)).toEqual(expected.subarray(lp * 15, lp * 15 + 15)));
    expect(AdapterPool.bytesNeeded(a, 15)).toBe(t.pages.length * 60);
    expect(pool.ownsPages(t)).toBe(true);
    pool.destroy();
  });

  it('rejects a tenant larger than the pool, before and at load', async () => {
    const ctx = await testContext();
    const pool = await AdapterPool.create(ctx, { pageFloats: H, budgetBytes: 20 * PAGE });
    const big = randomAdapter(1, [{ path: 'm', r: 11, inDim: H, outDim: H }]);
    expect(AdapterPool.bytesNeeded(big, H)).toBe(22 * PAGE);
    expect(() => pool.checkFits('big', big)).toThrow(TenantTooLargeError);
    expect(() => pool.load('big', big)).toThrow(TenantTooLargeError);
    expect(pool.stats().bytesUsed).toBe(0);
    expect(() => pool.checkFits('ok', randomAdapter(1, [{ path: 'm', r: 10, inDim: H, outDim: H }]))).not.toThrow();
    pool.destroy();
  });

  it('evicts by recency and frequency, never a pinned tenant, and reports exhaustion', async () => {
    const ctx = await testContext();
    const pool = await AdapterPool.create(ctx, { pageFloats: H, budgetBytes: 20 * PAGE, lambda: 0.1 });
    const four = (seed: number): LoraAdapter => randomAdapter(seed, [{ path: 'm', r: 2, inDim: H, outDim: H }]);
    for (const id of ['hot', 'cold', 'x', 'y', 'z']) pool.load(id, four(id.length));
    for (let i = 0; i < 5; i++) expect(pool.lookup('hot')).toBeDefined();
    pool.lookup('cold');
    pool.lookup('x');
    pool.load('new', four(7));
    // 'y' was used least recently and once: the victim; 'hot' survives though used earlier.
    expect(pool.has('y')).toBe(false);
    expect(pool.has('hot')).toBe(true);
    expect(pool.stats()).toMatchObject({ evictions: 1, residentTenants: 5, hits: 7, misses: 0 });
    expect(pool.lookup('y')).toBeUndefined();
    expect(pool.stats().misses).toBe(1);

    pool.pin(['cold', 'x', 'z', 'new']);
    pool.load('y', four(3));
    expect(pool.has('hot')).toBe(false);
    pool.pin(['y']);
    const before = pool.stats();
    expect(() => pool.load('w', four(4))).toThrow(PoolExhaustedError);
    expect(pool.stats()).toEqual(before);
    expect(() => pool.evict('x')).toThrow(TenantPinnedError);
    expect(() => pool.load('x', four(9))).toThrow(TenantPinnedError);
    expect(() => pool.pin(['x', 'ghost'])).toThrow(TenantNotResidentError);
    pool.unpin(['z']);
    pool.load('w', four(4));
    expect(pool.has('z')).toBe(false);
    expect(pool.stats().bytesUsed).toBeLessThanOrEqual(pool.bytesTotal);
    pool.destroy();
  });

  it('never exceeds its budget nor evicts a pinned tenant under random load/pin/unpin/evict sequences', async () => {
    const ctx = await testContext();
    const sizes = [2, 4, 6, 10, 14];
    const adapters = Array.from({ length: 12 }, (_, i) => randomAdapter(i + 1, [{ path: 'm', r: sizes[i % sizes.length] / 2, inDim: H, outDim: H }]));
    const cmd = fc.oneof(
      fc.record({ op: fc.constant('load' as const), t: fc.nat(11) }),
      fc.record({ op: fc.constant('lookup' as const), t: fc.nat(11) }),
      fc.record({ op: fc.constant('pin' as const), t: fc.nat(11) }),
      fc.record({ op: fc.constant('unpin' as const), t: fc.nat(11) }),
      fc.record({ op: fc.constant('evict' as const), t: fc.nat(11) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(cmd, { maxLength: 60 }), fc.boolean(), async (cmds, sharded) => {
        const budget = 37 * PAGE;
        const pool = await AdapterPool.create(ctx, { pageFloats: H, budgetBytes: budget, ...(sharded ? { maxBufferBytes: 16 * PAGE } : {}) });
        const pins = new Map<string, number>();
        try {
          for (const { op, t } of cmds) {
            const id = `t${t}`;
            try {
              if (op === 'load') pool.load(id, adapters[t]);
              else if (op === 'lookup') pool.lookup(id);
              else if (op === 'pin') {
                pool.pin([id]);
                pins.set(id, (pins.get(id) ?? 0) + 1);
              } else if (op === 'unpin') {
                pool.unpin([id]);
                if (pins.get(id)) pins.set(id, (pins.get(id) as number) - 1);
              } else pool.evict(id);
            } catch (e) {
              const expected = e instanceof PoolExhaustedError || e instanceof TenantPinnedError || e instanceof TenantNotResidentError || e instanceof TenantTooLargeError;
              if (!expected) throw e;
            }
            const s = pool.stats();
            expect(s.bytesTotal).toBeLessThanOrEqual(budget);
            expect(s.bytesUsed).toBeLessThanOrEqual(s.bytesTotal);
            for (const [pid, n] of pins) if (n > 0) expect(pool.has(pid)).toBe(true);
            let pages = 0;
            const seen = new Set<string>();
            for (const rid of pool.residentIds()) {
              const r = pool.resident(rid);
              if (!r) throw new Error(`${rid} listed but not resident`);
              expect(pool.ownsPages(r)).toBe(true);
              for (const p of r.pages) seen.add(`${r.shard}:${p}`);
              pages += r.pages.length;
            }
            expect(seen.size).toBe(pages);
            expect(pages * PAGE).toBe(s.bytesUsed);
          }
        } finally {
          pool.destroy();
        }
      }),
      { seed: 20261125, numRuns: 150 },
    );
  });
});
