/**
 * Storage faults under the runtime: quota exhausted mid-registration, a corrupt stored
 * record, a closed database, a blocked one. Earlier tenants stay intact and servable, errors
 * are named, nothing hangs, and the tenants that are fine keep being served.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type HmiRuntime } from '../../src/runtime/runtime.js';
import { createRuntime } from '../../src/create-runtime.js';
import { nodeGpu } from '../../src/gpu/node.js';
import { AdapterPool } from '../../src/knowledge/task/pool.js';
import { CorruptTenantRecordError, TenantStoreError, TenantStoreFullError } from '../../src/knowledge/task/errors.js';
import { syntheticTenant } from '../../src/runtime/synthetic-tenants.js';
import { UnknownTenantError } from '../../src/runtime/errors.js';
import type { TenantSpec } from '../../src/runtime/api.js';
import type { ModelConfig } from '../../src/formats/model-config.js';
import { writeBertDir } from '../helpers/models.js';
import { FaultyTenantStore, type QuotaFlavour } from '../helpers/faulty-store.js';

const SHAPE = { hiddenSize: 32, numLayers: 2, numHeads: 2, intermediateSize: 48, maxPositions: 64 };
const TEXT = 'the river ran fast';

let dir: string;
let gpu: GPU;
let config: ModelConfig;
let split: number;
/** Reference scores of each tenant, from a runtime with a healthy store. */
const reference = new Map<string, string>();
const specs: TenantSpec[] = [];
const runtimes: HmiRuntime[] = [];

async function runtime(store: FaultyTenantStore, poolBytes?: number): Promise<HmiRuntime> {
  const rt = (await createRuntime({ gpu, model: dir, store, ...(poolBytes !== undefined ? { poolBytes } : {}) })) as HmiRuntime;
  runtimes.push(rt);
  return rt;
}

const scores = async (rt: HmiRuntime, id: string): Promise<string> => (await rt.classify(id, TEXT)).scores.join(',');

/** The rejection reason of `p` (fails if it resolves). */
async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );
}

beforeAll(async () => {
  dir = await writeBertDir(SHAPE);
  gpu = await nodeGpu();
  const rt = await runtime(new FaultyTenantStore());
  config = rt.config;
  split = rt.split;
  for (let i = 0; i < 12; i++) specs.push(syntheticTenant(config, split, i, { count: 12, seed: 31, ranks: [2, 4, 8] }));
  await rt.tenants.add(specs);
  for (const s of specs) reference.set(s.id, await scores(rt, s.id));
});

afterEach(async () => {
  for (const rt of runtimes.splice(0)) await rt.dispose();
});

