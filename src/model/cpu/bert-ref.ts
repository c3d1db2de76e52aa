/**
 * f64 reference of HF BertModel / BertForSequenceClassification in eval mode (no dropout):
 * post-LN encoder layers, erf GELU ("gelu"), absolute position embeddings, pooler
 * tanh(dense(h[CLS])), classifier on the pooled vector. Split at layer S for the hPLM:
 * bertLowerRef gives the state after layer S-1, bertUpperRef continues from it.
 */
import { ShapeError } from '../../errors.js';
import type { LoraAdapter, TensorMap } from '../../formats/types.js';
import { checkSplit, type BertConfig } from '../../formats/model-config.js';
import { checkAdapterTargets, projectRef } from './lora-ref.js';
import {
  addInPlace,
  attention,
  checkIds,
  geluErf,
  layerNorm,
  mapInPlace,
  matmul,
  MissingTensorError,
  optionalTensor,
  tensor,
  type Vec,
} from './ops.js';

export interface BertRefOptions {
  /** LoRA on any layer's projections, and a task head that overrides the base's. */
  readonly adapter?: LoraAdapter;
  /** token_type_ids; zeros when absent. */
  readonly typeIds?: readonly number[];
  /** One entry per token; 0 marks a padding key that no query attends to. Ones when absent. */
  readonly attentionMask?: readonly number[];
}

export interface BertRefOutput {
  /** last_hidden_state, [T, H]. */
  readonly hidden: Float64Array;
  /** tanh(pooler.dense(hidden[0])), [H], when the weights (or the adapter's head) have a pooler. */
  readonly pooled?: Float64Array;
  /** classifier(pooled), [numLabels], when there is a classifier. */
  readonly logits?: Float64Array;
}

function checkMask(mask: readonly number[] | undefined, T: number): void {
  if (mask !== undefined && mask.length !== T) throw new ShapeError(`attention mask has ${mask.length} entries for ${T} tokens`);
}

/** word + token type + position (0..T-1) embeddings, then the embeddings LayerNorm: [T, H]. */
export function bertEmbeddingsRef(config: BertConfig, weights: TensorMap, ids: readonly number[], typeIds?: readonly number[]): Float64Array {
  checkIds(ids, config.vocabSize);
  const T = ids.length;
  const H = config.hiddenSize;
  if (T > config.maxPositions) throw new RangeError(`${T} tokens exceed the ${config.maxPositions} positions`);
  if (typeIds !== undefined) {
    if (typeIds.length !== T) throw new ShapeError(`${typeIds.length} token type ids for ${T} tokens`);
    checkIds(typeIds, config.typeVocabSize, 'token type id');
  }
  const word = tensor(weights, 'embeddings.word_embeddings.weight', [config.vocabSize, H]);
  const pos = tensor(weights, 'embeddings.position_embeddings.weight', [config.maxPositions, H]);
  const type = tensor(weights, 'embeddings.token_type_embeddings.weight', [config.typeVocabSize, H]);
  const x = new Float64Array(T * H);
  for (let t = 0; t < T; t++) {
    const tt = typeIds?.[t] ?? 0;
    // HF's order of additions: (inputs_embeds + token_type_embeddings) + position_embeddings.
    for (let i = 0; i < H; i++) x[t * H + i] = word[ids[t] * H + i] + type[tt * H + i] + pos[t * H + i];
  }
  return layerNormNamed(config, weights, 'embeddings.LayerNorm', x, T);
}

function layerNormNamed(config: BertConfig, weights: TensorMap, name: string, x: Vec, T: number): Float64Array {
  const H = config.hiddenSize;
  return layerNorm(x, T, H, tensor(weights, `${name}.weight`, [H]), tensor(weights, `${name}.bias`, [H]), config.layerNormEps);
}

