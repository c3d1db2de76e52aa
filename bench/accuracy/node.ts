/**
 * Node side of `npm run bench -- accuracy` (imported by scripts/bench.mjs through tsx):
 * builds the input from training/data.mjs (test splits), fits the bag-of-words floor, runs the
 * runtime half in Node on Dawn (--node; otherwise the page bench/accuracy/ does, in Chromium)
 * and writes bench/results/accuracy.{json,md}.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { directorySource, loadModel, type LoadedModel } from '../../src/formats/model-source.js';
import type { HmiTokenizer } from '../../src/formats/tokenizer.js';
import { nodeGpu } from '../../src/gpu/node.js';
import { readBundleIndex, type BundleIndex } from '../../src/runtime/bundle.js';
import { buildAccuracyInput, buildTrainInputs, type AccuracyDataModule, type AccuracyInput, type AccuracyShapesModule, type AccuracySizes, type DataTask, type OfflineSubsets } from '../lib/accuracy-input.js';
import { buildAccuracyReport, accuracyMarkdown, accuracyText, type BowResult, type OfflineTask } from '../lib/accuracy-report.js';
import { runAccuracy, type AccuracyRun } from '../lib/accuracy.js';
import { accuracyOf, bagOf, chooseBow, predictBow, type Bag } from '../lib/bow.js';

export { DEFAULT_ACCURACY_SIZES } from '../lib/accuracy-input.js';

const withSlash = (s: string): string => (s.endsWith('/') ? s : `${s}/`);

async function bundleModel(bundle: string, index: BundleIndex, family: 'bert' | 'gpt2'): Promise<LoadedModel> {
  const m = index.models.find((x) => x.family === family);
  if (!m) throw new Error(`the bundle at ${bundle} has no ${family} model`);
  return loadModel(directorySource(join(bundle, m.path)));
}

/** The training chain's bag-of-words figure of a task, if the bundle has a manifest with it. */
async function manifestBow(bundle: string): Promise<Record<string, number>> {
  try {
    const manifest = JSON.parse(await readFile(join(bundle, 'manifest.json'), 'utf8')) as { metrics?: { bow?: Record<string, { test_accuracy?: unknown }> } };
    const out: Record<string, number> = {};
    for (const [task, m] of Object.entries(manifest.metrics?.bow ?? {})) if (typeof m?.test_accuracy === 'number') out[task] = m.test_accuracy;
    return out;
  } catch {
    return {};
  }
}

/** bench/accuracy/offline-subsets.json (training/py/offline_subset.py): the offline adapters' training examples and hyper-parameters. */
export async function readOfflineSubsets(file = new URL('./offline-subsets.json', import.meta.url)): Promise<OfflineSubsets> {
  const parsed = JSON.parse(await readFile(file, 'utf8')) as Partial<OfflineSubsets>;
  if (!parsed || typeof parsed.tasks !== 'object' || parsed.tasks === null) throw new Error(`${String(file)}: no "tasks" object`);
  return parsed as OfflineSubsets;
}

/** The offline task stage of the manifest (stages["task-<task>"].hplm): its validation accuracy per epoch, if present. */
async function manifestTasks(bundle: string): Promise<Record<string, OfflineTask>> {
  type Stage = { stage?: unknown; task?: unknown; seconds?: unknown; hplm?: { validation_accuracy?: unknown; history?: { epoch: number; validation_accuracy: number }[]; train_examples?: unknown } };
  try {
    const manifest = JSON.parse(await readFile(join(bundle, 'manifest.json'), 'utf8')) as { stages?: Record<string, Stage> };
    const out: Record<string, OfflineTask> = {};
    for (const st of Object.values(manifest.stages ?? {})) {
      const h = st.hplm;
      if (st.stage !== 'task' || typeof st.task !== 'string' || !h || typeof h.validation_accuracy !== 'number') continue;
      out[st.task] = {
        validationAccuracy: h.validation_accuracy,
        history: (h.history ?? []).map((e) => ({ epoch: e.epoch, validationAccuracy: e.validation_accuracy })),
        trainExamples: typeof h.train_examples === 'number' ? h.train_examples : null,
        // The stage trains the full and the hPLM adapters together: its seconds are both's.
        stageSeconds: typeof st.seconds === 'number' ? st.seconds : null,
      };
    }
    return out;
  } catch {
    return {};
  }
}

/**
 * The bag-of-words floor of every task: fitted on the train split, L2 chosen on validation,
 * scored on the runtime's sample (`input`) and on the whole test split. Inputs are the ids the
 * models see: hBERT's tokenizer, truncated as training truncates (shapes.truncateIds).
 */
