/**
 * Deterministic generators for the embedded default models (hbert-mini, hgpt-mini) and their
 * demo adapters, in real Hugging Face layout: config.json, model.safetensors, tokenizer.json,
 * tokenizer_config.json, and PEFT adapter files. Same options -> byte-identical files.
 *
 * Weights: embeddings are N(0, 0.02) as HF initializes them, but projections are
 * N(0, 1/fan_in) instead of N(0, 0.02^2): with 0.02 at H=128 every attention is nearly
 * uniform and every block nearly the identity, so all inputs (and all tenants) would look
 * alike. Unit-gain projections keep each layer's contribution comparable to the residual.
 */
import { byteSymbols, byteVocabOrder } from '../formats/byte-level.js';
import { BERT_SPECIALS, GPT2_EOS, byteLevelBpeTokenizerFiles, wordPieceTokenizerFiles } from '../formats/tokenizer-files.js';
import { LORA_KINDS, LORA_TARGETS, writePeftAdapter } from '../formats/peft.js';
import { writeSafetensors } from '../formats/safetensors.js';
import type { LoraModule, TensorMap } from '../formats/types.js';
import type { ModelConfig } from '../formats/model-config.js';
import { COMMON_WORDS, CORPUS } from './synthetic-text.js';
import { Rng } from '../util/rng.js';

/** Bump when any generator output changes, so scripts/make-models.mjs regenerates. */
export const GENERATOR_VERSION = 1;

export { Rng };

export type ModelFiles = Record<string, string | Uint8Array>;


function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

type Tensors = Map<string, { shape: readonly number[]; data: Float32Array }>;

function addLinear(t: Tensors, rng: Rng, name: string, shape: readonly [number, number], fanIn: number, biasLen: number): void {
  t.set(`${name}.weight`, { shape, data: rng.normals(shape[0] * shape[1], 1 / Math.sqrt(fanIn)) });
  t.set(`${name}.bias`, { shape: [biasLen], data: rng.normals(biasLen, 0.02) });
}

function addLayerNorm(t: Tensors, name: string, h: number): void {
  t.set(`${name}.weight`, { shape: [h], data: new Float32Array(h).fill(1) });
  t.set(`${name}.bias`, { shape: [h], data: new Float32Array(h) });
}

// ---------------------------------------------------------------------------------------------
// Tokenizers

const BERT_SUFFIXES = ['ing', 'ed', 'er', 'ly', 'es', 'est', 'tion', 'ment', 'ness', 'ful', 'less', 'able'];

/** WordPiece vocabulary: specials, single characters and their ##-forms, common suffixes, common words. */
export function bertVocab(): string[] {
  const chars: string[] = [];
  for (let c = 0x61; c <= 0x7a; c++) chars.push(String.fromCharCode(c));
  for (let c = 0x30; c <= 0x39; c++) chars.push(String.fromCharCode(c));
  for (const c of '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~') chars.push(c);
  const vocab: string[] = [...BERT_SPECIALS, ...chars, ...chars.map((c) => `##${c}`), ...BERT_SUFFIXES.map((s) => `##${s}`)];
  const seen = new Set(vocab);
  for (const w of COMMON_WORDS) {
    if (!seen.has(w)) {
      seen.add(w);
      vocab.push(w);
    }
  }
  return vocab;
}

export function makeBertTokenizer(maxLength: number): { tokenizer: Record<string, unknown>; config: Record<string, unknown> } {
  return wordPieceTokenizerFiles(bertVocab(), maxLength);
}

/** GPT-2's pre-tokenization regex (what the ByteLevel pre-tokenizer splits on). */
const GPT2_SPLIT = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/**
 * Classic BPE training on CORPUS: repeatedly merge the most frequent adjacent pair (ties to
 * the smallest pair string, so the result is deterministic) until `numMerges` merges exist
 * or every word is a single symbol.
 */
