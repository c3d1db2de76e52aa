import { continuousVsStatic } from '../scenarios/continuous-vs-static.js';
import { generate } from '../scenarios/generate.js';
import { generate64 } from '../scenarios/generate-64.js';
import { plotStorage } from '../scenarios/plot-storage.js';
import { memoryPerTenant } from '../scenarios/memory-per-tenant.js';
import { multiTenantOverhead } from '../scenarios/multi-tenant-overhead.js';
import { plotSpeedup } from '../scenarios/plot-speedup.js';
import { plotInherit } from '../scenarios/plot-inherit.js';
import { trainWhileServing } from '../scenarios/train-while-serving.js';
import { prefetchHidden } from '../scenarios/prefetch-hidden.js';
import { vsMergedSwap } from '../scenarios/vs-merged-swap.js';
import { vsSequential } from '../scenarios/vs-sequential.js';
import { vsTfjs } from '../scenarios/vs-tfjs.js';
import { vsTfjsHgpt } from '../scenarios/vs-tfjs-hgpt.js';
import { BenchContext, type BenchOptions } from './context.js';
import type { BenchEnv } from './env.js';
import type { BenchResults } from './results.js';
import type { Scenario } from './scenario.js';
import { runtimeMetrics } from './serving.js';

/**
 * Every runtime scenario by name. null = a slot whose subsystem is not measurable yet
 * (its figures stay null in latest.json).
 */
export const RUNTIME_SCENARIOS: Readonly<Record<string, Scenario | null>> = {
  multiTenantOverhead,
  vsSequential,
  vsMergedSwap,
  prefetchHidden,
  memoryPerTenant,
  generate,
  generate64,
  continuousVsStatic,
  trainWhileServing,
  plotStorage,
  plotSpeedup,
  plotInherit,
  vsTfjs,
  vsTfjsHgpt,
};

export function measurable(names: readonly string[]): Scenario[] {
  return names.map((n) => RUNTIME_SCENARIOS[n]).filter((s): s is Scenario => s !== null && s !== undefined);
}

