/**
 * bench/results/accuracy.{json,md}: the runtime's columns (AccuracyRun), the bag-of-words
 * floor computed on the Node side, the targets with met/missed, and how it was measured.
 */
import type { AccuracyInput } from './accuracy-input.js';
import type { AccuracyRun } from './accuracy.js';
import { BOW_L2 } from './bow.js';
import { markdownTable, textTable } from './table.js';

/** The bag-of-words floor of one task (bench/lib/bow.ts). */
export interface BowResult {
  /** Accuracy on the same sample as the runtime columns. */
  readonly accuracy: number;
  /** Accuracy on the task's whole test split. */
  readonly fullTestAccuracy: number;
  readonly testExamples: number;
  readonly trainExamples: number;
  readonly validationAccuracy: number;
  readonly l2: number;
  /** The training chain's figure (public/models/manifest.json metrics.bow[task].test_accuracy), if present. */
  readonly training: number | null;
}

export interface AccuracyTarget {
  readonly target: string;
  readonly value: string;
  readonly met: boolean;
}

export interface AccuracyTaskReport {
  readonly n: number;
  readonly labels: readonly string[];
  readonly full: number;
  readonly hplm: number;
  readonly inherit: number;
  readonly bow: number;
  readonly domain: string;
  readonly testExamples: number;
  readonly bowDetail: BowResult;
  readonly plotHitRate: { readonly hplm: number | null; readonly inherit: number | null };
  readonly seconds: { readonly full: number; readonly hplm: number; readonly inherit: number };
}

export interface AccuracyReport {
  readonly command: string;
  readonly date: string;
  readonly where: string;
  readonly adapter: string;
  readonly bundle: string;
  readonly seconds: number;
  /** Most examples evaluated per task (--accuracy-n). */
  readonly n: number;
  readonly tasks: Readonly<Record<string, AccuracyTaskReport>>;
  readonly generation: {
    readonly tokens: number;
    readonly perplexity: { readonly full: number; readonly hplm: number };
    readonly style: Readonly<Record<string, { readonly base: number; readonly tenant: number; readonly tokens: number; readonly tenantId: string; readonly name: string }>>;
    readonly domain: string;
    readonly windowTokens: number;
    readonly windows: number;
    readonly windowsAvailable: number;
    readonly documents: number;
  };
  readonly targets: readonly AccuracyTarget[];
}

export interface ReportMeta {
  readonly command: string;
  readonly date: string;
  readonly bundle: string;
}

const acc = (v: number): string => v.toFixed(3);
const ppl = (v: number): string => v.toFixed(2);

/** Every target of the benchmark, evaluated. */
export function accuracyTargets(r: Pick<AccuracyReport, 'tasks' | 'generation'>): AccuracyTarget[] {
  const out: AccuracyTarget[] = [];
  for (const [task, t] of Object.entries(r.tasks)) out.push({ target: `${task}: full > bow`, value: `${acc(t.full)} vs ${acc(t.bow)}`, met: t.full > t.bow });
  const spam = r.tasks.spam;
  if (spam) out.push({ target: 'spam: full >= 0.95', value: acc(spam.full), met: spam.full >= 0.95 });
  for (const [task, t] of Object.entries(r.tasks)) out.push({ target: `${task}: hplm >= full - 0.01`, value: `${acc(t.hplm)} vs ${acc(t.full)}`, met: t.hplm >= t.full - 0.01 });
  const p = r.generation.perplexity;
  out.push({ target: 'perplexity: hplm <= 1.05 x full', value: `${ppl(p.hplm)} vs ${ppl(p.full)} (x${(p.hplm / p.full).toFixed(3)})`, met: p.hplm <= 1.05 * p.full });
  for (const s of Object.values(r.generation.style)) {
    out.push({ target: `${s.tenantId}: perplexity <= 0.95 x base`, value: `${ppl(s.tenant)} vs ${ppl(s.base)} (${pct(s.tenant / s.base - 1)})`, met: s.tenant <= 0.95 * s.base });
  }
  return out;
}

function pct(v: number): string {
  return `${v >= 0 ? '+' : ''}${(100 * v).toFixed(1)}%`;
}