export function learnBpeMerges(text: string, numMerges: number): Array<[string, string]> {
  const symbols = byteSymbols();
  const encoder = new TextEncoder();
  const counts = new Map<string, number>();
  for (const piece of text.match(GPT2_SPLIT) ?? []) {
    const word = Array.from(encoder.encode(piece), (b) => symbols[b]).join('');
    counts.set(word, (counts.get(word) ?? 0) + 1);
  }
  const words = [...counts.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([w, c]) => ({ parts: [...w], count: c }));
  const merges: Array<[string, string]> = [];
  while (merges.length < numMerges) {
    const pairs = new Map<string, number>();
    for (const { parts, count } of words) {
      for (let i = 0; i + 1 < parts.length; i++) {
        const key = `${parts[i]} ${parts[i + 1]}`;
        pairs.set(key, (pairs.get(key) ?? 0) + count);
      }
    }
    let best: string | null = null;
    let bestCount = 0;
    for (const [key, c] of pairs) {
      if (c > bestCount || (c === bestCount && best !== null && key < best)) {
        best = key;
        bestCount = c;
      }
    }
    if (best === null) break;
    const [a, b] = best.split(' ') as [string, string];
    merges.push([a, b]);
    for (const w of words) {
      const next: string[] = [];
      for (let i = 0; i < w.parts.length; i++) {
        if (i + 1 < w.parts.length && w.parts[i] === a && w.parts[i + 1] === b) {
          next.push(a + b);
          i++;
        } else {
          next.push(w.parts[i]);
        }
      }
      w.parts = next;
    }
  }
  return merges;
}

export { GPT2_EOS };

/** Byte-level BPE with `vocabSize` ids: 256 byte symbols, merges learned on CORPUS, then <|endoftext|>. */
export function makeGpt2Tokenizer(vocabSize: number, maxLength: number): { tokenizer: Record<string, unknown>; config: Record<string, unknown>; vocabSize: number } {
  return byteLevelBpeTokenizerFiles(learnBpeMerges(CORPUS, Math.max(0, vocabSize - 257)), maxLength);
}

// ---------------------------------------------------------------------------------------------
// Models

export interface BertFilesOptions {
  readonly hiddenSize?: number;
  readonly numLayers?: number;
  readonly numHeads?: number;
  readonly intermediateSize?: number;
  readonly maxPositions?: number;
  readonly typeVocabSize?: number;
  /** Classifier labels; [] for an encoder without a classifier. */
  readonly labels?: readonly string[];
  readonly seed?: number;
  readonly dtype?: 'F32' | 'F16';
}

