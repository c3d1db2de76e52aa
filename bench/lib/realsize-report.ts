/**
 * Node side of `npm run bench -- realsize`: the f64 reference check of what each environment
 * returned, the table, and bench/results/realsize.{json,md}.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BertConfig, Gpt2Config } from '../../src/formats/model-config.js';
import { directorySource, loadModel, type LoadedModel } from '../../src/formats/model-source.js';
import type { LoraAdapter, TensorMap } from '../../src/formats/types.js';
import { bertForwardRef } from '../../src/model/cpu/bert-ref.js';
import { gpt2ForwardRef, gpt2GreedyRef } from '../../src/model/cpu/gpt2-ref.js';
import { syntheticTenant } from '../../src/runtime/synthetic-tenants.js';
import type { RealsizeModelDirs } from './realsize-models.js';
import type { BertCheckOutput, GptCheckOutput, RealsizeModelRun, RealsizeRun } from './realsize.js';
import { TENANT_PREFIX } from './serving.js';
import { markdownTable, textTable } from './table.js';

export interface RealsizeCheck {
  readonly what: string;
  /** True when within tolerance (hBERT) or every greedy token equal (hGPT). */
  readonly ok: boolean;
  readonly summary: string;
}

export interface RealsizeRow {
  readonly model: string;
  readonly where: string;
  readonly params: number;
  readonly run: RealsizeModelRun;
  readonly check: RealsizeCheck;
}

export interface RealsizeReport {
  readonly command: string;
  readonly date: string;
  readonly runs: readonly Omit<RealsizeRun, 'models'>[];
  readonly rows: readonly RealsizeRow[];
}

/** Relative to the reference's largest magnitude (at least 1), as test/model/realsize.test.ts: f32 sums over K=3072 of large random activations. */
const HIDDEN_RTOL = 1e-3;

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

