import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { createRuntime } from '../create-runtime.js';
import { HmiError } from '../errors.js';
import { ModelLoadError, TrainDataError } from '../formats/errors.js';
import { directorySource, loadModelConfig } from '../formats/model-source.js';
import { writePeftAdapter } from '../formats/peft.js';
import { parseTrainData, trainDataFormatOf } from '../formats/train-data.js';
import type { LoraAdapter } from '../formats/types.js';
import { nodeGpu } from '../gpu/node.js';
import { MemoryTenantStore } from '../knowledge/task/store-memory.js';
import type { TrainProgress, TrainResult, TrainSpec } from '../runtime/api.js';
import { BUNDLE_INDEX, bundlePlotSource, loadBundle, readBundleIndex, type BundleModel } from '../runtime/bundle.js';
import { GENERAL_DOMAIN } from '../runtime/domains.js';
import { writeDirAtomic } from '../util/atomic-file.js';
import { stringFlag, type ParsedArgs } from './args.js';
import { UsageError } from './errors.js';

export const TRAIN_VALUED = new Set(['model', 'data', 'out', 'domain', 'seed', 'rank', 'alpha', 'epochs', 'lr', 'batch-size', 'validation', 'id']);
export const TRAIN_SWITCHES = new Set<string>();

/** The files of a PEFT adapter directory: what --out may already hold and be replaced. */
const ADAPTER_FILES = ['adapter_config.json', 'adapter_model.safetensors'] as const;

/** What `hmi train` prints: the runtime's TrainResult without the adapter (written to `out`). */
export type TrainSummary = Omit<TrainResult, 'adapter'>;

export interface TrainCliResult {
  readonly summary: TrainSummary;
  /** The PEFT adapter directory written. */
  readonly out: string;
}

type NumberKind = 'count' | 'positive' | 'natural' | 'fraction';

