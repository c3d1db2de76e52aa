import { QueueFullError } from './errors.js';

/** What the scheduler needs to know of a waiting request. */
export interface Queued {
  readonly tenantId: string;
  readonly tokens: number;
  readonly enqueuedAt: number;
}

/**
 * Per-tenant FIFO queues under one capacity bound. Full means reject now (QueueFullError),
 * never grow: a caller that floods the runtime gets back-pressure, the others keep their latency.
 */
export class RequestQueue<T extends Queued> {
  private readonly byTenant = new Map<string, T[]>();
  private count = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`queue capacity must be a positive integer, got ${capacity}`);
  }

  get size(): number {
    return this.count;
  }

  push(item: T): void {
    if (this.count >= this.capacity) throw new QueueFullError(this.capacity);
    let q = this.byTenant.get(item.tenantId);
    if (!q) {
      q = [];
      this.byTenant.set(item.tenantId, q);
    }
    q.push(item);
    this.count++;
  }

  /** Tenants with waiting requests, and the head (oldest) request of each. */
  heads(): IterableIterator<[string, readonly T[]]> {
    return this.byTenant.entries();
  }

  /** Removes and returns up to `n` oldest requests of a tenant. */
  take(tenantId: string, n: number): T[] {
    const q = this.byTenant.get(tenantId);
    if (!q) return [];
    const taken = q.splice(0, n);
    if (q.length === 0) this.byTenant.delete(tenantId);
    this.count -= taken.length;
    return taken;
  }

  /**
   * Puts taken requests back at the front of their tenants' queues, past the capacity bound:
   * they were already admitted once, and dropping them would lose accepted work.
   */
  requeue(items: readonly T[]): void {
    for (let i = items.length - 1; i >= 0; i--) {
      const item = items[i];
      const q = this.byTenant.get(item.tenantId);
      if (q) q.unshift(item);
      else this.byTenant.set(item.tenantId, [item]);
      this.count++;
    }
  }

  /** Removes every request matching `pred` (cancellation, tenant removal); returns them. */
  removeWhere(pred: (item: T) => boolean): T[] {
    const removed: T[] = [];
    for (const [id, q] of this.byTenant) {
      const keep = q.filter((it) => !(pred(it) && removed.push(it)));
      if (keep.length === 0) this.byTenant.delete(id);
      else this.byTenant.set(id, keep);
    }
    this.count -= removed.length;
    return removed;
  }

  drain(): T[] {
    const all = [...this.byTenant.values()].flat();
    this.byTenant.clear();
    this.count = 0;
    return all;
  }
}
