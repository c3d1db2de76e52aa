/**
 * The runtime half of the accuracy benchmark, the same in a page (Chromium) and in Node (Dawn):
 * the shipped bundle's tenants on each task's test sample and the hGPT on held-out speeches,
 * through the runtime's public API only (createRuntime, loadBundle, classify, score).
 *
 * - full: tenant `${task}-full`, the bundle's reference adapter (LoRA on every layer, no
 *   domain: every layer computed).
 * - hplm: the served tenant `${task}` of its domain: lower layers from the shipped PLOT,
 *   misses computed through the domain's own lower layers (plotPolicy 'exact').
 * - inherit: the same tenant in a runtime with plotPolicy 'inherit' (misses of the domain
 *   taken from its parent's entries).
 * - trained: tenant `${task}-trained`, trained in the hplm runtime by `runtime.tenants.train` on
 *   the offline adapter's data and hyper-parameters, in the task's domain (the PLOT path), then
 *   scored on the same sample, and with the shipped tenant on a larger test sample.
 * - generation: the hGPT scored on windows of test-split speeches with a zero adapter (B = 0:
 *   the model itself), once without a domain (every layer computed) and once in the style
 *   tenants' domain (PLOT path); each style tenant against that base on its president's text.
 */
import { loadModelConfig } from '../../src/formats/model-source.js';
import type { LoraAdapter } from '../../src/formats/types.js';
import { MemoryChunkStore } from '../../src/knowledge/domain/chunk-store.js';
import { PlotStore } from '../../src/knowledge/domain/plot-store.js';
import { MemoryTenantStore } from '../../src/knowledge/task/store-memory.js';
import { loraModuleShapes } from '../../src/model/modules.js';
import type { HmiRuntimeApi } from '../../src/runtime/api.js';
import { bundlePlotSource, loadBundle, readBundleIndex, type BundleIndex, type BundleTenant } from '../../src/runtime/bundle.js';
import { resolveModelSource } from '../../src/runtime/model-source.js';
import { createRuntime } from '../../src/create-runtime.js';
import type { TrainEpoch } from '../../src/runtime/api.js';
import type { AccuracyInput, AccuracyTaskInput, AccuracyTrainInput } from './accuracy-input.js';

/** Where the runtime half runs. */
export interface AccuracyHost {
  /** "node" or "chromium". */
  readonly where: string;
  gpu(): Promise<GPU>;
  /** The bundle (index.json's directory): a URL in a page, a directory in Node. */
  readonly bundle: string;
  log(message: string): void;
}

/** One column of a task: accuracy over the sample. */
export interface ColumnResult {
  readonly accuracy: number;
  readonly correct: number;
  readonly n: number;
  readonly seconds: number;
  /** PLOT lookups of the tenant's domain served from the table (hit) during this column; null without a domain. */
  readonly plotHitRate: number | null;
}

/** The `trained` column: the job, and the trained and shipped tenants on the same samples. */
export interface TrainRun {
  readonly tenant: string;
  readonly examples: number;
  readonly validationExamples: number;
  readonly epochs: number;
  readonly steps: number;
  readonly bestEpoch: number;
  readonly history: readonly TrainEpoch[];
  /** The best epoch's validation accuracy. */
  readonly validationAccuracy: number | null;
  readonly tokens: number;
  readonly seconds: number;
  readonly tokensPerSecond: number;
  /** The trained tenant on the task's sample (the other columns' examples). */
  readonly sample: ColumnResult;
  /** The larger test sample: the shipped (hplm) tenant and the trained one. */
  readonly test: { readonly n: number; readonly hplm: ColumnResult; readonly trained: ColumnResult };
}

export interface TaskRun {
  readonly n: number;
  readonly labels: readonly string[];
  readonly domain: string;
  readonly full: ColumnResult;
  readonly hplm: ColumnResult;
  readonly inherit: ColumnResult;
  readonly trained?: TrainRun;
}

/** Log-likelihood of a set of windows under one tenant. */
export interface ScoreRun {
  readonly tokens: number;
  readonly sumLogprob: number;
  /** exp(-sumLogprob / tokens). */
  readonly perplexity: number;
  readonly seconds: number;
}

export interface AccuracyRun {
  readonly where: string;
  readonly adapter: string;
  readonly tasks: Readonly<Record<string, TaskRun>>;
  readonly generation: {
    readonly domain: string;
    readonly full: ScoreRun;
    readonly hplm: ScoreRun;
    readonly style: Readonly<Record<string, { readonly tenant: string; readonly base: ScoreRun; readonly tenantRun: ScoreRun }>>;
  };
  readonly seconds: number;
}

