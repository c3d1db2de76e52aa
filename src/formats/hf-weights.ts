/**
 * Checkpoint tensors -> the canonical TensorMap the model code reads: class prefixes
 * ("bert.", "transformer.") stripped, TF-era LayerNorm gamma/beta renamed, every needed
 * tensor present with the shape the config implies, everything else dropped.
 */
import type { BertConfig, Gpt2Config, ModelConfig } from './model-config.js';
import { ConfigError, MissingWeightError, WeightShapeError } from './errors.js';
import type { HostTensor, TensorMap } from './types.js';

type Spec = ReadonlyArray<readonly [name: string, shape: readonly number[]]>;

function linear(prefix: string, out: number, inp: number): Spec {
  return [
    [`${prefix}.weight`, [out, inp]],
    [`${prefix}.bias`, [out]],
  ];
}

function layerNorm(prefix: string, h: number): Spec {
  return [
    [`${prefix}.weight`, [h]],
    [`${prefix}.bias`, [h]],
  ];
}

/** GPT-2's Conv1D keeps its weight as [in, out]. */
function conv1d(prefix: string, inp: number, out: number): Spec {
  return [
    [`${prefix}.weight`, [inp, out]],
    [`${prefix}.bias`, [out]],
  ];
}

function bertSpec(c: BertConfig): { required: Spec; optional: Spec[] } {
  const H = c.hiddenSize;
  const required: Array<Spec[number]> = [
    ['embeddings.word_embeddings.weight', [c.vocabSize, H]],
    ['embeddings.position_embeddings.weight', [c.maxPositions, H]],
    ['embeddings.token_type_embeddings.weight', [c.typeVocabSize, H]],
    ...layerNorm('embeddings.LayerNorm', H),
  ];
  for (let l = 0; l < c.numLayers; l++) {
    const p = `encoder.layer.${l}`;
    required.push(
      ...linear(`${p}.attention.self.query`, H, H),
      ...linear(`${p}.attention.self.key`, H, H),
      ...linear(`${p}.attention.self.value`, H, H),
      ...linear(`${p}.attention.output.dense`, H, H),
      ...layerNorm(`${p}.attention.output.LayerNorm`, H),
      ...linear(`${p}.intermediate.dense`, c.intermediateSize, H),
      ...linear(`${p}.output.dense`, H, c.intermediateSize),
      ...layerNorm(`${p}.output.LayerNorm`, H),
    );
  }
  return { required, optional: [linear('pooler.dense', H, H), linear('classifier', c.numLabels ?? -1, H)] };
}

function gpt2Spec(c: Gpt2Config): { required: Spec; optional: Spec[] } {
  const H = c.hiddenSize;
  const required: Array<Spec[number]> = [
    ['wte.weight', [c.vocabSize, H]],
    ['wpe.weight', [c.maxPositions, H]],
  ];
  for (let l = 0; l < c.numLayers; l++) {
    const p = `h.${l}`;
    required.push(
      ...layerNorm(`${p}.ln_1`, H),
      ...conv1d(`${p}.attn.c_attn`, H, 3 * H),
      ...conv1d(`${p}.attn.c_proj`, H, H),
      ...layerNorm(`${p}.ln_2`, H),
      ...conv1d(`${p}.mlp.c_fc`, H, c.intermediateSize),
      ...conv1d(`${p}.mlp.c_proj`, c.intermediateSize, H),
    );
  }
  required.push(...layerNorm('ln_f', H));
  // lm_head is tied to wte: accepted when present, never read.
  return { required, optional: [[['lm_head.weight', [c.vocabSize, H]]]] };
}

function canonicalName(family: ModelConfig['family'], name: string): string {
  if (family === 'bert') {
    const n = name.startsWith('bert.') ? name.slice(5) : name;
    return n.replace(/\.LayerNorm\.gamma$/, '.LayerNorm.weight').replace(/\.LayerNorm\.beta$/, '.LayerNorm.bias');
  }
  return name.startsWith('transformer.') ? name.slice(12) : name;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/**
 * Keeps the tensors `config` needs, under canonical names. A classifier of a BERT config
 * without num_labels may have any number of rows.
 */
export function normalizeWeights(config: ModelConfig, tensors: ReadonlyMap<string, HostTensor>): TensorMap {
  const byName = new Map<string, { source: string; tensor: HostTensor }>();
  for (const [source, tensor] of tensors) {
    const name = canonicalName(config.family, source);
    const prev = byName.get(name);
    if (prev !== undefined) {
      throw new ConfigError(`checkpoint holds "${name}" twice, as "${prev.source}" and "${source}"`);
    }
    byName.set(name, { source, tensor });
  }
  const spec = config.family === 'bert' ? bertSpec(config) : gpt2Spec(config);
  const out: TensorMap = new Map();
  const take = (name: string, expected: readonly number[]): void => {
    const entry = byName.get(name);
    if (entry === undefined) throw new MissingWeightError(name);
    const got = entry.tensor.shape;
    const shape = expected.map((d, i) => (d === -1 && got.length === expected.length ? got[i] : d));
    if (!sameShape(shape, got)) throw new WeightShapeError(entry.source, shape, got);
    out.set(name, entry.tensor);
  };
  for (const [name, shape] of spec.required) take(name, shape);
  for (const group of spec.optional) {
    if (!group.some(([name]) => byName.has(name))) continue;
    for (const [name, shape] of group) take(name, shape);
  }
  if (config.family === 'bert' && out.has('classifier.weight')) {
    const rows = out.get('classifier.weight')!.shape[0];
    if (rows < 1) throw new WeightShapeError('classifier.weight', [1, config.hiddenSize], out.get('classifier.weight')!.shape);
    const bias = out.get('classifier.bias')!;
    if (!sameShape(bias.shape, [rows])) throw new WeightShapeError('classifier.bias', [rows], bias.shape);
  }
  out.delete('lm_head.weight');
  return out;
}