/** hbert-mini by default: H=128, 4 layers, 4 heads, FFN 512, 128 positions, a 2-label classifier. */
export function makeBertFiles(opts: BertFilesOptions = {}): ModelFiles {
  const H = opts.hiddenSize ?? 128;
  const L = opts.numLayers ?? 4;
  const heads = opts.numHeads ?? 4;
  const I = opts.intermediateSize ?? 4 * H;
  const P = opts.maxPositions ?? 128;
  const T = opts.typeVocabSize ?? 2;
  const labels = opts.labels ?? ['negative', 'positive'];
  const rng = new Rng(opts.seed ?? 1);
  const { tokenizer, config: tokConfig } = makeBertTokenizer(P);
  const V = bertVocab().length;

  const t: Tensors = new Map();
  t.set('bert.embeddings.word_embeddings.weight', { shape: [V, H], data: rng.normals(V * H, 0.02) });
  t.set('bert.embeddings.position_embeddings.weight', { shape: [P, H], data: rng.normals(P * H, 0.02) });
  t.set('bert.embeddings.token_type_embeddings.weight', { shape: [T, H], data: rng.normals(T * H, 0.02) });
  addLayerNorm(t, 'bert.embeddings.LayerNorm', H);
  for (let l = 0; l < L; l++) {
    const p = `bert.encoder.layer.${l}`;
    for (const m of ['query', 'key', 'value']) addLinear(t, rng, `${p}.attention.self.${m}`, [H, H], H, H);
    addLinear(t, rng, `${p}.attention.output.dense`, [H, H], H, H);
    addLayerNorm(t, `${p}.attention.output.LayerNorm`, H);
    addLinear(t, rng, `${p}.intermediate.dense`, [I, H], H, I);
    addLinear(t, rng, `${p}.output.dense`, [H, I], I, H);
    addLayerNorm(t, `${p}.output.LayerNorm`, H);
  }
  addLinear(t, rng, 'bert.pooler.dense', [H, H], H, H);
  if (labels.length > 0) addClassifier(t, rng, '', labels.length, H);

  const config: Record<string, unknown> = {
    architectures: [labels.length > 0 ? 'BertForSequenceClassification' : 'BertModel'],
    model_type: 'bert',
    vocab_size: V,
    hidden_size: H,
    num_hidden_layers: L,
    num_attention_heads: heads,
    intermediate_size: I,
    hidden_act: 'gelu',
    hidden_dropout_prob: 0.1,
    attention_probs_dropout_prob: 0.1,
    max_position_embeddings: P,
    type_vocab_size: T,
    initializer_range: 0.02,
    layer_norm_eps: 1e-12,
    pad_token_id: 0,
    position_embedding_type: 'absolute',
    ...(labels.length > 0
      ? {
          id2label: Object.fromEntries(labels.map((l, i) => [String(i), l])),
          label2id: Object.fromEntries(labels.map((l, i) => [l, i])),
        }
      : {}),
    torch_dtype: opts.dtype === 'F16' ? 'float16' : 'float32',
  };
  return {
    'config.json': json(config),
    'model.safetensors': writeSafetensors(t, { dtype: opts.dtype ?? 'F32', metadata: { format: 'pt' } }),
    'tokenizer.json': json(tokenizer),
    'tokenizer_config.json': json(tokConfig),
  };
}

/** A classifier whose logits spread over a few units, so softmax scores are not all ~1/n. */
function addClassifier(t: Tensors, rng: Rng, prefix: string, n: number, h: number): void {
  t.set(`${prefix}classifier.weight`, { shape: [n, h], data: rng.normals(n * h, 2 / Math.sqrt(h)) });
  t.set(`${prefix}classifier.bias`, { shape: [n], data: rng.normals(n, 0.02) });
}

export interface Gpt2FilesOptions {
  readonly nEmbd?: number;
  readonly nLayer?: number;
  readonly nHead?: number;
  /** null (the default) = 4 * nEmbd, as in HF. */
  readonly nInner?: number | null;
  readonly nPositions?: number;
  /** Target vocabulary size (256 bytes + merges + <|endoftext|>); the corpus may give fewer. */
  readonly vocabSize?: number;
  readonly seed?: number;
  readonly dtype?: 'F32' | 'F16';
}