const now = (): number => (typeof performance !== 'undefined' ? performance.now() : Date.now());
const withSlash = (s: string): string => (s.endsWith('/') ? s : `${s}/`);

/** Zero-adapter tenants of the generation runs: the model itself, served without / with a domain. */
export const BASE_FULL = 'accuracy-base';
export const BASE_DOMAIN = 'accuracy-base-domain';

/** Lookups and hits of a domain so far (runtime.domains.list()), to take a column's difference. */
async function plotCounters(rt: HmiRuntimeApi, domain: string): Promise<{ hits: number; lookups: number }> {
  const d = (await rt.domains.list()).find((x) => x.id === domain);
  return { hits: d?.hits ?? 0, lookups: d?.lookups ?? 0 };
}

/** Logs `label done/total` about every tenth of the way. */
function progress(host: AccuracyHost, label: string, total: number): () => void {
  let done = 0;
  const every = Math.max(1, Math.ceil(total / 10));
  return () => {
    done++;
    if (done % every === 0 || done === total) host.log(`${label}: ${done}/${total}`);
  };
}

/** Classifies the sample with one tenant; every request is submitted at once (the runtime batches them). */
async function column(host: AccuracyHost, rt: HmiRuntimeApi, t: Pick<AccuracyTaskInput, 'task' | 'texts' | 'gold'>, tenant: string, domain: string | null, name: string): Promise<ColumnResult> {
  const before = domain ? await plotCounters(rt, domain) : null;
  const tick = progress(host, `${t.task} ${name} (tenant ${tenant})`, t.texts.length);
  const start = now();
  const labels = await Promise.all(
    t.texts.map(async (text) => {
      // Mails and passages may exceed the 128 positions: the runtime keeps the first 127 tokens and [SEP], as training did.
      const r = await rt.classify(tenant, text, { truncate: true });
      tick();
      return r.label;
    }),
  );
  const seconds = (now() - start) / 1000;
  const correct = labels.filter((l, i) => l === t.gold[i]).length;
  let plotHitRate: number | null = null;
  if (domain && before) {
    const after = await plotCounters(rt, domain);
    const lookups = after.lookups - before.lookups;
    plotHitRate = lookups > 0 ? (after.hits - before.hits) / lookups : null;
  }
  const accuracy = t.texts.length ? correct / t.texts.length : 0;
  // A served path that never hits read no PLOT at all: a bundle served wrongly reads as misses, not as an error.
  if (plotHitRate === 0) host.log(`WARNING: ${t.task} ${name}: no PLOT lookup hit; was the shipped PLOT read?`);
  host.log(`${t.task} ${name}: accuracy ${accuracy.toFixed(4)} (${correct}/${t.texts.length}) in ${seconds.toFixed(1)} s${plotHitRate === null ? '' : `, PLOT hit rate ${plotHitRate.toFixed(3)}`}`);
  return { accuracy, correct, n: t.texts.length, seconds, plotHitRate };
}

/**
 * `runtime.tenants.train` on the offline adapter's data and hyper-parameters in the task's
 * domain (the PLOT path of the served tenant), then the trained tenant on the task's sample and
 * both it and the shipped tenant on the larger test sample.
 */