function softmax(x: ArrayLike<number>): number[] {
  const m = Math.max(...Array.from(x));
  const e = Array.from(x, (v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

/** ln p(ids[i] | ids[0..i-1]) for i >= 1, from the [T, V] logits, in f64. */
function logprobsOf(logits: Float64Array, ids: readonly number[], V: number): number[] {
  const out: number[] = [];
  for (let i = 1; i < ids.length; i++) {
    const row = logits.subarray((i - 1) * V, i * V);
    let m = Number.NEGATIVE_INFINITY;
    for (const v of row) m = Math.max(m, v);
    let s = 0;
    for (const v of row) s += Math.exp(v - m);
    out.push(row[ids[i]] - m - Math.log(s));
  }
  return out;
}

/** The adapter the runtime registered for a synthetic tenant id (addSynthetic is deterministic). */
function adapterOf(loaded: LoadedModel, run: RealsizeRun, model: RealsizeModelRun, tenant: string): LoraAdapter {
  const index = Number(tenant.slice(TENANT_PREFIX.length));
  return syntheticTenant(loaded.config, model.info.splitLayer, index, { count: index + 1, seed: run.options.seed }).adapter;
}

function checkBert(config: BertConfig, weights: TensorMap, adapter: LoraAdapter, c: BertCheckOutput): RealsizeCheck {
  const ref = bertForwardRef(config, weights, c.ids, { adapter });
  const rel = maxAbsDiff(c.hidden, ref.hidden) / Math.max(1, maxAbs(ref.hidden));
  const refScores = softmax(ref.logits ?? []);
  const scoreDiff = maxAbsDiff(c.scores, refScores);
  const sameLabel = c.scores.indexOf(Math.max(...c.scores)) === refScores.indexOf(Math.max(...refScores));
  return {
    what: `embed + classify of ${c.tenant} on ${c.ids.length} token ids vs bertForwardRef (f64) with its LoRA`,
    ok: rel <= HIDDEN_RTOL && sameLabel,
    summary: `hidden max rel err ${rel.toExponential(1)}; scores max abs diff ${scoreDiff.toExponential(1)}, label ${sameLabel ? 'same' : 'DIFFERENT'}`,
  };
}

function checkGpt(config: Gpt2Config, weights: TensorMap, adapter: LoraAdapter, c: GptCheckOutput): RealsizeCheck {
  const greedy = gpt2GreedyRef(config, weights, c.prompt, c.generated.length, { adapter });
  let same = 0;
  while (same < greedy.length && greedy[same] === c.generated[same]) same++;
  const all = [...c.prompt, ...c.generated];
  const ref = logprobsOf(gpt2ForwardRef(config, weights, all, { adapter }).logits, all, config.vocabSize);
  const diff = maxAbsDiff(c.logprobs, ref);
  return {
    what: `greedy generate of ${c.tenant} (${c.prompt.length}-token prompt) vs gpt2GreedyRef (f64) with its LoRA; score() vs the reference's log-softmax`,
    ok: same === greedy.length,
    summary: `greedy tokens ${same}/${greedy.length} equal; logprob max abs diff ${diff.toExponential(1)}`,
  };
}

const paramsOf = (weights: TensorMap): number => [...weights.values()].reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0);

/** Checks every run's outputs against the references, one model in memory at a time. */
export async function buildRealsizeReport(dirs: RealsizeModelDirs, runs: readonly RealsizeRun[], command: string, log: (m: string) => void): Promise<RealsizeReport> {
  const rows: RealsizeRow[] = [];
  for (const family of ['bert', 'gpt2'] as const) {
    const loaded = await loadModel(directorySource(family === 'bert' ? dirs.bert : dirs.gpt2));
    const params = paramsOf(loaded.weights);
    for (const run of runs) {
      const model = run.models.find((m) => m.family === family);
      if (!model) continue;
      const t0 = Date.now();
      const adapter = adapterOf(loaded, run, model, model.check.tenant);
      const check =
        model.check.family === 'bert' && loaded.config.family === 'bert'
          ? checkBert(loaded.config, loaded.weights, adapter, model.check)
          : model.check.family === 'gpt2' && loaded.config.family === 'gpt2'
            ? checkGpt(loaded.config, loaded.weights, adapter, model.check)
            : { what: 'family mismatch', ok: false, summary: `the run's ${model.check.family} check on a ${loaded.config.family} model` };
      log(`${family} in ${run.where}: ${check.summary} (reference ${((Date.now() - t0) / 1000).toFixed(1)} s)`);
      rows.push({ model: family === 'bert' ? 'BERT-base' : 'GPT-2 small', where: run.where, params, run: model, check });
    }
  }
  return { command, date: new Date().toISOString(), runs: runs.map(({ models: _m, ...rest }) => rest), rows };
}

const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(1)} MB`;
const MIB = 1024 * 1024;

const HEAD = ['model', 'env', 'load s (no autotune / autotune)', 'base weights on GPU', 'f32 size (params x 4)', 'max buffer', 'throughput', 'vs f64 reference'];

function cells(r: RealsizeRow): string[] {
  const [plain, tuned] = [r.run.loads.find((l) => !l.autotune), r.run.loads.find((l) => l.autotune)];
  const t = r.run.throughput;
  return [
    r.model,
    r.where,
    `${plain?.seconds.toFixed(1) ?? '-'} / ${tuned ? (tuned.error ? `FAILED (${tuned.error})` : tuned.seconds.toFixed(1)) : '-'}`,
    mb(r.run.info.baseGpuBytes),
    `${mb(r.params * 4)} (${(r.params / 1e6).toFixed(1)} M params)`,
    `${(r.run.info.maxBufferBytes / MIB).toFixed(0)} MiB`,
    `${t.tokensPerSecond.toFixed(t.tokensPerSecond >= 10 ? 0 : 2)} tok/s ${r.model === 'BERT-base' ? 'classify' : 'generate'}`,
    `${r.check.ok ? 'ok' : 'MISMATCH'}: ${r.check.summary}`,
  ];
}

function overheadLines(report: RealsizeReport): string[] {
  return report.rows.flatMap((r) => {
    const o = r.run.overhead;
    if (!o) return [];
    const tps = (s: { tokens: number; seconds: number }): string => (s.tokens / s.seconds).toFixed(0);
    return [
      `multiTenantOverhead at ${r.model} size, ${r.where}: ${o.ratio.toFixed(2)} = throughput with ${o.requests} requests (${o.tokensPerRequest} token ids each) to ${o.requests} distinct tenants of ${o.tenants.toLocaleString('en-US')} registered / the same requests all to 1 tenant (${tps(o.distinct)} vs ${tps(o.one)} tokens/s; halves run distinct, one, one, distinct). ` +
        `The pool (${(o.poolBytes / MIB).toFixed(0)} MiB, the default: half the 128 MiB binding cap) holds about ${Math.floor(o.poolBytes / o.meanTenantBytes)} tenants of ${mb(o.meanTenantBytes)} on average, so distinct tenants page their adapters in (pool hit rate over the runtime's life ${o.poolHitRate.toFixed(2)}); ${o.tenants.toLocaleString('en-US')} tenants registered in ${o.registerSeconds.toFixed(0)} s.`,
    ];
  });
}

