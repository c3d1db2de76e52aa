import { describe, expect, it } from 'vitest';
import type { ClassifyResult, GenerateChunk } from '../../src/runtime/api.js';
import { HmiError } from '../../src/errors.js';
import { QueueFullError } from '../../src/runtime/errors.js';
import { InFlightLimit, type InFlightTuning } from '../../src/ui/inflight-limit.js';
import { LoadGenerator, type LoadStats } from '../../src/ui/load-generator.js';
import { ZipfSampler } from '../../src/util/rng.js';
import { mulberry32 } from '../../src/util/rng.js';

const rng = mulberry32;

const flush = (): Promise<void> => new Promise((r) => setTimeout(r, 0));

describe('ZipfSampler', () => {
  it('matches the Zipf probabilities on 7 items with s = 1.3', () => {
    const n = 7;
    const s = 1.3;
    const z = new ZipfSampler(n, s);
    const norm = Array.from({ length: n }, (_, k) => 1 / (k + 1) ** s).reduce((a, b) => a + b, 0);
    const counts = new Array<number>(n).fill(0);
    const u = rng(7);
    const draws = 200_000;
    for (let i = 0; i < draws; i++) counts[z.sample(u())]++;
    for (let k = 0; k < n; k++) expect(counts[k] / draws).toBeCloseTo(1 / (k + 1) ** s / norm, 2);
  });

  it('is uniform at s = 0 and covers every rank, including the edges of [0, 1)', () => {
    const z = new ZipfSampler(5, 0);
    expect(z.sample(0)).toBe(0);
    expect(z.sample(0.1999)).toBe(0);
    expect(z.sample(0.2001)).toBe(1);
    expect(z.sample(0.9999999)).toBe(4);
    expect(new ZipfSampler(1, 2).sample(0.5)).toBe(0);
  });

  it('rejects an empty population', () => {
    expect(() => new ZipfSampler(0, 1)).toThrow(RangeError);
  });
});

describe('LoadGenerator', () => {
  const ids = Array.from({ length: 100 }, (_, i) => `t${i}`);

  it('sends rate x seconds requests, skewed toward the head tenants, and counts rejections by name', async () => {
    const seen: string[] = [];
    let calls = 0;
    const gen = new LoadGenerator(
      {
        classify: async (tenantId: string): Promise<ClassifyResult> => {
          seen.push(tenantId);
          if (++calls % 4 === 0) throw new QueueFullError(8);
          return { tenantId, label: 'a', labelIndex: 0, scores: [1], tokens: 3, latencyMs: 1 };
        },
        generate: () => {
          throw new Error('not used');
        },
      },
      () => ids,
      rng(3),
    );
    gen.configure({ rate: 200, tenants: 100, skew: 1.2, generateFraction: 0, concurrency: 1000, adaptive: false });
    gen.tick(0);
    gen.tick(1000);
    gen.tick(2000);
    await flush();
    const st = gen.stats;
    expect(st.sent).toBe(400);
    expect(st.completed).toBe(300);
    expect(st.errors).toEqual({ QueueFullError: 100 });
    expect(st.inFlight).toBe(0);
    const head = seen.filter((t) => t === 't0').length;
    const tail = seen.filter((t) => t === 't99').length;
    expect(head).toBeGreaterThan(10 * Math.max(1, tail));
  });

  it('sheds arrivals beyond its concurrency instead of queueing them', async () => {
    const release: (() => void)[] = [];
    const gen = new LoadGenerator(
      {
        classify: (tenantId: string) =>
          new Promise<ClassifyResult>((resolve) => release.push(() => resolve({ tenantId, label: 'a', labelIndex: 0, scores: [1], tokens: 1, latencyMs: 1 }))),
        generate: () => {
          throw new Error('not used');
        },
      },
      () => ids,
      rng(5),
    );
    gen.configure({ rate: 50, concurrency: 3, generateFraction: 0, adaptive: false });
    gen.tick(0);
    gen.tick(1000);
    expect(gen.stats).toMatchObject({ sent: 3, inFlight: 3, shed: 47 });
    for (const r of release) r();
    await flush();
    expect(gen.stats).toMatchObject({ completed: 3, inFlight: 0 });
  });

  it('drains generate() streams for the generate share of traffic', async () => {
    let streams = 0;
    let classified = 0;
    const gen = new LoadGenerator(
      {
        classify: async (tenantId: string) => {
          classified++;
          return { tenantId, label: 'a', labelIndex: 0, scores: [1], tokens: 1, latencyMs: 1 };
        },
        generate: async function* (): AsyncGenerator<GenerateChunk> {
          streams++;
          yield { tokenId: 1, text: 'x', done: false };
          yield { tokenId: -1, text: '', done: true, finishReason: 'length' };
        },
      },
      () => ids,
      rng(11),
    );
    gen.configure({ rate: 400, generateFraction: 0.25, concurrency: 1000, adaptive: false });
    gen.tick(0);
    gen.tick(1000);
    await flush();
    await flush();
    expect(streams + classified).toBe(400);
    expect(streams / 400).toBeGreaterThan(0.18);
    expect(streams / 400).toBeLessThan(0.32);
    expect(gen.stats.completed).toBe(400);
  });

  it('names a bare HmiError by its code, other errors by their class', async () => {
    let i = 0;
    const gen = new LoadGenerator(
      {
        classify: () => Promise.reject(++i % 2 ? new HmiError('UNSUPPORTED', 'no heads here') : new TypeError('boom')),
        generate: () => {
          throw new Error('not used');
        },
      },
      () => ids,
      rng(1),
    );
    gen.configure({ rate: 10, generateFraction: 0, adaptive: false });
    gen.tick(0);
    gen.tick(1000);
    await flush();
    expect(gen.stats.errors).toEqual({ UNSUPPORTED: 5, TypeError: 5 });
  });

  it('sends nothing while no tenant is registered', () => {
    const gen = new LoadGenerator(
      {
        classify: () => Promise.reject(new Error('unexpected')),
        generate: () => {
          throw new Error('unexpected');
        },
      },
      () => [],
    );
    gen.configure({ rate: 10 });
    gen.tick(0);
    gen.tick(1000);
    expect(gen.stats.sent).toBe(0);
  });
});