export function buildAccuracyReport(input: AccuracyInput, run: AccuracyRun, bow: Readonly<Record<string, BowResult>>, meta: ReportMeta): AccuracyReport {
  const tasks: Record<string, AccuracyTaskReport> = {};
  for (const t of input.tasks) {
    const r = run.tasks[t.task];
    const b = bow[t.task];
    if (!r || !b) throw new Error(`task ${t.task}: no ${r ? 'bag-of-words' : 'runtime'} result`);
    tasks[t.task] = {
      n: r.n,
      labels: r.labels,
      full: r.full.accuracy,
      hplm: r.hplm.accuracy,
      inherit: r.inherit.accuracy,
      bow: b.accuracy,
      domain: r.domain,
      testExamples: t.testExamples,
      bowDetail: b,
      plotHitRate: { hplm: r.hplm.plotHitRate, inherit: r.inherit.plotHitRate },
      seconds: { full: r.full.seconds, hplm: r.hplm.seconds, inherit: r.inherit.seconds },
    };
  }
  const g = run.generation;
  const style: Record<string, AccuracyReport['generation']['style'][string]> = {};
  for (const s of input.generation.style) {
    const r = g.style[s.slug];
    if (!r) throw new Error(`style ${s.slug}: no runtime result`);
    style[s.slug] = { base: r.base.perplexity, tenant: r.tenantRun.perplexity, tokens: r.base.tokens, tenantId: s.tenant, name: s.name };
  }
  const generation = {
    tokens: g.full.tokens,
    perplexity: { full: g.full.perplexity, hplm: g.hplm.perplexity },
    style,
    domain: g.domain,
    windowTokens: input.generation.windowTokens,
    windows: input.generation.heldOut.windows.length,
    windowsAvailable: input.generation.heldOut.windowsAvailable,
    documents: input.generation.heldOut.documents,
  };
  return {
    command: meta.command,
    date: meta.date,
    where: run.where,
    adapter: run.adapter,
    bundle: meta.bundle,
    seconds: run.seconds,
    n: input.n,
    tasks,
    generation,
    targets: accuracyTargets({ tasks, generation }),
  };
}

function classificationRows(r: AccuracyReport): string[][] {
  return Object.entries(r.tasks).map(([task, t]) => [
    task,
    t.domain,
    t.labels.join(', '),
    `${t.n} of ${t.testExamples}`,
    acc(t.full),
    acc(t.hplm),
    acc(t.inherit),
    acc(t.bow),
    `${t.hplm - t.full >= 0 ? '+' : ''}${(t.hplm - t.full).toFixed(3)}`,
  ]);
}
const CLASSIFY_HEAD = ['task', 'domain', 'labels', 'examples (sample of test)', 'full', 'hPLM', 'inherit', 'bag-of-words', 'hPLM - full'];

function styleRows(r: AccuracyReport): string[][] {
  return Object.values(r.generation.style).map((s) => [s.tenantId, s.name, String(s.tokens), ppl(s.base), ppl(s.tenant), pct(s.tenant / s.base - 1)]);
}
const STYLE_HEAD = ['tenant', 'president (test speeches)', 'tokens', 'base (hPLM)', 'tenant', 'change'];

const status = (met: boolean): string => (met ? 'met' : '**missed**');

/** The stdout summary. */
export function accuracyText(r: AccuracyReport): string {
  const g = r.generation;
  return [
    textTable(CLASSIFY_HEAD, classificationRows(r)),
    '',
    textTable(['held-out speeches', 'tokens', 'full', 'hPLM', 'hPLM / full'], [['perplexity', String(g.tokens), ppl(g.perplexity.full), ppl(g.perplexity.hplm), (g.perplexity.hplm / g.perplexity.full).toFixed(3)]]),
    '',
    textTable(STYLE_HEAD, styleRows(r)),
    '',
    textTable(['target', 'value', 'status'], r.targets.map((t) => [t.target, t.value, t.met ? 'met' : 'MISSED'])),
  ].join('\n');
}