export function realsizeText(report: RealsizeReport): string {
  return [textTable(HEAD, report.rows.map(cells)), '', ...overheadLines(report)].join('\n');
}

export function realsizeMarkdown(report: RealsizeReport): string {
  const o = report.runs[0]?.options;
  return [
    '# HMI-Web real-size checks (`npm run bench -- realsize`)',
    '',
    `Command: \`${report.command}\`; ${report.date}.`,
    ...report.runs.map((r) => `- ${r.where}: ${r.platform}, ${r.cpus ?? '?'} CPU cores, ${r.seconds.toFixed(0)} s.`),
    '',
    markdownTable(HEAD, report.rows.map(cells)),
    '',
    ...overheadLines(report).map((l) => `${l}\n`),
    '## How it was measured',
    '',
    '- Random-weight checkpoints in the shapes of BERT-base (vocab 30522, H 768, 12 layers, 12 heads, FFN 3072, 512 positions, 2 labels) and GPT-2 small (vocab 50257, H 768, 12 layers, 12 heads, 1024 positions), F16 safetensors with an HF config.json and no tokenizer (token-id input), generated once into bench/realsize-models/ (gitignored). Node reads the directory; the page fetches it by URL from the Vite dev server.',
    `- createRuntime with maxBufferBytes ${o ? o.maxBufferBytes / MIB : 128} MiB (the limits of many phones and laptops) and the default weightsDtype ('auto' keeps F16 as f16); load = its wall time, first with autotune off, then on (the measured runtime). Autotune choices persist per process in Node and per profile in Chromium, so a later model with the same shape classes may time fewer variants.`,
    `- Throughput after one untimed burst of the same shape: hBERT ${o?.classifyRequests ?? 16} classify requests of ${o?.classifyTokens ?? 32} token ids (input tokens/s), hGPT ${o?.generateRequests ?? 4} greedy requests of ${o?.generateTokens ?? 8} new tokens (generated tokens/s, prefill included), each request its own synthetic tenant.`,
    '- Reference: the f64 CPU forwards (src/model/cpu/) with the synthetic tenant\'s LoRA on the same f16-rounded weights, in Node. hBERT: max |GPU - ref| of the last hidden state over the reference\'s largest magnitude (tolerance 1e-3, as test/model/realsize.test.ts) and the classify label. hGPT: the greedy tokens of one request, and score()\'s log-probabilities of that sequence against the reference\'s log-softmax.',
    '- multiTenantOverhead runs in Node only: in Chromium on SwiftShader it would add several minutes to the run. R is small (SwiftShader runs a BERT-base forward at about a second per 32 tokens).',
    '- SwiftShader: the "GPU" is the machine\'s CPU cores, so absolute tokens/s say little about a real GPU; bytes and limits are the device-independent figures.',
    '',
  ].join('\n');
}

export async function writeRealsizeReport(dir: string, report: RealsizeReport): Promise<string> {
  // The check's raw vectors stay out of the JSON: the summaries are what a reader compares.
  const slim = { ...report, rows: report.rows.map((r) => ({ ...r, run: { ...r.run, check: { tenant: r.run.check.tenant, family: r.run.check.family } } })) };
  await writeFile(join(dir, 'realsize.json'), `${JSON.stringify(slim, null, 2)}\n`);
  await writeFile(join(dir, 'realsize.md'), realsizeMarkdown(report));
  return realsizeText(report);
}
