import 'fake-indexeddb/auto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createStore, set, type UseStore } from 'idb-keyval';
import { packTenant, unpackTenant, type TenantRecord } from '../../../src/knowledge/task/pack.js';
import type { TenantStore } from '../../../src/knowledge/task/store.js';
import { MemoryTenantStore } from '../../../src/knowledge/task/store-memory.js';
import { IdbTenantStore } from '../../../src/knowledge/task/store-idb.js';
import { FsTenantStore } from '../../../src/knowledge/task/store-fs.js';
import { CorruptTenantRecordError, TenantStoreError, TenantStoreFullError } from '../../../src/knowledge/task/errors.js';
import type { Progress } from '../../../src/runtime/api.js';
import { randomAdapter } from './fixtures.js';

const BASE = { baseModelId: 'tiny', baseModelHash: 'h0', domain: 'root' };

function record(i: number, r = 1 + (i % 4)): TenantRecord {
  return packTenant(`tenant-${i}`, randomAdapter(i + 1, [{ path: 'h.0.attn.c_attn', r, inDim: 6, outDim: 18 }]), BASE);
}

function flipped(payload: ArrayBuffer, at: number): ArrayBuffer {
  const copy = payload.slice(0);
  new Uint8Array(copy)[at] ^= 1;
  return copy;
}

let dbCounter = 0;
const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

interface Harness {
  store: TenantStore;
  /** Damages the stored bytes of a record behind the store's back. */
  corrupt(rec: TenantRecord): Promise<void>;
}

const harnesses: Record<string, () => Promise<Harness>> = {
  memory: async () => {
    const store = new MemoryTenantStore();
    return { store, corrupt: (rec) => store.put([{ meta: rec.meta, payload: flipped(rec.payload, 30) }]) };
  },
  indexeddb: async () => {
    const kv = createStore(`hmi-test-${dbCounter++}`, 'tenants');
    return { store: new IdbTenantStore({ store: kv }), corrupt: (rec) => set(`p:${rec.meta.id}`, flipped(rec.payload, 30), kv) };
  },
  fs: async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hmi-store-'));
    dirs.push(dir);
    return {
      store: new FsTenantStore(join(dir, 'tenants'), { fsync: false }),
      corrupt: async () => {
        const bins = (await readdir(join(dir, 'tenants'))).filter((f) => f.endsWith('.bin'));
        for (const f of bins) {
          const bytes = await readFile(join(dir, 'tenants', f));
          bytes[30] ^= 1;
          await writeFile(join(dir, 'tenants', f), bytes);
        }
      },
    };
  },
};

for (const [name, make] of Object.entries(harnesses)) {
  describe(`${name} tenant store`, () => {
    it('round-trips records, lists metadata, deletes and clears', async () => {
      const { store } = await make();
      expect(await store.count()).toBe(0);
      expect(await store.get('tenant-0')).toBeUndefined();
      const recs = [0, 1, 2, 3, 4].map((i) => record(i));
      const progress: Progress[] = [];
      await store.put(recs, (p) => progress.push(p));
      expect(progress.at(-1)).toEqual({ phase: 'store', done: 5, total: 5 });
      expect(await store.count()).toBe(5);
      const listed = (await store.list()).sort((a, b) => a.id.localeCompare(b.id));
      expect(listed).toEqual(recs.map((r) => r.meta));
      const got = await store.get('tenant-2');
      expect(got?.meta).toEqual(recs[2].meta);
      expect(new Uint8Array(got?.payload as ArrayBuffer)).toEqual(new Uint8Array(recs[2].payload));
      expect(unpackTenant(got as TenantRecord).modules.get('h.0.attn.c_attn')?.A).toEqual(
        unpackTenant(recs[2]).modules.get('h.0.attn.c_attn')?.A,
      );
      const many = await store.getMany(['tenant-4', 'nobody', 'tenant-0']);
      expect(many.map((r) => r?.meta.id)).toEqual(['tenant-4', undefined, 'tenant-0']);

      // Re-registering replaces the record.
      const replaced = record(2, 9);
      await store.put([replaced]);
      expect((await store.get('tenant-2'))?.meta.maxRank).toBe(9);
      expect(await store.count()).toBe(5);

      await store.delete('tenant-1');
      expect(await store.get('tenant-1')).toBeUndefined();
      expect(await store.count()).toBe(4);
      await store.clear();
      expect(await store.count()).toBe(0);
      expect(await store.list()).toEqual([]);
    });

    it('keeps ids with any characters apart', async () => {
      const { store } = await make();
      const ids = ['a/b', 'a_b', '..', 'm;x', 'ünï/cødé 🚀', 'A', 'a'];
      await store.put(ids.map((id, i) => ({ ...packTenant(id, randomAdapter(i + 1, []), BASE) })));
      expect((await store.list()).map((m) => m.id).sort()).toEqual([...ids].sort());
      for (const id of ids) expect((await store.get(id))?.meta.id).toBe(id);
    });

    it('detects damaged bytes on read, naming the tenant', async () => {
      const { store, corrupt } = await make();
      const rec = record(7);
      await store.put([rec]);
      await corrupt(rec);
      await expect(store.get('tenant-7')).rejects.toThrow(CorruptTenantRecordError);
      await expect(store.get('tenant-7')).rejects.toThrow(/tenant-7/);
    });
  });
}