describe('InFlightLimit', () => {
  const tuning: InFlightTuning = { initial: 4, windowMs: 1000, tolerance: 2, backoff: 0.7 };

  /** One window in which the bound was reached and `n` requests, sent at its start, took `ms` each. */
  function window(c: InFlightLimit, t: number, ms: number, n = 5, saturated = true): number {
    for (let i = 0; i < n; i++) c.completed(t, ms);
    if (saturated) c.markSaturated();
    c.update(t + 1000);
    return t + 1000;
  }

  it('doubles while the bound is reached and latency holds, then creeps up by one after a congestion', () => {
    const c = new InFlightLimit(64, 0, tuning);
    let t = 0;
    const seen: number[] = [c.limit];
    for (let i = 0; i < 5; i++) {
      t = window(c, t, 100);
      seen.push(c.limit);
    }
    expect(seen).toEqual([4, 8, 16, 32, 64, 64]);
    t = window(c, t, 250); // median above 2 x 100: queueing
    expect(c.limit).toBe(44);
    expect(c.p50Ms).toBe(250);
    t = window(c, t, 120);
    t = window(c, t, 120);
    expect(c.limit).toBe(46);
  });

  it('shrinks on overload, never below one, and grows only when the bound held requests back', () => {
    const c = new InFlightLimit(64, 0, tuning);
    let t = 0;
    for (let i = 0; i < 6; i++) {
      c.overloaded(t);
      c.update(t + 1000);
      t += 1000;
    }
    expect(c.limit).toBe(1);
    t = window(c, t, 100, 5, false);
    expect(c.limit).toBe(1);
    window(c, t, 100);
    expect(c.limit).toBe(2);
  });

  it('ignores requests sent before the bound last changed, and waits for a measurement', () => {
    const c = new InFlightLimit(64, 0, tuning);
    const t = window(c, 0, 100); // 4 -> 8 at t = 1000
    c.update(2500); // nothing measured: no revision
    expect(c.limit).toBe(8);
    // Slow answers to requests of the old bound say nothing of the new one.
    for (let i = 0; i < 5; i++) c.completed(t - 1, 900);
    c.overloaded(t - 1);
    c.completed(t, 110);
    c.markSaturated();
    c.update(3000);
    expect(c.limit).toBe(16);
  });

  it('keeps within the ceiling the user sets', () => {
    const c = new InFlightLimit(6, 0, tuning);
    window(c, 0, 100);
    expect(c.limit).toBe(6);
    c.setCeiling(3);
    expect(c.limit).toBe(3);
  });
});