describe('quota exceeded mid-registration', () => {
  for (const flavour of ['dom', 'enospc'] as QuotaFlavour[]) {
    it(`${flavour === 'dom' ? 'QuotaExceededError DOMException' : 'ENOSPC'}: earlier tenants intact and servable, a TenantStoreFullError, the rest absent`, async () => {
      const store = new FaultyTenantStore(undefined, { quotaAfterRecords: 7, quotaFlavour: flavour });
      const rt = await runtime(store);
      await rt.tenants.add(specs.slice(0, 3));
      const progress: number[] = [];
      const err = await rejection(rt.tenants.add(specs.slice(3), (p) => progress.push(p.done)));
      expect(err).toBeInstanceOf(TenantStoreFullError);
      expect((err as TenantStoreFullError).stored).toBe(4);
      expect((err as TenantStoreFullError).requested).toBe(9);
      expect(progress.at(-1)).toBe(4);

      const listed = (await rt.tenants.list()).map((t) => t.id).sort();
      expect(listed).toEqual(specs.slice(0, 7).map((s) => s.id).sort());
      expect((await store.inner.list()).map((m) => m.id).sort()).toEqual(listed);
      // Every stored tenant is served correctly, in one batch; the others are unknown.
      const got = await Promise.all(specs.slice(0, 7).map((s) => scores(rt, s.id)));
      got.forEach((g, i) => expect(g).toBe(reference.get(specs[i].id)));
      for (const s of specs.slice(7)) expect(await rejection(rt.classify(s.id, TEXT))).toBeInstanceOf(UnknownTenantError);

      // Replacing a registered tenant while the store is full keeps the old adapter, stored and served.
      const before = new Uint8Array((await store.inner.get(specs[0].id))!.payload);
      expect(await rejection(rt.tenants.add({ id: specs[0].id, adapter: specs[11].adapter }))).toBeInstanceOf(TenantStoreFullError);
      expect(new Uint8Array((await store.inner.get(specs[0].id))!.payload)).toEqual(before);
      expect(await scores(rt, specs[0].id)).toBe(reference.get(specs[0].id));

      // Space freed: registration works again, and the full set is served.
      store.quotaAfterRecords = Number.POSITIVE_INFINITY;
      await rt.tenants.add(specs.slice(7));
      const all = await Promise.all(specs.map((s) => scores(rt, s.id)));
      all.forEach((g, i) => expect(g).toBe(reference.get(specs[i].id)));
    });
  }

  it('addSynthetic stops with TenantStoreFullError; what was stored is registered and served', async () => {
    const store = new FaultyTenantStore(undefined, { quotaAfterRecords: 300 });
    const rt = await runtime(store);
    const err = await rejection(rt.tenants.addSynthetic({ count: 600, seed: 2, prefix: 'syn-' }));
    expect(err).toBeInstanceOf(TenantStoreFullError);
    expect((await rt.tenants.list()).length).toBe(300);
    expect(await store.inner.count()).toBe(300);
    const r = await rt.classify('syn-299', TEXT);
    expect(r.scores.length).toBeGreaterThan(1);
    expect(await rejection(rt.classify('syn-300', TEXT))).toBeInstanceOf(UnknownTenantError);
  });
});

describe('corrupt stored record', () => {
  it('fails only that tenant\'s requests with CorruptTenantRecordError; the rest of its batch is served', async () => {
    const store = new FaultyTenantStore();
    const first = await runtime(store);
    await first.tenants.add(specs.slice(0, 6));
    await first.dispose();
    await store.corrupt(specs[2].id);

    // A fresh runtime over the same store: nothing resident, every adapter is read from the store.
    const rt = await runtime(store);
    const settled = await Promise.allSettled(specs.slice(0, 6).map((s) => scores(rt, s.id)));
    settled.forEach((s, i) => {
      if (i === 2) {
        expect(s.status).toBe('rejected');
        expect((s as PromiseRejectedResult).reason).toBeInstanceOf(CorruptTenantRecordError);
      } else {
        expect(s.status).toBe('fulfilled');
        expect((s as PromiseFulfilledResult<string>).value).toBe(reference.get(specs[i].id));
      }
    });
    // Still corrupt on every later request (never served from a half-loaded state)...
    expect(await rejection(rt.classify(specs[2].id, TEXT))).toBeInstanceOf(CorruptTenantRecordError);
    expect((await rt.tenants.list()).find((t) => t.id === specs[2].id)?.residency).toBe('store');
    // ...until the tenant is registered again.
    await rt.tenants.add(specs[2]);
    expect(await scores(rt, specs[2].id)).toBe(reference.get(specs[2].id));
  });
});