/** An idb-keyval store whose n-th write transaction fails the way a full quota does: aborted, nothing written. */
function quotaAfter(inner: UseStore, failingWrite: number): UseStore {
  let writes = 0;
  return <T>(mode: IDBTransactionMode, callback: (store: IDBObjectStore) => T | PromiseLike<T>): Promise<T> => {
    if (mode !== 'readwrite' || ++writes < failingWrite) return inner(mode, callback);
    return inner(mode, (s) => {
      Promise.resolve(callback(s)).catch(() => undefined);
      s.transaction.abort();
      return Promise.reject(new DOMException('The quota has been exceeded.', 'QuotaExceededError'));
    });
  };
}

describe('indexeddb tenant store under pressure', () => {
  it('stores 1,000 tenants in batched transactions with progress', async () => {
    const store = new IdbTenantStore({ store: createStore(`hmi-test-${dbCounter++}`, 'tenants'), batchRecords: 128 });
    const recs = Array.from({ length: 1000 }, (_, i) => packTenant(`t${i}`, randomAdapter(i + 1, [{ path: 'q', r: 1, inDim: 4, outDim: 4 }]), BASE));
    const progress: number[] = [];
    await store.put(recs, (p) => progress.push(p.done));
    expect(progress).toEqual([128, 256, 384, 512, 640, 768, 896, 1000]);
    expect(await store.count()).toBe(1000);
    expect((await store.get('t999'))?.meta.id).toBe('t999');
  });

  it('a quota error mid-batch is TenantStoreFullError and keeps everything stored before', async () => {
    const kv = createStore(`hmi-test-${dbCounter++}`, 'tenants');
    await new IdbTenantStore({ store: kv }).put([record(100)]);
    const store = new IdbTenantStore({ store: quotaAfter(kv, 3), batchRecords: 4 });
    const recs = Array.from({ length: 12 }, (_, i) => record(i));
    const err = await store.put(recs).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(TenantStoreFullError);
    expect(err).toMatchObject({ stored: 8, requested: 12 });
    const reader = new IdbTenantStore({ store: kv });
    expect(await reader.count()).toBe(9);
    for (const id of ['tenant-100', ...recs.slice(0, 8).map((r) => r.meta.id)]) expect((await reader.get(id))?.meta.id).toBe(id);
    for (const r of recs.slice(8)) expect(await reader.get(r.meta.id)).toBeUndefined();
  });

  it('other write failures are TenantStoreError', async () => {
    const kv = createStore(`hmi-test-${dbCounter++}`, 'tenants');
    const broken: UseStore = <T>(mode: IDBTransactionMode, cb: (s: IDBObjectStore) => T | PromiseLike<T>): Promise<T> =>
      mode === 'readwrite' ? Promise.reject(new DOMException('disk I/O', 'UnknownError')) : kv(mode, cb);
    await expect(new IdbTenantStore({ store: broken }).put([record(1)])).rejects.toThrow(TenantStoreError);
  });
});

describe('fs tenant store', () => {
  it('leaves no temporary files and ignores leftovers of a crashed write', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hmi-store-'));
    dirs.push(dir);
    const store = new FsTenantStore(dir);
    await store.put([record(1), record(2)]);
    const files = await readdir(dir);
    expect(files.filter((f) => f.endsWith('.tmp'))).toEqual([]);
    // A crash between the payload and the metadata rename leaves a temp file and an orphan payload.
    await writeFile(join(dir, '.xyz.json.1.0.tmp'), '{"id":"half');
    await writeFile(join(dir, 'b3JwaGFu.00000000.bin'), new Uint8Array(8));
    expect((await store.list()).map((m) => m.id).sort()).toEqual(['tenant-1', 'tenant-2']);
    await store.clear();
    expect(await readdir(dir)).toEqual([]);
  });
});
