/**
 * Where tenants' adapters persist: IndexedDB in the browser (store-idb.ts), a directory in
 * Node (store-fs.ts), memory in tests (store-memory.ts). A record is written whole or not at
 * all; reads verify the checksum, so damaged bytes surface as CorruptTenantRecordError.
 */
import type { ProgressCallback } from '../../util/progress.js';
import type { TenantMeta, TenantRecord } from './pack.js';
import { HmiError } from '../../errors.js';
import { TenantStoreError, TenantStoreFullError } from './errors.js';

export interface TenantStore {
  /**
   * Stores (or replaces) records in order, in batches. On a quota error it throws
   * TenantStoreFullError: records before the failing batch are stored, the rest are not.
   */
  put(records: readonly TenantRecord[], onProgress?: ProgressCallback): Promise<void>;
  get(id: string): Promise<TenantRecord | undefined>;
  getMany(ids: readonly string[]): Promise<(TenantRecord | undefined)[]>;
  delete(id: string): Promise<void>;
  /** Metadata of every tenant; never reads weights. */
  list(): Promise<TenantMeta[]>;
  count(): Promise<number>;
  clear(): Promise<void>;
}

export const STORE_PROGRESS_PHASE = 'store';

const QUOTA_NAMES = new Set(['QuotaExceededError']);
const DISK_FULL_CODES = new Set(['ENOSPC', 'EDQUOT']);

/** True for a browser quota DOMException or a Node disk-full error. */
export function isQuotaError(e: unknown): boolean {
  if (typeof e !== 'object' || e === null) return false;
  const { name, code } = e as { name?: unknown; code?: unknown };
  return (typeof name === 'string' && QUOTA_NAMES.has(name)) || (typeof code === 'string' && DISK_FULL_CODES.has(code));
}

/** Maps a failed write of a batch to the store's named errors. */
export function writeError(e: unknown, stored: number, requested: number): Error {
  if (e instanceof HmiError) return e;
  if (isQuotaError(e)) return new TenantStoreFullError(stored, requested, { cause: e });
  return new TenantStoreError(`writing tenants failed after ${stored} of ${requested}: ${String(e)}`, { cause: e });
}

/** Maps a failed read to TenantStoreError, keeping the runtime's own errors (e.g. corruption) as they are. */
export function readError(e: unknown, what: string): Error {
  if (e instanceof HmiError) return e;
  return new TenantStoreError(`${what} failed: ${String(e)}`, { cause: e });
}

/**
 * Splits records into write batches bounded by count and bytes, so one IndexedDB
 * transaction never holds hundreds of MiB and progress moves while 10,000 tenants register.
 */
export function chunkRecords(records: readonly TenantRecord[], maxRecords: number, maxBytes: number): TenantRecord[][] {
  const chunks: TenantRecord[][] = [];
  let cur: TenantRecord[] = [];
  let bytes = 0;
  for (const r of records) {
    if (cur.length > 0 && (cur.length >= maxRecords || bytes + r.payload.byteLength > maxBytes)) {
      chunks.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(r);
    bytes += r.payload.byteLength;
  }
  if (cur.length) chunks.push(cur);
  return chunks;
}
