/**
 * The runtime half of `npm run bench -- realsize`, the same code in Node (Dawn) and in a page
 * (Chromium): real-size checkpoints loaded through the public API under a 128 MiB buffer cap,
 * timed, and a few outputs kept for the f64 reference check, which the Node side does
 * (bench/lib/realsize-report.ts) so the page never holds a second copy of the weights.
 */
import { createRuntime } from '../../src/create-runtime.js';
import type { HmiRuntimeApi, RuntimeInfo, RuntimeOptions } from '../../src/runtime/api.js';
import { MemoryTenantStore } from '../../src/knowledge/task/store-memory.js';
import type { BenchEnv } from './env.js';
import { now, timed, type Sample } from './measure.js';
import { mulberry32, shuffle, uniformInt } from './rng.js';
import { tenantId } from './serving.js';

export interface RealsizeOptions {
  /** Per buffer and storage binding, as many phones and laptops give (128 MiB). */
  readonly maxBufferBytes: number;
  /** Synthetic tenants' seed, also the workload's. */
  readonly seed: number;
  readonly classifyRequests: number;
  readonly classifyTokens: number;
  readonly generateRequests: number;
  readonly generateTokens: number;
  readonly promptTokens: number;
  /** Token ids of the reference check (hBERT input, hGPT prompt). */
  readonly checkTokens: number;
  /** multiTenantOverhead: tenants registered (0 = skip the figure), requests served each way. */
  readonly overheadTenants: number;
  readonly overheadRequests: number;
}

export const DEFAULT_REALSIZE_OPTIONS: RealsizeOptions = {
  maxBufferBytes: 128 * 1024 * 1024,
  seed: 7,
  // Small: SwiftShader runs a BERT-base forward at a second or more per 32 tokens, and the
  // machine is shared (others' tests and benches run on the same 2 cores).
  classifyRequests: 8,
  classifyTokens: 32,
  generateRequests: 4,
  generateTokens: 8,
  promptTokens: 8,
  checkTokens: 8,
  overheadTenants: 1000,
  overheadRequests: 16,
};

export interface RealsizeLoad {
  /** createRuntime wall time (fetch / read, parse, upload, pipelines; plus the matmul autotune when on). */
  readonly seconds: number;
  readonly autotune: boolean;
  /** Matmul variants timed by the autotune during this load (0: none, or every choice cached). */
  readonly autotuneTimed: number;
  /** Why the load failed (the runtime measured is then the other load's). */
  readonly error?: string;
}

export interface BertCheckOutput {
  readonly family: 'bert';
  readonly tenant: string;
  readonly ids: readonly number[];
  /** embed(): last_hidden_state [T, H]. */
  readonly hidden: readonly number[];
  /** classify(): softmax over the tenant's labels. */
  readonly scores: readonly number[];
}

export interface GptCheckOutput {
  readonly family: 'gpt2';
  readonly tenant: string;
  readonly prompt: readonly number[];
  /** generate(temperature 0): the greedy tokens. */
  readonly generated: readonly number[];
  /** score(prompt + generated): ln p of each token after the first. */
  readonly logprobs: readonly number[];
}

export interface RealsizeThroughput {
  readonly what: string;
  readonly requests: number;
  /** hBERT: input tokens; hGPT: generated tokens. */
  readonly tokens: number;
  readonly seconds: number;
  readonly tokensPerSecond: number;
}

export interface RealsizeOverhead {
  readonly tenants: number;
  readonly requests: number;
  readonly tokensPerRequest: number;
  readonly registerSeconds: number;
  readonly distinct: Sample;
  readonly one: Sample;
  /** Throughput with distinct tenants / with one, the same requests. */
  readonly ratio: number;
  readonly poolBytes: number;
  readonly meanTenantBytes: number;
  readonly poolHitRate: number;
}

export interface RealsizeModelRun {
  readonly family: 'bert' | 'gpt2';
  readonly loads: readonly RealsizeLoad[];
  readonly info: RuntimeInfo;
  readonly throughput: RealsizeThroughput;
  readonly check: BertCheckOutput | GptCheckOutput;
  readonly overhead: RealsizeOverhead | null;
}

export interface RealsizeRun {
  readonly where: string;
  readonly platform: string;
  readonly cpus: number | null;
  readonly options: RealsizeOptions;
  readonly models: readonly RealsizeModelRun[];
  readonly seconds: number;
}

/** Random ids in [lo, hi), the same from the same seed in both environments. */
function idsOf(n: number, lo: number, hi: number, rnd: () => number): number[] {
  return Array.from({ length: n }, () => lo + uniformInt(hi - lo, rnd));
}

