/** An in-memory TenantStore: tests, and runtimes that need no persistence. */
import type { ProgressCallback } from '../../util/progress.js';
import { verifyRecord, type TenantMeta, type TenantRecord } from './pack.js';
import { STORE_PROGRESS_PHASE, type TenantStore } from './store.js';

export class MemoryTenantStore implements TenantStore {
  private readonly records = new Map<string, TenantRecord>();

  async put(records: readonly TenantRecord[], onProgress?: ProgressCallback): Promise<void> {
    // Copies, so a caller mutating its buffer later cannot change what was "stored".
    records.forEach((r, i) => {
      this.records.set(r.meta.id, { meta: r.meta, payload: r.payload.slice(0) });
      onProgress?.({ phase: STORE_PROGRESS_PHASE, done: i + 1, total: records.length });
    });
  }

  async get(id: string): Promise<TenantRecord | undefined> {
    const r = this.records.get(id);
    if (!r) return undefined;
    const copy = { meta: r.meta, payload: r.payload.slice(0) };
    verifyRecord(copy);
    return copy;
  }

  async getMany(ids: readonly string[]): Promise<(TenantRecord | undefined)[]> {
    return Promise.all(ids.map((id) => this.get(id)));
  }

  async delete(id: string): Promise<void> {
    this.records.delete(id);
  }

  async list(): Promise<TenantMeta[]> {
    return [...this.records.values()].map((r) => r.meta);
  }

  async count(): Promise<number> {
    return this.records.size;
  }

  async clear(): Promise<void> {
    this.records.clear();
  }
}
