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

/** The offline adapter's training figures (public/models/manifest.json stages["task-<task>"].hplm). */
export interface OfflineTask {
  readonly validationAccuracy: number;
  readonly history: readonly { readonly epoch: number; readonly validationAccuracy: number }[];
  readonly trainExamples: number | null;
  /** The whole offline task stage (full and hPLM adapters together). */
  readonly stageSeconds: number | null;
}

/** The `trained` column's job and its comparison with the shipped (offline-trained) tenant. */
export interface TrainedReport {
  readonly tenant: string;
  /** Examples trained on, of the offline script's, of the train split. */
  readonly examples: number;
  readonly offlineExamples: number;
  readonly trainExamples: number;
  readonly validationExamples: number;
  readonly offlineValidationExamples: number;
  /** Trained on exactly the offline data and validation (no --accuracy-train-n): the target's condition. */
  readonly sameData: boolean;
  readonly epochs: number;
  readonly rank: number;
  readonly batchSize: number;
  readonly learningRate: number;
  readonly steps: number;
  readonly bestEpoch: number;
  readonly history: readonly { readonly epoch: number; readonly loss: number; readonly validationAccuracy: number | null }[];
  readonly validationAccuracy: number | null;
  readonly offline: OfflineTask | null;
  readonly tokens: number;
  readonly seconds: number;
  readonly tokensPerSecond: number;
  /** The larger test sample: shipped hPLM tenant vs trained, same examples. */
  readonly test: {
    readonly n: number;
    readonly testExamples: number;
    readonly hplm: number;
    readonly trained: number;
    readonly correct: { readonly hplm: number; readonly trained: number };
    readonly seconds: { readonly hplm: number; readonly trained: number };
  };
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
  /** The tenant trained by runtime.tenants.train on the same sample; null when the task has no trained column. */
  readonly trained: number | null;
  readonly train: TrainedReport | null;
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
  for (const [task, t] of Object.entries(r.tasks)) {
    const x = t.train;
    if (!x) continue;
    const d = x.test.trained - x.test.hplm;
    out.push({
      target: `${task}: trained >= hplm - 0.02`,
      value: `${acc(x.test.trained)} vs ${acc(x.test.hplm)} (${d >= 0 ? '+' : ''}${d.toFixed(3)}) on ${x.test.n} of ${x.test.testExamples} test examples${x.sameData ? '' : `; trained on ${x.examples} of the offline ${x.offlineExamples} examples, so not the target's condition`}`,
      // Both over the same examples: compared in counts, so 0.02 x n is not lost to rounding.
      met: x.test.correct.trained >= x.test.correct.hplm - 0.02 * x.test.n - 1e-9,
    });
  }
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

function trainedReport(input: AccuracyInput, task: string, run: AccuracyRun['tasks'][string], offline: OfflineTask | null): TrainedReport | null {
  const tr = input.train?.find((x) => x.task === task);
  const r = run.trained;
  if (!tr && !r) return null;
  if (!tr || !r) throw new Error(`task ${task}: the trained column has ${tr ? 'no runtime result' : 'no input'}`);
  return {
    tenant: r.tenant,
    examples: tr.data.length,
    offlineExamples: tr.offlineExamples,
    trainExamples: tr.trainExamples,
    validationExamples: tr.validation.length,
    offlineValidationExamples: tr.validationExamples,
    sameData: tr.data.length === tr.offlineExamples && tr.validation.length === tr.validationExamples,
    epochs: tr.epochs,
    rank: tr.rank,
    batchSize: tr.batchSize,
    learningRate: tr.learningRate,
    steps: r.steps,
    bestEpoch: r.bestEpoch,
    history: r.history.map((e) => ({ epoch: e.epoch, loss: e.loss, validationAccuracy: e.validation?.value ?? null })),
    validationAccuracy: r.validationAccuracy,
    offline,
    tokens: r.tokens,
    seconds: r.seconds,
    tokensPerSecond: r.tokensPerSecond,
    test: {
      n: r.test.n,
      testExamples: tr.test.testExamples,
      hplm: r.test.hplm.accuracy,
      trained: r.test.trained.accuracy,
      correct: { hplm: r.test.hplm.correct, trained: r.test.trained.correct },
      seconds: { hplm: r.test.hplm.seconds, trained: r.test.trained.seconds },
    },
  };
}

export function buildAccuracyReport(input: AccuracyInput, run: AccuracyRun, bow: Readonly<Record<string, BowResult>>, meta: ReportMeta, offline: Readonly<Record<string, OfflineTask>> = {}): AccuracyReport {
  const tasks: Record<string, AccuracyTaskReport> = {};
  for (const t of input.tasks) {
    const r = run.tasks[t.task];
    const b = bow[t.task];
    if (!r || !b) throw new Error(`task ${t.task}: no ${r ? 'bag-of-words' : 'runtime'} result`);
    const train = trainedReport(input, t.task, r, offline[t.task] ?? null);
    tasks[t.task] = {
      n: r.n,
      labels: r.labels,
      full: r.full.accuracy,
      hplm: r.hplm.accuracy,
      inherit: r.inherit.accuracy,
      bow: b.accuracy,
      trained: r.trained ? r.trained.sample.accuracy : null,
      train,
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

/** The `trained` column is shown only when some task has one (not with --accuracy-train=0). */
const hasTrained = (r: AccuracyReport): boolean => Object.values(r.tasks).some((t) => t.trained !== null);

function classificationRows(r: AccuracyReport): string[][] {
  const trained = hasTrained(r);
  return Object.entries(r.tasks).map(([task, t]) => [
    task,
    t.domain,
    t.labels.join(', '),
    `${t.n} of ${t.testExamples}`,
    acc(t.full),
    acc(t.hplm),
    ...(trained ? [t.trained === null ? '' : acc(t.trained)] : []),
    acc(t.inherit),
    acc(t.bow),
    `${t.hplm - t.full >= 0 ? '+' : ''}${(t.hplm - t.full).toFixed(3)}`,
  ]);
}
const classifyHead = (r: AccuracyReport): string[] => ['task', 'domain', 'labels', 'examples (sample of test)', 'full', 'hPLM', ...(hasTrained(r) ? ['trained'] : []), 'inherit', 'bag-of-words', 'hPLM - full'];

const trainedTasks = (r: AccuracyReport): [string, TrainedReport][] => Object.entries(r.tasks).flatMap(([task, t]) => (t.train ? [[task, t.train] as [string, TrainedReport]] : []));
const byEpoch = (xs: readonly (number | null)[]): string => xs.map((v) => (v === null ? 'n/a' : v.toFixed(4))).join(' / ');

function trainRows(r: AccuracyReport): string[][] {
  return trainedTasks(r).map(([task, x]) => [
    task,
    `${x.examples} of ${x.offlineExamples} (of ${x.trainExamples})`,
    `${x.validationExamples} of ${x.offlineValidationExamples}`,
    `${x.epochs} / ${x.rank} / ${x.batchSize} / ${x.learningRate}`,
    String(x.steps),
    x.seconds.toFixed(0),
    x.tokensPerSecond.toFixed(0),
    byEpoch(x.history.map((e) => e.validationAccuracy)),
    x.offline ? byEpoch(x.offline.history.map((e) => e.validationAccuracy)) : 'n/a',
    `${x.bestEpoch}${x.validationAccuracy === null ? '' : ` (${x.validationAccuracy.toFixed(4)})`}`,
  ]);
}
const TRAIN_HEAD = ['task', 'examples (of offline, of train split)', 'validation', 'epochs / rank / batch / lr', 'steps', 'seconds', 'tokens/s', 'validation accuracy per epoch', 'offline (train.py)', 'best epoch'];

function trainTestRows(r: AccuracyReport): string[][] {
  return trainedTasks(r).map(([task, x]) => {
    const d = x.test.trained - x.test.hplm;
    return [task, `${x.test.n} of ${x.test.testExamples}`, acc(x.test.hplm), acc(x.test.trained), `${d >= 0 ? '+' : ''}${d.toFixed(3)}`];
  });
}
const TRAIN_TEST_HEAD = ['task', 'test examples', 'hPLM (shipped, train.py)', 'trained (tenants.train)', 'trained - hPLM'];

function styleRows(r: AccuracyReport): string[][] {
  return Object.values(r.generation.style).map((s) => [s.tenantId, s.name, String(s.tokens), ppl(s.base), ppl(s.tenant), pct(s.tenant / s.base - 1)]);
}
const STYLE_HEAD = ['tenant', 'president (test speeches)', 'tokens', 'base (hPLM)', 'tenant', 'change'];

const status = (met: boolean): string => (met ? 'met' : '**missed**');

/** The stdout summary. */
export function accuracyText(r: AccuracyReport): string {
  const g = r.generation;
  return [
    textTable(classifyHead(r), classificationRows(r)),
    '',
    textTable(['held-out speeches', 'tokens', 'full', 'hPLM', 'hPLM / full'], [['perplexity', String(g.tokens), ppl(g.perplexity.full), ppl(g.perplexity.hplm), (g.perplexity.hplm / g.perplexity.full).toFixed(3)]]),
    '',
    textTable(STYLE_HEAD, styleRows(r)),
    '',
    ...(trainedTasks(r).length ? [textTable(TRAIN_HEAD, trainRows(r)), '', textTable(TRAIN_TEST_HEAD, trainTestRows(r)), ''] : []),
    textTable(['target', 'value', 'status'], r.targets.map((t) => [t.target, t.value, t.met ? 'met' : 'MISSED'])),
  ].join('\n');
}

/** The markdown section of the trained column (none when it was skipped). */
function trainedSection(r: AccuracyReport): string[] {
  if (!trainedTasks(r).length) return [];
  return [
    '## Trained in the runtime (`runtime.tenants.train`) against the shipped adapter',
    '',
    "The shipped hPLM tenant was trained offline (training/py/train.py, PyTorch); `trained` is the same task trained by the runtime on this device, on the offline run's examples and hyper-parameters, in the task's domain (the PLOT path it is served by).",
    '',
    markdownTable(TRAIN_HEAD, trainRows(r)),
    '',
    markdownTable(TRAIN_TEST_HEAD, trainTestRows(r)),
    '',
  ];
}

function trainedNotes(r: AccuracyReport): string[] {
  return trainedTasks(r).map(
    ([task, x]) =>
      `- trained (${task}): tenant \`${x.tenant}\` from \`runtime.tenants.train({ domain, data, validation, rank: ${x.rank}, alpha: ${2 * x.rank}, epochs: ${x.epochs}, batchSize: ${x.batchSize}, learningRate: ${x.learningRate}, weightDecay: 0.01 })\` in the hPLM runtime (shipped PLOT, policy exact), targets the runtime's default (every projection, as train.py), warm-up min(30, steps / 5) then cosine, the best epoch by validation accuracy kept. Data: the ${x.offlineExamples} train-split examples training/py/offline_subset.py lists in bench/accuracy/offline-subsets.json (train.py's seeded draw of at most 3000), ${x.sameData ? 'all of them' : `**only ${x.examples} of them (\`--accuracy-train-n\`): a plumbing check, not the target's condition**`}; validation: ${x.validationExamples} of the ${x.offlineValidationExamples} validation examples train.py validated on. The example order is the runtime's own seeded shuffle, not train.py's. ${x.offline ? `train.py's hPLM adapter reached validation accuracy ${byEpoch(x.offline.history.map((e) => e.validationAccuracy))} by epoch (public/models/manifest.json).` : 'The manifest has no offline validation figure.'} The column above is the trained tenant on the same sample as the others; the comparison below it scores the shipped and the trained tenant on ${x.test.n} of the ${x.test.testExamples} test examples (\`--accuracy-train-test-n\`), ${x.test.seconds.hplm.toFixed(0)} s / ${x.test.seconds.trained.toFixed(0)} s.`,
  );
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
    markdownTable(classifyHead(r), classificationRows(r)),
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
    ...trainedSection(r),
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
    ...trainedNotes(r),
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
