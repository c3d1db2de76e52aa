import type { LoraAdapter } from '../formats/types.js';
import { PoolExhaustedError } from '../knowledge/task/errors.js';
import { unpackTenant, type TenantRecord } from '../knowledge/task/pack.js';

import type { AdapterPool } from '../knowledge/task/pool.js';
import type { TenantStore } from '../knowledge/task/store.js';
import type { Metrics } from './metrics.js';
import { StoreSlowError, TenantBusyError, UnknownTenantError } from './errors.js';
import type { Registrations } from './tenant-registry.js';

const DEFAULT_READ_WAIT_MS = 1000;
const SLOW = Symbol('slow');

/**
 * Task knowledge as the pipeline sees it: the store (IndexedDB / disk) behind the GPU pool.
 * Decoded adapters are not cached on the CPU: the pool is the cache, the store the truth.
 */
export class TaskResidency {
  /** Bytes read from the store and uploaded, for the metrics. */
  bytesLoaded = 0;

  constructor(
    private readonly store: TenantStore,
    readonly pool: AdapterPool,
    private readonly metrics: Metrics,
    /** Whether a tenant exists, and a generation that changes when it is re-registered or removed. */
    private readonly registrations: Registrations,
    /** How long a batch waits for a read; a slower one (a blocked database) defers its tenant's requests. */
    private readonly readWaitMs: number = DEFAULT_READ_WAIT_MS,
  ) {}

  /** Reads in flight by tenant: a deferred tenant's next batch joins its read instead of starting another. */
  private readonly reads = new Map<string, { promise: Promise<TenantRecord | undefined>; generation: number }>();

  /** Tenants re-registered or removed while pinned by a running batch: dropped once unpinned. */
  private readonly stale = new Set<string>();

  isResident(tenantId: string): boolean {
    return this.pool.has(tenantId) && !this.stale.has(tenantId);
  }

  /** The stored adapter changed (or is gone): the pool's copy must not be used again. */
  invalidate(tenantId: string): void {
    if (!this.pool.has(tenantId)) return;
    if (this.pool.isPinned(tenantId)) this.stale.add(tenantId);
    else this.pool.evict(tenantId);
  }

  async ensure(tenantIds: readonly string[]): Promise<Map<string, unknown>> {
    const failures = new Map<string, unknown>();
    for (const id of tenantIds) {
      if (!this.stale.has(id)) continue;
      if (this.pool.isPinned(id)) {
        failures.set(id, new TenantBusyError(id));
        continue;
      }
      this.pool.evict(id);
      this.stale.delete(id);
    }
    const missing = tenantIds.filter((id) => {
      if (failures.has(id)) return false;
      const hit = this.pool.has(id);
      if (hit) {
        this.metrics.poolHits++;
        this.pool.pin([id]);
      } else this.metrics.poolMisses++;
      return !hit;
    });
    if (missing.length === 0) return failures;
    // One read per tenant, so a corrupt record fails its own tenant and no other.
    const reads = await Promise.allSettled(missing.map((id) => this.read(id)));
    missing.forEach((id, i) => {
      const read = reads[i];
      if (read.status === 'rejected') {
        failures.set(id, read.reason);
        return;
      }
      if (read.value === SLOW) {
        failures.set(id, new StoreSlowError(id, this.readWaitMs));
        return;
      }
      const { record, generation } = read.value;
      if (!record || !this.registrations.get(id)) {
        failures.set(id, new UnknownTenantError(id));
        return;
      }
      if (generation !== this.registrations.generation(id)) {
        // Re-registered while this read was in flight: read again, the new record is there now.
        failures.set(id, new TenantBusyError(id));
        return;
      }
      try {
        const adapter: LoraAdapter = unpackTenant(record);
        this.pool.load(id, adapter);
        // Pinned at once, so loading the batch's next tenant cannot evict this one.
        this.pool.pin([id]);
        this.bytesLoaded += record.payload.byteLength;
      } catch (e) {
        failures.set(id, e);
      }
    });
    return failures;
  }

  /** The tenant's record, with the registration generation it was read under, or SLOW if the store is slower than readWaitMs. */
  private read(id: string): Promise<{ record: TenantRecord | undefined; generation: number } | typeof SLOW> {
    let inflight = this.reads.get(id);
    if (!inflight) {
      const generation = this.registrations.generation(id);
      const promise = this.store.get(id);
      const entry = { promise, generation };
      this.reads.set(id, entry);
      const done = (): void => {
        if (this.reads.get(id) === entry) this.reads.delete(id);
      };
      promise.then(done, done);
      inflight = entry;
    }
    const { promise, generation } = inflight;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const slow = new Promise<typeof SLOW>((resolve) => {
      timer = setTimeout(() => resolve(SLOW), this.readWaitMs);
    });
    return Promise.race([promise.then((record) => ({ record, generation })), slow]).finally(() => clearTimeout(timer));
  }

  /** Whether a failure only means "not yet": the request goes back to the queue. */
  deferrable(error: unknown): boolean {
    return error instanceof StoreSlowError;
  }

  unpin(tenantIds: readonly string[]): void {
    this.pool.unpin(tenantIds);
  }

  retryable(error: unknown): boolean {
    return error instanceof PoolExhaustedError || error instanceof TenantBusyError;
  }
}