/** A numeric flag: count = integer >= 1, natural = integer >= 0, positive = number > 0, fraction = 0 <= x < 1. */
function numberFlag(args: ParsedArgs, name: string, kind: NumberKind): number | undefined {
  const text = stringFlag(args, name);
  if (text === undefined) return undefined;
  const integer = kind === 'count' || kind === 'natural';
  const pattern = integer ? /^\d+$/ : /^(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;
  const v = Number(text);
  const ok = pattern.test(text) && Number.isFinite(v) && (kind === 'count' ? v >= 1 : kind === 'positive' ? v > 0 : kind === 'fraction' ? v < 1 : true);
  if (!ok) {
    const want = { count: 'a positive integer', natural: 'a non-negative integer', positive: 'a positive number', fraction: 'a fraction in [0, 1)' }[kind];
    throw new UsageError(`--${name} must be ${want}, got "${text}"`);
  }
  return v;
}

/** The fields that are set: an unset flag leaves the runtime's default, not an explicit undefined. */
function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** --out must not be in the way: absent, an empty directory, or an earlier adapter directory (replaced). */
async function checkOut(out: string): Promise<void> {
  const s = await stat(out).catch(() => null);
  if (s === null) return;
  if (!s.isDirectory()) throw new UsageError(`--out ${out} exists and is not a directory`);
  const entries = await readdir(out);
  if (!replaceable(entries)) {
    throw new UsageError(`--out ${out} is a directory with other files than an adapter's (${entries.slice(0, 5).join(', ')}); give a new or empty directory`);
  }
}

function replaceable(entries: readonly string[]): boolean {
  return entries.every((e) => (ADAPTER_FILES as readonly string[]).includes(e));
}

/**
 * The bundle next to the model (`<model>/../index.json`, as public/models/ ships it) that names
 * this model directory, for --domain: the domain's lower layers and the model's shipped PLOT.
 */
async function bundleFor(modelDir: string, domain: string): Promise<{ base: string; model: BundleModel; plotSource: string | undefined }> {
  const base = `${dirname(modelDir)}/`;
  const indexPath = join(base, BUNDLE_INDEX);
  if ((await stat(indexPath).catch(() => null)) === null) {
    throw new UsageError(`--domain ${domain} needs the domain's lower layers from the bundle next to the model, and there is no ${indexPath}`);
  }
  const index = await readBundleIndex(base);
  const model = index.models.find((m) => resolve(base, m.path) === modelDir);
  if (!model) throw new UsageError(`${indexPath} lists no model at ${modelDir} (it lists ${index.models.map((m) => m.path).join(', ') || 'none'})`);
  const domains = index.domains.filter((d) => d.model === model.id).map((d) => d.id);
  if (!domains.includes(domain)) {
    throw new UsageError(`--domain ${domain}: ${indexPath} has no such domain for ${model.id} (it has ${[GENERAL_DOMAIN, ...domains].join(', ')})`);
  }
  return { base, model, plotSource: bundlePlotSource(index, model.id, base) };
}

/** One stderr line per progress event that says something new. */
export function progressLine(p: TrainProgress): string {
  if (p.phase === 'prepare') return `prepare  ${p.epochs} epoch${p.epochs === 1 ? '' : 's'}${p.steps > 0 ? `, ${p.steps} steps` : ''}`;
  const parts = [`epoch ${p.epoch}/${p.epochs}`, `step ${p.step}/${p.steps}`];
  if (Number.isFinite(p.loss)) parts.push(`loss ${p.loss.toFixed(4)}`);
  if (p.validation) parts.push(`validation ${p.validation.metric} ${p.validation.value.toFixed(4)}`);
  parts.push(`${Math.round(p.tokensPerSecond).toLocaleString('en-US')} tok/s`);
  return `${p.phase.padEnd(8)} ${parts.join('  ')}`;
}

/**
 * `hmi train`: trains a tenant with `runtime.tenants.train` on a Node runtime of the model
 * (Dawn, no autotune: a one-shot command does not repay it) and writes its adapter as a PEFT
 * directory that `hmi classify --adapter`, `hmi score --adapter` and `tenants.add` read back.
 * With --domain the tenant trains on the path that domain's tenants are served by (its lower
 * layers and the model's shipped PLOT, from the bundle next to the model). Every flag, the data
 * and --out are checked before the GPU is opened; the adapter directory appears whole or not at
 * all; Ctrl-C aborts the training and writes nothing.
 */
export async function runTrain(args: ParsedArgs, log: (line: string) => void): Promise<TrainCliResult> {
  if (args.command !== undefined) throw new UsageError(`unexpected argument "${args.command}"`);
  const modelFlag = stringFlag(args, 'model');
  if (!modelFlag) throw new UsageError('train needs --model <dir>');
  const dataFlag = stringFlag(args, 'data');
  if (!dataFlag) throw new UsageError('train needs --data <file.jsonl|file.json|file.csv>');
  const outFlag = stringFlag(args, 'out');
  if (!outFlag) throw new UsageError('train needs --out <dir> (where the PEFT adapter is written)');
  const format = trainDataFormatOf(dataFlag);
  if (format === undefined) throw new UsageError(`--data ${dataFlag}: the format comes from the extension, .jsonl, .json or .csv`);
  const modelDir = resolve(modelFlag);
  const out = resolve(outFlag);
  const domain = stringFlag(args, 'domain');
  const id = stringFlag(args, 'id') ?? basename(out);
  const spec = {
    rank: numberFlag(args, 'rank', 'count'),
    alpha: numberFlag(args, 'alpha', 'positive'),
    epochs: numberFlag(args, 'epochs', 'count'),
    learningRate: numberFlag(args, 'lr', 'positive'),
    batchSize: numberFlag(args, 'batch-size', 'count'),
    seed: numberFlag(args, 'seed', 'natural'),
    validation: numberFlag(args, 'validation', 'fraction'),
  };

  const config = await loadModelConfig(directorySource(modelDir));
  let text: string;
  try {
    text = await readFile(resolve(dataFlag), 'utf8');
  } catch (e) {
    throw new ModelLoadError(basename(dataFlag), dirname(resolve(dataFlag)), e instanceof Error ? e.message : String(e), { cause: e });
  }
  let data: TrainSpec['data'];
  try {
    data = parseTrainData(text, format, config.family);
  } catch (e) {
    if (e instanceof TrainDataError) throw new TrainDataError(e.reason, e.line, dataFlag);
    throw e;
  }
  await checkOut(out);
  const bundle = domain !== undefined && domain !== GENERAL_DOMAIN ? await bundleFor(modelDir, domain) : undefined;

  const runtime = await createRuntime({
    gpu: await nodeGpu(),
    model: modelDir,
    store: new MemoryTenantStore(),
    autotune: false,
    ...(bundle?.plotSource !== undefined ? { plotSource: bundle.plotSource } : {}),
  });
  const controller = new AbortController();
  const interrupt = (): void => {
    log('interrupted: aborting the training (nothing will be written)');
    controller.abort();
  };
  process.once('SIGINT', interrupt);
  let result: TrainResult;
  try {
    // Only the domains: the bundle's tenants are not needed to train a new one.
    if (bundle) await loadBundle(runtime, bundle.base, { tenants: false });
    let last = '';
    result = await runtime.tenants.train(
      { id, data, ...(domain !== undefined ? { domain } : {}), ...definedOnly(spec), signal: controller.signal },
      (p) => {
        const line = progressLine(p);
        // tok/s changes on every event; a line is worth printing when anything else moved.
        const key = line.replace(/\s+[\d,]+ tok\/s$/, '');
        if (key !== last) log(line);
        last = key;
      },
    );
  } finally {
    process.removeListener('SIGINT', interrupt);
    await runtime.dispose();
  }

  const { adapter, ...summary } = result;
  // The labels belong in adapter_config.json, where the PEFT reader (and so classify) finds them.
  const labelled: LoraAdapter = adapter.labels === undefined && result.labels !== undefined ? { ...adapter, labels: result.labels } : adapter;
  const files = writePeftAdapter(labelled, config.family, { baseModelName: bundle?.model.id ?? basename(modelDir) });
  try {
    await writeDirAtomic(out, { 'adapter_config.json': `${JSON.stringify(files.config, null, 2)}\n`, 'adapter_model.safetensors': files.weights }, { replace: replaceable });
  } catch (e) {
    if ((e as { code?: unknown }).code === 'EEXIST') throw new HmiError('OUTPUT_EXISTS', `cannot write the adapter to ${out}: ${(e as Error).message}`, { cause: e });
    throw e;
  }
  return { summary, out };
}
