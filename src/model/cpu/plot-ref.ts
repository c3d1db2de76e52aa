/**
 * f64 reference of PLOT semantics (DESIGN.md section 1, after SkipBERT): what a PLOT entry
 * holds for an n-gram key, and how a sequence's split state (the input of layer S) is built
 * from entries.
 *
 * This is an approximation of the full model: the lower layers see only a 3-token window,
 * never the whole sequence. So the `exact` policy means equality between a PLOT hit and
 * the same window computed on the fly through the node's lower layers (these functions),
 * not equality with bertForwardRef / gpt2ForwardRef.
 *
 * A domain node with its own lower-layer weights passes them as `weights`; one with a LoRA
 * on the lower layers passes it as `adapterLower`.
 */
import { ShapeError } from '../../errors.js';
import type { LoraAdapter, TensorMap } from '../../formats/types.js';
import type { BertConfig, Gpt2Config } from '../../formats/model-config.js';
import { bertLowerRef, bertUpperRef, type BertRefOutput } from './bert-ref.js';
import { Gpt2KvCacheRef, gpt2LowerRef, gpt2UpperRef, greedyDecode, lastRow, type Gpt2RefOutput } from './gpt2-ref.js';
import { checkIds, layerNorm, tensor, type Vec } from './ops.js';

export type Trigram = readonly [number, number, number];

/** A domain node's LayerNorm over combined hBERT entries, [H] each. */
export interface LayerNormWeights {
  readonly weight: Vec;
  readonly bias: Vec;
}

/** hBERT keys: position i -> (x[i-1], x[i], x[i+1]), config.padTokenId outside the sequence. */
export function bertTrigramKeys(config: BertConfig, ids: readonly number[]): Trigram[] {
  checkIds(ids, config.vocabSize);
  const at = (i: number): number => (i < 0 || i >= ids.length ? config.padTokenId : ids[i]);
  return ids.map((_, i) => [at(i - 1), at(i), at(i + 1)] as const);
}

/**
 * An hBERT entry: the lower layers (embeddings with positions 0,1,2 and token type 0, then
 * layers 0..split-1, every slot attended, padding ids included) run on the 3-token window
 * alone. [3, H]: the three slots' outputs, before any combination.
 */
export function bertTrigramEntryRef(config: BertConfig, weights: TensorMap, split: number, tri: Trigram, adapterLower?: LoraAdapter): Float64Array {
  return bertLowerRef(config, weights, split, [...tri], { adapter: adapterLower });
}

/**
 * Combines per-position entries ([3, H] each, entries[i] for key i) into the split state:
 * rep(i) = T(i)[1] + T(i+1)[0] + T(i-1)[2], terms outside the sequence dropped (T=1 keeps
 * only T(0)[1]), then + position embedding i + token-type embedding 0 (the base's), then
 * LayerNorm with the domain node's weights and config.layerNormEps. [T, H].
 */
export function bertPlotCombineRef(config: BertConfig, weights: TensorMap, entries: readonly Vec[], ln: LayerNormWeights): Float64Array {
  const T = entries.length;
  const H = config.hiddenSize;
  if (T === 0) throw new ShapeError('empty token sequence');
  if (T > config.maxPositions) throw new RangeError(`${T} tokens exceed the ${config.maxPositions} positions`);
  for (const e of entries) if (e.length !== 3 * H) throw new ShapeError(`a PLOT entry has ${e.length} values, expected 3x${H}`);
  const pos = tensor(weights, 'embeddings.position_embeddings.weight', [config.maxPositions, H]);
  const type = tensor(weights, 'embeddings.token_type_embeddings.weight', [config.typeVocabSize, H]);
  const rep = new Float64Array(T * H);
  for (let i = 0; i < T; i++) {
    for (let d = 0; d < H; d++) {
      let x = entries[i][H + d];
      if (i + 1 < T) x += entries[i + 1][d];
      if (i > 0) x += entries[i - 1][2 * H + d];
      rep[i * H + d] = x + pos[i * H + d] + type[d];
    }
  }
  return layerNorm(rep, T, H, ln.weight, ln.bias, config.layerNormEps);
}

