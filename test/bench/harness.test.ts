import { describe, expect, it } from 'vitest';
import { mulberry32, shuffle, zipfSampler } from '../../bench/lib/rng.js';
import { arrivalRuns, assignTenants, batchesOf, groupByTenant, makeRequests, makeTexts, slices, type Request } from '../../bench/lib/workload.js';
import { Measurements } from '../../bench/lib/measure.js';
import { mergeAdapter } from '../../bench/lib/merge.js';
import type { LoraAdapter, TensorMap } from '../../src/formats/types.js';
import { syntheticTenant } from '../../src/runtime/synthetic-tenants.js';
import { loraMacsPerToken, representativeTenant, SYNTHETIC_PERIOD } from '../../bench/lib/representative.js';
import { syntheticTrainingData } from '../../bench/scenarios/train-while-serving.js';

describe('zipf sampler', () => {
  it('is deterministic for a seed and stays in range', () => {
    const a = zipfSampler(50, 1.1, mulberry32(7));
    const b = zipfSampler(50, 1.1, mulberry32(7));
    const xs = Array.from({ length: 200 }, a);
    expect(xs).toEqual(Array.from({ length: 200 }, b));
    expect(xs.every((x) => Number.isInteger(x) && x >= 0 && x < 50)).toBe(true);
  });

  it('draws rank k about as often as 1/(k+1)^s predicts', () => {
    const n = 20;
    const s = 1.2;
    const draws = 60_000;
    const draw = zipfSampler(n, s, mulberry32(3));
    const counts = new Array<number>(n).fill(0);
    for (let i = 0; i < draws; i++) counts[draw()]++;
    const z = Array.from({ length: n }, (_, k) => 1 / (k + 1) ** s).reduce((x, y) => x + y, 0);
    for (const k of [0, 1, 4, 19]) {
      const expected = draws / (k + 1) ** s / z;
      expect(Math.abs(counts[k] - expected)).toBeLessThan(5 * Math.sqrt(expected) + 5);
    }
  });

  it('with s = 0 is uniform, and n = 1 always gives 0', () => {
    const one = zipfSampler(1, 2, mulberry32(1));
    expect(Array.from({ length: 10 }, one)).toEqual(new Array(10).fill(0));
    const draw = zipfSampler(4, 0, mulberry32(5));
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 8000; i++) counts[draw()]++;
    for (const c of counts) expect(Math.abs(c - 2000)).toBeLessThan(200);
  });

  it('rejects a bad size or exponent', () => {
    expect(() => zipfSampler(0, 1, mulberry32(1))).toThrow(RangeError);
    expect(() => zipfSampler(3, -1, mulberry32(1))).toThrow(RangeError);
  });
});

