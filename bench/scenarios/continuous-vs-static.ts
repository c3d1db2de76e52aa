import { loadModel, type LoadedModel } from '../../src/formats/model-source.js';
import { MemoryTenantStore } from '../../src/knowledge/task/store-memory.js';
import type { HmiRuntimeApi } from '../../src/runtime/api.js';
import { resolveModelSource } from '../../src/runtime/model-source.js';
import { createRuntime } from '../../src/create-runtime.js';
import type { BenchContext } from '../lib/context.js';
import { now, type Sample } from '../lib/measure.js';
import { mulberry32, uniformInt } from '../lib/rng.js';
import type { Scenario } from '../lib/scenario.js';
import { tenantId } from '../lib/serving.js';
import { makeRequests, makeTexts } from '../lib/workload.js';
import { drainGenerate } from './generate-64.js';

/** Requests of one round, all arriving at once. */
export const CVS_REQUESTS = 64;
/** Batch size B: static batching's batch, and the runtime's maxActive, so both decode at most B sequences per step. */
export const CVS_BATCH = 16;
export const CVS_TENANTS = 8;
/** Mixed lengths: prompts of 4-32 tokens, max tokens uniform in 4..48. */
export const CVS_PROMPT_TOKENS = [4, 32] as const;
export const CVS_MAX_TOKENS = [4, 48] as const;
export const CVS_ROUNDS = 2;

export const CVS_KEYS = { continuous: 'cvs:continuous', static: 'cvs:static' } as const;

interface Job {
  readonly tenant: number;
  readonly ids: readonly number[];
  readonly maxTokens: number;
}

interface Setup {
  readonly rt: HmiRuntimeApi;
  readonly jobs: readonly Job[];
}

/** Every request's latency (ms from the round's start, when all arrived, to its last token), by contender. */
const latencies = new WeakMap<BenchContext, Record<keyof typeof CVS_KEYS, number[]>>();

const hostGpt = (c: BenchContext): Promise<LoadedModel> => c.shared('host-gpt', () => loadModel(resolveModelSource(c.env.gptModel)), () => undefined);

function setup(c: BenchContext): Promise<Setup> {
  return c.shared(
    'serving:continuous-vs-static',
    async () => {
      const { config } = await hostGpt(c);
      const t0 = Date.now();
      const rt = await createRuntime({ gpu: await c.env.gpu(), model: c.env.gptModel, maxActive: CVS_BATCH, tokenBudget: c.opts.tokenBudget, store: new MemoryTenantStore() });
      await rt.tenants.addSynthetic({ count: CVS_TENANTS });
      const texts = makeTexts({ count: CVS_REQUESTS, vocabSize: config.vocabSize, minTokens: CVS_PROMPT_TOKENS[0], maxTokens: CVS_PROMPT_TOKENS[1], seed: c.opts.seed + 7 });
      const rnd = mulberry32(c.opts.seed + 8);
      const [lo, hi] = CVS_MAX_TOKENS;
      const jobs = makeRequests(texts, CVS_TENANTS, { kind: 'balanced' }, c.opts.seed + 9).map((r) => ({ ...r, maxTokens: lo + uniformInt(hi - lo + 1, rnd) }));
      // Untimed: adapters paged in, every prompt length prefilled once, pipelines compiled.
      await Promise.all(jobs.map((j) => drainGenerate(rt, tenantId(j.tenant), j.ids, 4)));
      c.env.log(`continuousVsStatic: hGPT runtime (maxActive ${CVS_BATCH}, ${CVS_TENANTS} tenants) warmed in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      return { rt, jobs };
    },
    (s) => s.rt.dispose(),
  );
}

/** Runs `jobs` (all arrived at t0) and appends each one's latency to `out`; returns generated tokens. */
async function runJobs(rt: HmiRuntimeApi, jobs: readonly Job[], t0: number, out: number[]): Promise<number> {
  const made = await Promise.all(
    jobs.map(async (j) => {
      const n = await drainGenerate(rt, tenantId(j.tenant), j.ids, j.maxTokens);
      out.push(now() - t0);
      return n;
    }),
  );
  return made.reduce((a, b) => a + b, 0);
}

/**
 * Continuous: every request submitted at once; the runtime admits a waiting request as soon as
 * a running one finishes. Static: waves of B in the same order, each awaited to its last
 * request before the next is admitted (what a batch-at-a-time server does).
 */
async function round(s: Setup, mode: keyof typeof CVS_KEYS, out: number[]): Promise<Sample> {
  const t0 = now();
  let tokens = 0;
  if (mode === 'continuous') tokens = await runJobs(s.rt, s.jobs, t0, out);
  else for (let i = 0; i < s.jobs.length; i += CVS_BATCH) tokens += await runJobs(s.rt, s.jobs.slice(i, i + CVS_BATCH), t0, out);
  return { seconds: (now() - t0) / 1000, requests: s.jobs.length, tokens };
}

/** Nearest-rank percentile. */
export function percentile(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

const tokensPerSecond = (c: BenchContext, key: string): number | null => {
  const t = c.m.total(key);
  return t && t.seconds > 0 ? t.tokens / t.seconds : null;
};

/**
 * Issue 6: continuous batching (the runtime as is) vs static batching emulated on the same
 * runtime, on a mixed-length workload of several tenants. throughput = continuous tokens/s /
 * static tokens/s; p99 = static p99 latency / continuous p99 latency (both: higher is better
 * for continuous batching).
 */
export const continuousVsStatic: Scenario = {
  name: 'continuousVsStatic',
  async run(c) {
    if (c.slice >= CVS_ROUNDS) return;
    const s = await setup(c);
    const lat = latencies.get(c) ?? { continuous: [], static: [] };
    latencies.set(c, lat);
    const modes: (keyof typeof CVS_KEYS)[] = c.slice % 2 === 0 ? ['continuous', 'static'] : ['static', 'continuous'];
    const seconds: Partial<Record<keyof typeof CVS_KEYS, string>> = {};
    for (const mode of modes) {
      await c.m.sample(CVS_KEYS[mode], async () => {
        const sample = await round(s, mode, lat[mode]);
        seconds[mode] = sample.seconds.toFixed(1);
        return sample;
      });
    }
    // Per round, so the spread a shared machine causes can be judged from the log.
    c.env.log(`continuousVsStatic round ${c.slice + 1}: continuous ${seconds.continuous} s, static ${seconds.static} s for the same ${s.jobs.length} requests`);
  },
  async report(c) {
    const lat = latencies.get(c);
    const cont = tokensPerSecond(c, CVS_KEYS.continuous);
    const stat = tokensPerSecond(c, CVS_KEYS.static);
    const p99c = lat ? percentile(lat.continuous, 99) : null;
    const p99s = lat ? percentile(lat.static, 99) : null;
    c.results.continuousVsStatic = {
      throughput: cont !== null && stat !== null && stat > 0 ? cont / stat : null,
      p99: p99c !== null && p99s !== null && p99c > 0 ? p99s / p99c : null,
      continuousP99Ms: p99c,
      staticP99Ms: p99s,
      continuousP50Ms: lat ? percentile(lat.continuous, 50) : null,
      staticP50Ms: lat ? percentile(lat.static, 50) : null,
    };
  },
};
