/**
 * Per-node traffic counts of tri-gram keys: what a rebuild ranks entries by. Counts decay
 * at each rebuild so the tables follow traffic as it shifts instead of its whole history.
 */
import type { TrigramKey } from './trigram.js';

export class FrequencyCounter {
  private readonly counts = new Map<TrigramKey, number>();

  observe(keys: Iterable<TrigramKey>, weight = 1): void {
    for (const k of keys) this.counts.set(k, (this.counts.get(k) ?? 0) + weight);
  }

  entries(): IterableIterator<[TrigramKey, number]> {
    return this.counts.entries();
  }

  /** Multiplies every count by `factor`, forgetting keys that fall below `floor`. */
  decay(factor: number, floor = 0.5): void {
    for (const [k, c] of this.counts) {
      const next = c * factor;
      if (next < floor) this.counts.delete(k);
      else this.counts.set(k, next);
    }
  }
}

/** Keys by descending score (ties by key, so a rebuild is deterministic), at most `k`. */
export function topK(scores: ReadonlyMap<TrigramKey, number>, k: number): TrigramKey[] {
  return [...scores.entries()]
    .sort((a, b) => b[1] - a[1] || a[0] - b[0])
    .slice(0, k)
    .map(([key]) => key);
}
