import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeGpu } from '../../src/gpu/node.js';
import { packTenant } from '../../src/knowledge/task/pack.js';
import { FsTenantStore } from '../../src/knowledge/task/store-fs.js';
import { MemoryTenantStore } from '../../src/knowledge/task/store-memory.js';
import type { TenantStore } from '../../src/knowledge/task/store.js';
import type { TenantInfo } from '../../src/runtime/api.js';
import { InvalidInputError } from '../../src/runtime/errors.js';
import { type HmiRuntime } from '../../src/runtime/runtime.js';
import { createRuntime } from '../../src/create-runtime.js';
import { syntheticTenant } from '../../src/runtime/synthetic-tenants.js';
import { writeBertDir } from '../helpers/models.js';

// Tenant descriptions and the synthetic flag, as the bundle's tenants and the dashboard use them.
const SHAPE = { hiddenSize: 32, numLayers: 2, numHeads: 2, intermediateSize: 48, maxPositions: 64 };

let model: string;
let work: string;
let gpu: GPU;
beforeAll(async () => {
  model = await writeBertDir(SHAPE);
  work = await mkdtemp(join(tmpdir(), 'hmi-tenant-meta-'));
  gpu = await nodeGpu();
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
  await rm(model, { recursive: true, force: true });
});

const runtime = async (store: TenantStore): Promise<HmiRuntime> => (await createRuntime({ gpu, model, store, autotune: false })) as HmiRuntime;
const byId = (list: readonly TenantInfo[]): Map<string, Pick<TenantInfo, 'description' | 'synthetic'>> =>
  new Map(list.map((t) => [t.id, { description: t.description, synthetic: t.synthetic }]));

describe.each([
  ['memory', (): TenantStore => new MemoryTenantStore()],
  ['a directory', (): TenantStore => new FsTenantStore(join(work, `store-${Math.random().toString(36).slice(2)}`), { fsync: false })],
])('tenant description and synthetic flag (%s store)', (_, makeStore) => {
  it('are stored with the tenant, listed, and survive a reload; an old record reads as none / false', async () => {
    const store = makeStore();
    const first = await runtime(store);
    const described = { ...syntheticTenant(first.config, first.split, 0, { count: 1, seed: 3, prefix: 'real-' }), description: 'Spam or ham, trained on Enron emails.' };
    const plain = syntheticTenant(first.config, first.split, 1, { count: 2, seed: 3, prefix: 'plain-' });
    await first.tenants.add([described, plain]);
    expect(await first.tenants.addSynthetic({ count: 2, seed: 4 })).toBe(2);
    // Written as records were before these fields existed: no description, no synthetic flag.
    const old = packTenant('old-0', syntheticTenant(first.config, first.split, 2, { count: 3, seed: 3 }).adapter, { baseModelId: 'x', baseModelHash: (await first.info()).modelHash, domain: '' });
    expect(Object.keys(old.meta)).not.toContain('description');
    expect(Object.keys(old.meta)).not.toContain('synthetic');
    await store.put([old]);

    const expected = new Map([
      ['real-0', { description: described.description, synthetic: false }],
      ['plain-1', { description: undefined, synthetic: false }],
      ['tenant-0', { description: undefined, synthetic: true }],
      ['tenant-1', { description: undefined, synthetic: true }],
    ]);
    expect(byId(await first.tenants.list())).toEqual(expected);

    // Validation: a description is a string of at most 500 characters; nothing of the batch is stored.
    await expect(first.tenants.add({ ...plain, id: 'long', description: 'x'.repeat(501) })).rejects.toBeInstanceOf(InvalidInputError);
    await expect(first.tenants.add({ ...plain, id: 'num', description: 7 as unknown as string })).rejects.toBeInstanceOf(InvalidInputError);
    await first.tenants.add({ ...plain, id: 'max', description: 'y'.repeat(500) });
    await first.dispose();

    const second = await runtime(store);
    try {
      const listed = byId(await second.tenants.list());
      expect(listed).toEqual(new Map([...expected, ['old-0', { description: undefined, synthetic: false }], ['max', { description: 'y'.repeat(500), synthetic: false }]]));
      expect((await second.classify('real-0', 'the river')).scores.length).toBeGreaterThan(1);
    } finally {
      await second.dispose();
    }
  });
});
