/**
 * PEFT LoRA adapters (adapter_config.json + adapter_model.safetensors) <-> LoraAdapter.
 *
 * Keys look like `base_model.model.[bert.|transformer.]<module>.lora_{A,B}[.default].weight`;
 * the task head comes from `modules_to_save` as `base_model.model.classifier.weight` (what PEFT
 * writes) or `...classifier.modules_to_save.default.weight` (an unsaved-adapter state dict).
 * PEFT has no place for label names; writePeftAdapter adds a `"labels": [...]` array to
 * adapter_config.json, and the parser also accepts an `"id2label"` object.
 */
import type { ModelConfig } from './model-config.js';
import { AdapterFormatError, AdapterMismatchError, SafetensorsError } from './errors.js';
import { parseSafetensors, writeSafetensors } from './safetensors.js';
import type { HostTensor, LoraAdapter, LoraModule, TensorMap } from './types.js';

export type Family = ModelConfig['family'];

/** Module kinds (path below the layer) that may carry LoRA, per family. */
export const LORA_KINDS: Readonly<Record<Family, readonly string[]>> = {
  bert: [
    'attention.self.query',
    'attention.self.key',
    'attention.self.value',
    'attention.output.dense',
    'intermediate.dense',
    'output.dense',
  ],
  gpt2: ['attn.c_attn', 'attn.c_proj', 'mlp.c_fc', 'mlp.c_proj'],
};

/** The target_modules names PEFT users write, per family. */
export const LORA_TARGETS: Readonly<Record<Family, readonly string[]>> = {
  bert: ['query', 'key', 'value', 'attention.output.dense', 'intermediate.dense', 'output.dense'],
  gpt2: ['c_attn', 'attn.c_proj', 'c_fc', 'mlp.c_proj'],
};

const MODEL_PREFIX: Readonly<Record<Family, string>> = { bert: 'bert.', gpt2: 'transformer.' };
const HEAD_TENSORS: Readonly<Record<Family, readonly string[]>> = {
  bert: ['classifier.weight', 'classifier.bias', 'pooler.dense.weight', 'pooler.dense.bias'],
  gpt2: [],
};

/** [inDim, outDim] of a LoRA-able module path like "encoder.layer.3.intermediate.dense", or a reason it is not one. */
export function loraModuleDims(config: ModelConfig, path: string): { layer: number; kind: string; inDim: number; outDim: number } | string {
  const m = config.family === 'bert' ? /^encoder\.layer\.(\d+)\.(.+)$/.exec(path) : /^h\.(\d+)\.(.+)$/.exec(path);
  if (m === null) return `it is not a transformer layer's projection (${config.family} LoRA targets: ${LORA_KINDS[config.family].join(', ')})`;
  const layer = Number(m[1]);
  const kind = m[2];
  if (layer >= config.numLayers) return `layer ${layer} does not exist, the base model has ${config.numLayers} layers`;
  const H = config.hiddenSize;
  const I = config.intermediateSize;
  const dims: Record<string, [number, number]> =
    config.family === 'bert'
      ? {
          'attention.self.query': [H, H],
          'attention.self.key': [H, H],
          'attention.self.value': [H, H],
          'attention.output.dense': [H, H],
          'intermediate.dense': [H, I],
          'output.dense': [I, H],
        }
      : { 'attn.c_attn': [H, 3 * H], 'attn.c_proj': [H, H], 'mlp.c_fc': [H, I], 'mlp.c_proj': [I, H] };
  const d = dims[kind];
  if (d === undefined) return `"${kind}" is not a LoRA target of ${config.family} (allowed: ${LORA_KINDS[config.family].join(', ')})`;
  return { layer, kind, inDim: d[0], outDim: d[1] };
}

type Json = Record<string, unknown>;

