import { describe, expect, it } from 'vitest';
import { AdapterFormatError, AdapterMismatchError } from '../../src/formats/errors.js';
import { parseHfConfig } from '../../src/formats/hf-config.js';
import { parsePeftAdapter, writePeftAdapter } from '../../src/formats/peft.js';
import { parseSafetensors, writeSafetensors } from '../../src/formats/safetensors.js';
import type { HostTensor, LoraAdapter, LoraModule } from '../../src/formats/types.js';
import type { ModelConfig } from '../../src/formats/model-config.js';
import { makeAdapterFiles, Rng } from '../../src/model/synthetic.js';

const bert: ModelConfig = parseHfConfig({
  model_type: 'bert',
  vocab_size: 50,
  hidden_size: 8,
  num_hidden_layers: 3,
  num_attention_heads: 2,
  intermediate_size: 12,
  max_position_embeddings: 16,
});
const gpt2: ModelConfig = parseHfConfig({ model_type: 'gpt2', vocab_size: 50, n_embd: 8, n_layer: 3, n_head: 2, n_positions: 16, eos_token_id: 49 });

function mod(rng: Rng, r: number, inDim: number, outDim: number, scale: number): LoraModule {
  return { r, inDim, outDim, scale, A: rng.normals(r * inDim, 1), B: rng.normals(outDim * r, 1) };
}

function files(adapter: LoraAdapter, family: 'bert' | 'gpt2'): { config: Record<string, unknown>; weights: Uint8Array } {
  const { config, weights } = writePeftAdapter(adapter, family);
  return { config: JSON.parse(JSON.stringify(config)) as Record<string, unknown>, weights };
}

/** Re-serializes an adapter's tensors after renaming / editing them. */
function rewrite(weights: Uint8Array, edit: (t: Map<string, HostTensor>) => Map<string, HostTensor>): Uint8Array {
  return writeSafetensors(edit(parseSafetensors(weights)));
}

function caught(f: () => unknown): Error {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
}

const rng = new Rng(7);
const bertAdapter: LoraAdapter = {
  modules: new Map([
    ['encoder.layer.1.attention.self.query', mod(rng, 4, 8, 8, 2)],
    ['encoder.layer.2.attention.self.query', mod(rng, 4, 8, 8, 2)],
    ['encoder.layer.2.attention.self.value', mod(rng, 2, 8, 8, 0.5)],
    ['encoder.layer.2.intermediate.dense', mod(rng, 4, 8, 12, 2)],
    ['encoder.layer.2.output.dense', mod(rng, 4, 12, 8, 2)],
  ]),
  head: new Map([
    ['classifier.weight', { shape: [3, 8], data: rng.normals(24, 1) }],
    ['classifier.bias', { shape: [3], data: rng.normals(3, 1) }],
  ]),
  labels: ['x', 'y', 'z'],
};
const gptAdapter: LoraAdapter = {
  modules: new Map([
    ['h.1.attn.c_attn', mod(rng, 3, 8, 24, 1)],
    ['h.2.attn.c_proj', mod(rng, 3, 8, 8, 1)],
    ['h.2.mlp.c_fc', mod(rng, 5, 8, 32, 1.6)],
    ['h.2.mlp.c_proj', mod(rng, 3, 32, 8, 1)],
  ]),
  head: new Map(),
};

function expectSame(a: LoraAdapter, b: LoraAdapter): void {
  expect([...b.modules.keys()].sort()).toEqual([...a.modules.keys()].sort());
  for (const [k, m] of a.modules) {
    const n = b.modules.get(k)!;
    expect({ r: n.r, inDim: n.inDim, outDim: n.outDim }).toEqual({ r: m.r, inDim: m.inDim, outDim: m.outDim });
    expect(n.scale).toBeCloseTo(m.scale, 6);
    expect([...n.A]).toEqual([...m.A]);
    expect([...n.B]).toEqual([...m.B]);
  }
  expect([...b.head.keys()].sort()).toEqual([...a.head.keys()].sort());
  for (const [k, t] of a.head) expect([...b.head.get(k)!.data]).toEqual([...t.data]);
  expect(b.labels).toEqual(a.labels);
}

