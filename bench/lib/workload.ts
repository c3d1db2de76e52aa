import { mulberry32, shuffle, uniformInt, zipfSampler } from './rng.js';

/**
 * How requests pick their tenant:
 * - balanced: every tenant gets floor(R/N) or one more request, in shuffled order, so
 *   exactly min(N, R) distinct tenants appear (the "N distinct tenants");
 * - uniform: each request draws a tenant uniformly (independent draws);
 * - zipf: each request draws tenant rank k with probability ~ 1/(k+1)^s (a few hot tenants).
 */
export type Traffic = { readonly kind: 'balanced' } | { readonly kind: 'uniform' } | { readonly kind: 'zipf'; readonly s: number };

export interface Request {
  /** Index of the tenant in 0..N-1; the runtime id is the harness's prefix + index. */
  readonly tenant: number;
  readonly ids: readonly number[];
}

export interface TextOptions {
  readonly count: number;
  readonly vocabSize: number;
  readonly minTokens: number;
  readonly maxTokens: number;
  readonly seed: number;
}

/** Token-id sequences, the same for every N: same texts, same token counts. Ids avoid 0 (padding). */
export function makeTexts(o: TextOptions): number[][] {
  if (o.minTokens < 1 || o.maxTokens < o.minTokens) throw new RangeError(`bad token range ${o.minTokens}..${o.maxTokens}`);
  const rnd = mulberry32(o.seed);
  return Array.from({ length: o.count }, () => {
    const len = o.minTokens + uniformInt(o.maxTokens - o.minTokens + 1, rnd);
    return Array.from({ length: len }, () => 1 + uniformInt(o.vocabSize - 1, rnd));
  });
}

/** A tenant index per request. */
export function assignTenants(count: number, numTenants: number, traffic: Traffic, seed: number): number[] {
  if (!Number.isInteger(numTenants) || numTenants < 1) throw new RangeError(`need at least one tenant, got ${numTenants}`);
  const rnd = mulberry32(seed);
  switch (traffic.kind) {
    case 'balanced':
      return shuffle(
        Array.from({ length: count }, (_, i) => i % numTenants),
        rnd,
      );
    case 'uniform':
      return Array.from({ length: count }, () => uniformInt(numTenants, rnd));
    case 'zipf': {
      const draw = zipfSampler(numTenants, traffic.s, rnd);
      return Array.from({ length: count }, draw);
    }
  }
}

export function makeRequests(texts: readonly (readonly number[])[], numTenants: number, traffic: Traffic, seed: number): Request[] {
  const tenants = assignTenants(texts.length, numTenants, traffic, seed);
  return texts.map((ids, i) => ({ tenant: tenants[i], ids }));
}

/** Splits requests into `parts` consecutive slices of near-equal size (interleaved timing units). */
export function slices<T>(items: readonly T[], parts: number): T[][] {
  const n = Math.max(1, Math.min(parts, items.length));
  return Array.from({ length: n }, (_, k) => items.slice(Math.floor((k * items.length) / n), Math.floor(((k + 1) * items.length) / n)));
}

/** Requests grouped by tenant, tenants in order of first appearance (what a one-tenant-at-a-time server does). */
export function groupByTenant(requests: readonly Request[]): { tenant: number; requests: Request[] }[] {
  const groups = new Map<number, Request[]>();
  for (const r of requests) {
    const g = groups.get(r.tenant);
    if (g) g.push(r);
    else groups.set(r.tenant, [r]);
  }
  return [...groups].map(([tenant, rs]) => ({ tenant, requests: rs }));
}

/** Consecutive runs of the same tenant in arrival order (what a swap-on-change server batches together). */
export function arrivalRuns(requests: readonly Request[]): { tenant: number; requests: Request[] }[] {
  const runs: { tenant: number; requests: Request[] }[] = [];
  for (const r of requests) {
    const last = runs[runs.length - 1];
    if (last && last.tenant === r.tenant) last.requests.push(r);
    else runs.push({ tenant: r.tenant, requests: [r] });
  }
  return runs;
}

/** Splits a list of requests into batches of at most `tokenBudget` tokens and `maxSeqs` sequences (one request always fits). */
export function batchesOf(requests: readonly Request[], tokenBudget: number, maxSeqs: number): Request[][] {
  const out: Request[][] = [];
  let cur: Request[] = [];
  let tokens = 0;
  for (const r of requests) {
    if (cur.length && (tokens + r.ids.length > tokenBudget || cur.length >= maxSeqs)) {
      out.push(cur);
      cur = [];
      tokens = 0;
    }
    cur.push(r);
    tokens += r.ids.length;
  }
  if (cur.length) out.push(cur);
  return out;
}
