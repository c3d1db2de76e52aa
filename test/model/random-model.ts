import type { HostTensor, LoraAdapter, LoraModule, TensorMap } from '../../src/formats/types.js';
import type { BertConfig, Gpt2Config, ModelConfig } from '../../src/formats/model-config.js';
import { loraModuleShapes } from '../../src/model/modules.js';
import { randomFloats } from '../helpers/gpu.js';

/** Random weights for configs of any shape (the synthetic generator covers the default ones). */
class Gen {
  private seed: number;
  readonly map: TensorMap = new Map();
  constructor(seed: number) {
    this.seed = seed;
  }
  add(name: string, shape: number[], scale: number, offset = 0): void {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = randomFloats(n, this.seed++, scale);
    if (offset) for (let i = 0; i < n; i++) data[i] += offset;
    const t: HostTensor = { shape, data };
    this.map.set(name, t);
  }
  linear(name: string, out: number, inp: number, layout: 'nk' | 'kn', scale = 0.3): void {
    this.add(`${name}.weight`, layout === 'nk' ? [out, inp] : [inp, out], scale);
    this.add(`${name}.bias`, [out], 0.1);
  }
  norm(name: string, dim: number): void {
    this.add(`${name}.weight`, [dim], 0.2, 1);
    this.add(`${name}.bias`, [dim], 0.1);
  }
}

export function bertConfig(over: Partial<BertConfig> = {}): BertConfig {
  return {
    family: 'bert',
    vocabSize: 53,
    hiddenSize: 21,
    numLayers: 3,
    numHeads: 7,
    intermediateSize: 37,
    maxPositions: 24,
    typeVocabSize: 2,
    layerNormEps: 1e-12,
    padTokenId: 0,
    numLabels: 3,
    ...over,
  };
}

export function gpt2Config(over: Partial<Gpt2Config> = {}): Gpt2Config {
  return {
    family: 'gpt2',
    vocabSize: 61,
    hiddenSize: 21,
    numLayers: 3,
    numHeads: 7,
    intermediateSize: 37,
    maxPositions: 32,
    layerNormEps: 1e-5,
    bosTokenId: 0,
    eosTokenId: 0,
    ...over,
  };
}

export function randomBertWeights(c: BertConfig, seed = 1, head = true): TensorMap {
  const g = new Gen(seed);
  const H = c.hiddenSize;
  g.add('embeddings.word_embeddings.weight', [c.vocabSize, H], 1);
  g.add('embeddings.position_embeddings.weight', [c.maxPositions, H], 0.5);
  g.add('embeddings.token_type_embeddings.weight', [c.typeVocabSize, H], 0.5);
  g.norm('embeddings.LayerNorm', H);
  for (let l = 0; l < c.numLayers; l++) {
    const p = `encoder.layer.${l}`;
    for (const m of ['query', 'key', 'value']) g.linear(`${p}.attention.self.${m}`, H, H, 'nk');
    g.linear(`${p}.attention.output.dense`, H, H, 'nk');
    g.norm(`${p}.attention.output.LayerNorm`, H);
    g.linear(`${p}.intermediate.dense`, c.intermediateSize, H, 'nk');
    g.linear(`${p}.output.dense`, H, c.intermediateSize, 'nk', 0.2);
    g.norm(`${p}.output.LayerNorm`, H);
  }
  if (head) {
    g.linear('pooler.dense', H, H, 'nk');
    g.linear('classifier', c.numLabels ?? 2, H, 'nk');
  }
  return g.map;
}

export function randomGpt2Weights(c: Gpt2Config, seed = 1): TensorMap {
  const g = new Gen(seed);
  const H = c.hiddenSize;
  // A small wte next to the blocks' outputs, so that the tied head does not just echo the input token.
  g.add('wte.weight', [c.vocabSize, H], 0.15);
  g.add('wpe.weight', [c.maxPositions, H], 1);
  for (let l = 0; l < c.numLayers; l++) {
    const p = `h.${l}`;
    g.norm(`${p}.ln_1`, H);
    g.linear(`${p}.attn.c_attn`, 3 * H, H, 'kn');
    g.linear(`${p}.attn.c_proj`, H, H, 'kn');
    g.norm(`${p}.ln_2`, H);
    g.linear(`${p}.mlp.c_fc`, c.intermediateSize, H, 'kn');
    g.linear(`${p}.mlp.c_proj`, H, c.intermediateSize, 'kn', 0.5);
  }
  g.norm('ln_f', H);
  return g.map;
}

/**
 * A LoRA on every other target of every layer, ranks 1..3 (so rank-1 and odd ranks run),
 * with B non-zero (unlike PEFT's init) so that the delta shows. `labels` adds a classifier head.
 */
export function randomAdapter(config: ModelConfig, seed = 7, labels?: number): LoraAdapter {
  const modules = new Map<string, LoraModule>();
  loraModuleShapes(config).forEach((m, i) => {
    if (i % 2 === 1) return;
    const r = 1 + (i % 3);
    modules.set(m.path, {
      r,
      inDim: m.inDim,
      outDim: m.outDim,
      scale: 2 / r,
      A: randomFloats(r * m.inDim, seed + 2 * i, 0.3),
      B: randomFloats(m.outDim * r, seed + 2 * i + 1, 0.3),
    });
  });
  const head: TensorMap = new Map();
  if (labels !== undefined) {
    const H = config.hiddenSize;
    head.set('classifier.weight', { shape: [labels, H], data: randomFloats(labels * H, seed + 999, 0.3) });
    head.set('classifier.bias', { shape: [labels], data: randomFloats(labels, seed + 1000, 0.1) });
  }
  return { modules, head };
}