/** Runs the scenarios slice by slice, interleaved, and returns their results (matmul is filled by the caller). */
export async function runScenarios(env: BenchEnv, names: readonly string[], opts: BenchOptions, command: string): Promise<BenchResults> {
  const c = new BenchContext(env, opts);
  const scenarios = measurable(names);
  const r = c.results;
  r.machine = { where: env.where, cpus: env.cpus, platform: env.platform, date: new Date().toISOString(), command };
  r.config = { ...opts, scenarios: scenarios.map((s) => s.name) };
  const t0 = Date.now();
  // Wall time per scenario, set-up included: where a run's minutes go.
  const spent = new Map<string, number>(scenarios.map((s) => [s.name, 0]));
  try {
    for (c.slice = 0; c.slice < opts.slices; c.slice++) {
      c.m.nextSlice();
      for (const s of scenarios) {
        const ts = Date.now();
        await s.run(c);
        spent.set(s.name, spent.get(s.name)! + (Date.now() - ts) / 1000);
      }
      env.log(`slice ${c.slice + 1}/${opts.slices} done at ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    }
    for (const s of scenarios) {
      const ts = Date.now();
      await s.report(c);
      spent.set(s.name, spent.get(s.name)! + (Date.now() - ts) / 1000);
    }
    r.scenarioSeconds = Object.fromEntries([...spent].map(([k, v]) => [k, Math.round(v)]));
    env.log(`seconds per scenario: ${[...spent].map(([k, v]) => `${k} ${v.toFixed(0)}`).join(', ')}`);
    for (const key of c.m.keys()) {
      const t = c.m.total(key)!;
      r.throughput[key] = { requestsPerSecond: t.requests / t.seconds, tokensPerSecond: t.tokens / t.seconds, requests: t.requests, seconds: t.seconds };
    }
    for (const [key, m] of await runtimeMetrics()) {
      r.runtimes[key] = {
        tenantsRegistered: m.tenantsRegistered,
        tenantsResident: m.tenantsResident,
        poolBytesTotal: m.poolBytesTotal,
        poolBytesUsed: m.poolBytesUsed,
        poolHitRate: m.poolHitRate,
        bytesUploaded: m.bytesUploaded,
        prefetchHidden: m.prefetchHidden,
        requestsServed: m.requestsServed,
        p50Ms: m.p50Ms,
        p99Ms: m.p99Ms,
      };
    }
    r.adapter = await adapterName(c);
    r.notes.push(...notes(opts, env));
  } finally {
    await c.disposeAll();
  }
  env.log(`runtime scenarios took ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  return r;
}

async function adapterName(c: BenchContext): Promise<string> {
  const gpu = await c.env.gpu();
  const adapter = await gpu.requestAdapter();
  const info = adapter?.info;
  if (!info) return 'unknown';
  const arch = `${info.vendor} ${info.architecture} ${info.description}`.toLowerCase();
  return arch.includes('swiftshader') ? 'swiftshader' : `${info.vendor} ${info.architecture}`.trim() || 'unknown';
}

function notes(o: BenchOptions, env: BenchEnv): string[] {
  return [
    `Workload: ${o.requests} requests of ${o.minTokens}-${o.maxTokens} token ids (the same texts for every N), classify, token budget ${o.tokenBudget} per batch; all requests of a slice are submitted at once and throughput = requests / time to the last answer.`,
    `Interleaving: the run is cut into ${o.slices} slices; in each slice every contender runs its part back to back, and each figure sums its slices, so load from other processes hits all contenders alike.`,
    `Tenants: synthetic (runtime.tenants.addSynthetic): LoRA ranks 2/4/8/16 on a varying subset of the upper layers' targets plus a 2-4 label classifier; registration and a warm-up (pipelines compiled, pool in steady state) are not timed. The tenant of N = 1 is a typical one (LoRA cost per token nearest the mix's mean), not tenant 0, whose rank-2 one-target adapter is 20x cheaper than the mean.`,
    `multiTenantOverhead: N <= ${o.requests} tenants get balanced traffic (exactly N distinct tenants), more get uniform traffic; from ${o.smallPoolFrom} tenants on the pool holds ${o.smallPoolFraction * 100}% of them (memory store), below it the default pool holds all.`,
    `vsSequential: per tenant (in order of first arrival) all its requests in batches through BertModel.forward with SingleAdapterLora and its own head; adapters uploaded before the clock. Sampled: at most ${o.sequentialTenantsPerSlice} tenants per slice.`,
    `vsMergedSwap: W + scale*B@A and the head merged on the CPU before the clock; on every change of tenant (arrival order) the merged weights are uploaded (BaseWeights.upload + BertModel.create) and freed after. Sampled: the first ${o.mergedRequestsPerSlice} requests of each slice.`,
    `prefetchHidden: ${o.coldTenants} tenants in a ${env.where === 'node' ? 'temp-directory fs store (no fsync; the OS page cache may hold the files)' : 'fresh IndexedDB store'}, pool = ${o.smallPoolFraction * 100}% of them, the same balanced requests as ours:${o.coldTenants}, divided by the all-resident runtime's throughput.`,
    `generate: an hGPT runtime (continuous batching) with the largest N below ${o.smallPoolFrom}'s tenants registered and warmed; from ${o.smallPoolFrom} tenants on, a runtime of its own whose pool holds ${o.smallPoolFraction * 100}% of them (memory store, warmed with uniform traffic worth 1.5 pools); ${o.generateRequests} prompts of 8-16 tokens, each continued greedily by ${o.generateTokens} tokens, all submitted at once; ratio of generated tokens per second.`,
    'generate64: an hGPT runtime with maxActive 64 and tenants 0..63 plus the typical one; the same 64 prompts of 8-16 tokens, 32 greedy tokens each, all submitted at once, with 64 distinct tenants vs all on the typical tenant; rounds alternate order; ratio of generated tokens/s (time to the last token).',
    'continuousVsStatic: an hGPT runtime with maxActive B = 16, 8 tenants, 64 requests per round arriving at once (prompts 4-32 tokens, max tokens uniform 4..48, greedy). Continuous = all submitted at once; static = waves of 16, each awaited whole. throughput = continuous/static tokens/s; p99 = static/continuous p99 latency (arrival to last token); both higher = better.',
    `vsTfjs: tfjs-backend-webgpu running the same hBERT (same weights; each tenant's LoRA and head as tf ops), a tenant at a time with its requests batched; checked against the runtime's scores (max |diff| <= 1e-3) before timing. hgpt (scenario vsTfjsHgpt): the same hGPT with each tenant's LoRA as tf ops, greedy with a KV cache, a tenant at a time with its prompts as one padded batch, on the prompts of generate:100, vs generate:100's tokens/s; checked against the runtime's greedy tokens before timing. Sampled: at most ${o.tfjsTenantsPerSlice} tenants per slice (hbert); hgpt samples fewer (see its note).`,
    'plotSpeedup: 50 tenants on the same texts, without a domain (all layers) vs as tenants of a domain whose PLOT was built from those texts (warm) vs a fresh empty domain (cold, first pass); hBERT split at half the layers.',
    "plotInherit: under plotSpeedup's warm domain, a child with its own lower layers (a LoRA below the split) and no PLOT yet, served with policy inherit (the parent's entries) vs exact (every window through its own layers); the deviation is runtime.domains.deviation on 64 workload texts.",
  ];
}