function isRecord(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** PEFT matches a target / pattern key when it equals the module name or is a dotted suffix of it. */
function suffixMatch(name: string, key: string): boolean {
  return name === key || name.endsWith(`.${key}`);
}

/** rank_pattern / alpha_pattern keys are suffixes or regexes over the full module name. */
function patternMatch(names: readonly string[], key: string): boolean {
  if (names.some((n) => suffixMatch(n, key))) return true;
  let re: RegExp;
  try {
    re = new RegExp(`^(?:.*\\.)?(?:${key})$`);
  } catch {
    return false;
  }
  return names.some((n) => re.test(n));
}

function readPattern(cfg: Json, key: string): Array<[string, number]> {
  const raw = cfg[key];
  if (raw === undefined || raw === null) return [];
  if (!isRecord(raw)) throw new AdapterFormatError(`adapter_config.json "${key}" must be an object`);
  return Object.entries(raw).map(([k, v]) => {
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
      throw new AdapterFormatError(`adapter_config.json "${key}"["${k}"] must be a positive number`);
    }
    return [k, v];
  });
}

function readLabels(cfg: Json): string[] | undefined {
  if (Array.isArray(cfg.labels)) {
    if (!cfg.labels.every((l): l is string => typeof l === 'string')) {
      throw new AdapterFormatError('adapter_config.json "labels" must be an array of strings');
    }
    return [...cfg.labels];
  }
  if (isRecord(cfg.id2label)) {
    const entries = Object.entries(cfg.id2label);
    const labels = new Array<string>(entries.length);
    for (const [k, v] of entries) {
      const i = Number(k);
      if (!/^\d+$/.test(k) || i >= entries.length || typeof v !== 'string') {
        throw new AdapterFormatError('adapter_config.json "id2label" must map the ids 0..n-1 to strings');
      }
      labels[i] = v;
    }
    return labels;
  }
  if (cfg.labels !== undefined && cfg.labels !== null) throw new AdapterFormatError('adapter_config.json "labels" must be an array of strings');
  return undefined;
}

function checkFinite(name: string, t: HostTensor): void {
  for (let i = 0; i < t.data.length; i++) {
    if (!Number.isFinite(t.data[i])) {
      throw new AdapterFormatError(`adapter tensor "${name}" holds ${t.data[i]} at index ${i}`);
    }
  }
}

interface Pending {
  fullName: string;
  A?: HostTensor;
  B?: HostTensor;
}

const LORA_KEY = /^(.+)\.lora_([AB])(?:\.([^.]+))?\.weight$/;
const SAVED_KEY = /^(.+)\.modules_to_save\.[^.]+\.(.+)$/;

/**
 * Parses and validates a PEFT LoRA adapter against the base model it will run on. Malformed
 * files -> AdapterFormatError; a module or head that does not fit `base` -> AdapterMismatchError.
 */