/** Encoder layer `layer` on h [T, H]: self-attention, add & LN, GELU FFN, add & LN. */
export function bertLayerRef(
  config: BertConfig,
  weights: TensorMap,
  layer: number,
  h: Float64Array,
  T: number,
  adapter?: LoraAdapter,
  attentionMask?: readonly number[],
): Float64Array {
  const H = config.hiddenSize;
  const I = config.intermediateSize;
  if (!Number.isInteger(layer) || layer < 0 || layer >= config.numLayers) throw new RangeError(`layer ${layer} is outside 0..${config.numLayers - 1}`);
  if (h.length !== T * H) throw new ShapeError(`hidden state has ${h.length} values, expected ${T}x${H}`);
  checkMask(attentionMask, T);
  const p = `encoder.layer.${layer}`;
  const proj = (name: string, x: Vec, inDim: number, outDim: number): Float64Array =>
    projectRef(config, weights, `${p}.${name}`, x, T, inDim, outDim, adapter);
  const q = proj('attention.self.query', h, H, H);
  const k = proj('attention.self.key', h, H, H);
  const v = proj('attention.self.value', h, H, H);
  const ctx = attention(q, k, v, { queries: T, keys: T, hidden: H, heads: config.numHeads, keyMask: attentionMask });
  const attnOut = addInPlace(proj('attention.output.dense', ctx, H, H), h);
  const a = layerNormNamed(config, weights, `${p}.attention.output.LayerNorm`, attnOut, T);
  const inter = mapInPlace(proj('intermediate.dense', a, H, I), geluErf);
  const out = addInPlace(proj('output.dense', inter, I, H), a);
  return layerNormNamed(config, weights, `${p}.output.LayerNorm`, out, T);
}

/** Runs layers from..to-1 on h. */
function runLayers(config: BertConfig, weights: TensorMap, from: number, to: number, h: Float64Array, T: number, adapter?: LoraAdapter, mask?: readonly number[]): Float64Array {
  let x = h;
  for (let l = from; l < to; l++) x = bertLayerRef(config, weights, l, x, T, adapter, mask);
  return x;
}

/** The hidden state after layer split-1 (the embeddings' output for split 0), [T, H]. */
export function bertLowerRef(config: BertConfig, weights: TensorMap, split: number, ids: readonly number[], opts: BertRefOptions = {}): Float64Array {
  checkSplit(config, split);
  checkAdapterTargets(config, opts.adapter);
  checkMask(opts.attentionMask, ids.length);
  const e = bertEmbeddingsRef(config, weights, ids, opts.typeIds);
  return runLayers(config, weights, 0, split, e, ids.length, opts.adapter, opts.attentionMask);
}

/**
 * Pooler and classifier. Tensors of the adapter's head replace the base's; the number of
 * labels is the classifier's first dimension (a tenant's head may differ from the config).
 */
export function bertHeadRef(config: BertConfig, weights: TensorMap, hidden: Float64Array, adapter?: LoraAdapter): { pooled?: Float64Array; logits?: Float64Array } {
  const H = config.hiddenSize;
  const head: TensorMap = new Map([...weights, ...(adapter?.head ?? [])]);
  const pw = optionalTensor(head, 'pooler.dense.weight', [H, H]);
  const pooled = pw === undefined ? undefined : mapInPlace(matmul(hidden.subarray(0, H), 1, H, pw, H, 'nk', tensor(head, 'pooler.dense.bias', [H])), Math.tanh);
  const cw = head.get('classifier.weight');
  if (cw === undefined) return { pooled };
  const n = cw.shape[0];
  const w = tensor(head, 'classifier.weight', [n, H]);
  if (pooled === undefined) throw new MissingTensorError('pooler.dense.weight');
  return { pooled, logits: matmul(pooled, 1, H, w, n, 'nk', tensor(head, 'classifier.bias', [n])) };
}

/** Layers split..L-1 on hSplit (the state after layer split-1), then the head. */
export function bertUpperRef(
  config: BertConfig,
  weights: TensorMap,
  split: number,
  hSplit: Float64Array,
  T: number,
  opts: Omit<BertRefOptions, 'typeIds'> = {},
): BertRefOutput {
  checkSplit(config, split);
  checkAdapterTargets(config, opts.adapter);
  checkMask(opts.attentionMask, T);
  if (hSplit.length !== T * config.hiddenSize) throw new ShapeError(`split state has ${hSplit.length} values, expected ${T}x${config.hiddenSize}`);
  const hidden = runLayers(config, weights, split, config.numLayers, hSplit, T, opts.adapter, opts.attentionMask);
  return { hidden, ...bertHeadRef(config, weights, hidden, opts.adapter) };
}

export function bertForwardRef(config: BertConfig, weights: TensorMap, ids: readonly number[], opts: BertRefOptions = {}): BertRefOutput {
  const { typeIds, ...rest } = opts;
  checkMask(opts.attentionMask, ids.length);
  return bertUpperRef(config, weights, 0, bertEmbeddingsRef(config, weights, ids, typeIds), ids.length, rest);
}
