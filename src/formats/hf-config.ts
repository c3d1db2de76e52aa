/**
 * HF config.json -> ModelConfig for the two supported families (BERT encoders, GPT-2 decoders).
 * A key the file leaves out takes transformers' default (BertConfig, GPT2Config), so a config
 * loads here exactly when it would load there.
 */
import type { BertConfig, Gpt2Config, ModelConfig } from './model-config.js';
import { ConfigError } from './errors.js';

type Json = Record<string, unknown>;

function isRecord(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function positiveInt(c: Json, key: string, fallback?: number): number {
  const v = c[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) {
    throw new ConfigError(`config.json "${key}" must be a positive integer, got ${JSON.stringify(v) ?? 'nothing'}`);
  }
  return v;
}

function tokenId(c: Json, key: string, vocabSize: number, fallback?: number): number {
  const v = c[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v >= vocabSize) {
    throw new ConfigError(`config.json "${key}" must be a token id in 0..${vocabSize - 1}, got ${JSON.stringify(v) ?? 'nothing'}`);
  }
  return v;
}

function positiveNumber(c: Json, key: string, fallback: number): number {
  const v = c[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
    throw new ConfigError(`config.json "${key}" must be a positive number, got ${JSON.stringify(v)}`);
  }
  return v;
}

function expectString(c: Json, key: string, allowed: readonly string[], fallback: string): void {
  const v = c[key] ?? fallback;
  if (typeof v !== 'string' || !allowed.includes(v)) {
    throw new ConfigError(`config.json "${key}" is ${JSON.stringify(v)}; this runtime supports only ${allowed.map((a) => JSON.stringify(a)).join(', ')}`);
  }
}

function checkHeads(hidden: number, heads: number, hiddenKey: string): void {
  if (hidden % heads !== 0) {
    throw new ConfigError(`config.json "${hiddenKey}" ${hidden} is not divisible by the number of attention heads ${heads}`);
  }
}

/** id2label {"0": "neg", "1": "pos"} -> ["neg", "pos"]; ids must be exactly 0..n-1. */
function parseLabels(c: Json): string[] | undefined {
  const raw = c.id2label;
  if (raw === undefined || raw === null) return undefined;
  if (!isRecord(raw)) throw new ConfigError('config.json "id2label" must be an object {"0": "label", ...}');
  const entries = Object.entries(raw);
  const labels: string[] = new Array<string>(entries.length);
  for (const [k, v] of entries) {
    const i = Number(k);
    if (!/^\d+$/.test(k) || i >= entries.length || labels[i] !== undefined) {
      throw new ConfigError(`config.json "id2label" keys must be the ids 0..${entries.length - 1}, got "${k}"`);
    }
    if (typeof v !== 'string') throw new ConfigError(`config.json "id2label"["${k}"] must be a string`);
    labels[i] = v;
  }
  return labels;
}

function parseBert(c: Json): BertConfig {
  const vocabSize = positiveInt(c, 'vocab_size', 30522);
  const hiddenSize = positiveInt(c, 'hidden_size', 768);
  const numHeads = positiveInt(c, 'num_attention_heads', 12);
  checkHeads(hiddenSize, numHeads, 'hidden_size');
  expectString(c, 'hidden_act', ['gelu'], 'gelu');
  expectString(c, 'position_embedding_type', ['absolute'], 'absolute');
  const labels = parseLabels(c);
  let numLabels: number | undefined = labels?.length;
  if (c.num_labels !== undefined) {
    const n = positiveInt(c, 'num_labels');
    if (numLabels !== undefined && n !== numLabels) {
      throw new ConfigError(`config.json "num_labels" ${n} disagrees with "id2label", which has ${numLabels} labels`);
    }
    numLabels = n;
  }
  return {
    family: 'bert',
    vocabSize,
    hiddenSize,
    numLayers: positiveInt(c, 'num_hidden_layers', 12),
    numHeads,
    intermediateSize: positiveInt(c, 'intermediate_size', 3072),
    maxPositions: positiveInt(c, 'max_position_embeddings', 512),
    typeVocabSize: positiveInt(c, 'type_vocab_size', 2),
    layerNormEps: positiveNumber(c, 'layer_norm_eps', 1e-12),
    padTokenId: tokenId(c, 'pad_token_id', vocabSize, 0),
    ...(numLabels !== undefined ? { numLabels } : {}),
    ...(labels !== undefined ? { labels } : {}),
  };
}

/** GPT2Config's bos_token_id and eos_token_id: <|endoftext|> of GPT-2's own vocabulary. */
const GPT2_DEFAULT_SPECIAL_ID = 50256;

/**
 * What a GPT-2 config without bos_token_id / eos_token_id means. transformers says 50256, which
 * is right for GPT-2's vocabulary; a smaller vocabulary has no id 50256, so the model's own
 * <|endoftext|> is taken (from its tokenizer), else its last id (where GPT-2 keeps it).
 */
function defaultGpt2SpecialId(vocabSize: number, hints: ConfigHints): number {
  if (vocabSize > GPT2_DEFAULT_SPECIAL_ID) return GPT2_DEFAULT_SPECIAL_ID;
  const eot = hints.endOfTextId;
  if (eot !== undefined && eot >= 0 && eot < vocabSize) return eot;
  return vocabSize - 1;
}

function parseGpt2(c: Json, hints: ConfigHints): Gpt2Config {
  const vocabSize = positiveInt(c, 'vocab_size', 50257);
  const hiddenSize = positiveInt(c, 'n_embd', 768);
  const numHeads = positiveInt(c, 'n_head', 12);
  checkHeads(hiddenSize, numHeads, 'n_embd');
  expectString(c, 'activation_function', ['gelu_new'], 'gelu_new');
  const specialId = defaultGpt2SpecialId(vocabSize, hints);
  return {
    family: 'gpt2',
    vocabSize,
    hiddenSize,
    numLayers: positiveInt(c, 'n_layer', 12),
    numHeads,
    intermediateSize: c.n_inner === null || c.n_inner === undefined ? 4 * hiddenSize : positiveInt(c, 'n_inner'),
    // n_ctx is the pre-2020 name of n_positions.
    maxPositions: positiveInt(c, 'n_positions', typeof c.n_ctx === 'number' ? c.n_ctx : 1024),
    layerNormEps: positiveNumber(c, 'layer_norm_epsilon', 1e-5),
    bosTokenId: tokenId(c, 'bos_token_id', vocabSize, specialId),
    eosTokenId: tokenId(c, 'eos_token_id', vocabSize, specialId),
  };
}

/** What the model's other files tell the config parser. */
export interface ConfigHints {
  /** The tokenizer's id of <|endoftext|>, when the model has a tokenizer that knows it. */
  readonly endOfTextId?: number;
}

/** Validates and normalizes a parsed config.json; anything unsupported is a ConfigError. */
export function parseHfConfig(json: unknown, hints: ConfigHints = {}): ModelConfig {
  if (!isRecord(json)) throw new ConfigError('config.json must be a JSON object');
  const type = json.model_type;
  if (type === 'bert') return parseBert(json);
  if (type === 'gpt2') return parseGpt2(json, hints);
  throw new ConfigError(`config.json "model_type" is ${JSON.stringify(type) ?? 'missing'}; supported: "bert", "gpt2"`);
}