describe('workload', () => {
  it('balanced traffic gives exactly min(N, R) distinct tenants, counts within one', () => {
    for (const [r, n] of [
      [1000, 1],
      [1000, 100],
      [1000, 1000],
      [37, 5],
    ]) {
      const t = assignTenants(r, n, { kind: 'balanced' }, 11);
      expect(t).toHaveLength(r);
      const counts = new Map<number, number>();
      for (const x of t) counts.set(x, (counts.get(x) ?? 0) + 1);
      expect(counts.size).toBe(Math.min(n, r));
      const c = [...counts.values()];
      expect(Math.max(...c) - Math.min(...c)).toBeLessThanOrEqual(1);
    }
  });

  it('uniform traffic over more tenants than requests stays in range', () => {
    const t = assignTenants(500, 10_000, { kind: 'uniform' }, 2);
    expect(t.every((x) => x >= 0 && x < 10_000)).toBe(true);
    expect(new Set(t).size).toBeGreaterThan(450);
  });

  it('the texts are the same whatever N: same ids, same token counts', () => {
    const texts = makeTexts({ count: 50, vocabSize: 30, minTokens: 3, maxTokens: 9, seed: 4 });
    expect(texts.every((ids) => ids.length >= 3 && ids.length <= 9 && ids.every((id) => id >= 1 && id < 30))).toBe(true);
    const a = makeRequests(texts, 1, { kind: 'balanced' }, 1);
    const b = makeRequests(texts, 40, { kind: 'zipf', s: 1 }, 1);
    expect(a.map((r) => r.ids)).toEqual(b.map((r) => r.ids));
    expect(() => makeTexts({ count: 1, vocabSize: 30, minTokens: 5, maxTokens: 4, seed: 1 })).toThrow(RangeError);
  });

  it('slices cover every item once, in order', () => {
    const items = Array.from({ length: 10 }, (_, i) => i);
    const parts = slices(items, 4);
    expect(parts).toHaveLength(4);
    expect(parts.flat()).toEqual(items);
    expect(slices(items.slice(0, 2), 4)).toHaveLength(2);
  });

  const req = (tenant: number, len: number): Request => ({ tenant, ids: new Array<number>(len).fill(1) });

  it('groups by tenant in order of first arrival, and arrival runs break on every change', () => {
    const rs = [req(3, 1), req(1, 1), req(3, 1), req(3, 1), req(2, 1)];
    expect(groupByTenant(rs).map((g) => [g.tenant, g.requests.length])).toEqual([
      [3, 3],
      [1, 1],
      [2, 1],
    ]);
    expect(arrivalRuns(rs).map((g) => [g.tenant, g.requests.length])).toEqual([
      [3, 1],
      [1, 1],
      [3, 2],
      [2, 1],
    ]);
  });

  it('batches respect the token budget and sequence cap, and an over-budget request runs alone', () => {
    const rs = [req(0, 5), req(0, 5), req(0, 5), req(0, 20), req(0, 1), req(0, 1), req(0, 1)];
    const b = batchesOf(rs, 10, 2);
    expect(b.map((x) => x.map((r) => r.ids.length))).toEqual([[5, 5], [5], [20], [1, 1], [1]]);
  });

  it('shuffle is a permutation', () => {
    const a = shuffle(Array.from({ length: 30 }, (_, i) => i), mulberry32(9));
    expect([...a].sort((x, y) => x - y)).toEqual(Array.from({ length: 30 }, (_, i) => i));
  });
});

describe('measurements', () => {
  it('measure a key once per slice, sum slices, and give ratios of throughput', async () => {
    const m = new Measurements();
    await m.sample('a', async () => ({ seconds: 1, requests: 10, tokens: 100 }));
    await m.sample('a', async () => ({ seconds: 100, requests: 1, tokens: 1 }));
    await m.sample('b', async () => ({ seconds: 2, requests: 10, tokens: 100 }));
    m.nextSlice();
    await m.sample('a', async () => ({ seconds: 1, requests: 10, tokens: 100 }));
    expect(m.total('a')).toEqual({ seconds: 2, requests: 20, tokens: 200 });
    expect(m.throughput('a')).toBe(10);
    expect(m.ratio('a', 'b')).toBe(2);
    expect(m.ratio('a', 'missing')).toBeNull();
  });
});

