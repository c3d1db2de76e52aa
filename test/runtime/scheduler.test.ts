import { describe, expect, it } from 'vitest';
import { RequestQueue, type Queued } from '../../src/runtime/queue.js';
import { formBatch } from '../../src/runtime/scheduler.js';
import { QueueFullError } from '../../src/runtime/errors.js';

const req = (tenantId: string, tokens: number, enqueuedAt: number): Queued => ({ tenantId, tokens, enqueuedAt });
const policy = { tokenBudget: 100, maxTenants: 8, maxWaitMs: 1000 };

describe('request queue', () => {
  it('rejects at capacity without growing, and recovers after take', () => {
    const q = new RequestQueue<Queued>(3);
    q.push(req('a', 1, 0));
    q.push(req('b', 1, 0));
    q.push(req('a', 1, 0));
    expect(() => q.push(req('c', 1, 0))).toThrow(QueueFullError);
    expect(q.size).toBe(3);
    expect(q.take('a', 5)).toHaveLength(2);
    q.push(req('c', 1, 0));
    expect(q.size).toBe(2);
  });

  it('removeWhere keeps counts right', () => {
    const q = new RequestQueue<Queued>(10);
    for (let i = 0; i < 6; i++) q.push(req(i % 2 ? 'a' : 'b', i, i));
    expect(q.removeWhere((r) => r.tenantId === 'a')).toHaveLength(3);
    expect(q.size).toBe(3);
    expect([...q.heads()].map(([id]) => id)).toEqual(['b']);
  });
});

describe('batch formation', () => {
  it('prefers resident tenants, then oldest', () => {
    const q = new RequestQueue<Queued>(100);
    q.push(req('cold-old', 10, 0));
    q.push(req('hot', 10, 5));
    q.push(req('cold-new', 10, 6));
    const b = formBatch(q, { ...policy, maxTenants: 2 }, (id) => id === 'hot', 10);
    expect(b.map((r) => r.tenantId)).toEqual(['hot', 'cold-old']);
  });

  it('serves a starving tenant first even when others are resident', () => {
    const q = new RequestQueue<Queued>(100);
    q.push(req('cold', 10, 0));
    for (let i = 0; i < 20; i++) q.push(req('hot', 10, 1500 + i));
    const b = formBatch(q, { ...policy, maxTenants: 1 }, (id) => id === 'hot', 2000);
    expect(b.map((r) => r.tenantId)).toEqual(['cold']);
  });

  it('stays within the token budget and always takes at least one request', () => {
    const q = new RequestQueue<Queued>(100);
    q.push(req('big', 500, 0));
    q.push(req('x', 60, 1));
    q.push(req('y', 60, 2));
    expect(formBatch(q, policy, () => false, 3).map((r) => r.tenantId)).toEqual(['big']);
    const b = formBatch(q, policy, () => false, 3);
    expect(b.reduce((s, r) => s + r.tokens, 0)).toBeLessThanOrEqual(100);
    expect(b).toHaveLength(1);
  });

  it('bounds the number of distinct tenants', () => {
    const q = new RequestQueue<Queued>(100);
    for (let i = 0; i < 10; i++) q.push(req(`t${i}`, 1, i));
    const b = formBatch(q, { ...policy, maxTenants: 4 }, () => false, 20);
    expect(new Set(b.map((r) => r.tenantId)).size).toBe(4);
    expect(q.size).toBe(6);
  });

  it('no tenant waits past maxWaitMs plus one batch under skewed load (simulation)', () => {
    const q = new RequestQueue<Queued>(10_000);
    let now = 0;
    const waits: number[] = [];
    q.push(req('rare', 5, 0));
    for (let step = 0; step < 200; step++) {
      for (let i = 0; i < 6; i++) q.push(req('hot', 5, now)); // 30 of 40 tokens: sustainable
      const b = formBatch(q, { tokenBudget: 40, maxTenants: 1, maxWaitMs: 50 }, (id) => id === 'hot', now);
      for (const r of b) if (r.tenantId === 'rare') waits.push(now - r.enqueuedAt);
      if (step % 20 === 0) q.push(req('rare', 5, now));
      now += 10;
    }
    expect(waits.length).toBeGreaterThan(5);
    expect(Math.max(...waits)).toBeLessThanOrEqual(60);
  });
});
