import type { TensorMap } from '../../../src/formats/types.js';
import type { GpuContext } from '../../../src/gpu/device.js';
import { uploadBuffer } from '../../../src/gpu/buffers.js';
import type { BertConfig, Gpt2Config } from '../../../src/formats/model-config.js';
import { bertTrigramEntryRef, gpt2TrigramEntryRef } from '../../../src/model/cpu/plot-ref.js';
import { PlotAssembler, type MissPolicy } from '../../../src/knowledge/domain/assembler.js';
import { DomainKnowledge, type ComputeWindows } from '../../../src/knowledge/domain/domain-knowledge.js';
import { DomainTree, type DomainNodeSpec } from '../../../src/knowledge/domain/domain-tree.js';
import { PlotCache } from '../../../src/knowledge/domain/plot-cache.js';
import { plotLayout, type PlotDtype } from '../../../src/knowledge/domain/plot-table.js';
import type { PlotStore } from '../../../src/knowledge/domain/plot-store.js';
import { bertConfig, gpt2Config, randomBertWeights, randomGpt2Weights } from '../../model/random-model.js';

/**
 * A tree of four domains: root (base lower layers) <- law (same weights) <- tax (same
 * weights), and root <- med (its own lower weights "med-dapt").
 */
export function fourDomains(budget = 1000): DomainNodeSpec[] {
  return [
    { id: 'general', parent: null, budgetEntries: budget },
    { id: 'law', parent: 'general', budgetEntries: budget },
    { id: 'tax', parent: 'law', budgetEntries: budget },
    { id: 'med', parent: 'general', lowerWeightsId: 'med-dapt', budgetEntries: budget },
  ];
}

/** Counts computeWindows calls and windows, to assert batching and misses. */
export interface Counted {
  readonly fn: ComputeWindows;
  calls: number;
  windows: number;
}

export function counted(inner: ComputeWindows): Counted {
  const c: Counted = {
    fn: async (node, w) => {
      c.calls++;
      c.windows += w.length / 3;
      return inner(node, w);
    },
    calls: 0,
    windows: 0,
  };
  return c;
}

export interface RealBert {
  readonly config: BertConfig;
  readonly split: number;
  /** Lower weights per domain: the base model's, and med's own set. */
  readonly weightsOf: (tree: DomainTree, node: string) => TensorMap;
  readonly base: TensorMap;
  readonly compute: ComputeWindows;
}

/** A tiny random BERT; med runs other lower weights. computeWindows is the f64 reference. */
export function realBert(tree: () => DomainTree): RealBert {
  const config = bertConfig({ hiddenSize: 12, numHeads: 3, numLayers: 3, intermediateSize: 20, vocabSize: 40, maxPositions: 24 });
  const split = 2;
  const base = randomBertWeights(config, 1);
  const med = randomBertWeights(config, 50);
  // The upper layers, embeddings tables and heads stay the base model's: only lower layers differ.
  const weightsOf = (t: DomainTree, node: string): TensorMap => (t.scope(node) === 'w:med-dapt' ? med : base);
  const compute: ComputeWindows = async (node, windows) => {
    const H = config.hiddenSize;
    const n = windows.length / 3;
    const out = new Float32Array(n * 3 * H);
    for (let i = 0; i < n; i++) {
      const tri = [windows[3 * i], windows[3 * i + 1], windows[3 * i + 2]] as const;
      out.set(bertTrigramEntryRef(config, weightsOf(tree(), node), split, tri), i * 3 * H);
    }
    return out;
  };
  return { config, split, weightsOf, base, compute };
}

export interface RealGpt {
  readonly config: Gpt2Config;
  readonly split: number;
  readonly weightsOf: (tree: DomainTree, node: string) => TensorMap;
  readonly compute: ComputeWindows;
}