export async function bowFloor(tasks: readonly DataTask[], input: AccuracyInput, bert: { readonly tokenizer: HmiTokenizer }, shapes: AccuracyShapesModule, training: Record<string, number>, log: (m: string) => void): Promise<Record<string, BowResult>> {
  const sep = bert.tokenizer.tokenToId('[SEP]');
  if (sep === undefined) throw new Error('the hBERT tokenizer has no [SEP]');
  const bags = new Map<string, Bag>();
  const bag = (text: string): Bag => {
    let b = bags.get(text);
    if (!b) bags.set(text, (b = bagOf(shapes.truncateIds(bert.tokenizer.encode(text), shapes.BERT_MAX_POSITIONS, sep))));
    return b;
  };
  const out: Record<string, BowResult> = {};
  for (const t of tasks) {
    const sample = input.tasks.find((x) => x.task === t.task);
    if (!sample) continue;
    const split = (name: string) => {
      const ex = t.examples.filter((e) => e.split === name);
      return { bags: ex.map((e) => bag(e.text)), labels: ex.map((e) => t.labels.indexOf(e.label)) };
    };
    const started = Date.now();
    const train = split('train');
    const validation = split('validation');
    const test = split('test');
    const fit = chooseBow(train, validation, bert.tokenizer.vocabSize, t.labels.length);
    const sampleGold = sample.gold.map((l) => t.labels.indexOf(l));
    const accuracy = accuracyOf(predictBow(fit.model, sample.texts.map(bag)), sampleGold);
    const fullTestAccuracy = accuracyOf(predictBow(fit.model, test.bags), test.labels);
    out[t.task] = {
      accuracy,
      fullTestAccuracy,
      testExamples: test.bags.length,
      trainExamples: train.bags.length,
      validationAccuracy: fit.validationAccuracy,
      l2: fit.l2,
      training: training[t.task] ?? null,
    };
    log(`${t.task} bag-of-words: ${accuracy.toFixed(4)} on the sample, ${fullTestAccuracy.toFixed(4)} on all ${test.bags.length} test examples (L2 ${fit.l2}, validation ${fit.validationAccuracy.toFixed(4)}; ${((Date.now() - started) / 1000).toFixed(1)} s)`);
  }
  return out;
}

export interface PreparedAccuracy {
  readonly input: AccuracyInput;
  readonly bow: Record<string, BowResult>;
  /** The manifest's offline figures of the trained column's tasks. */
  readonly offline: Record<string, OfflineTask>;
}

/** Everything of the benchmark that runs in Node whatever runs the runtime: the input and the bag-of-words floor. */
export async function prepareAccuracy(bundle: string, sizes: AccuracySizes, data: AccuracyDataModule, shapes: AccuracyShapesModule, log: (m: string) => void): Promise<PreparedAccuracy> {
  const index = await readBundleIndex(withSlash(bundle));
  const [bert, gpt] = await Promise.all([bundleModel(bundle, index, 'bert'), bundleModel(bundle, index, 'gpt2')]);
  const gptModel = index.models.find((m) => m.family === 'gpt2')!;
  const styleTenants = index.tenants
    .filter((t) => t.model === gptModel.id && t.id.startsWith('style-'))
    .map((t) => ({ tenant: t.id, slug: t.id.slice('style-'.length) }));
  if (gpt.config.family !== 'gpt2') throw new Error('the hGPT model is not GPT-2');
  const eos = gpt.config.eosTokenId;
  log(`reading training/data.mjs (test splits) and tokenizing with the bundle's tokenizers`);
  const all = data.loadAll();
  const tasks = data.classificationTasks(all);
  const base = buildAccuracyInput(data, { speeches: all.speeches, tasks }, sizes, { encode: (text) => gpt.tokenizer.encode(text), eos, maxPositions: gpt.config.maxPositions }, styleTenants);
  const train = sizes.train ? buildTrainInputs(data, tasks, await readOfflineSubsets(), sizes) : [];
  const input: AccuracyInput = { ...base, train };
  for (const t of input.tasks) log(`${t.task}: ${t.texts.length} of ${t.testExamples} test examples`);
  for (const t of train) {
    log(`${t.task} trained: ${t.data.length} of the offline ${t.offlineExamples} train examples (of ${t.trainExamples}), ${t.validation.length} of ${t.validationExamples} validation, then ${t.test.texts.length} of ${t.test.testExamples} test examples`);
  }
  if (!sizes.train) log('trained column skipped (--accuracy-train=0)');
  log(`perplexity: ${input.generation.heldOut.windows.length} of ${input.generation.heldOut.windowsAvailable} windows of ${input.generation.windowTokens} tokens; ${input.generation.style.length} style tenants`);
  const bow = await bowFloor(tasks, input, bert, shapes, await manifestBow(bundle), log);
  return { input, bow, offline: await manifestTasks(bundle) };
}

/** The runtime half in this process, on Dawn. */
export function runAccuracyNode(bundle: string, input: AccuracyInput): Promise<AccuracyRun> {
  return runAccuracy({ where: 'node', gpu: nodeGpu, bundle: withSlash(bundle), log: (m) => console.log(`  ${m}`) }, input);
}

/** Writes `${base}.json` and `${base}.md` under resultsDir; returns the stdout summary. */
export async function writeAccuracyReport(
  resultsDir: string,
  base: string,
  prepared: PreparedAccuracy,
  run: AccuracyRun,
  meta: { readonly command: string; readonly bundle: string },
): Promise<string> {
  const report = buildAccuracyReport(prepared.input, run, prepared.bow, { ...meta, date: new Date().toISOString() }, prepared.offline);
  await mkdir(resultsDir, { recursive: true });
  await writeFile(join(resultsDir, `${base}.json`), `${JSON.stringify(report, null, 2)}\n`);
  await writeFile(join(resultsDir, `${base}.md`), accuracyMarkdown(report));
  return accuracyText(report);
}
