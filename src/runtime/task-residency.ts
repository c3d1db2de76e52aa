import type { LoraAdapter } from '../formats/types.js';
import { PoolExhaustedError } from '../knowledge/task/errors.js';
import { unpackTenant } from '../knowledge/task/pack.js';
import type { AdapterPool } from '../knowledge/task/pool.js';
import type { TenantStore } from '../knowledge/task/store.js';
import type { Metrics } from './metrics.js';
import type { Residency } from './pipeline.js';
import { TenantBusyError, UnknownTenantError } from './errors.js';

/**
 * Task knowledge as the pipeline sees it: the store (IndexedDB / disk) behind the GPU pool.
 * Decoded adapters are not cached on the CPU: the pool is the cache, the store the truth.
 */
export class TaskResidency implements Residency {
  /** Bytes read from the store and uploaded, for the metrics. */
  bytesLoaded = 0;

  constructor(
    private readonly store: TenantStore,
    readonly pool: AdapterPool,
    private readonly metrics: Metrics,
  ) {}

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
    const reads = await Promise.allSettled(missing.map((id) => this.store.get(id)));
    missing.forEach((id, i) => {
      const read = reads[i];
      if (read.status === 'rejected') {
        failures.set(id, read.reason);
        return;
      }
      const record = read.value;
      if (!record) {
        failures.set(id, new UnknownTenantError(id));
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

  unpin(tenantIds: readonly string[]): void {
    this.pool.unpin(tenantIds);
  }

  retryable(error: unknown): boolean {
    return error instanceof PoolExhaustedError || error instanceof TenantBusyError;
  }
}
