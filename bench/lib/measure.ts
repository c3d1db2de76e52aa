/** Timed samples, summed over the interleaved slices of a run. */

export interface Sample {
  readonly seconds: number;
  readonly requests: number;
  readonly tokens: number;
}

export const now = (): number => (typeof performance !== 'undefined' ? performance.now() : Date.now());

/** Runs `f` and returns its wall time in seconds with the counts it reports. */
export async function timed(f: () => Promise<{ requests: number; tokens: number }>): Promise<Sample> {
  const t0 = now();
  const { requests, tokens } = await f();
  return { seconds: (now() - t0) / 1000, requests, tokens };
}

/**
 * Samples by key. A run is cut into slices and every contender measures its part of each
 * slice back to back, so a burst of load from other processes hits all contenders alike;
 * a key is measured at most once per slice even when several scenarios ask for it.
 */
export class Measurements {
  private readonly samples = new Map<string, Sample[]>();
  private readonly thisSlice = new Set<string>();

  nextSlice(): void {
    this.thisSlice.clear();
  }

  async sample(key: string, f: () => Promise<Sample>): Promise<void> {
    if (this.thisSlice.has(key)) return;
    this.thisSlice.add(key);
    const s = await f();
    const list = this.samples.get(key);
    if (list) list.push(s);
    else this.samples.set(key, [s]);
  }

  total(key: string): Sample | null {
    const list = this.samples.get(key);
    if (!list?.length) return null;
    return list.reduce((a, s) => ({ seconds: a.seconds + s.seconds, requests: a.requests + s.requests, tokens: a.tokens + s.tokens }));
  }

  /** Requests per second over all slices. */
  throughput(key: string): number | null {
    const t = this.total(key);
    return t && t.seconds > 0 ? t.requests / t.seconds : null;
  }

  /** Throughput of `a` over throughput of `b`; null when either is missing. */
  ratio(a: string, b: string): number | null {
    const x = this.throughput(a);
    const y = this.throughput(b);
    return x !== null && y !== null && y > 0 ? x / y : null;
  }

  keys(): string[] {
    return [...this.samples.keys()];
  }
}
