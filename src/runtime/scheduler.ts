import type { Queued, RequestQueue } from './queue.js';

export interface BatchPolicy {
  /** Total tokens per batch (rows of the packed forward pass). */
  readonly tokenBudget: number;
  /** Distinct tenants per batch: bounded by what the adapter pool can hold pinned at once. */
  readonly maxTenants: number;
  /** A request older than this is served next whatever its residency: no tenant starves. */
  readonly maxWaitMs: number;
}

/**
 * Picks the next batch. Order of preference:
 *  1. tenants whose oldest request waited longer than maxWaitMs (oldest first) — fairness;
 *  2. tenants whose adapter is already resident in the GPU pool — no upload needed;
 *  3. the rest, oldest first.
 * Always takes at least one request so an over-budget request still runs (alone).
 */
export function formBatch<T extends Queued>(queue: RequestQueue<T>, policy: BatchPolicy, isResident: (tenantId: string) => boolean, now: number): T[] {
  const heads: { id: string; items: readonly T[]; oldest: number; resident: boolean; starving: boolean }[] = [];
  for (const [id, items] of queue.heads()) {
    const oldest = items[0].enqueuedAt;
    heads.push({ id, items, oldest, resident: isResident(id), starving: now - oldest >= policy.maxWaitMs });
  }
  heads.sort((a, b) => rank(a) - rank(b) || a.oldest - b.oldest);

  const batch: T[] = [];
  let tokens = 0;
  let tenants = 0;
  for (const h of heads) {
    if (tenants >= policy.maxTenants) break;
    const items = h.items;
    let n = 0;
    while (n < items.length && (batch.length === 0 && n === 0 ? true : tokens + items[n].tokens <= policy.tokenBudget)) {
      tokens += items[n].tokens;
      n++;
    }
    if (n > 0) {
      batch.push(...queue.take(h.id, n));
      tenants++;
    }
    if (tokens >= policy.tokenBudget) break;
  }
  return batch;
}

function rank(h: { resident: boolean; starving: boolean }): number {
  if (h.starving) return 0;
  return h.resident ? 1 : 2;
}