/** The hBERT split state of `ids` built from on-the-fly entries, [T, H]; feeds bertUpperRef. */
export function bertPlotHiddenRef(
  config: BertConfig,
  weights: TensorMap,
  split: number,
  ids: readonly number[],
  ln: LayerNormWeights,
  opts: { readonly adapterLower?: LoraAdapter } = {},
): Float64Array {
  const entries = bertTrigramKeys(config, ids).map((tri) => bertTrigramEntryRef(config, weights, split, tri, opts.adapterLower));
  return bertPlotCombineRef(config, weights, entries, ln);
}

/** hBERT two-phase inference: PLOT split state, then the upper layers with the tenant's adapter and head. */
export function bertPlotForwardRef(
  config: BertConfig,
  weights: TensorMap,
  split: number,
  ids: readonly number[],
  ln: LayerNormWeights,
  opts: { readonly adapterLower?: LoraAdapter; readonly adapter?: LoraAdapter; readonly attentionMask?: readonly number[] } = {},
): BertRefOutput {
  const h = bertPlotHiddenRef(config, weights, split, ids, ln, opts);
  return bertUpperRef(config, weights, split, h, ids.length, { adapter: opts.adapter, attentionMask: opts.attentionMask });
}

/** hGPT keys: position i -> (x[i-2], x[i-1], x[i]), config.eosTokenId before the start. */
export function gpt2TrigramKeys(config: Gpt2Config, ids: readonly number[]): Trigram[] {
  checkIds(ids, config.vocabSize);
  const at = (i: number): number => (i < 0 ? config.eosTokenId : ids[i]);
  return ids.map((_, i) => [at(i - 2), at(i - 1), at(i)] as const);
}

/**
 * An hGPT entry: the lower layers' output (residual stream after layer split-1, no ln_f)
 * at the last slot of the causal window run alone at positions 0,1,2. [H]. The token's
 * real position thus never reaches the lower layers; the upper layers have no position
 * embedding and see positions only through the causal order.
 */
export function gpt2TrigramEntryRef(config: Gpt2Config, weights: TensorMap, split: number, tri: Trigram, adapterLower?: LoraAdapter): Float64Array {
  return lastRow(gpt2LowerRef(config, weights, split, [...tri], { adapter: adapterLower }), 3, config.hiddenSize).slice();
}

/** The hGPT split state of `ids`: entry i as row i, [T, H]; feeds gpt2UpperRef. */
export function gpt2PlotHiddenRef(config: Gpt2Config, weights: TensorMap, split: number, ids: readonly number[], opts: { readonly adapterLower?: LoraAdapter } = {}): Float64Array {
  const H = config.hiddenSize;
  const keys = gpt2TrigramKeys(config, ids);
  const h = new Float64Array(keys.length * H);
  keys.forEach((tri, i) => h.set(gpt2TrigramEntryRef(config, weights, split, tri, opts.adapterLower), i * H));
  return h;
}

export interface Gpt2PlotOptions {
  readonly adapterLower?: LoraAdapter;
  /** The tenant's LoRA on the upper layers. */
  readonly adapter?: LoraAdapter;
}

/** hGPT two-phase inference over a whole sequence (no cache). */
export function gpt2PlotForwardRef(config: Gpt2Config, weights: TensorMap, split: number, ids: readonly number[], opts: Gpt2PlotOptions = {}): Gpt2RefOutput {
  return gpt2UpperRef(config, weights, split, gpt2PlotHiddenRef(config, weights, split, ids, opts), ids.length, { adapter: opts.adapter });
}

/**
 * hGPT greedy generation as the runtime does it: each new token's split state comes from
 * its trigram (which reaches back into earlier tokens), the upper layers run with a KV cache.
 */
export function gpt2PlotGreedyRef(
  config: Gpt2Config,
  weights: TensorMap,
  split: number,
  promptIds: readonly number[],
  maxNewTokens: number,
  opts: Gpt2PlotOptions & { readonly stopIds?: readonly number[] } = {},
): number[] {
  checkIds(promptIds, config.vocabSize);
  const H = config.hiddenSize;
  const cache = new Gpt2KvCacheRef(config);
  return greedyDecode(promptIds, maxNewTokens, opts.stopIds ?? [], (all, fresh) => {
    const keys = gpt2TrigramKeys(config, all).slice(all.length - fresh);
    const h = new Float64Array(fresh * H);
    keys.forEach((tri, i) => h.set(gpt2TrigramEntryRef(config, weights, split, tri, opts.adapterLower), i * H));
    return lastRow(gpt2UpperRef(config, weights, split, h, fresh, { adapter: opts.adapter, cache }).logits, fresh, config.vocabSize);
  });
}