export function parsePeftAdapter(configJson: unknown, weights: Uint8Array, base: ModelConfig): LoraAdapter {
  if (!isRecord(configJson)) throw new AdapterFormatError('adapter_config.json must be a JSON object');
  const cfg = configJson;
  if (cfg.peft_type !== undefined && cfg.peft_type !== 'LORA') {
    throw new AdapterFormatError(`adapter_config.json "peft_type" is ${JSON.stringify(cfg.peft_type)}; only "LORA" is supported`);
  }
  if (cfg.use_dora === true) throw new AdapterFormatError('DoRA adapters (use_dora) are not supported');
  if (cfg.bias !== undefined && cfg.bias !== 'none') {
    throw new AdapterFormatError(`adapter_config.json "bias" is ${JSON.stringify(cfg.bias)}; only "none" is supported`);
  }
  const r = cfg.r;
  if (typeof r !== 'number' || !Number.isSafeInteger(r) || r < 1) {
    throw new AdapterFormatError(`adapter_config.json "r" must be a positive integer, got ${JSON.stringify(r)}`);
  }
  const alpha = cfg.lora_alpha ?? 8;
  if (typeof alpha !== 'number' || !Number.isFinite(alpha) || alpha <= 0) {
    throw new AdapterFormatError(`adapter_config.json "lora_alpha" must be a positive number, got ${JSON.stringify(alpha)}`);
  }
  const rsLora = cfg.use_rslora === true;
  const rankPattern = readPattern(cfg, 'rank_pattern');
  const alphaPattern = readPattern(cfg, 'alpha_pattern');
  const targets = parseTargets(cfg.target_modules, base.family);
  const labels = readLabels(cfg);

  let tensors: Map<string, HostTensor>;
  try {
    tensors = parseSafetensors(weights);
  } catch (e) {
    if (e instanceof SafetensorsError) throw new AdapterFormatError(`adapter_model.safetensors: ${e.message}`, { cause: e });
    throw e;
  }

  const pending = new Map<string, Pending>();
  const head: TensorMap = new Map();
  const prefix = MODEL_PREFIX[base.family];
  for (const [key, tensor] of tensors) {
    checkFinite(key, tensor);
    const full = key.startsWith('base_model.model.') ? key.slice('base_model.model.'.length) : key;
    const lora = LORA_KEY.exec(full);
    if (lora !== null) {
      const fullName = lora[1];
      const path = fullName.startsWith(prefix) ? fullName.slice(prefix.length) : fullName;
      const p = pending.get(path) ?? { fullName };
      if (p[lora[2] as 'A' | 'B'] !== undefined) throw new AdapterFormatError(`adapter holds lora_${lora[2]} of "${path}" twice`);
      p[lora[2] as 'A' | 'B'] = tensor;
      pending.set(path, p);
      continue;
    }
    const saved = SAVED_KEY.exec(full);
    const savedName = saved !== null ? `${saved[1]}.${saved[2]}` : full;
    const headName = savedName.startsWith(prefix) ? savedName.slice(prefix.length) : savedName;
    if (HEAD_TENSORS[base.family].includes(headName)) {
      if (head.has(headName)) throw new AdapterFormatError(`adapter holds "${headName}" twice`);
      head.set(headName, tensor);
      continue;
    }
    if (/lora_|modules_to_save/.test(full)) throw new AdapterFormatError(`adapter tensor "${key}" is not a LoRA A/B weight this runtime supports`);
    throw new AdapterMismatchError(headName, base.family === 'gpt2' ? 'hGPT uses the tied LM head; only LoRA weights are allowed' : 'it is neither a LoRA weight nor a task head tensor (classifier, pooler.dense)');
  }

  const modules = new Map<string, LoraModule>();
  for (const path of [...pending.keys()].sort(comparePaths)) {
    const p = pending.get(path)!;
    if (p.A === undefined || p.B === undefined) {
      throw new AdapterFormatError(`module "${path}" has lora_${p.A === undefined ? 'A' : 'B'} missing`);
    }
    const dims = loraModuleDims(base, path);
    if (typeof dims === 'string') throw new AdapterMismatchError(path, dims);
    const names = [p.fullName, path];
    if (targets !== null && !targets.some((t) => names.some((n) => suffixMatch(n, t)))) {
      throw new AdapterFormatError(`module "${path}" has LoRA weights but matches no entry of target_modules`);
    }
    const rank = lastMatch(rankPattern, names) ?? r;
    const moduleAlpha = lastMatch(alphaPattern, names) ?? alpha;
    const { A, B } = p;
    if (A.shape.length !== 2 || B.shape.length !== 2) throw new AdapterFormatError(`module "${path}": lora_A and lora_B must be matrices`);
    if (A.shape[0] !== rank || B.shape[1] !== rank) {
      throw new AdapterFormatError(
        `module "${path}": lora_A [${A.shape.join(', ')}] and lora_B [${B.shape.join(', ')}] do not have the rank ${rank} adapter_config.json gives`,
      );
    }
    if (A.shape[1] !== dims.inDim) {
      throw new AdapterMismatchError(path, `lora_A has ${A.shape[1]} input features, the base projection takes ${dims.inDim}`);
    }
    if (B.shape[0] !== dims.outDim) {
      throw new AdapterMismatchError(path, `lora_B has ${B.shape[0]} output features, the base projection gives ${dims.outDim}`);
    }
    const scale = rsLora ? moduleAlpha / Math.sqrt(rank) : moduleAlpha / rank;
    modules.set(path, { r: rank, inDim: dims.inDim, outDim: dims.outDim, scale, A: A.data, B: B.data });
  }
  if (modules.size === 0) throw new AdapterFormatError('adapter has no LoRA weights');
  checkHead(base, head, labels);
  return { modules, head, ...(labels !== undefined ? { labels } : {}) };
}

