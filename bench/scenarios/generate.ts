import { loadModel, type LoadedModel } from '../../src/formats/model-source.js';
import { MemoryTenantStore } from '../../src/knowledge/task/store-memory.js';
import type { HmiRuntimeApi } from '../../src/runtime/api.js';
import { resolveModelSource } from '../../src/runtime/model-source.js';
import { createRuntime } from '../../src/create-runtime.js';
import type { BenchContext } from '../lib/context.js';
import { timed } from '../lib/measure.js';
import type { Scenario } from '../lib/scenario.js';
import { poolBytesFor, tenantId } from '../lib/serving.js';
import { mulberry32, uniformInt } from '../lib/rng.js';
import { representativeTenant } from '../lib/representative.js';
import { makeRequests, makeTexts, type Request } from '../lib/workload.js';

export const hostGpt = (c: BenchContext): Promise<LoadedModel> => c.shared('host-gpt', () => loadModel(resolveModelSource(c.env.gptModel)), () => undefined);

/**
 * The hGPT runtime (continuous batching) that serves N tenants. Below smallPoolFrom: one
 * runtime holding every tenant of the largest such N, warmed with one short generation per
 * tenant. From it on: a runtime of N tenants whose pool holds smallPoolFraction of them,
 * warmed like the classify ones (uniform short requests worth 1.5 pools), so requests meet
 * the pool in steady state and most of their adapters come from the store.
 */
export function generationRuntime(c: BenchContext, n = 1): Promise<HmiRuntimeApi> {
  return n >= c.opts.smallPoolFrom ? pooledRuntime(c, n) : residentRuntime(c);
}

function residentRuntime(c: BenchContext): Promise<HmiRuntimeApi> {
  return c.shared(
    'serving:generate',
    async () => {
      const tenants = Math.max(...c.opts.generateTenants.filter((n) => n < c.opts.smallPoolFrom));
      const t0 = Date.now();
      const rt = await createRuntime({ gpu: await c.env.gpu(), model: c.env.gptModel, tokenBudget: c.opts.tokenBudget, maxQueue: Math.max(4096, 2 * tenants), store: new MemoryTenantStore() });
      await rt.tenants.addSynthetic({ count: tenants });
      await Promise.all(Array.from({ length: tenants }, (_, i) => drain(rt, tenantId(i), [1, 2, 3], 1)));
      c.env.log(`generate: ${tenants} hGPT tenants registered and warmed in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      return rt;
    },
    (rt) => rt.dispose(),
  );
}

function pooledRuntime(c: BenchContext, tenants: number): Promise<HmiRuntimeApi> {
  return c.shared(
    `serving:generate-pool-${tenants}`,
    async () => {
      const t0 = Date.now();
      const { config } = await hostGpt(c);
      const poolBytes = await poolBytesFor(c, tenants, c.opts.smallPoolFraction, config);
      const rt = await createRuntime({ gpu: await c.env.gpu(), model: c.env.gptModel, tokenBudget: c.opts.tokenBudget, maxQueue: Math.max(4096, 2 * tenants), store: new MemoryTenantStore(), poolBytes });
      await rt.tenants.addSynthetic({ count: tenants });
      const rnd = mulberry32(c.opts.seed ^ 0x6e4);
      const warm = Array.from({ length: Math.ceil(1.5 * tenants * c.opts.smallPoolFraction) }, () => uniformInt(tenants, rnd));
      await Promise.all(warm.map((t) => drain(rt, tenantId(t), [1, 2, 3], 1)));
      const real = await workload(c, 1);
      await Promise.all(real.map((r) => drain(rt, tenantId(r.tenant), r.ids, c.opts.generateTokens)));
      c.env.log(`generate: ${tenants} hGPT tenants registered and warmed in ${((Date.now() - t0) / 1000).toFixed(1)} s (pool ${(poolBytes / 2 ** 20).toFixed(1)} MiB, ${c.opts.smallPoolFraction * 100}% of them)`);
      return rt;
    },
    (rt) => rt.dispose(),
  );
}

/** Greedy generation of exactly `maxTokens` tokens (no stop token); returns how many came. */
async function drain(rt: HmiRuntimeApi, tenant: string, ids: readonly number[], maxTokens: number): Promise<number> {
  let n = 0;
  for await (const chunk of rt.generate(tenant, ids, { maxTokens, temperature: 0 })) if (chunk.tokenId >= 0) n++;
  return n;
}

/** The prompts of generate:n and their tenants (n = 1: all on the typical tenant). */
export async function workload(c: BenchContext, n: number): Promise<Request[]> {
  const { config } = await hostGpt(c);
  const texts = makeTexts({ count: c.opts.generateRequests, vocabSize: config.vocabSize, minTokens: 8, maxTokens: 16, seed: c.opts.seed + 1 });
  const reqs = makeRequests(texts, n, n <= texts.length ? { kind: 'balanced' } : { kind: 'uniform' }, c.opts.seed + n);
  if (n !== 1) return reqs;
  const typical = representativeTenant(config, Math.floor(config.numLayers / 2));
  return reqs.map((r) => ({ ...r, tenant: typical }));
}

/**
 * multiTenantOverhead for generation: generated tokens per second with N distinct tenants /
 * with 1, the same prompts (8-16 tokens) each continued by generateTokens tokens, all
 * submitted at once so continuous batching mixes them.
 */
export const generate: Scenario = {
  name: 'generate',
  async run(c) {
    for (const n of c.opts.generateTenants) {
      const rt = await generationRuntime(c, n);
      const reqs = c.current(await workload(c, n));
      await c.m.sample(`generate:${n}`, () =>
        timed(async () => {
          const made = await Promise.all(reqs.map((r) => drain(rt, tenantId(r.tenant), r.ids, c.opts.generateTokens)));
          return { requests: reqs.length, tokens: made.reduce((a, b) => a + b, 0) };
        }),
      );
    }
  },
  async report(c) {
    const out: Record<string, number | null> = {};
    for (const n of c.opts.generateTenants) if (n !== 1) out[String(n)] = c.m.ratio(`generate:${n}`, 'generate:1');
    c.results.multiTenantOverhead.generate = out;
  },
};