async function trainColumn(host: AccuracyHost, rt: HmiRuntimeApi, tr: AccuracyTrainInput, sample: AccuracyTaskInput, domain: string): Promise<TrainRun> {
  const tenant = `${tr.task}-trained`;
  host.log(`${tr.task} trained: tenants.train on ${tr.data.length} examples (offline: ${tr.offlineExamples} of ${tr.trainExamples}), validation ${tr.validation.length}, domain ${domain}, rank ${tr.rank}, ${tr.epochs} epochs, batch ${tr.batchSize}, lr ${tr.learningRate}`);
  let lastLog = 0;
  const r = await rt.tenants.train(
    {
      id: tenant,
      domain,
      data: tr.data,
      validation: tr.validation,
      rank: tr.rank,
      alpha: 2 * tr.rank,
      epochs: tr.epochs,
      batchSize: tr.batchSize,
      learningRate: tr.learningRate,
      weightDecay: tr.weightDecay,
      seed: tr.seed,
      // Nothing else is served meanwhile, so slices as large as the GPU takes at once: a slice's
      // dispatches cost about the same whatever its rows on a CPU adapter. The step (and so the
      // result) is the same: gradients accumulate over its slices.
      batchTokens: 1024,
      description: `accuracy bench: ${tr.task} trained in the runtime on the offline adapter's data`,
    },
    (p) => {
      const t = now();
      if (p.phase === 'train' && t - lastLog < 30_000 && p.step !== p.steps) return;
      lastLog = t;
      const v = p.validation ? `, validation ${p.validation.value.toFixed(4)}` : '';
      host.log(`${tr.task} trained: ${p.phase} epoch ${p.epoch}/${p.epochs}, step ${p.step}/${p.steps}, loss ${p.loss.toFixed(4)}${v}, ${p.tokensPerSecond.toFixed(0)} tok/s, ${(p.elapsedMs / 1000).toFixed(0)} s`);
    },
  );
  host.log(`${tr.task} trained: ${r.steps} steps in ${r.seconds.toFixed(1)} s (${r.tokensPerSecond.toFixed(0)} tok/s), best epoch ${r.bestEpoch}${r.validation ? ` (validation ${r.validation.value.toFixed(4)})` : ''}`);
  const trained = await column(host, rt, sample, tenant, domain, 'trained');
  const test = { task: tr.task, texts: tr.test.texts, gold: tr.test.gold };
  const testHplm = await column(host, rt, test, tr.task, domain, `hplm on ${tr.test.texts.length} test examples`);
  const testTrained = await column(host, rt, test, tenant, domain, `trained on ${tr.test.texts.length} test examples`);
  return {
    tenant,
    examples: r.examples,
    validationExamples: r.validationExamples,
    epochs: r.epochs,
    steps: r.steps,
    bestEpoch: r.bestEpoch,
    history: r.history,
    validationAccuracy: r.validation?.value ?? null,
    tokens: r.tokens,
    seconds: r.seconds,
    tokensPerSecond: r.tokensPerSecond,
    sample: trained,
    test: { n: tr.test.texts.length, hplm: testHplm, trained: testTrained },
  };
}

/** Scores every window with one tenant; the log-likelihoods add up over windows. */
async function scoreAll(host: AccuracyHost, rt: HmiRuntimeApi, tenant: string, windows: readonly (readonly number[])[], label: string): Promise<ScoreRun> {
  const tick = progress(host, `${label} (tenant ${tenant})`, windows.length);
  const start = now();
  const parts = await Promise.all(
    windows.map(async (ids) => {
      const r = await rt.score(tenant, ids);
      tick();
      let sum = 0;
      for (const lp of r.logprobs) sum += lp;
      return { tokens: r.logprobs.length, sum };
    }),
  );
  const tokens = parts.reduce((a, p) => a + p.tokens, 0);
  const sumLogprob = parts.reduce((a, p) => a + p.sum, 0);
  const perplexity = tokens ? Math.exp(-sumLogprob / tokens) : Number.NaN;
  const seconds = (now() - start) / 1000;
  host.log(`${label}: perplexity ${perplexity.toFixed(3)} over ${tokens} tokens in ${seconds.toFixed(1)} s`);
  return { tokens, sumLogprob, perplexity, seconds };
}

/** A rank-1 LoRA with B = 0 on the first upper layer: a tenant whose outputs are the model's own. */
async function zeroAdapter(modelDir: string, split: number): Promise<LoraAdapter> {
  const config = await loadModelConfig(resolveModelSource(modelDir));
  const shape = loraModuleShapes(config, split, split + 1)[0];
  const module = { r: 1, inDim: shape.inDim, outDim: shape.outDim, scale: 1, A: new Float32Array(shape.inDim), B: new Float32Array(shape.outDim) };
  return { modules: new Map([[shape.path, module]]), head: new Map() };
}

function modelDirOf(index: BundleIndex, family: 'bert' | 'gpt2', bundle: string): { id: string; dir: string } {
  const m = index.models.find((x) => x.family === family);
  if (!m) throw new Error(`the bundle at ${bundle} has no ${family} model`);
  return { id: m.id, dir: withSlash(bundle) + m.path };
}

/**
 * A runtime of the bundle's model with the shipped PLOT under a fresh in-memory store (so
 * nothing saved by an earlier run or by the other policy's runtime is read back) and a memory
 * tenant store.
 */
async function bundleRuntime(host: AccuracyHost, index: BundleIndex, family: 'bert' | 'gpt2', policy: 'exact' | 'inherit'): Promise<HmiRuntimeApi> {
  const { id, dir } = modelDirOf(index, family, host.bundle);
  const plotSource = bundlePlotSource(index, id, withSlash(host.bundle));
  return createRuntime({
    gpu: await host.gpu(),
    model: dir,
    store: new MemoryTenantStore(),
    plotStore: new PlotStore(new MemoryChunkStore()),
    ...(plotSource !== undefined ? { plotSource } : {}),
    plotPolicy: policy,
  });
}

