/**
 * Counters and latency percentiles for the runtime and per tenant. Rates are over a sliding
 * window so the dashboard shows current throughput, not the lifetime average.
 */
const WINDOW_MS = 5000;
const LATENCY_SAMPLES = 2048;
const TENANT_SAMPLES = 64;

/** Fixed-size ring of recent latencies; percentiles over what it holds. */
export class LatencyRing {
  private readonly buf: Float64Array;
  private n = 0;
  private i = 0;
  constructor(capacity: number) {
    this.buf = new Float64Array(capacity);
  }
  add(ms: number): void {
    this.buf[this.i] = ms;
    this.i = (this.i + 1) % this.buf.length;
    if (this.n < this.buf.length) this.n++;
  }
  percentile(p: number): number {
    if (this.n === 0) return 0;
    const sorted = Array.from(this.buf.subarray(0, this.n)).sort((a, b) => a - b);
    return sorted[Math.min(this.n - 1, Math.max(0, Math.ceil((p / 100) * this.n) - 1))];
  }
}

interface Event {
  t: number;
  requests: number;
  tokens: number;
}

export interface TenantCounters {
  requests: number;
  tokens: number;
  latency: LatencyRing;
}

export class Metrics {
  private readonly events: Event[] = [];
  readonly latency = new LatencyRing(LATENCY_SAMPLES);
  readonly tenants = new Map<string, TenantCounters>();
  requestsServed = 0;
  requestsRejected = 0;
  tokensServed = 0;
  poolHits = 0;
  poolMisses = 0;
  plotHits = 0;
  plotLookups = 0;
  deviceRecoveries = 0;
  /** Milliseconds of store read + decode + upload, and how much of it overlapped GPU work. */
  prefetchMs = 0;
  prefetchHiddenMs = 0;

  constructor(private readonly now: () => number) {}

  recordBatch(results: readonly { readonly tenantId: string; readonly tokens: number; readonly latencyMs: number }[]): void {
    const t = this.now();
    let tokens = 0;
    for (const r of results) {
      tokens += r.tokens;
      this.latency.add(r.latencyMs);
      let c = this.tenants.get(r.tenantId);
      if (!c) {
        c = { requests: 0, tokens: 0, latency: new LatencyRing(TENANT_SAMPLES) };
        this.tenants.set(r.tenantId, c);
      }
      c.requests++;
      c.tokens += r.tokens;
      c.latency.add(r.latencyMs);
    }
    this.requestsServed += results.length;
    this.tokensServed += tokens;
    this.events.push({ t, requests: results.length, tokens });
    this.trim(t);
  }

  /** Requests/s and tokens/s over the last window. */
  rates(): { requestsPerSecond: number; tokensPerSecond: number } {
    const t = this.now();
    this.trim(t);
    if (this.events.length === 0) return { requestsPerSecond: 0, tokensPerSecond: 0 };
    const span = Math.max(1000, t - this.events[0].t) / 1000;
    let r = 0;
    let k = 0;
    for (const e of this.events) {
      r += e.requests;
      k += e.tokens;
    }
    return { requestsPerSecond: r / span, tokensPerSecond: k / span };
  }

  forget(tenantId: string): void {
    this.tenants.delete(tenantId);
  }

  private trim(t: number): void {
    let drop = 0;
    while (drop < this.events.length && t - this.events[drop].t > WINDOW_MS) drop++;
    if (drop) this.events.splice(0, drop);
  }
}