export function accuracyMarkdown(r: AccuracyReport): string {
  const g = r.generation;
  const missed = r.targets.filter((t) => !t.met);
  const bowNote = Object.entries(r.tasks)
    .map(([task, t]) => `${task} ${acc(t.bowDetail.fullTestAccuracy)} over all ${t.bowDetail.testExamples} (L2 ${t.bowDetail.l2.toExponential(0)}${t.bowDetail.training === null ? '' : `; the training chain's figure ${acc(t.bowDetail.training)}`})`)
    .join(', ');
  return [
    '# Accuracy benchmark (`npm run bench -- accuracy`)',
    '',
    `What HMI costs in accuracy: each task's served tenant on the hPLM path (lower layers from the domain's PLOT, LoRA on the upper layers) against a conventional adapter on the full model, and a bag-of-words floor; hGPT perplexity on held-out speeches on both paths, and each style tenant on its president's held-out speeches.`,
    '',
    `Ran in ${r.where} (adapter: ${r.adapter}) on ${r.date}, ${Math.round(r.seconds)} s of runtime work. Bundle: \`${r.bundle}\`.`,
    `Command: \`${r.command}\``,
    '',
    `Targets: ${missed.length === 0 ? `all ${r.targets.length} met.` : `${r.targets.length - missed.length} of ${r.targets.length} met; missed: ${missed.map((t) => t.target).join('; ')} (values below).`}`,
    '',
    '## Classification (hBERT), accuracy on the test split',
    '',
    markdownTable(CLASSIFY_HEAD, classificationRows(r)),
    '',
    '## Generation (hGPT), perplexity on held-out speeches (lower is better)',
    '',
    markdownTable(
      ['text', 'tokens scored', 'full', 'hPLM', 'hPLM / full'],
      [[`${g.documents} test-split speeches, ${g.windows} of ${g.windowsAvailable} windows of ${g.windowTokens} tokens`, String(g.tokens), ppl(g.perplexity.full), ppl(g.perplexity.hplm), (g.perplexity.hplm / g.perplexity.full).toFixed(3)]],
    ),
    '',
    markdownTable(STYLE_HEAD, styleRows(r)),
    '',
    '## Targets',
    '',
    markdownTable(['target', 'value', 'status'], r.targets.map((t) => [t.target, t.value, status(t.met)])),
    '',
    '## How it was measured',
    '',
    `- Data: training/data.mjs, the test split only (split by document: no mail, speech or chapter is on two sides). Each task is evaluated on at most ${r.n} examples of its test split (\`--accuracy-n\`), spread evenly over it (\`evenSample\`); the table gives the sample and the test split's sizes.`,
    '- Classification: `runtime.classify(tenant, text, { truncate: true })`: inputs longer than 128 positions keep their first 127 tokens and [SEP], as training truncated them. Every request of a column is submitted at once (the runtime batches them).',
    "- full: tenant `${task}-full` registered by `loadBundle(runtime, base, { references: true })`: the task's reference adapter (LoRA on all 4 layers + head, trained on the full model), no domain, every layer computed.",
    "- hPLM: the served tenant `${task}` in its domain, `createRuntime({ plotSource })` with the bundle's shipped PLOT and `plotPolicy: 'exact'` (a tri-gram missing from the PLOT is computed through the domain's own lower layers). The PLOT's own writable layer is a fresh in-memory store, so nothing saved by an earlier run is read back.",
    "- inherit: the same tenant in a second runtime with `plotPolicy: 'inherit'`: a tri-gram the domain's PLOT lacks is taken from its parent (the general domain, whose entries ran the base lower layers, not the domain's) when the parent has it, and computed through the domain's own lower layers otherwise.",
    `- PLOT hit rates of the hPLM / inherit columns (lookups served from a table): ${Object.entries(r.tasks)
      .map(([task, t]) => `${task} ${t.plotHitRate.hplm === null ? 'n/a' : t.plotHitRate.hplm.toFixed(3)} / ${t.plotHitRate.inherit === null ? 'n/a' : t.plotHitRate.inherit.toFixed(3)}`)
      .join(', ')}.`,
    `- bag-of-words: computed by this benchmark (bench/lib/bow.ts) on the same sample as the runtime columns: multinomial logistic regression on log(1 + count) of each hBERT WordPiece id of the truncated input (the 128 ids the models see), L2 on the weights chosen from {${BOW_L2.map((l) => l.toExponential(0)).join(', ')}} by validation accuracy, fitted full-batch with L-BFGS on the whole train split. On the whole test split: ${bowNote}.`,
    `- Perplexity: test-split speeches joined as training joins them (each followed by <|endoftext|>), cut into consecutive windows of ${g.windowTokens} tokens, at most ${g.windows} windows spread evenly; \`runtime.score(tenant, ids)\` gives each window's log-probabilities (every token after the first); perplexity = exp(-sum of log-probabilities / tokens scored). full = a tenant with a zero adapter (rank 1, B = 0: the model itself) and no domain, every layer computed; hPLM = the same zero adapter in domain ${g.domain} (PLOT lower layers, policy exact).`,
    `- Style: each \`style-<president>\` tenant and the zero-adapter tenant of ${g.domain} (its base) on that president's test-split speeches, windows of ${g.windowTokens} tokens, at most ${Math.max(0, ...Object.values(g.style).map((s) => s.tokens))} tokens scored per president.`,
    `- Time per column (s, full / hPLM / inherit): ${Object.entries(r.tasks)
      .map(([task, t]) => `${task} ${t.seconds.full.toFixed(0)} / ${t.seconds.hplm.toFixed(0)} / ${t.seconds.inherit.toFixed(0)}`)
      .join(', ')}; all the runtime work ${Math.round(r.seconds)} s.`,
    '- Accuracy numbers are deterministic (the same bundle and n give the same figures); the run time depends on the machine.',
    '',
  ].join('\n');
}
