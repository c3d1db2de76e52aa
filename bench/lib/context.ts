import { loadModel, type LoadedModel } from '../../src/formats/model-source.js';
import { resolveModelSource } from '../../src/runtime/model-source.js';
import type { BenchEnv } from './env.js';
import { Measurements } from './measure.js';
import { representativeTenant } from './representative.js';
import { emptyResults, type BenchResults } from './results.js';
import { makeRequests, makeTexts, slices, type Request, type Traffic } from './workload.js';

export interface BenchOptions {
  /** Requests of the common workload (the 1,000). */
  readonly requests: number;
  /** Interleaving units: each contender runs its part of slice k before anyone starts slice k+1. */
  readonly slices: number;
  readonly seed: number;
  readonly minTokens: number;
  readonly maxTokens: number;
  readonly tokenBudget: number;
  /** N of multiTenantOverhead (1 is the reference). */
  readonly tenantCounts: readonly number[];
  readonly sequentialTenants: readonly number[];
  readonly mergedTenants: readonly number[];
  /** Tenants of the cold-store (prefetch) runtime. */
  readonly coldTenants: number;
  /** From N on, the pool holds only `smallPoolFraction` of the tenants. */
  readonly smallPoolFrom: number;
  readonly smallPoolFraction: number;
  /** The slow baselines time a sample of each slice: at most this many tenants (sequential)... */
  readonly sequentialTenantsPerSlice: number;
  /** ...and this many requests (merged swap). Throughput is a rate, so a sample measures it. */
  readonly mergedRequestsPerSlice: number;
  /** ...and this many tenants (tfjs hBERT, ~10x slower than the runtime). */
  readonly tfjsTenantsPerSlice: number;
  /** Generation (hGPT): N of multiTenantOverhead.generate, requests (prompts) and new tokens per request. */
  readonly generateTenants: readonly number[];
  readonly generateRequests: number;
  readonly generateTokens: number;
  /** trainWhileServing: TrainSpec.batchTokens of the training job; null = the runtime's default (its tokenBudget). */
  readonly trainBatchTokens: number | null;
}

export const DEFAULT_OPTIONS: BenchOptions = {
  requests: 1000,
  slices: 8,
  seed: 20261125,
  minTokens: 8,
  maxTokens: 32,
  tokenBudget: 512,
  tenantCounts: [1, 100, 1000, 10000],
  sequentialTenants: [100, 1000],
  mergedTenants: [100, 1000],
  coldTenants: 1000,
  smallPoolFrom: 10000,
  smallPoolFraction: 0.1,
  sequentialTenantsPerSlice: 5,
  mergedRequestsPerSlice: 13,
  tfjsTenantsPerSlice: 2,
  generateTenants: [1, 100, 1000, 10000],
  generateRequests: 64,
  generateTokens: 8,
  trainBatchTokens: null,
};

interface Resource {
  readonly value: Promise<unknown>;
  readonly dispose: (v: never) => Promise<void> | void;
}

/** State shared by the scenarios of one run: options, samples, results, long-lived resources. */
export class BenchContext {
  readonly m = new Measurements();
  readonly results: BenchResults = emptyResults();
  /** Index of the slice being run. */
  slice = 0;
  private readonly resources = new Map<string, Resource>();
  private readonly workloads = new Map<string, Request[]>();
  private textsCache: number[][] | null = null;

  constructor(
    readonly env: BenchEnv,
    readonly opts: BenchOptions,
  ) {}

  /** Created once on first use (untimed), disposed at the end of the run. */
  shared<T>(key: string, create: () => Promise<T>, dispose: (v: T) => Promise<void> | void): Promise<T> {
    const hit = this.resources.get(key);
    if (hit) return hit.value as Promise<T>;
    const value = create();
    this.resources.set(key, { value, dispose: dispose as (v: never) => Promise<void> | void });
    return value;
  }

  /** Disposes resources in reverse creation order; failures are logged, not thrown. */
  async disposeAll(): Promise<void> {
    for (const [key, r] of [...this.resources].reverse()) {
      try {
        await r.dispose((await r.value) as never);
      } catch (e) {
        this.env.log(`dispose ${key}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    this.resources.clear();
  }

  hostModel(): Promise<LoadedModel> {
    return this.shared('host-model', () => loadModel(resolveModelSource(this.env.bertModel)), () => undefined);
  }

  /** The split the runtime and the baselines share (the runtime's default: half the layers). */
  async split(): Promise<number> {
    return Math.floor((await this.hostModel()).config.numLayers / 2);
  }

  /**
   * The workload over N tenants: the same texts whatever N; traffic balanced when N <= requests,
   * else uniform. The single tenant of N = 1 is a typical one of the mix (representativeTenant).
   */
  async workload(numTenants: number, traffic?: Traffic): Promise<Request[]> {
    const t = traffic ?? (numTenants <= this.opts.requests ? { kind: 'balanced' } : { kind: 'uniform' });
    const key = `${numTenants}:${JSON.stringify(t)}`;
    const hit = this.workloads.get(key);
    if (hit) return hit;
    if (!this.textsCache) {
      const { config } = await this.hostModel();
      this.textsCache = makeTexts({ count: this.opts.requests, vocabSize: config.vocabSize, minTokens: this.opts.minTokens, maxTokens: this.opts.maxTokens, seed: this.opts.seed });
    }
    let reqs = makeRequests(this.textsCache, numTenants, t, this.opts.seed + numTenants);
    if (numTenants === 1) {
      const { config } = await this.hostModel();
      const typical = representativeTenant(config, await this.split());
      reqs = reqs.map((r) => ({ ...r, tenant: typical }));
    }
    this.workloads.set(key, reqs);
    return reqs;
  }

  /** The current slice of a workload. */
  current<T>(items: readonly T[]): T[] {
    return slices(items, this.opts.slices)[this.slice] ?? [];
  }
}
