/**
 * Storage faults through the real IndexedDB store (IdbTenantStore over fake-indexeddb):
 * a QuotaExceededError on a later write transaction keeps the earlier transactions' tenants
 * registered and servable; a database closed under the runtime gives TenantStoreErrors for
 * what needs it while resident tenants keep being served.
 */
import 'fake-indexeddb/auto';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { UseStore } from 'idb-keyval';
import { type HmiRuntime } from '../../src/runtime/runtime.js';
import { createRuntime } from '../../src/create-runtime.js';
import { nodeGpu } from '../../src/gpu/node.js';
import { IdbTenantStore } from '../../src/knowledge/task/store-idb.js';
import { TenantStoreError, TenantStoreFullError } from '../../src/knowledge/task/errors.js';
import { MemoryTenantStore } from '../../src/knowledge/task/store-memory.js';
import { syntheticTenant } from '../../src/runtime/synthetic-tenants.js';
import { UnknownTenantError } from '../../src/runtime/errors.js';
import type { TenantSpec } from '../../src/runtime/api.js';
import { writeBertDir } from '../helpers/models.js';

const SHAPE = { hiddenSize: 32, numLayers: 2, numHeads: 2, intermediateSize: 48, maxPositions: 64 };
const TEXT = 'the river ran fast';

/** An idb-keyval store on a database this test holds, so it can close it or refuse writes. */
async function openStore(name: string): Promise<{ use: UseStore; db: IDBDatabase; quotaAfterTransactions: { n: number } }> {
  const db = await new Promise<IDBDatabase>((resolve, reject) => {
    const req = indexedDB.open(name);
    req.onupgradeneeded = () => req.result.createObjectStore('tenants');
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
  const quotaAfterTransactions = { n: Number.POSITIVE_INFINITY };
  let writes = 0;
  const use: UseStore = (mode, callback) => {
    if (mode === 'readwrite' && writes >= quotaAfterTransactions.n) return Promise.reject(new DOMException('The quota has been exceeded.', 'QuotaExceededError'));
    if (mode === 'readwrite') writes++;
    // A closed database throws InvalidStateError from transaction(): a rejection, as idb-keyval's own store gives.
    return Promise.resolve().then(() => callback(db.transaction('tenants', mode).objectStore('tenants')));
  };
  return { use, db, quotaAfterTransactions };
}

let dir: string;
let gpu: GPU;
let specs: TenantSpec[];
const reference = new Map<string, string>();
const runtimes: HmiRuntime[] = [];
let dbCount = 0;

async function runtime(store: IdbTenantStore | MemoryTenantStore, poolBytes?: number): Promise<HmiRuntime> {
  const rt = (await createRuntime({ gpu, model: dir, store, ...(poolBytes !== undefined ? { poolBytes } : {}) })) as HmiRuntime;
  runtimes.push(rt);
  return rt;
}

const scores = async (rt: HmiRuntime, id: string): Promise<string> => (await rt.classify(id, TEXT)).scores.join(',');
const rejection = (p: Promise<unknown>): Promise<unknown> =>
  p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );

beforeAll(async () => {
  dir = await writeBertDir(SHAPE);
  gpu = await nodeGpu();
  const rt = await runtime(new MemoryTenantStore());
  specs = Array.from({ length: 10 }, (_, i) => syntheticTenant(rt.config, rt.split, i, { count: 10, seed: 61 }));
  await rt.tenants.add(specs);
  for (const s of specs) reference.set(s.id, await scores(rt, s.id));
});

afterEach(async () => {
  for (const rt of runtimes.splice(0)) await rt.dispose();
});

describe('IdbTenantStore under the runtime', () => {
  it('QuotaExceededError on the third write transaction: the first two batches are registered and served', async () => {
    const { use, quotaAfterTransactions } = await openStore(`quota-${dbCount++}`);
    const store = new IdbTenantStore({ store: use, batchRecords: 3 });
    const rt = await runtime(store);
    quotaAfterTransactions.n = 2;
    const err = await rejection(rt.tenants.add(specs));
    expect(err).toBeInstanceOf(TenantStoreFullError);
    expect((err as TenantStoreFullError).stored).toBe(6);
    expect((await rt.tenants.list()).map((t) => t.id).sort()).toEqual(specs.slice(0, 6).map((s) => s.id).sort());
    expect(await store.count()).toBe(6);
    const got = await Promise.all(specs.slice(0, 6).map((s) => scores(rt, s.id)));
    got.forEach((g, i) => expect(g).toBe(reference.get(specs[i].id)));
    expect(await rejection(rt.classify(specs[6].id, TEXT))).toBeInstanceOf(UnknownTenantError);

    // A restart finds exactly the stored tenants, intact.
    await rt.dispose();
    const again = await runtime(store);
    expect((await again.tenants.list()).length).toBe(6);
    expect(await scores(again, specs[5].id)).toBe(reference.get(specs[5].id));
  });

  it('the database closed under a running runtime: TenantStoreError for store work, resident tenants still served', async () => {
    const { use, db } = await openStore(`closed-${dbCount++}`);
    const store = new IdbTenantStore({ store: use });
    const rt = await runtime(store);
    await rt.tenants.add(specs.slice(0, 4));
    for (const s of specs.slice(0, 2)) expect(await scores(rt, s.id)).toBe(reference.get(s.id));
    db.close();

    const batch = await Promise.allSettled(specs.slice(0, 4).map((s) => scores(rt, s.id)));
    expect(batch.map((b) => b.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'rejected']);
    for (const b of batch.slice(2)) expect((b as PromiseRejectedResult).reason).toBeInstanceOf(TenantStoreError);
    expect(await rejection(rt.tenants.add(specs[5]))).toBeInstanceOf(TenantStoreError);
    expect(await rejection(rt.tenants.remove(specs[0].id))).toBeInstanceOf(TenantStoreError);
    expect(await scores(rt, specs[0].id)).toBe(reference.get(specs[0].id));
  });
});
