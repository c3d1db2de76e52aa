/**
 * The knowledge shipped with the app (public/models/index.json): trained domains with their
 * own lower layers, the PLOT of each model, and trained tenants. `loadBundle` registers the
 * domains and tenants of the runtime's model through the public API, so it works the same on
 * a runtime in this thread or in a worker. The PLOT is an option of the runtime, read on demand:
 *
 *   const index = await readBundleIndex(base);
 *   const rt = await createRuntime({ model: base + 'hbert-mini/', plotSource: bundlePlotSource(index, 'hbert-mini', base) });
 *   await loadBundle(rt, base);
 */
import { HmiError } from '../errors.js';
import { loadAdapter, loadModelConfig, type ModelSource } from '../formats/model-source.js';
import type { LoraAdapter } from '../formats/types.js';
import type { HmiRuntimeApi, ProgressCallback, RuntimeInfo, TenantSpec } from './api.js';
import { InvalidInputError } from './errors.js';
import { resolveModelSource } from './model-source.js';
import { MAX_DESCRIPTION } from './tenant-registry.js';

export const BUNDLE_INDEX = 'index.json';
export const BUNDLE_VERSION = 2;

export interface BundleModel {
  readonly id: string;
  readonly family: 'bert' | 'gpt2';
  /** The model's directory, relative to the bundle. */
  readonly path: string;
  /** FNV-1a 64 of its model.safetensors, hex: what RuntimeInfo.modelHash reports. */
  readonly hash: string;
  readonly trainedOn?: string;
}

export interface BundleDomain {
  readonly model: string;
  readonly id: string;
  /** Default: the general domain. */
  readonly parent?: string;
  /** The domain's own lower layers (a PEFT adapter directory), relative to the bundle. */
  readonly lowerAdapter?: string;
  readonly budgetEntries?: number;
  readonly trainedOn?: string;
}

export interface BundleTenant {
  readonly id: string;
  readonly model: string;
  /** The tenant's PEFT adapter directory, relative to the bundle. */
  readonly path: string;
  /** Default: the general domain. */
  readonly domain?: string;
  readonly task: 'classify' | 'generate';
  readonly labels?: readonly string[];
  readonly rank?: number;
  readonly trainedOn?: string;
  /** Inputs to try it on: texts (classify) or prompts (generate). */
  readonly examples?: readonly string[];
  /** A conventional adapter of the same task on every layer, trained on the full model (no domain). */
  readonly reference?: string;
}

export interface BundleIndex {
  readonly version: typeof BUNDLE_VERSION;
  readonly models: readonly BundleModel[];
  readonly domains: readonly BundleDomain[];
  /** The PLOT directory of each model id (as `hmi plot build` writes it), relative to the bundle. */
  readonly plot: Readonly<Record<string, string>>;
  readonly tenants: readonly BundleTenant[];
}

/** index.json is missing fields, has the wrong types, or is not JSON. */
export class BundleFormatError extends HmiError {
  constructor(
    readonly file: string,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super('BUNDLE_FORMAT', `${file}: ${reason}`, options);
  }
}

