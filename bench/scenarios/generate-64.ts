import { loadModel, type LoadedModel } from '../../src/formats/model-source.js';
import { MemoryTenantStore } from '../../src/knowledge/task/store-memory.js';
import type { HmiRuntimeApi } from '../../src/runtime/api.js';
import { resolveModelSource } from '../../src/runtime/model-source.js';
import { createRuntime } from '../../src/create-runtime.js';
import type { BenchContext } from '../lib/context.js';
import { timed } from '../lib/measure.js';
import { representativeTenant } from '../lib/representative.js';
import type { Scenario } from '../lib/scenario.js';
import { tenantId } from '../lib/serving.js';
import { makeTexts } from '../lib/workload.js';

/** Concurrent requests of issue 6's figure; also the runtime's maxActive, so all 64 decode in every step. */
export const GENERATE64_REQUESTS = 64;
/** New tokens per request: long enough that decode steps, not the prefill, dominate the time. */
export const GENERATE64_TOKENS = 32;
/** Interleaved rounds (the first slices of the run); each round times both contenders back to back. */
export const GENERATE64_ROUNDS = 3;

export const GENERATE64_KEYS = { many: 'generate64:64', one: 'generate64:1' } as const;

const hostGpt = (c: BenchContext): Promise<LoadedModel> => c.shared('host-gpt', () => loadModel(resolveModelSource(c.env.gptModel)), () => undefined);

/** Greedy generation of exactly `maxTokens` tokens (no stop token); returns how many came. */
export async function drainGenerate(rt: HmiRuntimeApi, tenant: string, ids: readonly number[], maxTokens: number): Promise<number> {
  let n = 0;
  for await (const chunk of rt.generate(tenant, ids, { maxTokens, temperature: 0 })) if (chunk.tokenId >= 0) n++;
  return n;
}

interface Setup {
  readonly rt: HmiRuntimeApi;
  readonly prompts: readonly (readonly number[])[];
  /** Tenant of each request: 64 distinct, or the typical tenant for all. */
  readonly many: readonly number[];
  readonly one: readonly number[];
}

/** An hGPT runtime decoding up to 64 requests per step, with tenants 0..63 and the typical one registered and warmed. */
function setup(c: BenchContext): Promise<Setup> {
  return c.shared(
    'serving:generate64',
    async () => {
      const { config } = await hostGpt(c);
      const typical = representativeTenant(config, Math.floor(config.numLayers / 2));
      const t0 = Date.now();
      const rt = await createRuntime({ gpu: await c.env.gpu(), model: c.env.gptModel, maxActive: GENERATE64_REQUESTS, tokenBudget: c.opts.tokenBudget, store: new MemoryTenantStore() });
      await rt.tenants.addSynthetic({ count: Math.max(GENERATE64_REQUESTS, typical + 1) });
      const prompts = makeTexts({ count: GENERATE64_REQUESTS, vocabSize: config.vocabSize, minTokens: 8, maxTokens: 16, seed: c.opts.seed + 64 });
      const many = prompts.map((_, i) => i);
      const one = prompts.map(() => typical);
      // Untimed: every adapter paged in and both step shapes' pipelines compiled.
      for (const tenants of [many, one]) await Promise.all(prompts.map((ids, i) => drainGenerate(rt, tenantId(tenants[i]), ids, 4)));
      c.env.log(`generate64: hGPT runtime with ${GENERATE64_REQUESTS} tenants + typical tenant-${typical}, warmed in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      return { rt, prompts, many, one };
    },
    (s) => s.rt.dispose(),
  );
}

/** All 64 requests at once; the sample counts generated tokens. */
function burst(s: Setup, tenants: readonly number[]) {
  return timed(async () => {
    const made = await Promise.all(s.prompts.map((ids, i) => drainGenerate(s.rt, tenantId(tenants[i]), ids, GENERATE64_TOKENS)));
    return { requests: made.length, tokens: made.reduce((a, b) => a + b, 0) };
  });
}

const tokensPerSecond = (c: BenchContext, key: string): number | null => {
  const t = c.m.total(key);
  return t && t.seconds > 0 ? t.tokens / t.seconds : null;
};

/**
 * Issue 6: decode throughput (generated tokens/s, time to the last token of a burst) with 64
 * concurrent requests of 64 distinct tenants / the same 64 requests all on one typical tenant.
 * Same prompts (8-16 tokens), 32 greedy tokens each; the contenders alternate which goes
 * first in each round.
 */
export const generate64: Scenario = {
  name: 'generate64',
  async run(c) {
    if (c.slice >= GENERATE64_ROUNDS) return;
    const s = await setup(c);
    const contenders = [
      { key: GENERATE64_KEYS.many, tenants: s.many },
      { key: GENERATE64_KEYS.one, tenants: s.one },
    ];
    if (c.slice % 2 === 1) contenders.reverse();
    const rate: Record<string, string> = {};
    for (const k of contenders) {
      await c.m.sample(k.key, async () => {
        const sample = await burst(s, k.tenants);
        rate[k.key] = (sample.tokens / sample.seconds).toFixed(1);
        return sample;
      });
    }
    // Per round, so the spread a shared machine causes can be judged from the log.
    c.env.log(`generate64 round ${c.slice + 1}: ${rate[GENERATE64_KEYS.many]} tok/s with 64 tenants, ${rate[GENERATE64_KEYS.one]} tok/s with 1`);
  },
  async report(c) {
    const many = tokensPerSecond(c, GENERATE64_KEYS.many);
    const one = tokensPerSecond(c, GENERATE64_KEYS.one);
    c.results.generate64 = many !== null && one !== null && one > 0 ? many / one : null;
  },
};