/** hgpt-mini by default: n_embd=128, 4 layers, 4 heads, 256 positions, ~1000 tokens. */
export function makeGpt2Files(opts: Gpt2FilesOptions = {}): ModelFiles {
  const H = opts.nEmbd ?? 128;
  const L = opts.nLayer ?? 4;
  const heads = opts.nHead ?? 4;
  const I = opts.nInner ?? 4 * H;
  const P = opts.nPositions ?? 256;
  const rng = new Rng(opts.seed ?? 2);
  const { tokenizer, config: tokConfig, vocabSize: V } = makeGpt2Tokenizer(opts.vocabSize ?? 1000, P);

  const t: Tensors = new Map();
  // wte is also the LM head: 0.1 rather than 0.02 so next-token logits are not all ~0. Rows of
  // lone non-ASCII bytes, control bytes and <|endoftext|> are shrunk 5x: a short row rarely wins
  // the argmax, so greedy text is mostly readable instead of broken UTF-8 (or ending at once).
  const wte = rng.normals(V * H, 0.1);
  const order = byteVocabOrder();
  for (let id = 0; id < V; id++) {
    const b = id < 256 ? order[id] : -1;
    if (id === V - 1 || b >= 0x80 || (b >= 0 && b < 0x20 && b !== 0x0a)) {
      for (let i = 0; i < H; i++) wte[id * H + i] *= 0.2;
    }
  }
  t.set('transformer.wte.weight', { shape: [V, H], data: wte });
  t.set('transformer.wpe.weight', { shape: [P, H], data: rng.normals(P * H, 0.02) });
  for (let l = 0; l < L; l++) {
    const p = `transformer.h.${l}`;
    addLayerNorm(t, `${p}.ln_1`, H);
    addLinear(t, rng, `${p}.attn.c_attn`, [H, 3 * H], H, 3 * H);
    addLinear(t, rng, `${p}.attn.c_proj`, [H, H], H, H);
    addLayerNorm(t, `${p}.ln_2`, H);
    addLinear(t, rng, `${p}.mlp.c_fc`, [H, I], H, I);
    addLinear(t, rng, `${p}.mlp.c_proj`, [I, H], I, H);
  }
  addLayerNorm(t, 'transformer.ln_f', H);

  const config = {
    architectures: ['GPT2LMHeadModel'],
    model_type: 'gpt2',
    vocab_size: V,
    n_embd: H,
    n_layer: L,
    n_head: heads,
    n_inner: opts.nInner ?? null,
    n_positions: P,
    n_ctx: P,
    activation_function: 'gelu_new',
    layer_norm_epsilon: 1e-5,
    initializer_range: 0.02,
    resid_pdrop: 0.1,
    embd_pdrop: 0.1,
    attn_pdrop: 0.1,
    bos_token_id: V - 1,
    eos_token_id: V - 1,
    tie_word_embeddings: true,
    torch_dtype: opts.dtype === 'F16' ? 'float16' : 'float32',
  };
  return {
    'config.json': json(config),
    'model.safetensors': writeSafetensors(t, { dtype: opts.dtype ?? 'F32', metadata: { format: 'pt' } }),
    'tokenizer.json': json(tokenizer),
    'tokenizer_config.json': json(tokConfig),
  };
}

// ---------------------------------------------------------------------------------------------
// Adapters

export interface AdapterFilesOptions {
  readonly rank: number;
  /** PEFT target names (LORA_TARGETS of the family); default BERT [query, value], GPT-2 [c_attn]. */
  readonly targets?: readonly string[];
  /** Layers to adapt; default the upper half, which is what the runtime serves per tenant. */
  readonly layers?: readonly number[];
  /** BERT only: classifier outputs (default 2). */
  readonly numLabels?: number;
  readonly labels?: readonly string[];
  readonly seed: number;
  /** Default 2 * rank (scale 2). */
  readonly alpha?: number;
  /** Typical size of the LoRA delta relative to the base projection's output (default 0.5). */
  readonly strength?: number;
  readonly baseModelName?: string;
}

function defaultLabels(n: number): string[] {
  if (n === 2) return ['negative', 'positive'];
  if (n === 3) return ['negative', 'neutral', 'positive'];
  return Array.from({ length: n }, (_, i) => `label_${i}`);
}

/**
 * PEFT files (adapter_config.json + adapter_model.safetensors) for `base`. Unlike a freshly
 * initialized PEFT adapter (B = 0), B is random so that every tenant's outputs differ.
 */
