/**
 * f64 reference of HF GPT2LMHeadModel in eval mode: pre-LN blocks, causal attention,
 * gelu_new (tanh) MLP, Conv1D weights stored [in, out], final ln_f, LM head tied to wte.
 * Split at layer S for the hPLM: gpt2LowerRef gives the residual stream after layer S-1
 * (no ln_f), gpt2UpperRef continues from it. The upper layers have no position embedding:
 * positions enter only through wpe before layer 0 and through the causal order of keys.
 */
import { ShapeError } from '../../errors.js';
import type { LoraAdapter, TensorMap } from '../../formats/types.js';
import { checkSplit, type Gpt2Config } from '../../formats/model-config.js';
import { checkAdapterTargets, projectRef } from './lora-ref.js';
import { addInPlace, argmax, attention, checkIds, geluTanh, layerNorm, mapInPlace, matmul, tensor, type Vec } from './ops.js';

/**
 * Keys and values of every layer for the tokens seen so far (HF's past_key_values). A
 * forward pass given a cache places its tokens at positions `length..`, attends over the
 * cached keys too, appends its own and advances `length`.
 */
export class Gpt2KvCacheRef {
  private readonly k: Float64Array[];
  private readonly v: Float64Array[];
  private tokens = 0;

  constructor(readonly config: Gpt2Config) {
    this.k = Array.from({ length: config.numLayers }, () => new Float64Array(0));
    this.v = Array.from({ length: config.numLayers }, () => new Float64Array(0));
  }

  /** Tokens already cached: the position of the next token. */
  get length(): number {
    return this.tokens;
  }

  /** Appends layer's rows for positions length..length+T-1; returns keys and values 0..length+T-1. */
  extend(layer: number, k: Float64Array, v: Float64Array, T: number): { k: Float64Array; v: Float64Array } {
    const H = this.config.hiddenSize;
    if (this.k[layer].length !== this.tokens * H) {
      throw new ShapeError(`KV cache layer ${layer} holds ${this.k[layer].length / H} tokens, the cache ${this.tokens}: layers were skipped`);
    }
    const grow = (old: Float64Array, fresh: Float64Array): Float64Array => {
      const all = new Float64Array((this.tokens + T) * H);
      all.set(old);
      all.set(fresh.subarray(0, T * H), this.tokens * H);
      return all;
    };
    this.k[layer] = grow(this.k[layer], k);
    this.v[layer] = grow(this.v[layer], v);
    return { k: this.k[layer], v: this.v[layer] };
  }

  advance(T: number): void {
    this.tokens += T;
  }
}

export interface Gpt2RefOptions {
  /** LoRA on any layer's projections. */
  readonly adapter?: LoraAdapter;
  /** Past keys/values; the pass's tokens continue after them. */
  readonly cache?: Gpt2KvCacheRef;
}

export interface Gpt2RefOutput {
  /** After ln_f, [T, H]. */
  readonly hidden: Float64Array;
  /** hidden @ wte^T, [T, V]. */
  readonly logits: Float64Array;
}

function ln(config: Gpt2Config, weights: TensorMap, name: string, x: Vec, T: number): Float64Array {
  const H = config.hiddenSize;
  return layerNorm(x, T, H, tensor(weights, `${name}.weight`, [H]), tensor(weights, `${name}.bias`, [H]), config.layerNormEps);
}

/** wte[ids] + wpe[pastLength..pastLength+T-1], [T, H]. */
export function gpt2EmbeddingsRef(config: Gpt2Config, weights: TensorMap, ids: readonly number[], pastLength = 0): Float64Array {
  checkIds(ids, config.vocabSize);
  const T = ids.length;
  const H = config.hiddenSize;
  if (pastLength + T > config.maxPositions) throw new RangeError(`positions up to ${pastLength + T - 1} exceed the ${config.maxPositions} positions`);
  const wte = tensor(weights, 'wte.weight', [config.vocabSize, H]);
  const wpe = tensor(weights, 'wpe.weight', [config.maxPositions, H]);
  const x = new Float64Array(T * H);
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < H; i++) x[t * H + i] = wte[ids[t] * H + i] + wpe[(pastLength + t) * H + i];
  }
  return x;
}

/** Block `layer` on h [T, H]: h + attn(ln_1(h)), then + mlp(ln_2(.)). */
export function gpt2BlockRef(
  config: Gpt2Config,
  weights: TensorMap,
  layer: number,
  h: Float64Array,
  T: number,
  adapter?: LoraAdapter,
  cache?: Gpt2KvCacheRef,
): Float64Array {
  const H = config.hiddenSize;
  const I = config.intermediateSize;
  if (!Number.isInteger(layer) || layer < 0 || layer >= config.numLayers) throw new RangeError(`layer ${layer} is outside 0..${config.numLayers - 1}`);
  if (h.length !== T * H) throw new ShapeError(`hidden state has ${h.length} values, expected ${T}x${H}`);
  const p = `h.${layer}`;
  const proj = (name: string, x: Vec, inDim: number, outDim: number): Float64Array =>
    projectRef(config, weights, `${p}.${name}`, x, T, inDim, outDim, adapter);
  const qkv = proj('attn.c_attn', ln(config, weights, `${p}.ln_1`, h, T), H, 3 * H);
  const q = new Float64Array(T * H);
  const k = new Float64Array(T * H);
  const v = new Float64Array(T * H);
  for (let t = 0; t < T; t++) {
    q.set(qkv.subarray(t * 3 * H, t * 3 * H + H), t * H);
    k.set(qkv.subarray(t * 3 * H + H, t * 3 * H + 2 * H), t * H);
    v.set(qkv.subarray(t * 3 * H + 2 * H, (t + 1) * 3 * H), t * H);
  }
  const past = cache?.length ?? 0;
  const kv = cache === undefined ? { k, v } : cache.extend(layer, k, v, T);
  const ctx = attention(q, kv.k, kv.v, { queries: T, keys: past + T, hidden: H, heads: config.numHeads, pastLength: past });
  const x = addInPlace(proj('attn.c_proj', ctx, H, H), h);
  const f = mapInPlace(proj('mlp.c_fc', ln(config, weights, `${p}.ln_2`, x, T), H, I), geluTanh);
  return addInPlace(proj('mlp.c_proj', f, I, H), x);
}