/** The bundle holds no model with the runtime's weights (another model, or another training run). */
export class BundleModelMismatchError extends HmiError {
  constructor(
    readonly runtimeModel: { readonly modelId: string; readonly family: string; readonly modelHash: string },
    readonly bundleModels: readonly { readonly id: string; readonly family: string; readonly hash: string }[],
    where: string,
  ) {
    const models = bundleModels.map((m) => `${m.id} (${m.family}, hash ${m.hash})`).join(', ') || 'no model';
    super(
      'BUNDLE_MODEL_MISMATCH',
      `the bundle at ${where} is for ${models}; this runtime serves ${runtimeModel.modelId} (${runtimeModel.family}, hash ${runtimeModel.modelHash})`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// index.json

type Json = Record<string, unknown>;

class Check {
  constructor(readonly file: string) {}
  fail(at: string, what: string): never {
    throw new BundleFormatError(this.file, `${at} ${what}`);
  }
  object(v: unknown, at: string): Json {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) this.fail(at, 'must be an object');
    return v as Json;
  }
  array(v: unknown, at: string): unknown[] {
    if (!Array.isArray(v)) this.fail(at, 'must be an array');
    return v;
  }
  string(v: unknown, at: string): string {
    if (typeof v !== 'string' || v.length === 0) this.fail(at, 'must be a non-empty string');
    return v;
  }
  optString(v: unknown, at: string): string | undefined {
    return v === undefined ? undefined : this.string(v, at);
  }
  /** A path inside the bundle: relative, no "..", no scheme, so an index can only name its own files. */
  path(v: unknown, at: string): string {
    const p = this.string(v, at);
    if (p.startsWith('/') || p.includes('\\') || /^[a-z][a-z0-9+.-]*:/i.test(p) || p.split('/').includes('..')) this.fail(at, `must be a path inside the bundle, got ${JSON.stringify(p)}`);
    return p.endsWith('/') ? p : `${p}/`;
  }
  optPath(v: unknown, at: string): string | undefined {
    return v === undefined ? undefined : this.path(v, at);
  }
  optCount(v: unknown, at: string): number | undefined {
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) this.fail(at, 'must be a non-negative integer');
    return v;
  }
  optStrings(v: unknown, at: string): string[] | undefined {
    if (v === undefined) return undefined;
    return this.array(v, at).map((s, i) => {
      if (typeof s !== 'string') this.fail(`${at}[${i}]`, 'must be a string');
      return s;
    });
  }
}

/** Drops undefined fields, so a parsed entry has only what index.json set. */
function defined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/** Validates a parsed index.json; `file` names it in errors. */
export function parseBundleIndex(json: unknown, file = BUNDLE_INDEX): BundleIndex {
  // Annotated so that c.fail (never) narrows.
  const c: Check = new Check(file);
  const root = c.object(json, 'the index');
  if (root.version !== BUNDLE_VERSION) c.fail('version', `is ${JSON.stringify(root.version)}; this runtime reads version ${BUNDLE_VERSION}`);
  const models = c.array(root.models, 'models').map((v, i): BundleModel => {
    const at = `models[${i}]`;
    const m = c.object(v, at);
    const family = m.family;
    if (family !== 'bert' && family !== 'gpt2') c.fail(`${at}.family`, 'must be "bert" or "gpt2"');
    return defined({ id: c.string(m.id, `${at}.id`), family, path: c.path(m.path, `${at}.path`), hash: c.string(m.hash, `${at}.hash`), trainedOn: c.optString(m.trainedOn, `${at}.trainedOn`) });
  });
  const modelIds = new Set(models.map((m) => m.id));
  const modelOf = (v: unknown, at: string): string => {
    const id = c.string(v, at);
    if (!modelIds.has(id)) c.fail(at, `names model "${id}", which is not in models`);
    return id;
  };
  const domains = c.array(root.domains ?? [], 'domains').map((v, i): BundleDomain => {
    const at = `domains[${i}]`;
    const d = c.object(v, at);
    return defined({
      model: modelOf(d.model, `${at}.model`),
      id: c.string(d.id, `${at}.id`),
      parent: c.optString(d.parent, `${at}.parent`),
      lowerAdapter: c.optPath(d.lowerAdapter, `${at}.lowerAdapter`),
      budgetEntries: c.optCount(d.budgetEntries, `${at}.budgetEntries`),
      trainedOn: c.optString(d.trainedOn, `${at}.trainedOn`),
    });
  });
  const plotJson = c.object(root.plot ?? {}, 'plot');
  const plot = Object.fromEntries(Object.entries(plotJson).map(([id, p]) => [modelOf(id, `plot key`), c.path(p, `plot.${id}`)]));
  const tenants = c.array(root.tenants ?? [], 'tenants').map((v, i): BundleTenant => {
    const at = `tenants[${i}]`;
    const t = c.object(v, at);
    const task = t.task;
    if (task !== 'classify' && task !== 'generate') c.fail(`${at}.task`, 'must be "classify" or "generate"');
    return defined({
      id: c.string(t.id, `${at}.id`),
      model: modelOf(t.model, `${at}.model`),
      path: c.path(t.path, `${at}.path`),
      domain: c.optString(t.domain, `${at}.domain`),
      task,
      labels: c.optStrings(t.labels, `${at}.labels`),
      rank: c.optCount(t.rank, `${at}.rank`),
      trainedOn: c.optString(t.trainedOn, `${at}.trainedOn`),
      examples: c.optStrings(t.examples, `${at}.examples`),
      reference: c.optPath(t.reference, `${at}.reference`),
    });
  });
  for (const [what, ids] of [
    ['model', models.map((m) => m.id)],
    ['tenant', tenants.map((t) => t.id)],
    ['domain', domains.map((d) => `${d.model}/${d.id}`)],
  ] as const) {
    const seen = new Set<string>();
    for (const id of ids) {
      if (seen.has(id)) c.fail(`${what} "${id}"`, 'appears twice');
      seen.add(id);
    }
  }
  return { version: BUNDLE_VERSION, models, domains, plot, tenants };
}

const withSlash = (base: string): string => (base.endsWith('/') ? base : `${base}/`);

/** A file or directory of the bundle: URLs (relative to the page in a browser), in Node a directory. */
function bundleSource(base: string, path = ''): ModelSource {
  return resolveModelSource(withSlash(base) + path);
}

/** Reads and validates `${base}index.json`. */
export async function readBundleIndex(base: string): Promise<BundleIndex> {
  const source = bundleSource(base);
  const file = `${source.describe()}${source.describe().endsWith('/') ? '' : '/'}${BUNDLE_INDEX}`;
  const text = await source.readText(BUNDLE_INDEX);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new BundleFormatError(file, `invalid JSON: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  return parseBundleIndex(json, file);
}

/**
 * The runtime option `plotSource` for a model of the bundle (createRuntime({ plotSource })),
 * or undefined when the bundle ships no PLOT for it.
 */
export function bundlePlotSource(index: BundleIndex, modelId: string, base: string): string | undefined {
  const path = index.plot[modelId];
  return path === undefined ? undefined : withSlash(base) + path;
}

/** The bundle's model entry for a runtime: same weights (hash) and family. */
export function bundleModelFor(index: BundleIndex, info: Pick<RuntimeInfo, 'family' | 'modelId' | 'modelHash'>, where: string): BundleModel {
  const model = index.models.find((m) => m.hash === info.modelHash && m.family === info.family);
  if (!model) throw new BundleModelMismatchError(info, index.models, where);
  return model;
}

// ---------------------------------------------------------------------------------------------
// Loading

export interface LoadBundleOptions {
  /** Which of the model's tenants to register: all (true, the default), none, or these ids. */
  readonly tenants?: boolean | readonly string[];
  /**
   * Also register the selected tenants' reference adapters (every layer, no domain) as
   * tenants `${id}-full`, to compare against the domain tenants. Default false.
   */
  readonly references?: boolean;
  readonly onProgress?: ProgressCallback;
}

export interface LoadedBundle {
  readonly model: BundleModel;
  /** The model's domains in the bundle (registered now or before). */
  readonly domains: readonly BundleDomain[];
  /** The selected tenants of the model (registered now or before). */
  readonly tenants: readonly BundleTenant[];
  /** Ids registered by this call; ids already present were left as they were. */
  readonly added: { readonly domains: readonly string[]; readonly tenants: readonly string[] };
}

/** The entries in an order where each domain's parent comes first (or already exists). */
function parentsFirst(domains: readonly BundleDomain[], present: ReadonlySet<string>, file: string): BundleDomain[] {
  const known = new Set(present);
  const out: BundleDomain[] = [];
  let rest = [...domains];
  while (rest.length > 0) {
    const ready = rest.filter((d) => known.has(d.parent ?? 'general'));
    if (ready.length === 0) {
      const d = rest[0];
      throw new BundleFormatError(file, `domain "${d.id}" of ${d.model} has parent "${d.parent}", which is neither registered nor a domain of the bundle (or the parents loop)`);
    }
    for (const d of ready) known.add(d.id);
    out.push(...ready);
    rest = rest.filter((d) => !ready.includes(d));
  }
  return out;
}

/** A description within the tenant limit: the sentence, cut with an ellipsis if it is longer. */
function describe(text: string | undefined): string | undefined {
  if (!text) return undefined;
  return text.length <= MAX_DESCRIPTION ? text : `${text.slice(0, MAX_DESCRIPTION - 1)}…`;
}

/**
 * Registers the bundle's domains (with their own lower layers) and tenants for the runtime's
 * model, skipping ids already registered. Throws BundleModelMismatchError when the bundle has
 * no model with the runtime's weights, BundleFormatError for a bad index, and the adapter
 * loaders' errors (ModelLoadError, AdapterMismatchError, ...) for a bad adapter directory;
 * tenants are registered in one call, so a bad tenant adapter registers none of them.
 * The PLOT is not read here: pass `plotSource: bundlePlotSource(index, modelId, base)` to createRuntime.
 */
export async function loadBundle(runtime: HmiRuntimeApi, base: string, options: LoadBundleOptions = {}): Promise<LoadedBundle> {
  const index = await readBundleIndex(base);
  const file = `${withSlash(base)}${BUNDLE_INDEX}`;
  const model = bundleModelFor(index, await runtime.info(), withSlash(base));
  // The adapters are checked against the model's config; the hash matched, so the bundle's config is the runtime's.
  const config = await loadModelConfig(bundleSource(base, model.path));
  const adapter = (path: string): Promise<LoraAdapter> => loadAdapter(bundleSource(base, path), config);
  const progress = options.onProgress;

  const domains = index.domains.filter((d) => d.model === model.id);
  const present = new Set((await runtime.domains.list()).map((d) => d.id));
  const addedDomains: string[] = [];
  const toAdd = parentsFirst(domains, present, file).filter((d) => !present.has(d.id));
  for (const d of toAdd) {
    await runtime.domains.add({
      id: d.id,
      ...(d.parent !== undefined ? { parent: d.parent } : {}),
      ...(d.budgetEntries !== undefined ? { budgetEntries: d.budgetEntries } : {}),
      ...(d.lowerAdapter !== undefined ? { lowerAdapter: await adapter(d.lowerAdapter) } : {}),
    });
    addedDomains.push(d.id);
    progress?.({ phase: 'domains', done: addedDomains.length, total: toAdd.length });
  }

  const own = index.tenants.filter((t) => t.model === model.id);
  const choice = options.tenants ?? true;
  let tenants: BundleTenant[];
  if (choice === true) tenants = own;
  else if (choice === false) tenants = [];
  else {
    if (!Array.isArray(choice)) throw new InvalidInputError('options.tenants must be a boolean or an array of tenant ids');
    tenants = choice.map((id) => {
      const t = own.find((o) => o.id === id);
      if (!t) throw new InvalidInputError(`the bundle has no tenant "${id}" for ${model.id} (it has ${own.map((o) => o.id).join(', ') || 'none'})`);
      return t;
    });
  }
  const registered = new Set((await runtime.tenants.list()).map((t) => t.id));
  const wanted: { id: string; path: string; domain?: string; description?: string }[] = [];
  for (const t of tenants) {
    const about = describe(t.trainedOn);
    wanted.push({ id: t.id, path: t.path, ...(t.domain !== undefined ? { domain: t.domain } : {}), ...(about ? { description: about } : {}) });
    if (options.references && t.reference) {
      const ref = describe(`Reference for ${t.id}: LoRA on every layer of the full model, no domain.${t.trainedOn ? ` ${t.trainedOn}` : ''}`);
      wanted.push({ id: `${t.id}-full`, path: t.reference, ...(ref ? { description: ref } : {}) });
    }
  }
  const missing = wanted.filter((w) => !registered.has(w.id));
  const specs: TenantSpec[] = [];
  for (const w of missing) {
    specs.push({ id: w.id, adapter: await adapter(w.path), ...(w.domain !== undefined ? { domain: w.domain } : {}), ...(w.description ? { description: w.description } : {}) });
    progress?.({ phase: 'adapters', done: specs.length, total: missing.length });
  }
  if (specs.length > 0) await runtime.tenants.add(specs, progress);
  return { model, domains, tenants, added: { domains: addedDomains, tenants: specs.map((s) => s.id) } };
}
