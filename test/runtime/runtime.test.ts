import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HmiRuntime } from '../../src/runtime/runtime.js';
import { createRuntime } from '../../src/create-runtime.js';
import { nodeGpu } from '../../src/gpu/node.js';
import { AdapterPool } from '../../src/knowledge/task/pool.js';
import { MemoryTenantStore } from '../../src/knowledge/task/store-memory.js';
import { FsTenantStore } from '../../src/knowledge/task/store-fs.js';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { syntheticTenant } from '../../src/runtime/synthetic-tenants.js';
import { InvalidInputError, QueueFullError, UnknownTenantError } from '../../src/runtime/errors.js';
import type { ClassifyResult } from '../../src/runtime/api.js';
import { writeBertDir } from '../helpers/models.js';

// A small hBERT so a batch of many tenants runs in well under a second on SwiftShader.
const SHAPE = { hiddenSize: 32, numLayers: 2, numHeads: 2, intermediateSize: 48, maxPositions: 64 };

let dir: string;
let gpu: GPU;
beforeAll(async () => {
  dir = await writeBertDir(SHAPE);
  gpu = await nodeGpu();
});

async function runtime(extra: Parameters<typeof createRuntime>[0] = {}): Promise<HmiRuntime> {
  return (await createRuntime({ gpu, model: dir, store: new MemoryTenantStore(), ...extra })) as HmiRuntime;
}

const TEXTS = ['the river ran fast', 'a cold clear morning', 'old stone bridge', 'we walked home', 'the', 'under the bridge the water was deep and cold'];

describe('runtime (hBERT, many tenants)', () => {
  let rt: HmiRuntime;
  afterAll(async () => rt?.dispose());

  it('classifies for many tenants, each output identical alone and in a mixed batch', async () => {
    rt = await runtime();
    const specs = Array.from({ length: 12 }, (_, i) => syntheticTenant(rt.config, rt.split, i, { count: 12, seed: 7 }));
    await rt.tenants.add(specs);
    expect((await rt.tenants.list()).length).toBe(12);

    const solo: ClassifyResult[] = [];
    for (let i = 0; i < specs.length; i++) solo.push(await rt.classify(specs[i].id, TEXTS[i % TEXTS.length]));
    const mixed = await Promise.all(specs.map((s, i) => rt.classify(s.id, TEXTS[i % TEXTS.length])));
    for (let i = 0; i < specs.length; i++) {
      expect(mixed[i].scores).toEqual(solo[i].scores);
      expect(mixed[i].scores.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    }
    // Tenants really differ: not every tenant gives the same scores for the same text.
    const same = await Promise.all(specs.slice(0, 4).map((s) => rt.classify(s.id, TEXTS[0])));
    expect(new Set(same.map((r) => r.scores.join(','))).size).toBeGreaterThan(1);

    // Changing another tenant's adapter never changes this one's output.
    await rt.tenants.add(syntheticTenant(rt.config, rt.split, 1, { count: 12, seed: 99 }));
    expect((await rt.classify(specs[0].id, TEXTS[0])).scores).toEqual(solo[0].scores);
    const m = await rt.metrics();
    expect(m.requestsServed).toBeGreaterThanOrEqual(28);
  });

  it('rejects bad input with named errors while other tenants in the same batch are served', async () => {
    const id = (await rt.tenants.list())[0].id;
    const good = rt.classify(id, TEXTS[1]);
    const bad = [
      rt.classify('nobody', 'hello'),
      rt.classify(id, ''),
      rt.classify(id, [1, 2, 1_000_000]),
      rt.classify(id, Array.from({ length: 65 }, () => 5)),
    ];
    const settled = await Promise.allSettled(bad);
    expect(settled.map((s) => (s.status === 'rejected' ? (s.reason as Error).constructor : null))).toEqual([UnknownTenantError, InvalidInputError, InvalidInputError, InvalidInputError]);
    expect((await good).scores.length).toBeGreaterThan(1);
  });
});

describe('runtime paging and back-pressure', () => {
  it('answers every request correctly with a pool that holds ~5% of the tenants, within budget', async () => {
    const big = await runtime();
    const n = 40;
    const specs = Array.from({ length: n }, (_, i) => syntheticTenant(big.config, big.split, i, { count: n, seed: 3, ranks: [4] }));
    await big.tenants.add(specs);
    const expected = await Promise.all(specs.map((s, i) => big.classify(s.id, TEXTS[i % TEXTS.length])));
    await big.dispose();

    // Room for the two largest tenants only: 5% of 40.
    const largest = Math.max(...specs.map((s) => AdapterPool.bytesNeeded(s.adapter, big.config.hiddenSize)));
    const small = await runtime({ poolBytes: 2 * largest });
    await small.tenants.add(specs);
    const got = await Promise.all(specs.map((s, i) => small.classify(s.id, TEXTS[i % TEXTS.length])));
    for (let i = 0; i < n; i++) expect(got[i].scores).toEqual(expected[i].scores);
    const m = await small.metrics();
    expect(m.poolBytesUsed).toBeLessThanOrEqual(m.poolBytesTotal);
    expect(m.tenantsResident).toBeLessThanOrEqual(3);
    await small.dispose();
  });

  it('rejects at once with QueueFullError when the queue is full, and serves the rest', async () => {
    const rt = await runtime({ maxQueue: 4 });
    const spec = syntheticTenant(rt.config, rt.split, 0, { count: 1 });
    await rt.tenants.add(spec);
    const all = await Promise.allSettled(Array.from({ length: 20 }, () => rt.classify(spec.id, TEXTS[0])));
    const rejected = all.filter((s) => s.status === 'rejected');
    expect(rejected.length).toBeGreaterThan(0);
    for (const r of rejected) expect((r as PromiseRejectedResult).reason).toBeInstanceOf(QueueFullError);
    expect(all.filter((s) => s.status === 'fulfilled').length).toBeGreaterThanOrEqual(4);
    await rt.dispose();
  });
});

describe('runtime persistence', () => {
  it('tenants survive a runtime restart (disk store): same list, same answers', async () => {
    const storeDir = await mkdtemp(join(tmpdir(), 'hmi-tenants-'));
    const first = await runtime({ store: new FsTenantStore(storeDir) });
    const specs = Array.from({ length: 5 }, (_, i) => syntheticTenant(first.config, first.split, i, { count: 5, seed: 17 }));
    await first.tenants.add(specs);
    const before = await Promise.all(specs.map((s, i) => first.classify(s.id, TEXTS[i])));
    await first.dispose();

    const second = await runtime({ store: new FsTenantStore(storeDir) });
    expect((await second.tenants.list()).map((t) => t.id).sort()).toEqual(specs.map((s) => s.id).sort());
    const after = await Promise.all(specs.map((s, i) => second.classify(s.id, TEXTS[i])));
    for (let i = 0; i < specs.length; i++) expect(after[i].scores).toEqual(before[i].scores);
    await second.tenants.remove(specs[0].id);
    await second.dispose();

    const third = await runtime({ store: new FsTenantStore(storeDir) });
    expect((await third.tenants.list()).length).toBe(4);
    await third.dispose();
  });
});