export function makeAdapterFiles(base: ModelConfig, opts: AdapterFilesOptions): ModelFiles {
  const family = base.family;
  const rng = new Rng(opts.seed);
  const r = opts.rank;
  if (!Number.isInteger(r) || r < 1) throw new RangeError(`adapter rank ${r} must be a positive integer`);
  const targets = opts.targets ?? (family === 'bert' ? ['query', 'value'] : ['c_attn']);
  const L = base.numLayers;
  const layers = opts.layers ?? Array.from({ length: L - Math.floor(L / 2) }, (_, i) => Math.floor(L / 2) + i);
  const alpha = opts.alpha ?? 2 * r;
  const scale = alpha / r;
  const strength = opts.strength ?? 0.5;
  const H = base.hiddenSize;
  const I = base.intermediateSize;
  const dims: Record<string, [number, number]> =
    family === 'bert'
      ? {
          'attention.self.query': [H, H],
          'attention.self.key': [H, H],
          'attention.self.value': [H, H],
          'attention.output.dense': [H, H],
          'intermediate.dense': [H, I],
          'output.dense': [I, H],
        }
      : { 'attn.c_attn': [H, 3 * H], 'attn.c_proj': [H, H], 'mlp.c_fc': [H, I], 'mlp.c_proj': [I, H] };
  const modules = new Map<string, LoraModule>();
  for (const layer of layers) {
    if (!Number.isInteger(layer) || layer < 0 || layer >= L) throw new RangeError(`adapter layer ${layer} is not in 0..${L - 1}`);
    for (const target of targets) {
      const idx = LORA_TARGETS[family].indexOf(target);
      if (idx < 0) throw new RangeError(`"${target}" is not a ${family} LoRA target (${LORA_TARGETS[family].join(', ')})`);
      const kind = LORA_KINDS[family][idx];
      const [inDim, outDim] = dims[kind];
      const path = family === 'bert' ? `encoder.layer.${layer}.${kind}` : `h.${layer}.${kind}`;
      const A = rng.normals(r * inDim, 1 / Math.sqrt(inDim));
      const B = rng.normals(outDim * r, strength / (scale * Math.sqrt(r)));
      modules.set(path, { r, inDim, outDim, scale, A, B });
    }
  }
  const head: TensorMap = new Map();
  let labels: string[] | undefined;
  if (family === 'bert') {
    labels = [...(opts.labels ?? defaultLabels(opts.numLabels ?? 2))];
    const t: Tensors = new Map();
    addClassifier(t, rng, '', labels.length, H);
    for (const [k, v] of t) head.set(k, v);
  }
  const { config, weights } = writePeftAdapter({ modules, head, ...(labels !== undefined ? { labels } : {}) }, family, {
    ...(opts.baseModelName !== undefined ? { baseModelName: opts.baseModelName } : {}),
  });
  return { 'adapter_config.json': json(config), 'adapter_model.safetensors': weights };
}

// ---------------------------------------------------------------------------------------------
// The embedded defaults

export interface DefaultAdapterSpec {
  readonly base: 'hbert-mini' | 'hgpt-mini';
  readonly name: string;
  readonly options: AdapterFilesOptions;
}

export const DEFAULT_MODELS = {
  'hbert-mini': (): ModelFiles => makeBertFiles(),
  'hgpt-mini': (): ModelFiles => makeGpt2Files(),
} as const;

export const DEFAULT_ADAPTERS: readonly DefaultAdapterSpec[] = [
  { base: 'hbert-mini', name: 'sentiment-r4', options: { rank: 4, targets: ['query', 'value'], seed: 101, baseModelName: 'hbert-mini' } },
  { base: 'hbert-mini', name: 'topic-r8', options: { rank: 8, targets: ['query', 'key', 'value', 'attention.output.dense'], labels: ['sports', 'science', 'travel', 'food'], seed: 102, baseModelName: 'hbert-mini' } },
  { base: 'hbert-mini', name: 'intent-r8', options: { rank: 8, targets: ['query', 'value', 'intermediate.dense', 'output.dense'], numLabels: 3, seed: 103, baseModelName: 'hbert-mini' } },
  { base: 'hgpt-mini', name: 'poet-r4', options: { rank: 4, targets: ['c_attn'], seed: 201, baseModelName: 'hgpt-mini' } },
  { base: 'hgpt-mini', name: 'coder-r8', options: { rank: 8, targets: ['c_attn', 'attn.c_proj', 'c_fc', 'mlp.c_proj'], seed: 202, baseModelName: 'hgpt-mini' } },
];