function lastMatch(pattern: ReadonlyArray<[string, number]>, names: readonly string[]): number | undefined {
  let found: number | undefined;
  for (const [key, v] of pattern) if (patternMatch(names, key)) found = v;
  return found;
}

/** Returns null when target_modules is a regex string: then the weights alone say what is adapted. */
function parseTargets(raw: unknown, family: Family): string[] | null {
  if (typeof raw === 'string') return null;
  if (!Array.isArray(raw) || raw.length === 0 || !raw.every((t): t is string => typeof t === 'string')) {
    throw new AdapterFormatError('adapter_config.json "target_modules" must be a non-empty array of module names');
  }
  for (const t of raw) {
    if (!LORA_KINDS[family].some((k) => suffixMatch(k, t))) {
      throw new AdapterMismatchError(t, `"${t}" is not a LoRA target this runtime supports for ${family} (allowed: ${LORA_TARGETS[family].join(', ')})`);
    }
  }
  return raw;
}

function checkHead(base: ModelConfig, head: TensorMap, labels: readonly string[] | undefined): void {
  const H = base.hiddenSize;
  const w = head.get('classifier.weight');
  const b = head.get('classifier.bias');
  if ((w === undefined) !== (b === undefined)) {
    throw new AdapterFormatError(`adapter has classifier.${w === undefined ? 'bias' : 'weight'} but not classifier.${w === undefined ? 'weight' : 'bias'}`);
  }
  if (w !== undefined && b !== undefined) {
    const n = w.shape[0];
    if (w.shape.length !== 2 || w.shape[1] !== H || n < 1) {
      throw new AdapterMismatchError('classifier', `weight has shape [${w.shape.join(', ')}], expected [numLabels, ${H}]`);
    }
    if (b.shape.length !== 1 || b.shape[0] !== n) {
      throw new AdapterMismatchError('classifier', `bias has shape [${b.shape.join(', ')}], expected [${n}]`);
    }
    if (labels !== undefined && labels.length !== n) {
      throw new AdapterFormatError(`adapter_config.json names ${labels.length} labels but the classifier has ${n} outputs`);
    }
  }
  const pw = head.get('pooler.dense.weight');
  const pb = head.get('pooler.dense.bias');
  if ((pw === undefined) !== (pb === undefined)) throw new AdapterFormatError('adapter has only one of pooler.dense.weight and pooler.dense.bias');
  if (pw !== undefined && (pw.shape.length !== 2 || pw.shape[0] !== H || pw.shape[1] !== H)) {
    throw new AdapterMismatchError('pooler.dense', `weight has shape [${pw.shape.join(', ')}], expected [${H}, ${H}]`);
  }
  if (pb !== undefined && (pb.shape.length !== 1 || pb.shape[0] !== H)) {
    throw new AdapterMismatchError('pooler.dense', `bias has shape [${pb.shape.join(', ')}], expected [${H}]`);
  }
}

/** Orders "h.2..." before "h.10..." so configs and errors read naturally. */
function comparePaths(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}

export interface WritePeftOptions {
  readonly baseModelName?: string;
  readonly dtype?: 'F32' | 'F16';
}