describe('closed database', () => {
  it('clear errors for what needs the store, no hang; resident tenants keep being served', async () => {
    const store = new FaultyTenantStore();
    const per = Math.max(...specs.map((s) => AdapterPool.bytesNeeded(s.adapter, SHAPE.hiddenSize)));
    const rt = await runtime(store, 4 * per);
    await rt.tenants.add(specs.slice(0, 6));
    // Tenants 0 and 1 become resident; 2..5 stay in the store only.
    for (const s of specs.slice(0, 2)) expect(await scores(rt, s.id)).toBe(reference.get(s.id));
    store.close();

    const batch = await Promise.allSettled(specs.slice(0, 4).map((s) => scores(rt, s.id)));
    expect(batch.map((b) => b.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'rejected']);
    expect((batch[0] as PromiseFulfilledResult<string>).value).toBe(reference.get(specs[0].id));
    expect((batch[1] as PromiseFulfilledResult<string>).value).toBe(reference.get(specs[1].id));
    for (const b of batch.slice(2)) expect((b as PromiseRejectedResult).reason).toBeInstanceOf(TenantStoreError);

    expect(await rejection(rt.tenants.add(specs[8]))).toBeInstanceOf(TenantStoreError);
    expect(await rejection(rt.tenants.remove(specs[0].id))).toBeInstanceOf(TenantStoreError);
    // A failed remove removes nothing: still listed and still served.
    expect((await rt.tenants.list()).map((t) => t.id)).toContain(specs[0].id);
    expect(await scores(rt, specs[0].id)).toBe(reference.get(specs[0].id));

    store.reopen();
    expect(await scores(rt, specs[3].id)).toBe(reference.get(specs[3].id));
  });

  it('a runtime opened on a closed database fails with TenantStoreError instead of starting half-way', async () => {
    const store = new FaultyTenantStore();
    store.close();
    const err = await rejection(createRuntime({ gpu, model: dir, store }));
    expect(err).toBeInstanceOf(TenantStoreError);
  });
});

describe('slow store reads racing registration and removal', () => {
  const untilWaiting = async (store: FaultyTenantStore): Promise<void> => {
    while (store.waiting === 0) await new Promise((r) => setImmediate(r));
  };

  it('a tenant re-registered while its old adapter was being read is served with the new adapter afterwards', async () => {
    const store = new FaultyTenantStore();
    const rt = await runtime(store);
    // Versions with different ranks and label counts, so mixing them up shows.
    const [v0, v1] = [specs[0], specs[1]];
    expect(v0.adapter.labels?.length).not.toBe(v1.adapter.labels?.length);
    await rt.tenants.add({ id: 'swap', adapter: v0.adapter });
    store.delayReads();
    const inFlight = scores(rt, 'swap').then(
      (s) => s,
      (e: unknown) => e,
    );
    await untilWaiting(store);
    await rt.tenants.add({ id: 'swap', adapter: v1.adapter });
    store.releaseReads();
    // Submitted before the re-registration: the old or the new adapter, but a whole one.
    const first = await inFlight;
    // Registration has returned: from now on only the new adapter may answer.
    const after = await scores(rt, 'swap');
    expect({ first, after }).toEqual({ first: first === reference.get(v0.id) ? reference.get(v0.id) : reference.get(v1.id), after: reference.get(v1.id) });
  });

  it('a tenant removed while its adapter was being read fails with UnknownTenantError', async () => {
    const store = new FaultyTenantStore();
    const rt = await runtime(store);
    await rt.tenants.add({ id: 'gone', adapter: specs[2].adapter });
    store.delayReads();
    const inFlight = rejection(rt.classify('gone', TEXT));
    await untilWaiting(store);
    await rt.tenants.remove('gone');
    store.releaseReads();
    expect(await inFlight).toBeInstanceOf(UnknownTenantError);
  });
});

describe('blocked database (another tab upgrading it)', () => {
  it('resident tenants are served while a store read waits; the waiting request completes once unblocked', async () => {
    const store = new FaultyTenantStore();
    const rt = await runtime(store);
    await rt.tenants.add(specs.slice(0, 4));
    expect(await scores(rt, specs[0].id)).toBe(reference.get(specs[0].id));
    store.blockAll();

    const waiting = scores(rt, specs[3].id);
    // Give the runtime the chance to start the blocked read before the resident request arrives.
    while (store.waiting === 0) await new Promise((r) => setImmediate(r));
    let hung: ReturnType<typeof setTimeout> | undefined;
    // This timer only turns a hang into a clear failure; it bounds nothing that is measured.
    const served = await Promise.race([
      scores(rt, specs[0].id),
      new Promise<string>((resolve) => {
        hung = setTimeout(() => resolve('hung: a resident tenant was not served while the store was blocked'), 20_000);
      }),
    ]);
    clearTimeout(hung);
    store.unblock();
    expect(served).toBe(reference.get(specs[0].id));
    expect(await waiting).toBe(reference.get(specs[3].id));
  });
});