/**
 * A model on a fake clock: `slots` requests run at once, each for `serviceMs`; the rest wait
 * in its queue, as in the runtime, so latency grows with what is in flight.
 */
class FakeModel {
  private readonly waiting: (() => void)[] = [];
  private running: { doneAt: number; resolve: () => void }[] = [];

  constructor(
    private readonly slots: number,
    private readonly serviceMs: number,
    private readonly clock: () => number,
  ) {}

  readonly classify = (tenantId: string): Promise<ClassifyResult> =>
    new Promise((resolve) => {
      this.waiting.push(() => resolve({ tenantId, label: 'a', labelIndex: 0, scores: [1], tokens: 3, latencyMs: this.serviceMs }));
      this.advance();
    });

  readonly generate = (): never => {
    throw new Error('not used');
  };

  advance(): void {
    const now = this.clock();
    const done = this.running.filter((r) => r.doneAt <= now);
    this.running = this.running.filter((r) => r.doneAt > now);
    for (const r of done) r.resolve();
    while (this.running.length < this.slots && this.waiting.length > 0) {
      const start = this.waiting.shift()!;
      this.running.push({ doneAt: now + this.serviceMs, resolve: start });
    }
  }
}

const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Runs the generator against the model for `seconds` of fake time; stats at each second. */
async function simulate(gen: LoadGenerator, model: FakeModel, clock: { t: number }, seconds: number): Promise<LoadStats[]> {
  const out: LoadStats[] = [];
  for (let step = 1; step <= seconds * 40; step++) {
    clock.t += 25;
    model.advance();
    await settle();
    gen.tick(clock.t);
    if (step % 40 === 0) out.push(gen.stats);
  }
  return out;
}

describe('LoadGenerator adapting to the model', () => {
  const ids = Array.from({ length: 10 }, (_, i) => `t${i}`);

  function setup(slots: number, serviceMs: number, adaptive: boolean): { gen: LoadGenerator; model: FakeModel; clock: { t: number } } {
    const clock = { t: 0 };
    const now = (): number => clock.t;
    const model = new FakeModel(slots, serviceMs, now);
    const gen = new LoadGenerator(model, () => ids, rng(9), () => undefined, now);
    gen.configure({ tenants: 10, generateFraction: 0, rate: 20, concurrency: 64, adaptive });
    gen.tick(0);
    return { gen, model, clock };
  }

  // The default offer (20/s, 64 in flight) against a model serving 4/s: two slots of 500 ms.
  it('keeps a slow model from being buried: latency stays near its service time, at full throughput', async () => {
    const { gen, model, clock } = setup(2, 500, true);
    const stats = await simulate(gen, model, clock, 60);
    const late = stats.slice(30);
    expect(Math.max(...late.map((s) => s.limit))).toBeLessThanOrEqual(6);
    expect(Math.min(...late.map((s) => s.limit))).toBeGreaterThanOrEqual(2); // both slots stay busy
    expect(Math.max(...late.map((s) => s.p50Ms ?? Infinity))).toBeLessThanOrEqual(1500);
    const served = late.at(-1)!.completed - stats[29].completed;
    expect(served).toBeGreaterThanOrEqual(0.9 * 4 * 30);
  });

  it('with adaptation off holds the bound set, and the same model queues for many seconds', async () => {
    const { gen, model, clock } = setup(2, 500, false);
    const stats = await simulate(gen, model, clock, 30);
    expect(stats.at(-1)).toMatchObject({ limit: 64, inFlight: 64, p50Ms: null });
  });

  it('opens the bound up to what a fast model needs', async () => {
    const { gen, model, clock } = setup(1000, 40, true);
    gen.configure({ rate: 1000 }); // needs about 40 in flight
    const stats = await simulate(gen, model, clock, 20);
    expect(stats.at(-1)!.limit).toBeGreaterThanOrEqual(40);
    expect(stats.at(-1)!.shed - stats[9].shed).toBe(0);
  });
});
