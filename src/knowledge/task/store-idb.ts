/**
 * TenantStore on IndexedDB through idb-keyval, in a database of its own. Metadata and
 * payloads live under separate keys ("m:<id>", "p:<id>") of one object store, so list()
 * reads a key range of small objects and never the weights; both keys of a record are
 * written in the same transaction, so a record is stored whole or not at all.
 */
import { createStore, delMany, getMany, promisifyRequest, setMany, clear as clearStore, type UseStore } from 'idb-keyval';
import type { ProgressCallback } from '../../util/progress.js';
import { verifyRecord, type TenantMeta, type TenantRecord } from './pack.js';
import { CorruptTenantRecordError } from './errors.js';
import { STORE_PROGRESS_PHASE, chunkRecords, readError, writeError, type TenantStore } from './store.js';

const META = 'm:';
const PAYLOAD = 'p:';
// Every "m:..." key sorts below "m;" (';' follows ':'), whatever characters the id holds.
const META_END = 'm;';

export interface IdbTenantStoreOptions {
  /** An idb-keyval store; default createStore('hmi-tenants', 'tenants'). */
  readonly store?: UseStore;
  /** Records per transaction. */
  readonly batchRecords?: number;
  /** Payload bytes per transaction. */
  readonly batchBytes?: number;
}

export class IdbTenantStore implements TenantStore {
  private readonly store: UseStore;
  private readonly batchRecords: number;
  private readonly batchBytes: number;

  constructor(options: IdbTenantStoreOptions = {}) {
    this.store = options.store ?? createStore('hmi-tenants', 'tenants');
    this.batchRecords = options.batchRecords ?? 256;
    this.batchBytes = options.batchBytes ?? 32 * 1024 * 1024;
  }

  async put(records: readonly TenantRecord[], onProgress?: ProgressCallback): Promise<void> {
    let done = 0;
    for (const chunk of chunkRecords(records, this.batchRecords, this.batchBytes)) {
      const entries: [IDBValidKey, unknown][] = [];
      for (const r of chunk) entries.push([META + r.meta.id, r.meta], [PAYLOAD + r.meta.id, r.payload]);
      try {
        await setMany(entries, this.store);
      } catch (e) {
        throw writeError(e, done, records.length);
      }
      done += chunk.length;
      onProgress?.({ phase: STORE_PROGRESS_PHASE, done, total: records.length });
    }
  }

  async get(id: string): Promise<TenantRecord | undefined> {
    return (await this.getMany([id]))[0];
  }

  async getMany(ids: readonly string[]): Promise<(TenantRecord | undefined)[]> {
    let values: unknown[];
    try {
      values = await getMany(ids.flatMap((id) => [META + id, PAYLOAD + id]), this.store);
    } catch (e) {
      throw readError(e, `reading ${ids.length} tenants`);
    }
    return ids.map((id, i) => {
      const meta = values[2 * i] as TenantMeta | undefined;
      const payload = values[2 * i + 1] as ArrayBuffer | undefined;
      if (!meta && !payload) return undefined;
      if (!meta || !(payload instanceof ArrayBuffer)) throw new CorruptTenantRecordError(id, 'metadata or payload is missing');
      const record = { meta, payload };
      verifyRecord(record);
      return record;
    });
  }

  async delete(id: string): Promise<void> {
    try {
      await delMany([META + id, PAYLOAD + id], this.store);
    } catch (e) {
      throw readError(e, `deleting tenant ${id}`);
    }
  }

  async list(): Promise<TenantMeta[]> {
    try {
      return await this.store('readonly', (s) => promisifyRequest(s.getAll(IDBKeyRange.bound(META, META_END, false, true))) as Promise<TenantMeta[]>);
    } catch (e) {
      throw readError(e, 'listing tenants');
    }
  }

  async count(): Promise<number> {
    try {
      return await this.store('readonly', (s) => promisifyRequest(s.count(IDBKeyRange.bound(META, META_END, false, true))));
    } catch (e) {
      throw readError(e, 'counting tenants');
    }
  }

  async clear(): Promise<void> {
    try {
      await clearStore(this.store);
    } catch (e) {
      throw readError(e, 'clearing the tenant store');
    }
  }
}