export function realGpt(tree: () => DomainTree): RealGpt {
  const config = gpt2Config({ hiddenSize: 12, numHeads: 3, numLayers: 3, intermediateSize: 20, vocabSize: 40 });
  const split = 2;
  const base = randomGpt2Weights(config, 3);
  const med = randomGpt2Weights(config, 70);
  const weightsOf = (t: DomainTree, node: string): TensorMap => (t.scope(node) === 'w:med-dapt' ? med : base);
  const compute: ComputeWindows = async (node, windows) => {
    const H = config.hiddenSize;
    const n = windows.length / 3;
    const out = new Float32Array(n * H);
    for (let i = 0; i < n; i++) {
      const tri = [windows[3 * i], windows[3 * i + 1], windows[3 * i + 2]] as const;
      out.set(gpt2TrigramEntryRef(config, weightsOf(tree(), node), split, tri), i * H);
    }
    return out;
  };
  return { config, split, weightsOf, compute };
}

/**
 * Deterministic stand-in for the lower layers: every value depends on the window, the slot
 * and the node's lower-weights scope, cheap enough for traffic-sized tests.
 */
export function syntheticCompute(tree: () => DomainTree, width: number): ComputeWindows {
  return async (node, windows) => {
    const seed = [...tree().scope(node)].reduce((a, ch) => a + ch.charCodeAt(0), 0);
    const n = windows.length / 3;
    const out = new Float32Array(n * width);
    for (let i = 0; i < n; i++) {
      const [a, b, c] = [windows[3 * i], windows[3 * i + 1], windows[3 * i + 2]];
      for (let j = 0; j < width; j++) out[i * width + j] = Math.sin(a * 0.37 + b * 1.13 + c * 0.71 + j * 0.29 + seed * 0.05);
    }
    return out;
  };
}

export interface BertRig {
  readonly domain: DomainKnowledge;
  readonly assembler: PlotAssembler;
  readonly cache: PlotCache;
}

export async function bertRig(
  ctx: GpuContext,
  o: {
    config: BertConfig;
    split: number;
    base: TensorMap;
    tree: DomainTree;
    compute: ComputeWindows;
    store?: PlotStore;
    slots?: number;
    dtype?: PlotDtype;
    policy?: MissPolicy;
    modelHash?: string;
  },
): Promise<BertRig> {
  const H = o.config.hiddenSize;
  const layout = plotLayout('bert', H, o.modelHash ?? 'hash-bert', o.split, o.dtype);
  const domain = new DomainKnowledge({ tree: o.tree, layout, computeWindows: o.compute, store: o.store, policy: o.policy });
  const cache = await PlotCache.create(ctx, { slots: o.slots ?? 256, width: 3 * H, dtype: o.dtype });
  const get = (name: string): Float32Array => o.base.get(name)!.data;
  const lnName = o.split === 0 ? 'embeddings.LayerNorm' : `encoder.layer.${o.split - 1}.output.LayerNorm`;
  const assembler = new PlotAssembler(ctx, {
    domain,
    cache,
    model: {
      family: 'bert',
      padTokenId: o.config.padTokenId,
      eps: o.config.layerNormEps,
      positions: await uploadBuffer(ctx, get('embeddings.position_embeddings.weight'), 'pos'),
      posRows: o.config.maxPositions,
      typeRow: await uploadBuffer(ctx, get('embeddings.token_type_embeddings.weight'), 'type'),
      defaultLn: { gamma: get(`${lnName}.weight`), beta: get(`${lnName}.bias`) },
    },
  });
  return { domain, assembler, cache };
}

export async function gptRig(
  ctx: GpuContext,
  o: { config: Gpt2Config; split: number; tree: DomainTree; compute: ComputeWindows; store?: PlotStore; slots?: number; policy?: MissPolicy },
): Promise<BertRig> {
  const H = o.config.hiddenSize;
  const layout = plotLayout('gpt2', H, 'hash-gpt', o.split);
  const domain = new DomainKnowledge({ tree: o.tree, layout, computeWindows: o.compute, store: o.store, policy: o.policy });
  const cache = await PlotCache.create(ctx, { slots: o.slots ?? 256, width: H });
  const assembler = new PlotAssembler(ctx, { domain, cache, model: { family: 'gpt2', eosTokenId: o.config.eosTokenId } });
  return { domain, assembler, cache };
}

/** Deterministic token ids in 1..vocab-1 (0 is the pad / eos id). */
export function ids(n: number, seed: number, vocab: number): number[] {
  return Array.from({ length: n }, (_, i) => 1 + ((i * 7 + seed * 13 + ((i * i * seed) % 5)) % (vocab - 1)));
}
