import { describe, expect, it } from 'vitest';
import { ConfigError, MissingWeightError, WeightShapeError } from '../../src/formats/errors.js';
import { parseHfConfig } from '../../src/formats/hf-config.js';
import { normalizeWeights } from '../../src/formats/hf-weights.js';
import { parseSafetensors } from '../../src/formats/safetensors.js';
import type { HostTensor } from '../../src/formats/types.js';
import { makeBertFiles, makeGpt2Files } from '../../src/model/synthetic.js';

function load(files: Record<string, string | Uint8Array>) {
  return {
    config: parseHfConfig(JSON.parse(files['config.json'] as string)),
    tensors: parseSafetensors(files['model.safetensors'] as Uint8Array),
  };
}

const bert = load(makeBertFiles({ hiddenSize: 8, numLayers: 2, numHeads: 2, intermediateSize: 12, maxPositions: 16, labels: ['a', 'b', 'c'] }));
const gpt2 = load(makeGpt2Files({ nEmbd: 8, nLayer: 2, nHead: 2, nPositions: 16, vocabSize: 300 }));

function renamed(tensors: Map<string, HostTensor>, f: (name: string) => string | null): Map<string, HostTensor> {
  const out = new Map<string, HostTensor>();
  for (const [k, v] of tensors) {
    const n = f(k);
    if (n !== null) out.set(n, v);
  }
  return out;
}

describe('normalizeWeights', () => {
  it('strips "bert." and keeps classifier and pooler for BertForSequenceClassification', () => {
    const w = normalizeWeights(bert.config, bert.tensors);
    expect(w.get('embeddings.word_embeddings.weight')!.shape).toEqual([bert.config.vocabSize, 8]);
    expect(w.get('encoder.layer.1.intermediate.dense.weight')!.shape).toEqual([12, 8]);
    expect(w.get('encoder.layer.1.output.dense.weight')!.shape).toEqual([8, 12]);
    expect(w.get('classifier.weight')!.shape).toEqual([3, 8]);
    expect(w.has('pooler.dense.bias')).toBe(true);
    expect([...w.keys()].some((k) => k.startsWith('bert.'))).toBe(false);
    expect(w.size).toBe(bert.tensors.size);
  });

  it('accepts un-prefixed checkpoints, TF-era gamma/beta names, and no classifier', () => {
    const old = renamed(bert.tensors, (k) =>
      k.startsWith('classifier') ? null : k.replace(/^bert\./, '').replace(/LayerNorm\.weight$/, 'LayerNorm.gamma').replace(/LayerNorm\.bias$/, 'LayerNorm.beta'),
    );
    const w = normalizeWeights(bert.config, old);
    expect(w.get('embeddings.LayerNorm.weight')!.data[0]).toBe(1);
    expect(w.has('encoder.layer.0.output.LayerNorm.bias')).toBe(true);
    expect(w.has('classifier.weight')).toBe(false);
  });

  it('strips "transformer.", drops the tied lm_head and extra buffers for GPT-2', () => {
    const t = new Map(gpt2.tensors);
    t.set('lm_head.weight', t.get('transformer.wte.weight')!);
    t.set('transformer.h.0.attn.bias', { shape: [1, 1, 16, 16], data: new Float32Array(256) });
    const w = normalizeWeights(gpt2.config, t);
    expect(w.get('h.1.attn.c_attn.weight')!.shape).toEqual([8, 24]);
    expect(w.get('h.1.mlp.c_fc.weight')!.shape).toEqual([8, 32]);
    expect(w.get('h.1.mlp.c_proj.weight')!.shape).toEqual([32, 8]);
    expect(w.has('lm_head.weight')).toBe(false);
    expect(w.has('h.0.attn.bias')).toBe(false);
    expect(w.has('ln_f.weight')).toBe(true);
  });

  it('reports a missing tensor', () => {
    const t = renamed(gpt2.tensors, (k) => (k === 'transformer.h.1.ln_2.bias' ? null : k));
    expect(() => normalizeWeights(gpt2.config, t)).toThrow(MissingWeightError);
    expect(() => normalizeWeights(gpt2.config, t)).toThrow(/"h.1.ln_2.bias"/);
  });

  it('reports a wrong shape with the tensor, expected and got', () => {
    const t = new Map(gpt2.tensors);
    t.set('transformer.h.0.attn.c_attn.weight', { shape: [24, 8], data: new Float32Array(192) });
    expect(() => normalizeWeights(gpt2.config, t)).toThrow(WeightShapeError);
    expect(() => normalizeWeights(gpt2.config, t)).toThrow('tensor "transformer.h.0.attn.c_attn.weight" has shape [24, 8], expected [8, 24]');
  });

  it('checks the classifier against num_labels, and bias against weight', () => {
    const cfg = { ...bert.config, numLabels: 2 };
    expect(() => normalizeWeights(cfg, bert.tensors)).toThrow(/"classifier.weight" has shape \[3, 8\], expected \[2, 8\]/);
    const noLabels = { ...bert.config, numLabels: undefined, labels: undefined };
    const t = new Map(bert.tensors);
    t.set('classifier.bias', { shape: [2], data: new Float32Array(2) });
    expect(() => normalizeWeights(noLabels, t)).toThrow(WeightShapeError);
  });

  it('requires both halves of an optional module', () => {
    const t = renamed(bert.tensors, (k) => (k === 'bert.pooler.dense.bias' ? null : k));
    expect(() => normalizeWeights(bert.config, t)).toThrow(/"pooler.dense.bias"/);
  });

  it('rejects a tensor present under two names', () => {
    const t = new Map(bert.tensors);
    t.set('embeddings.word_embeddings.weight', t.get('bert.embeddings.word_embeddings.weight')!);
    expect(() => normalizeWeights(bert.config, t)).toThrow(ConfigError);
  });
});
