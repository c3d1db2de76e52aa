import type { HmiRuntimeApi, MetricsSnapshot } from '../../src/runtime/api.js';
import { createRuntime } from '../../src/create-runtime.js';
import { syntheticTenant } from '../../src/runtime/synthetic-tenants.js';
import { AdapterPool } from '../../src/knowledge/task/pool.js';
import { MemoryTenantStore } from '../../src/knowledge/task/store-memory.js';
import type { ModelConfig } from '../../src/formats/model-config.js';
import type { BenchContext } from './context.js';
import { timed, type Sample } from './measure.js';
import { mulberry32, uniformInt } from './rng.js';
import { SYNTHETIC_PERIOD } from './representative.js';
import type { Request } from './workload.js';

/** The synthetic population every runtime and baseline of a run shares (addSynthetic's default). */
export const TENANT_PREFIX = 'tenant-';
export const tenantId = (i: number): string => `${TENANT_PREFIX}${i}`;

export interface ServingSpec {
  /** Resource key; also the runtime's name in results.runtimes. */
  readonly key: string;
  readonly tenants: number;
  /** Pool = this fraction of the tenants' pool bytes; null = the runtime's default pool (holds them all here). */
  readonly poolFraction: number | null;
  /** "memory", or "scratch" (fs directory in Node, IndexedDB in a page: adapters cold in the store). */
  readonly store: 'memory' | 'scratch';
}

export interface Serving {
  readonly rt: HmiRuntimeApi;
  readonly spec: ServingSpec;
  readonly poolBytes: number | null;
  readonly storeKind: string;
}


/**
 * Pool bytes that hold `fraction` of the first `tenants` synthetic tenants (mean over one
 * period of the mix) of a model split at half its layers: the hBERT model unless given.
 */
export async function poolBytesFor(c: BenchContext, tenants: number, fraction: number, model?: ModelConfig): Promise<number> {
  const config = model ?? (await c.hostModel()).config;
  const split = Math.floor(config.numLayers / 2);
  const n = Math.min(tenants, SYNTHETIC_PERIOD);
  let sum = 0;
  let largest = 0;
  for (let i = 0; i < n; i++) {
    const bytes = AdapterPool.bytesNeeded(syntheticTenant(config, split, i, { count: tenants }).adapter, config.hiddenSize);
    sum += bytes;
    largest = Math.max(largest, bytes);
  }
  // Tiny populations: still room for a few of the largest tenants, or registration refuses them.
  return Math.ceil(Math.max((sum / n) * tenants * fraction, 4 * largest) / 4096) * 4096;
}

async function start(c: BenchContext, spec: ServingSpec): Promise<Serving> {
  const { env, opts } = c;
  const split = await c.split();
  const poolBytes = spec.poolFraction === null ? null : await poolBytesFor(c, spec.tenants, spec.poolFraction);
  const scratch = spec.store === 'scratch' ? await env.scratchStore(spec.key) : null;
  const t0 = Date.now();
  const rt = await createRuntime({
    gpu: await env.gpu(),
    model: env.bertModel,
    split,
    tokenBudget: opts.tokenBudget,
    maxQueue: Math.max(4096, opts.requests, 2 * spec.tenants),
    // Explicit: in a page the runtime's default store would be IndexedDB.
    store: scratch ? scratch.store : new MemoryTenantStore(),
    ...(poolBytes !== null ? { poolBytes } : {}),
  });
  let lastLog = 0;
  await rt.tenants.addSynthetic({ count: spec.tenants }, (p) => {
    if (Date.now() - lastLog > 10_000) {
      lastLog = Date.now();
      env.log(`${spec.key}: registered ${p.done}/${p.total}`);
    }
  });
  env.log(`${spec.key}: ${spec.tenants} tenants registered in ${((Date.now() - t0) / 1000).toFixed(1)} s (${scratch?.kind ?? 'memory'} store, pool ${poolBytes === null ? 'default' : `${(poolBytes / 2 ** 20).toFixed(1)} MiB`})`);
  await warmUp(c, rt, spec);
  const serving: Serving = { rt, spec, poolBytes, storeKind: scratch?.kind ?? 'memory' };
  servings.set(spec.key, serving);
  scratchOf.set(serving, scratch);
  return serving;
}

const servings = new Map<string, Serving>();
const scratchOf = new WeakMap<Serving, { dispose(): Promise<void> } | null>();

/**
 * Steady state before timing: pipelines compiled and the pool filled as serving would leave
 * it. Mostly short requests, so that this costs little: one per tenant when the pool holds
 * them all, else uniform traffic worth 1.5 pools.
 */
async function warmUp(c: BenchContext, rt: HmiRuntimeApi, spec: ServingSpec): Promise<void> {
  const t0 = Date.now();
  const ids = [1, 2, 3, 4];
  const rnd = mulberry32(c.opts.seed ^ 0x5eed);
  const tenants =
    spec.poolFraction === null
      ? Array.from({ length: spec.tenants }, (_, i) => i)
      : Array.from({ length: Math.ceil(1.5 * spec.tenants * spec.poolFraction) }, () => uniformInt(spec.tenants, rnd));
  await Promise.all(tenants.map((t) => rt.classify(tenantId(t), ids)));
  // Then one burst of real lengths, so no contender pays for compiling a shape's pipelines.
  const real = (await c.workload(1)).slice(0, 64);
  await Promise.all(real.map((r) => rt.classify(tenantId(r.tenant), r.ids)));
  c.env.log(`${spec.key}: warmed up with ${tenants.length} short and ${real.length} full-length requests in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

export function serving(c: BenchContext, spec: ServingSpec): Promise<Serving> {
  return c.shared(`serving:${spec.key}`, () => start(c, spec), async (s) => {
    servings.delete(s.spec.key);
    await s.rt.dispose();
    await scratchOf.get(s)?.dispose();
  });
}

/** Submits every request at once (a burst) and waits for all answers. */
export function serve(s: Serving, requests: readonly Request[]): Promise<Sample> {
  return timed(async () => {
    await Promise.all(requests.map((r) => s.rt.classify(tenantId(r.tenant), r.ids)));
    return { requests: requests.length, tokens: requests.reduce((n, r) => n + r.ids.length, 0) };
  });
}

/** The runtime that serves N tenants: one shared all-resident runtime below smallPoolFrom, else its own with a small pool. */
export function specFor(c: BenchContext, n: number): ServingSpec {
  if (n >= c.opts.smallPoolFrom) return { key: `pool${Math.round(c.opts.smallPoolFraction * 100)}pct-${n}`, tenants: n, poolFraction: c.opts.smallPoolFraction, store: 'memory' };
  const largest = Math.max(n, c.opts.coldTenants, ...[...c.opts.tenantCounts, ...c.opts.sequentialTenants, ...c.opts.mergedTenants].filter((k) => k < c.opts.smallPoolFrom));
  return { key: `resident-${largest}`, tenants: largest, poolFraction: null, store: 'memory' };
}

/** Times this slice of the N-tenant workload through the batched runtime; key "ours:N". */
export async function measureOurs(c: BenchContext, n: number): Promise<void> {
  const s = await serving(c, specFor(c, n));
  const reqs = c.current(await c.workload(n));
  await c.m.sample(`ours:${n}`, () => serve(s, reqs));
}

/** metrics() of every runtime started in this run, by key. */
export async function runtimeMetrics(): Promise<Map<string, MetricsSnapshot>> {
  const out = new Map<string, MetricsSnapshot>();
  for (const [key, s] of servings) out.set(key, await s.rt.metrics());
  return out;
}