function runBlocks(config: Gpt2Config, weights: TensorMap, from: number, to: number, h: Float64Array, T: number, opts: Gpt2RefOptions): Float64Array {
  let x = h;
  for (let l = from; l < to; l++) x = gpt2BlockRef(config, weights, l, x, T, opts.adapter, opts.cache);
  return x;
}

/** The residual stream after layer split-1 (wte + wpe for split 0), positions 0..T-1, [T, H]. */
export function gpt2LowerRef(config: Gpt2Config, weights: TensorMap, split: number, ids: readonly number[], opts: { readonly adapter?: LoraAdapter } = {}): Float64Array {
  checkSplit(config, split);
  checkAdapterTargets(config, opts.adapter);
  return runBlocks(config, weights, 0, split, gpt2EmbeddingsRef(config, weights, ids), ids.length, { adapter: opts.adapter });
}

/**
 * Layers split..L-1 on hSplit, then ln_f and the tied LM head. With a cache, the tokens
 * follow the cached ones (only layers split.. of the cache are used).
 */
export function gpt2UpperRef(config: Gpt2Config, weights: TensorMap, split: number, hSplit: Float64Array, T: number, opts: Gpt2RefOptions = {}): Gpt2RefOutput {
  checkSplit(config, split);
  checkAdapterTargets(config, opts.adapter);
  const H = config.hiddenSize;
  if (hSplit.length !== T * H) throw new ShapeError(`split state has ${hSplit.length} values, expected ${T}x${H}`);
  const x = runBlocks(config, weights, split, config.numLayers, hSplit, T, opts);
  opts.cache?.advance(T);
  const hidden = ln(config, weights, 'ln_f', x, T);
  const logits = matmul(hidden, T, H, tensor(weights, 'wte.weight', [config.vocabSize, H]), config.vocabSize, 'nk');
  return { hidden, logits };
}

export function gpt2ForwardRef(config: Gpt2Config, weights: TensorMap, ids: readonly number[], opts: Gpt2RefOptions = {}): Gpt2RefOutput {
  return gpt2UpperRef(config, weights, 0, gpt2EmbeddingsRef(config, weights, ids, opts.cache?.length ?? 0), ids.length, opts);
}

/**
 * Greedy loop shared by the references: `nextLogits(all, fresh)` returns the logits [V] of
 * the last token of `all`, whose last `fresh` tokens are new since the previous call. The
 * result holds the generated tokens only; a stop id is included, then decoding ends.
 */
export function greedyDecode(
  promptIds: readonly number[],
  maxNewTokens: number,
  stopIds: readonly number[],
  nextLogits: (all: readonly number[], fresh: number) => Vec,
): number[] {
  if (!Number.isInteger(maxNewTokens) || maxNewTokens < 0) throw new RangeError(`maxNewTokens ${maxNewTokens} must be a non-negative integer`);
  const all = [...promptIds];
  const generated: number[] = [];
  let fresh = promptIds.length;
  while (generated.length < maxNewTokens) {
    const next = argmax(nextLogits(all, fresh));
    generated.push(next);
    all.push(next);
    fresh = 1;
    if (stopIds.includes(next)) break;
  }
  return generated;
}

export interface Gpt2GreedyOptions {
  readonly adapter?: LoraAdapter;
  readonly stopIds?: readonly number[];
  /** Decode with a KV cache (default) or by recomputing the whole sequence at every step. */
  readonly kvCache?: boolean;
}

export function lastRow(x: Float64Array, T: number, dim: number): Float64Array {
  return x.subarray((T - 1) * dim, T * dim);
}

export function gpt2GreedyRef(config: Gpt2Config, weights: TensorMap, promptIds: readonly number[], maxNewTokens: number, opts: Gpt2GreedyOptions = {}): number[] {
  checkIds(promptIds, config.vocabSize);
  const V = config.vocabSize;
  const cache = opts.kvCache === false ? undefined : new Gpt2KvCacheRef(config);
  return greedyDecode(promptIds, maxNewTokens, opts.stopIds ?? [], (all, fresh) => {
    const ids = cache === undefined ? all : all.slice(all.length - fresh);
    return lastRow(gpt2ForwardRef(config, weights, ids, { adapter: opts.adapter, cache }).logits, ids.length, V);
  });
}
