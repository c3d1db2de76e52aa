/**
 * Open-loop synthetic traffic for the dashboard: requests arrive at a fixed rate whether or not
 * earlier ones finished (so the runtime's back-pressure shows), tenants are picked by a Zipf law
 * (a few hot tenants, a long cold tail, as in real multi-tenant serving), and concurrency is
 * bounded on this side too so a stalled runtime cannot pile up unbounded promises. By default
 * that bound adapts to what the model serves (./inflight-limit.ts): a default rate that a small
 * model takes in its stride would otherwise bury a large one under a queue of minutes.
 */
import type { HmiRuntimeApi } from '../runtime/api.js';
import { ZipfSampler } from '../util/rng.js';
import { InFlightLimit, type InFlightTuning } from './inflight-limit.js';

export interface LoadSettings {
  /** Tenants drawn from: the first `tenants` ids of the list. */
  readonly tenants: number;
  /** Zipf exponent s: 0 = uniform, 1 = classic Zipf, larger = hotter head. */
  readonly skew: number;
  /** Requests per second offered. */
  readonly rate: number;
  /** Fraction of requests that are generate() instead of classify(). */
  readonly generateFraction: number;
  /** Most requests this generator keeps in flight; arrivals beyond it are counted as shed. */
  readonly concurrency: number;
  /**
   * Bound the requests in flight by what the model completes without queueing, up to
   * `concurrency` (true), or hold exactly the `rate` and `concurrency` set (false).
   */
  readonly adaptive: boolean;
  /** Tokens per generate() request. */
  readonly maxTokens: number;
}

export const DEFAULT_LOAD: LoadSettings = {
  tenants: 1000,
  skew: 1.1,
  rate: 20,
  generateFraction: 0,
  concurrency: 64,
  adaptive: true,
  maxTokens: 16,
};

export interface LoadStats {
  readonly sent: number;
  readonly completed: number;
  readonly inFlight: number;
  /** Arrivals dropped here because `limit` requests were already in flight. */
  readonly shed: number;
  /** The bound on requests in flight now: the adaptive one, or `concurrency`. */
  readonly limit: number;
  /** Median latency of completed requests in the adaptive bound's last window, ms (null before one, or when not adaptive). */
  readonly p50Ms: number | null;
  /** Failed requests by error name (QueueFullError, UnknownTenantError...), or code for a bare HmiError. */
  readonly errors: Readonly<Record<string, number>>;
}

type Traffic = Pick<HmiRuntimeApi, 'classify' | 'generate'>;


/** The texts the generator sends; also a fitting corpus for a demo domain's PLOT. */
export const LOAD_TEXTS: readonly string[] = [
  'the delivery arrived two days late and the box was crushed',
  'great support team, they solved my issue in minutes',
  'how do I reset the password on my account',
  'the new update drains the battery much faster than before',
  'please cancel my subscription at the end of the month',
  'this is the best purchase I have made all year',
  'the invoice shows a charge I do not recognise',
  'can I change the shipping address after ordering',
  'the app crashes every time I open the camera',
  'thank you for the quick refund',
];

export function sampleText(u: number): string {
  return LOAD_TEXTS[Math.min(LOAD_TEXTS.length - 1, Math.floor(u * LOAD_TEXTS.length))];
}

export class LoadGenerator {
  private settings: LoadSettings = DEFAULT_LOAD;
  private sampler: ZipfSampler | null = null;
  private timer: ReturnType<typeof setInterval> | null = null;
  private last = 0;
  private credit = 0;
  private counts = { sent: 0, completed: 0, inFlight: 0, shed: 0 };
  private errors: Record<string, number> = {};
  private readonly control: InFlightLimit;

