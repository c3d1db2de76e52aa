import { describe, expect, it } from 'vitest';
import type { ClassifyResult, GenerateChunk } from '../../src/runtime/api.js';
import { HmiError } from '../../src/errors.js';
import { QueueFullError } from '../../src/runtime/errors.js';
import { LoadGenerator } from '../../src/ui/load-generator.js';
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
    gen.configure({ rate: 200, tenants: 100, skew: 1.2, generateFraction: 0, concurrency: 1000 });
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
    gen.configure({ rate: 50, concurrency: 3, generateFraction: 0 });
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
    gen.configure({ rate: 400, generateFraction: 0.25, concurrency: 1000 });
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
    gen.configure({ rate: 10, generateFraction: 0 });
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
