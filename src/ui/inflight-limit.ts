/**
 * How many requests the load generator keeps in flight when it adapts to the model: AIMD on the
 * bound with the median latency as the congestion signal, as TCP does with its window. A model's
 * latency with nothing queued is its service time; once requests queue in the runtime the median
 * grows past it, so the bound shrinks until queueing stays within `tolerance` service times.
 * Fast models open the bound to the user's ceiling; slow ones are never buried under a queue.
 */

export interface InFlightTuning {
  /** Bound at the start (and after a reset), before anything is measured. */
  readonly initial: number;
  /** A revision happens once per window, with at least one latency measured in it (ms). */
  readonly windowMs: number;
  /** Median latency above this many times the lowest median seen means requests are queueing. */
  readonly tolerance: number;
  /** Factor the bound is multiplied by on congestion. */
  readonly backoff: number;
}

export const DEFAULT_INFLIGHT_TUNING: InFlightTuning = { initial: 4, windowMs: 1000, tolerance: 2, backoff: 0.7 };

export class InFlightLimit {
  private bound = 1;
  private slowStart = true;
  /** Lowest window median seen: the model's latency with (almost) nothing queued. */
  private floorMs = Infinity;
  private lastP50: number | null = null;
  private windowStart = 0;
  /** When the bound last changed: requests sent before it measure the old bound, not this one. */
  private changedAt = 0;
  private latencies: number[] = [];
  private overloads = 0;
  private saturated = false;

  constructor(
    private ceiling: number,
    now: number,
    private readonly tuning: InFlightTuning = DEFAULT_INFLIGHT_TUNING,
  ) {
    this.reset(now);
  }

  /** The current bound on requests in flight, an integer in 1..ceiling. */
  get limit(): number {
    return this.bound;
  }

  /** Median latency of the last revised window, ms (null before the first). */
  get p50Ms(): number | null {
    return this.lastP50;
  }

  /** The user's maximum: the bound never exceeds it. */
  setCeiling(ceiling: number): void {
    this.ceiling = Math.max(1, ceiling);
    this.bound = Math.min(this.bound, this.ceiling);
  }

  /** Starts learning afresh (a new run of the generator, maybe on another model). */
  reset(now: number): void {
    this.bound = Math.max(1, Math.min(this.ceiling, this.tuning.initial));
    this.slowStart = true;
    this.floorMs = Infinity;
    this.lastP50 = null;
    this.windowStart = now;
    this.changedAt = now;
    this.latencies = [];
    this.overloads = 0;
    this.saturated = false;
  }

  /** The bound held a request back, or was reached: there was demand for more. */
  markSaturated(): void {
    this.saturated = true;
  }

  /** A request sent at `sentAt` completed after `latencyMs`. */
  completed(sentAt: number, latencyMs: number): void {
    if (sentAt >= this.changedAt) this.latencies.push(latencyMs);
  }

  /** A request sent at `sentAt` was refused for overload (the runtime's queue was full). */
  overloaded(sentAt: number): void {
    if (sentAt >= this.changedAt) this.overloads++;
  }

  /** Revises the bound once a window has passed and measured something. */
  update(now: number): void {
    if (now - this.windowStart < this.tuning.windowMs) return;
    if (this.latencies.length === 0 && this.overloads === 0) return;
    const p50 = this.latencies.length > 0 ? median(this.latencies) : null;
    if (p50 !== null) {
      this.lastP50 = p50;
      this.floorMs = Math.min(this.floorMs, p50);
    }
    const congested = this.overloads > 0 || (p50 !== null && p50 > this.tuning.tolerance * this.floorMs);
    const before = this.bound;
    if (congested) {
      this.slowStart = false;
      this.bound = Math.max(1, Math.floor(this.bound * this.tuning.backoff));
    } else if (this.saturated) {
      this.bound = Math.min(this.ceiling, this.slowStart ? this.bound * 2 : this.bound + 1);
    }
    if (this.bound !== before) this.changedAt = now;
    this.windowStart = now;
    this.latencies = [];
    this.overloads = 0;
    this.saturated = false;
  }
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
