/**
 * A TenantStore wrapper that injects the faults real backends have, surfacing them the way
 * the real stores do (through store.ts's writeError / readError), so the runtime sees what
 * it would see from IndexedDB or a full disk:
 *  - quota: after `quotaAfterRecords` records were written in total, the next record's
 *    write throws a QuotaExceededError DOMException (browser) or an ENOSPC error (Node);
 *    records before it stay stored, as a real store's earlier batches do;
 *  - corruption: corrupt(id) flips bytes of a stored payload, keeping its metadata (and so
 *    its checksum): the inner store's verified read then reports it;
 *  - closed: every operation rejects (InvalidStateError, as a closed IDBDatabase does);
 *  - blocked: every operation waits until unblock() (an open request blocked by another
 *    tab upgrading the database), counting the operations that wait;
 *  - slow reads: delayReads() lets reads take their data at once but deliver it only at
 *    releaseReads(), so a test can order a write between a read and its result.
 */
import type { ProgressCallback } from '../../src/runtime/api.js';
import type { TenantMeta, TenantRecord } from '../../src/knowledge/task/pack.js';
import { readError, writeError, type TenantStore } from '../../src/knowledge/task/store.js';
import { MemoryTenantStore } from '../../src/knowledge/task/store-memory.js';

export type QuotaFlavour = 'dom' | 'enospc';

export function quotaError(flavour: QuotaFlavour): Error {
  if (flavour === 'dom') return new DOMException('The quota has been exceeded.', 'QuotaExceededError');
  return Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28, syscall: 'write' });
}

export interface FaultyStoreOptions {
  /** Records accepted in total before writes fail with a quota error. Default: never. */
  readonly quotaAfterRecords?: number;
  readonly quotaFlavour?: QuotaFlavour;
}

interface Gate {
  readonly promise: Promise<void>;
  readonly release: () => void;
}

function gate(): Gate {
  let release = (): void => undefined;
  const promise = new Promise<void>((resolve) => {
    release = resolve;
  });
  return { promise, release };
}

export class FaultyTenantStore implements TenantStore {
  /** Successful record writes so far. */
  written = 0;
  /** Operations waiting: on a blocked database, or reads whose delivery is delayed. */
  waiting = 0;
  private closed = false;
  private block: Gate | null = null;
  private readDelay: Gate | null = null;
  quotaAfterRecords: number;
  private readonly flavour: QuotaFlavour;

  constructor(
    readonly inner: TenantStore = new MemoryTenantStore(),
    options: FaultyStoreOptions = {},
  ) {
    this.quotaAfterRecords = options.quotaAfterRecords ?? Number.POSITIVE_INFINITY;
    this.flavour = options.quotaFlavour ?? 'dom';
  }

  /** Every later operation rejects, as on a closed IDBDatabase. */
  close(): void {
    this.closed = true;
  }

  reopen(): void {
    this.closed = false;
  }

  /** Every later operation waits until unblock(). */
  blockAll(): void {
    this.block ??= gate();
  }

  unblock(): void {
    this.block?.release();
    this.block = null;
  }

  /** Later reads take their data now and deliver it at releaseReads(). */
  delayReads(): void {
    this.readDelay ??= gate();
  }

  releaseReads(): void {
    this.readDelay?.release();
    this.readDelay = null;
  }

  private async deliver<T>(value: T): Promise<T> {
    const delay = this.readDelay;
    if (!delay) return value;
    this.waiting++;
    try {
      await delay.promise;
    } finally {
      this.waiting--;
    }
    return value;
  }

  /** Flips bytes of the stored payload of `id` in place; metadata (with its checksum) is kept. */
  async corrupt(id: string, positions: readonly number[] = [0, 17, 1000]): Promise<void> {
    const all = await this.inner.list();
    const meta = all.find((m) => m.id === id);
    if (!meta) throw new Error(`no stored tenant ${id}`);
    const record = await this.inner.get(id);
    if (!record) throw new Error(`no stored tenant ${id}`);
    const bytes = new Uint8Array(record.payload.slice(0));
    for (const p of positions) bytes[p % bytes.length] ^= 0x5a;
    await this.inner.put([{ meta, payload: bytes.buffer }]);
  }

  private async open(what: string): Promise<void> {
    if (this.block) {
      this.waiting++;
      try {
        await this.block.promise;
      } finally {
        this.waiting--;
      }
    }
    if (this.closed) {
      throw readError(new DOMException(`Failed to execute '${what}' on 'IDBDatabase': The database connection is closing.`, 'InvalidStateError'), what);
    }
  }

  async put(records: readonly TenantRecord[], onProgress?: ProgressCallback): Promise<void> {
    await this.open('put');
    let done = 0;
    for (const r of records) {
      if (this.written >= this.quotaAfterRecords) throw writeError(quotaError(this.flavour), done, records.length);
      await this.inner.put([r]);
      this.written++;
      done++;
      onProgress?.({ phase: 'store', done, total: records.length });
    }
  }

  async get(id: string): Promise<TenantRecord | undefined> {
    await this.open('get');
    return this.deliver(await this.inner.get(id));
  }

  async getMany(ids: readonly string[]): Promise<(TenantRecord | undefined)[]> {
    await this.open('getMany');
    return this.deliver(await this.inner.getMany(ids));
  }

  async delete(id: string): Promise<void> {
    await this.open('delete');
    return this.inner.delete(id);
  }

  async list(): Promise<TenantMeta[]> {
    await this.open('list');
    return this.inner.list();
  }

  async count(): Promise<number> {
    await this.open('count');
    return this.inner.count();
  }

  async clear(): Promise<void> {
    await this.open('clear');
    return this.inner.clear();
  }
}