describe('merged model of the naive baseline', () => {
  it('x W\'^T equals x W^T + scale (x A^T) B^T', () => {
    const rnd = mulberry32(21);
    const fill = (n: number): Float32Array => Float32Array.from({ length: n }, () => rnd() - 0.5);
    const inDim = 7;
    const outDim = 5;
    const r = 3;
    const W = fill(outDim * inDim);
    const base: TensorMap = new Map([
      ['l.q.weight', { shape: [outDim, inDim], data: W }],
      ['other.weight', { shape: [2], data: Float32Array.from([1, 2]) }],
      ['classifier.weight', { shape: [2, inDim], data: fill(2 * inDim) }],
    ]);
    const A = fill(r * inDim);
    const B = fill(outDim * r);
    const head = { shape: [4, inDim], data: fill(4 * inDim) };
    const adapter: LoraAdapter = { modules: new Map([['l.q', { r, inDim, outDim, scale: 1.5, A, B }]]), head: new Map([['classifier.weight', head]]) };
    const merged = mergeAdapter(base, adapter);
    const x = fill(inDim);
    for (let o = 0; o < outDim; o++) {
      let want = 0;
      for (let i = 0; i < inDim; i++) want += x[i] * W[o * inDim + i];
      for (let k = 0; k < r; k++) {
        let xa = 0;
        for (let i = 0; i < inDim; i++) xa += x[i] * A[k * inDim + i];
        want += 1.5 * xa * B[o * r + k];
      }
      let got = 0;
      const Wm = merged.get('l.q.weight')!.data;
      for (let i = 0; i < inDim; i++) got += x[i] * Wm[o * inDim + i];
      expect(got).toBeCloseTo(want, 5);
    }
    expect(merged.get('classifier.weight')).toBe(head);
    expect(merged.get('other.weight')).toBe(base.get('other.weight'));
    expect(base.get('l.q.weight')!.data).toBe(W);
  });

  it('refuses an adapter that does not fit the base', () => {
    const base: TensorMap = new Map([['l.q.weight', { shape: [2, 2], data: new Float32Array(4) }]]);
    const mod = { r: 1, inDim: 3, outDim: 2, scale: 1, A: new Float32Array(3), B: new Float32Array(2) };
    expect(() => mergeAdapter(base, { modules: new Map([['l.q', mod]]), head: new Map() })).toThrow(/adapter/);
    expect(() => mergeAdapter(base, { modules: new Map([['l.k', mod]]), head: new Map() })).toThrow(/no l\.k\.weight/);
  });
});

describe('representative tenant', () => {
  it('counts r * (in + out) per adapted projection', () => {
    const mod = (r: number, inDim: number, outDim: number) => ({ r, inDim, outDim, scale: 1, A: new Float32Array(r * inDim), B: new Float32Array(outDim * r) });
    expect(loraMacsPerToken({ modules: new Map([['a', mod(2, 3, 5)], ['b', mod(4, 1, 1)]]), head: new Map() })).toBe(2 * 8 + 4 * 2);
    expect(loraMacsPerToken({ modules: new Map(), head: new Map() })).toBe(0);
  });

  it('picks the tenant whose cost is nearest the mean of the synthetic mix, not tenant 0', () => {
    const config = {
      family: 'bert',
      vocabSize: 50,
      hiddenSize: 8,
      numLayers: 2,
      numHeads: 2,
      intermediateSize: 16,
      maxPositions: 16,
      typeVocabSize: 2,
      layerNormEps: 1e-12,
      padTokenId: 0,
    } as const;
    const macs = Array.from({ length: SYNTHETIC_PERIOD }, (_, i) => loraMacsPerToken(syntheticTenant(config, 1, i, { count: SYNTHETIC_PERIOD }).adapter));
    const mean = macs.reduce((a, b) => a + b, 0) / macs.length;
    const best = representativeTenant(config, 1);
    expect(macs.every((m) => Math.abs(macs[best] - mean) <= Math.abs(m - mean))).toBe(true);
    expect(macs[0]).toBeLessThan(mean);
    expect(best).not.toBe(0);
  });
});

describe('trainWhileServing training data', () => {
  it('is deterministic, balanced over two labels, 8-28 words a text', () => {
    const a = syntheticTrainingData(50, 3);
    expect(syntheticTrainingData(50, 3)).toEqual(a);
    expect(syntheticTrainingData(50, 4)).not.toEqual(a);
    expect(a.filter((e) => e.label === 'offer')).toHaveLength(25);
    expect(a.filter((e) => e.label === 'work')).toHaveLength(25);
    for (const e of a) {
      const n = e.text.split(' ').length;
      expect(n).toBeGreaterThanOrEqual(8);
      expect(n).toBeLessThanOrEqual(28);
    }
  });
});