export async function runAccuracy(host: AccuracyHost, input: AccuracyInput): Promise<AccuracyRun> {
  const started = now();
  const index = await readBundleIndex(withSlash(host.bundle));
  const taskTenant = (task: string): BundleTenant => {
    const t = index.tenants.find((x) => x.id === task && x.task === 'classify');
    if (!t) throw new Error(`the bundle has no classify tenant "${task}"`);
    if (!t.reference) throw new Error(`the bundle's tenant "${task}" has no reference adapter (the -full column)`);
    return t;
  };
  for (const t of input.tasks) taskTenant(t.task);
  const ids = input.tasks.map((t) => t.task);

  // hBERT, policy exact: the full and hPLM columns.
  host.log(`hBERT (exact): loading ${host.bundle}`);
  let rt = await bundleRuntime(host, index, 'bert', 'exact');
  const adapter = (await rt.info()).adapter;
  const full: Record<string, ColumnResult> = {};
  const hplm: Record<string, ColumnResult> = {};
  const inherit: Record<string, ColumnResult> = {};
  const trained: Record<string, TrainRun> = {};
  try {
    await loadBundle(rt, withSlash(host.bundle), { tenants: ids, references: true });
    for (const t of input.tasks) {
      const domain = taskTenant(t.task).domain ?? null;
      full[t.task] = await column(host, rt, t, `${t.task}-full`, null, 'full');
      hplm[t.task] = await column(host, rt, t, t.task, domain, 'hplm');
    }
    // Trained in the same runtime as hplm (plotPolicy exact), after it: the shipped columns are read first.
    for (const tr of input.train ?? []) {
      const sample = input.tasks.find((t) => t.task === tr.task);
      if (!sample) throw new Error(`the trained column's task "${tr.task}" is not among the evaluated tasks`);
      const domain = taskTenant(tr.task).domain;
      if (!domain) throw new Error(`the bundle's tenant "${tr.task}" has no domain to train in`);
      trained[tr.task] = await trainColumn(host, rt, tr, sample, domain);
    }
  } finally {
    await rt.dispose();
  }
  // hBERT, policy inherit: the same tenants, the domains' misses from their parents.
  host.log('hBERT (inherit): loading');
  rt = await bundleRuntime(host, index, 'bert', 'inherit');
  try {
    await loadBundle(rt, withSlash(host.bundle), { tenants: ids });
    for (const t of input.tasks) inherit[t.task] = await column(host, rt, t, t.task, taskTenant(t.task).domain ?? null, 'inherit');
  } finally {
    await rt.dispose();
  }
  const tasks: Record<string, TaskRun> = {};
  for (const t of input.tasks) {
    tasks[t.task] = { n: t.texts.length, labels: t.labels, domain: taskTenant(t.task).domain ?? '', full: full[t.task], hplm: hplm[t.task], inherit: inherit[t.task], ...(trained[t.task] ? { trained: trained[t.task] } : {}) };
  }

  // hGPT, policy exact: the model with every layer vs on its PLOT path, then the style tenants.
  const g = input.generation;
  const styleIds = g.style.map((s) => s.tenant);
  const domain = index.tenants.find((t) => styleIds.includes(t.id))?.domain ?? 'politics';
  host.log(`hGPT (exact): loading; base tenants without a domain and in "${domain}"`);
  rt = await bundleRuntime(host, index, 'gpt2', 'exact');
  try {
    await loadBundle(rt, withSlash(host.bundle), { tenants: styleIds });
    const zero = await zeroAdapter(modelDirOf(index, 'gpt2', host.bundle).dir, (await rt.info()).splitLayer);
    await rt.tenants.add([
      { id: BASE_FULL, adapter: zero },
      { id: BASE_DOMAIN, domain, adapter: zero },
    ]);
    const fullRun = await scoreAll(host, rt, BASE_FULL, g.heldOut.windows, 'held-out speeches, full');
    const hplmRun = await scoreAll(host, rt, BASE_DOMAIN, g.heldOut.windows, `held-out speeches, hplm (${domain})`);
    const style: Record<string, { tenant: string; base: ScoreRun; tenantRun: ScoreRun }> = {};
    for (const s of g.style) {
      const base = await scoreAll(host, rt, BASE_DOMAIN, s.windows, `${s.slug} base`);
      const tenantRun = await scoreAll(host, rt, s.tenant, s.windows, `${s.slug} style`);
      style[s.slug] = { tenant: s.tenant, base, tenantRun };
    }
    return {
      where: host.where,
      adapter,
      tasks,
      generation: { domain, full: fullRun, hplm: hplmRun, style },
      seconds: (now() - started) / 1000,
    };
  } finally {
    await rt.dispose();
  }
}