describe('PEFT adapters', () => {
  it('round-trips a BERT adapter with mixed ranks, alphas, head and labels in real PEFT layout', () => {
    const { config, weights } = files(bertAdapter, 'bert');
    expect(config).toMatchObject({
      peft_type: 'LORA',
      task_type: 'SEQ_CLS',
      r: 4,
      lora_alpha: 8,
      target_modules: ['query', 'value', 'intermediate.dense', 'output.dense'],
      rank_pattern: { 'encoder.layer.2.attention.self.value': 2 },
      alpha_pattern: { 'encoder.layer.2.attention.self.value': 1 },
      modules_to_save: ['classifier'],
      fan_in_fan_out: false,
      labels: ['x', 'y', 'z'],
    });
    const keys = [...parseSafetensors(weights).keys()];
    expect(keys).toContain('base_model.model.bert.encoder.layer.1.attention.self.query.lora_A.weight');
    expect(keys).toContain('base_model.model.bert.encoder.layer.2.output.dense.lora_B.weight');
    expect(keys).toContain('base_model.model.classifier.weight');
    expect(parseSafetensors(weights).get('base_model.model.bert.encoder.layer.2.intermediate.dense.lora_B.weight')!.shape).toEqual([12, 4]);
    expectSame(bertAdapter, parsePeftAdapter(config, weights, bert));
  });

  it('round-trips a GPT-2 adapter (Conv1D targets, A [r, in], B [out, r])', () => {
    const { config, weights } = files(gptAdapter, 'gpt2');
    expect(config).toMatchObject({ task_type: 'CAUSAL_LM', fan_in_fan_out: true, r: 3, target_modules: ['c_attn', 'attn.c_proj', 'c_fc', 'mlp.c_proj'] });
    const t = parseSafetensors(weights);
    expect(t.get('base_model.model.transformer.h.1.attn.c_attn.lora_A.weight')!.shape).toEqual([3, 8]);
    expect(t.get('base_model.model.transformer.h.1.attn.c_attn.lora_B.weight')!.shape).toEqual([24, 3]);
    expectSame(gptAdapter, parsePeftAdapter(config, weights, gpt2));
  });

  it('accepts ".default" adapter names, keys without the class prefix and modules_to_save.default heads', () => {
    const { config, weights } = files(bertAdapter, 'bert');
    const edited = rewrite(weights, (t) => {
      const out = new Map<string, HostTensor>();
      for (const [k, v] of t) {
        const n = k
          .replace('base_model.model.bert.', 'base_model.model.')
          .replace(/\.lora_([AB])\.weight$/, '.lora_$1.default.weight')
          .replace('base_model.model.classifier.', 'base_model.model.classifier.modules_to_save.default.');
        out.set(n, v);
      }
      return out;
    });
    expectSame(bertAdapter, parsePeftAdapter(config, edited, bert));
  });

  it('honours regex rank/alpha patterns and rsLoRA scaling', () => {
    const { config, weights } = files(bertAdapter, 'bert');
    const cfg = { ...config, rank_pattern: { 'layer\\.2\\.attention\\.self\\.v.*': 2 }, alpha_pattern: { 'value': 1 } };
    expect(parsePeftAdapter(cfg, weights, bert).modules.get('encoder.layer.2.attention.self.value')!.scale).toBe(0.5);
    const rs = parsePeftAdapter({ ...cfg, use_rslora: true }, weights, bert);
    expect(rs.modules.get('encoder.layer.1.attention.self.query')!.scale).toBeCloseTo(8 / Math.sqrt(4), 12);
  });

  it('takes labels from id2label too', () => {
    const { config, weights } = files(bertAdapter, 'bert');
    const { labels: _, ...rest } = config;
    void _;
    expect(parsePeftAdapter({ ...rest, id2label: { '0': 'p', '1': 'q', '2': 'r' } }, weights, bert).labels).toEqual(['p', 'q', 'r']);
    expect(parsePeftAdapter(rest, weights, bert).labels).toBeUndefined();
  });

  it('parses the synthetic adapters for both families', () => {
    const b = makeAdapterFiles(bert, { rank: 4, seed: 1, numLabels: 3, targets: ['key', 'output.dense'] });
    const a = parsePeftAdapter(JSON.parse(b['adapter_config.json'] as string), b['adapter_model.safetensors'] as Uint8Array, bert);
    expect([...a.modules.keys()]).toEqual(['encoder.layer.1.attention.self.key', 'encoder.layer.1.output.dense', 'encoder.layer.2.attention.self.key', 'encoder.layer.2.output.dense']);
    expect(a.labels).toEqual(['negative', 'neutral', 'positive']);
    expect(a.head.get('classifier.weight')!.shape).toEqual([3, 8]);
    const g = makeAdapterFiles(gpt2, { rank: 8, seed: 2, targets: ['c_fc'], layers: [0] });
    const ga = parsePeftAdapter(JSON.parse(g['adapter_config.json'] as string), g['adapter_model.safetensors'] as Uint8Array, gpt2);
    expect([...ga.modules.keys()]).toEqual(['h.0.mlp.c_fc']);
    expect(ga.modules.get('h.0.mlp.c_fc')!.r).toBe(8);
    expect(ga.head.size).toBe(0);
  });

  describe('mismatch with the base model', () => {
    it('names the module when the hidden size differs', () => {
      const { config, weights } = files(bertAdapter, 'bert');
      const bigger = { ...bert, hiddenSize: 16 };
      const e = caught(() => parsePeftAdapter(config, weights, bigger));
      expect(e).toBeInstanceOf(AdapterMismatchError);
      expect(e.message).toMatch(/"encoder.layer.1.attention.self.query".*lora_A has 8 input features, the base projection takes 16/);
    });
    it('rejects layers the base does not have', () => {
      const { config, weights } = files(gptAdapter, 'gpt2');
      const e = caught(() => parsePeftAdapter(config, weights, { ...gpt2, numLayers: 2 }));
      expect(e).toBeInstanceOf(AdapterMismatchError);
      expect(e.message).toMatch(/"h.2.attn.c_proj".*layer 2 does not exist, the base model has 2 layers/);
    });
    it('rejects an adapter of the other family', () => {
      const { config, weights } = files(gptAdapter, 'gpt2');
      expect(caught(() => parsePeftAdapter({ ...config, target_modules: ['query'] }, weights, bert))).toBeInstanceOf(AdapterMismatchError);
      expect(caught(() => parsePeftAdapter(config, weights, bert))).toBeInstanceOf(AdapterMismatchError);
    });
    it('rejects unsupported target modules', () => {
      const { config, weights } = files(bertAdapter, 'bert');
      const e = caught(() => parsePeftAdapter({ ...config, target_modules: ['query', 'word_embeddings'] }, weights, bert));
      expect(e).toBeInstanceOf(AdapterMismatchError);
      expect(e.message).toMatch(/"word_embeddings" is not a LoRA target/);
    });
    it('rejects a classifier for another hidden size', () => {
      const { config, weights } = files(bertAdapter, 'bert');
      const edited = rewrite(weights, (t) => {
        t.set('base_model.model.classifier.weight', { shape: [3, 4], data: new Float32Array(12) });
        return t;
      });
      expect(caught(() => parsePeftAdapter(config, edited, bert)).message).toMatch(/"classifier".*expected \[numLabels, 8\]/);
    });
    it('rejects GPT-2 head tensors (the LM head is tied)', () => {
      const { config, weights } = files(gptAdapter, 'gpt2');
      const edited = rewrite(weights, (t) => t.set('base_model.model.lm_head.weight', { shape: [50, 8], data: new Float32Array(400) }));
      expect(caught(() => parsePeftAdapter(config, edited, gpt2))).toBeInstanceOf(AdapterMismatchError);
    });
  });

  describe('malformed adapters', () => {
    const { config, weights } = files(bertAdapter, 'bert');
    it('rejects NaN and Inf', () => {
      for (const bad of [NaN, Infinity]) {
        const edited = rewrite(weights, (t) => {
          t.get('base_model.model.bert.encoder.layer.2.output.dense.lora_B.weight')!.data[5] = bad;
          return t;
        });
        const e = caught(() => parsePeftAdapter(config, edited, bert));
        expect(e).toBeInstanceOf(AdapterFormatError);
        expect(e.message).toMatch(new RegExp(`output.dense.lora_B.weight" holds ${bad} at index 5`));
      }
    });
    it('rejects a missing B', () => {
      const edited = rewrite(weights, (t) => {
        t.delete('base_model.model.bert.encoder.layer.1.attention.self.query.lora_B.weight');
        return t;
      });
      expect(caught(() => parsePeftAdapter(config, edited, bert)).message).toMatch(/"encoder.layer.1.attention.self.query" has lora_B missing/);
    });
    it('rejects ranks that disagree with the config', () => {
      const e = caught(() => parsePeftAdapter({ ...config, r: 8 }, weights, bert));
      expect(e).toBeInstanceOf(AdapterFormatError);
      expect(e.message).toMatch(/rank 8/);
    });
    it('rejects modules outside target_modules, bad configs and bad files', () => {
      expect(caught(() => parsePeftAdapter({ ...config, target_modules: ['query'] }, weights, bert)).message).toMatch(/matches no entry of target_modules/);
      expect(caught(() => parsePeftAdapter({ ...config, peft_type: 'IA3' }, weights, bert))).toBeInstanceOf(AdapterFormatError);
      expect(caught(() => parsePeftAdapter({ ...config, use_dora: true }, weights, bert))).toBeInstanceOf(AdapterFormatError);
      expect(caught(() => parsePeftAdapter({ ...config, r: 0 }, weights, bert))).toBeInstanceOf(AdapterFormatError);
      expect(caught(() => parsePeftAdapter({ ...config, labels: ['a'] }, weights, bert)).message).toMatch(/1 labels but the classifier has 3/);
      expect(caught(() => parsePeftAdapter(config, weights.subarray(0, 100), bert))).toBeInstanceOf(AdapterFormatError);
      expect(caught(() => parsePeftAdapter('x', weights, bert))).toBeInstanceOf(AdapterFormatError);
    });
  });
});