function mostCommon(values: readonly number[]): number {
  const counts = new Map<number, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  let best = values[0];
  for (const [v, c] of counts) if (c > counts.get(best)! || (c === counts.get(best)! && v < best)) best = v;
  return best;
}

/**
 * Writes the PEFT layout a `PeftModel.save_pretrained` would (keys with the model-class
 * prefix, no adapter name; ranks/alphas that differ from the most common one in
 * rank_pattern/alpha_pattern keyed by module path; the head under modules_to_save).
 * PEFT matches target_modules by dotted suffix, so "output.dense" also names BERT's
 * attention.output.dense: PEFT itself would add (zero) LoRA there; parsePeftAdapter does not.
 */
export function writePeftAdapter(adapter: LoraAdapter, family: Family, opts: WritePeftOptions = {}): { config: Json; weights: Uint8Array } {
  const paths = [...adapter.modules.keys()].sort(comparePaths);
  if (paths.length === 0) throw new AdapterFormatError('adapter has no LoRA modules to write');
  const mods = paths.map((p) => adapter.modules.get(p)!);
  const r = mostCommon(mods.map((m) => m.r));
  const alphaOf = (m: LoraModule): number => m.scale * m.r;
  const alpha = mostCommon(mods.map(alphaOf));
  const rankPattern: Record<string, number> = {};
  const alphaPattern: Record<string, number> = {};
  const kinds = new Set<string>();
  const tensors = new Map<string, { shape: readonly number[]; data: Float32Array }>();
  const prefix = `base_model.model.${MODEL_PREFIX[family]}`;
  paths.forEach((path, i) => {
    const m = mods[i];
    const kind = LORA_KINDS[family].find((k) => path.endsWith(`.${k}`));
    if (kind === undefined) throw new AdapterFormatError(`"${path}" is not a ${family} LoRA target`);
    kinds.add(LORA_TARGETS[family][LORA_KINDS[family].indexOf(kind)]);
    if (m.A.length !== m.r * m.inDim || m.B.length !== m.outDim * m.r) {
      throw new AdapterFormatError(`module "${path}": A/B sizes do not match r=${m.r}, in=${m.inDim}, out=${m.outDim}`);
    }
    if (m.r !== r) rankPattern[path] = m.r;
    if (alphaOf(m) !== alpha) alphaPattern[path] = alphaOf(m);
    tensors.set(`${prefix}${path}.lora_A.weight`, { shape: [m.r, m.inDim], data: m.A });
    tensors.set(`${prefix}${path}.lora_B.weight`, { shape: [m.outDim, m.r], data: m.B });
  });
  const saved = new Set<string>();
  for (const [name, t] of adapter.head) {
    if (!HEAD_TENSORS[family].includes(name)) throw new AdapterFormatError(`head tensor "${name}" cannot be stored in a ${family} adapter`);
    saved.add(name.slice(0, name.lastIndexOf('.')));
    tensors.set(`base_model.model.${name}`, t);
  }
  const config: Json = {
    peft_type: 'LORA',
    task_type: family === 'bert' ? 'SEQ_CLS' : 'CAUSAL_LM',
    base_model_name_or_path: opts.baseModelName ?? null,
    r,
    lora_alpha: alpha,
    lora_dropout: 0,
    bias: 'none',
    fan_in_fan_out: family === 'gpt2',
    target_modules: LORA_TARGETS[family].filter((t) => kinds.has(t)),
    rank_pattern: rankPattern,
    alpha_pattern: alphaPattern,
    modules_to_save: saved.size > 0 ? [...saved].sort() : null,
    inference_mode: true,
    use_rslora: false,
    use_dora: false,
    ...(adapter.labels !== undefined ? { labels: [...adapter.labels] } : {}),
  };
  return { config, weights: writeSafetensors(tensors, { dtype: opts.dtype ?? 'F32', metadata: { format: 'pt' } }) };
}