async function load(env: BenchEnv, model: string, o: RealsizeOptions, autotune: boolean): Promise<{ rt: HmiRuntimeApi; load: RealsizeLoad }> {
  let autotuneTimed = 0;
  const options: RuntimeOptions = {
    gpu: await env.gpu(),
    model,
    maxBufferBytes: o.maxBufferBytes,
    autotune,
    // Explicit: in a page the default store is IndexedDB, which 1,000 BERT-base tenants would fill for nothing.
    store: new MemoryTenantStore(),
    maxQueue: Math.max(4096, 4 * o.overheadRequests),
    onProgress: (p) => {
      if (p.phase === 'autotune' && 'timed' in p && p.timed === true) autotuneTimed++;
    },
  };
  const t0 = now();
  const rt = await createRuntime(options);
  const seconds = (now() - t0) / 1000;
  env.log(`${model}: createRuntime ${seconds.toFixed(1)} s (autotune ${autotune ? `on, ${autotuneTimed} variants timed` : 'off'})`);
  return { rt, load: { seconds, autotune, autotuneTimed } };
}

/**
 * Loads without then with the autotune; the autotuned runtime is the one measured, unless its
 * load failed (a finding to report, so the run goes on with the other).
 */
async function loadBoth(env: BenchEnv, model: string, o: RealsizeOptions): Promise<{ rt: HmiRuntimeApi; loads: RealsizeLoad[] }> {
  const first = await load(env, model, o, false);
  const t0 = now();
  try {
    const second = await load(env, model, o, true);
    await first.rt.dispose();
    return { rt: second.rt, loads: [first.load, second.load] };
  } catch (e) {
    const error = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    env.log(`${model}: createRuntime with autotune failed: ${error}`);
    return { rt: first.rt, loads: [first.load, { seconds: (now() - t0) / 1000, autotune: true, autotuneTimed: 0, error }] };
  }
}

async function runBert(env: BenchEnv, o: RealsizeOptions): Promise<RealsizeModelRun> {
  const { rt, loads } = await loadBoth(env, env.bertModel, o);
  try {
    const info = await rt.info();
    const rnd = mulberry32(o.seed);
    const V = 30522;
    await rt.tenants.addSynthetic({ count: o.classifyRequests, seed: o.seed });
    const requests = Array.from({ length: o.classifyRequests }, (_, i) => ({ tenant: tenantId(i), ids: idsOf(o.classifyTokens, 1000, V, rnd) }));
    const burst = (): Promise<Sample> =>
      timed(async () => {
        await Promise.all(requests.map((r) => rt.classify(r.tenant, r.ids)));
        return { requests: requests.length, tokens: requests.length * o.classifyTokens };
      });
    // Untimed first: pipelines compiled for this length, adapters resident (a short burst: the machine is slow).
    const warm = await timed(async () => {
      await Promise.all(requests.map((r) => rt.classify(r.tenant, r.ids.slice(0, 8))));
      return { requests: requests.length, tokens: 8 * requests.length };
    });
    env.log(`hBERT warm-up burst ${warm.seconds.toFixed(1)} s`);
    const s = await burst();
    const throughput: RealsizeThroughput = { what: `classify, ${o.classifyRequests} requests x ${o.classifyTokens} token ids, ${o.classifyRequests} tenants, one burst`, requests: s.requests, tokens: s.tokens, seconds: s.seconds, tokensPerSecond: s.tokens / s.seconds };
    env.log(`hBERT classify ${throughput.tokensPerSecond.toFixed(1)} tokens/s`);
    // [CLS] ... [SEP] around random ids: a sentence as a BERT tokenizer would give it.
    const ids = [101, ...idsOf(o.checkTokens - 2, 1000, V, rnd), 102];
    const tenant = tenantId(0);
    const [embedded, classified] = await Promise.all([rt.embed(tenant, ids), rt.classify(tenant, ids)]);
    const check: BertCheckOutput = { family: 'bert', tenant, ids, hidden: [...embedded.hidden], scores: [...classified.scores] };
    const overhead = o.overheadTenants > 0 ? await multiTenantOverhead(env, rt, o, rnd) : null;
    return { family: 'bert', loads, info, throughput, check, overhead };
  } finally {
    await rt.dispose();
  }
}

async function collect(rt: HmiRuntimeApi, tenant: string, prompt: readonly number[], maxTokens: number): Promise<number[]> {
  const out: number[] = [];
  for await (const chunk of rt.generate(tenant, prompt, { maxTokens, temperature: 0 })) out.push(chunk.tokenId);
  return out;
}