  constructor(
    private readonly runtime: Traffic,
    private readonly tenantIds: () => readonly string[],
    private readonly random: () => number = Math.random,
    /** Told about every failure (after counting it), e.g. to notice that the worker died. */
    private readonly onError: (e: unknown) => void = () => undefined,
    /** Milliseconds; the clock tick() defaults to and latencies are measured on. */
    private readonly now: () => number = () => performance.now(),
    tuning?: InFlightTuning,
  ) {
    this.control = new InFlightLimit(this.settings.concurrency, now(), tuning);
  }

  get running(): boolean {
    return this.timer !== null;
  }

  get stats(): LoadStats {
    const adaptive = this.settings.adaptive;
    return { ...this.counts, limit: this.bound(), p50Ms: adaptive ? this.control.p50Ms : null, errors: { ...this.errors } };
  }

  private bound(): number {
    return this.settings.adaptive ? this.control.limit : this.settings.concurrency;
  }

  configure(settings: Partial<LoadSettings>): void {
    const wasAdaptive = this.settings.adaptive;
    this.settings = { ...this.settings, ...settings };
    this.sampler = null;
    this.control.setCeiling(this.settings.concurrency);
    if (this.settings.adaptive && !wasAdaptive) this.control.reset(this.now());
  }

  start(settings: Partial<LoadSettings> = {}): void {
    this.configure(settings);
    if (this.timer) return;
    this.last = this.now();
    this.control.reset(this.last);
    this.credit = 1; // the first request leaves at once: feedback without waiting a whole period
    this.timer = setInterval(() => this.tick(), 25);
    this.tick();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  resetStats(): void {
    this.counts = { sent: 0, completed: 0, inFlight: this.counts.inFlight, shed: 0 };
    this.errors = {};
  }

  /** Sends the requests due since the last tick; public so tests can drive time themselves. */
  tick(now = this.now()): void {
    const dt = Math.max(0, now - this.last) / 1000;
    this.last = now;
    // Cap the backlog so a throttled background tab does not burst on return.
    this.credit = Math.min(this.credit + dt * this.settings.rate, Math.max(1, this.settings.rate));
    while (this.credit >= 1) {
      this.credit -= 1;
      this.fire();
    }
    if (this.settings.adaptive) this.control.update(now);
  }

  private pickTenant(): string | null {
    const ids = this.tenantIds();
    const n = Math.min(ids.length, Math.max(1, Math.floor(this.settings.tenants)));
    if (ids.length === 0) return null;
    if (!this.sampler || this.sampler.n !== n || this.sampler.s !== this.settings.skew) {
      this.sampler = new ZipfSampler(n, this.settings.skew);
    }
    return ids[this.sampler.sample(this.random())];
  }

  private fire(): void {
    if (this.counts.inFlight >= this.bound()) {
      this.counts.shed++;
      this.control.markSaturated();
      return;
    }
    const tenant = this.pickTenant();
    if (tenant === null) return;
    const text = sampleText(this.random());
    const generate = this.random() < this.settings.generateFraction;
    this.counts.sent++;
    this.counts.inFlight++;
    if (this.counts.inFlight >= this.bound()) this.control.markSaturated();
    const sentAt = this.now();
    const done = generate ? this.drain(tenant, text) : this.runtime.classify(tenant, text);
    done.then(
      () => {
        this.counts.inFlight--;
        this.counts.completed++;
        this.control.completed(sentAt, this.now() - sentAt);
      },
      (e: unknown) => {
        this.counts.inFlight--;
        // A bare HmiError says little; its code says what went wrong.
        const code = (e as { code?: unknown } | null)?.code;
        if (code === 'QUEUE_FULL') this.control.overloaded(sentAt);
        const name = e instanceof Error ? (e.name === 'HmiError' && typeof code === 'string' ? code : e.name) : 'Error';
        this.errors[name] = (this.errors[name] ?? 0) + 1;
        this.onError(e);
      },
    );
  }

  private async drain(tenant: string, text: string): Promise<void> {
    for await (const chunk of this.runtime.generate(tenant, text, { maxTokens: this.settings.maxTokens })) {
      if (chunk.done) break;
    }
  }
}