async function runGpt(env: BenchEnv, o: RealsizeOptions): Promise<RealsizeModelRun> {
  const { rt, loads } = await loadBoth(env, env.gptModel, o);
  try {
    const info = await rt.info();
    const rnd = mulberry32(o.seed + 1);
    const V = 50257;
    await rt.tenants.addSynthetic({ count: o.generateRequests, seed: o.seed });
    const prompts = Array.from({ length: o.generateRequests }, (_, i) => ({ tenant: tenantId(i), ids: idsOf(o.promptTokens, 0, V - 1, rnd) }));
    const burst = (): Promise<Sample> =>
      timed(async () => {
        const outs = await Promise.all(prompts.map((p) => collect(rt, p.tenant, p.ids, o.generateTokens)));
        return { requests: outs.length, tokens: outs.reduce((n, t) => n + t.length, 0) };
      });
    const warm = await burst();
    env.log(`hGPT warm-up burst ${warm.seconds.toFixed(1)} s`);
    const s = await burst();
    const throughput: RealsizeThroughput = { what: `generate, ${o.generateRequests} requests x ${o.generateTokens} new tokens (prompts of ${o.promptTokens}), ${o.generateRequests} tenants, greedy, prefill included`, requests: s.requests, tokens: s.tokens, seconds: s.seconds, tokensPerSecond: s.tokens / s.seconds };
    env.log(`hGPT generate ${throughput.tokensPerSecond.toFixed(2)} tokens/s`);
    const tenant = tenantId(0);
    const prompt = idsOf(o.checkTokens, 0, V - 1, rnd);
    const generated = await collect(rt, tenant, prompt, o.generateTokens);
    const scored = await rt.score(tenant, [...prompt, ...generated]);
    const check: GptCheckOutput = { family: 'gpt2', tenant, prompt, generated, logprobs: [...scored.logprobs] };
    return { family: 'gpt2', loads, info, throughput, check, overhead: null };
  } finally {
    await rt.dispose();
  }
}

/**
 * The same R requests to R distinct tenants out of N registered, and all to one tenant, in
 * halves ordered distinct, one, one, distinct so a drift in machine speed hits both alike.
 * The default pool (half the 128 MiB binding cap) holds a few dozen BERT-base tenants, so
 * most distinct-tenant requests page their adapter in from the store.
 */
async function multiTenantOverhead(env: BenchEnv, rt: HmiRuntimeApi, o: RealsizeOptions, rnd: () => number): Promise<RealsizeOverhead> {
  const t0 = now();
  await rt.tenants.addSynthetic({ count: o.overheadTenants, seed: o.seed }, (p) => {
    if (p.done === p.total || p.done % 250 === 0) env.log(`registered ${p.done}/${p.total}`);
  });
  const registerSeconds = (now() - t0) / 1000;
  env.log(`${o.overheadTenants} tenants registered in ${registerSeconds.toFixed(1)} s`);
  const V = 30522;
  // Tenant 0 serves the one-tenant side; the distinct side draws from the others.
  const order = shuffle(Array.from({ length: o.overheadTenants - 1 }, (_, i) => i + 1), rnd);
  const ids = Array.from({ length: o.overheadRequests }, () => idsOf(o.classifyTokens, 1000, V, rnd));
  const distinct = ids.map((x, i) => ({ tenant: tenantId(order[i]), ids: x }));
  const one = ids.map((x) => ({ tenant: tenantId(0), ids: x }));
  // Warm-up of the paging path on tenants the timed requests do not use.
  const warm = order.slice(o.overheadRequests, o.overheadRequests + 4).map((t) => rt.classify(tenantId(t), ids[0]));
  await Promise.all(warm);
  const half = Math.ceil(o.overheadRequests / 2);
  const serve = (reqs: readonly { tenant: string; ids: readonly number[] }[]): Promise<Sample> =>
    timed(async () => {
      await Promise.all(reqs.map((r) => rt.classify(r.tenant, r.ids)));
      return { requests: reqs.length, tokens: reqs.length * o.classifyTokens };
    });
  const add = (a: Sample, b: Sample): Sample => ({ seconds: a.seconds + b.seconds, requests: a.requests + b.requests, tokens: a.tokens + b.tokens });
  const d1 = await serve(distinct.slice(0, half));
  const o1 = await serve(one.slice(0, half));
  const o2 = await serve(one.slice(half));
  const d2 = await serve(distinct.slice(half));
  const d = add(d1, d2);
  const s = add(o1, o2);
  const ratio = d.requests / d.seconds / (s.requests / s.seconds);
  const metrics = await rt.metrics();
  const list = await rt.tenants.list();
  const meanTenantBytes = list.reduce((n, t) => n + t.bytes, 0) / list.length;
  env.log(`multiTenantOverhead ${o.overheadTenants} tenants: ${ratio.toFixed(2)} (distinct ${d.seconds.toFixed(1)} s, one ${s.seconds.toFixed(1)} s)`);
  return { tenants: o.overheadTenants, requests: o.overheadRequests, tokensPerRequest: o.classifyTokens, registerSeconds, distinct: d, one: s, ratio, poolBytes: metrics.poolBytesTotal, meanTenantBytes, poolHitRate: metrics.poolHitRate };
}

/** Both models, one at a time (each is hundreds of MB on the GPU and in host memory). */
export async function runRealsize(env: BenchEnv, o: RealsizeOptions): Promise<RealsizeRun> {
  const t0 = now();
  const models = [await runBert(env, o), await runGpt(env, { ...o, overheadTenants: 0 })];
  return { where: env.where, platform: env.platform, cpus: env.cpus, options: o, models, seconds: (now() - t0) / 1000 };
}
