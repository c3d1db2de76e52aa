import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/formats/errors.js';
import { parseHfConfig } from '../../src/formats/hf-config.js';

const bert = {
  model_type: 'bert',
  vocab_size: 30522,
  hidden_size: 768,
  num_hidden_layers: 12,
  num_attention_heads: 12,
  intermediate_size: 3072,
  max_position_embeddings: 512,
  type_vocab_size: 2,
  layer_norm_eps: 1e-12,
  pad_token_id: 0,
  hidden_act: 'gelu',
  id2label: { '0': 'NEGATIVE', '1': 'POSITIVE' },
};

const gpt2 = {
  model_type: 'gpt2',
  vocab_size: 50257,
  n_embd: 768,
  n_layer: 12,
  n_head: 12,
  n_inner: null,
  n_positions: 1024,
  layer_norm_epsilon: 1e-5,
  activation_function: 'gelu_new',
  bos_token_id: 50256,
  eos_token_id: 50256,
};

function expectConfigError(json: unknown, pattern: RegExp): void {
  expect(() => parseHfConfig(json)).toThrow(ConfigError);
  expect(() => parseHfConfig(json)).toThrow(pattern);
}

describe('parseHfConfig', () => {
  it('normalizes a bert-base config', () => {
    expect(parseHfConfig(bert)).toEqual({
      family: 'bert',
      vocabSize: 30522,
      hiddenSize: 768,
      numLayers: 12,
      numHeads: 12,
      intermediateSize: 3072,
      maxPositions: 512,
      typeVocabSize: 2,
      layerNormEps: 1e-12,
      padTokenId: 0,
      numLabels: 2,
      labels: ['NEGATIVE', 'POSITIVE'],
    });
  });

  it('orders id2label by id and takes num_labels alone', () => {
    const c = parseHfConfig({ ...bert, id2label: { '1': 'b', '0': 'a', '2': 'c' } });
    expect(c.family === 'bert' && c.labels).toEqual(['a', 'b', 'c']);
    const n = parseHfConfig({ ...bert, id2label: undefined, num_labels: 5 });
    expect(n.family === 'bert' && n.numLabels).toBe(5);
    expect(n.family === 'bert' && n.labels).toBeUndefined();
  });

  it('normalizes a gpt2 config, n_inner null -> 4 * n_embd', () => {
    expect(parseHfConfig(gpt2)).toEqual({
      family: 'gpt2',
      vocabSize: 50257,
      hiddenSize: 768,
      numLayers: 12,
      numHeads: 12,
      intermediateSize: 3072,
      maxPositions: 1024,
      layerNormEps: 1e-5,
      bosTokenId: 50256,
      eosTokenId: 50256,
    });
    expect(parseHfConfig({ ...gpt2, n_inner: 1000 }).intermediateSize).toBe(1000);
  });

  it('rejects unsupported model types', () => {
    expectConfigError({ ...bert, model_type: 'llama' }, /"model_type" is "llama"; supported: "bert", "gpt2"/);
    expectConfigError({ hidden_size: 4 }, /"model_type" is missing/);
    expectConfigError([1], /must be a JSON object/);
  });

  it('rejects non-integer sizes', () => {
    expectConfigError({ ...bert, hidden_size: 768.5 }, /"hidden_size" must be a positive integer, got 768.5/);
    expectConfigError({ ...bert, num_hidden_layers: 0 }, /"num_hidden_layers" must be a positive integer, got 0/);
    expectConfigError({ ...gpt2, n_layer: '12' }, /"n_layer" must be a positive integer/);
    expectConfigError({ ...gpt2, n_inner: 0 }, /"n_inner"/);
  });

  it('rejects a hidden size not divisible by the heads', () => {
    expectConfigError({ ...bert, num_attention_heads: 5 }, /"hidden_size" 768 is not divisible by the number of attention heads 5/);
    expectConfigError({ ...gpt2, n_head: 7 }, /"n_embd" 768 is not divisible/);
  });

  it('rejects other activations and position embeddings', () => {
    expectConfigError({ ...bert, hidden_act: 'relu' }, /"hidden_act" is "relu"; this runtime supports only "gelu"/);
    expectConfigError({ ...gpt2, activation_function: 'relu' }, /"activation_function"/);
    expectConfigError({ ...bert, position_embedding_type: 'relative_key' }, /position_embedding_type/);
  });

  it('rejects bad token ids, label maps and epsilons', () => {
    expectConfigError({ ...gpt2, eos_token_id: 50257, bos_token_id: 50257 }, /token id in 0..50256/);
    expectConfigError({ ...bert, pad_token_id: -1 }, /"pad_token_id"/);
    expectConfigError({ ...bert, id2label: { '0': 'a', '2': 'b' } }, /"id2label" keys must be the ids 0..1/);
    expectConfigError({ ...bert, num_labels: 3 }, /"num_labels" 3 disagrees with "id2label"/);
    expectConfigError({ ...bert, layer_norm_eps: 0 }, /"layer_norm_eps" must be a positive number/);
  });
});

describe('parseHfConfig defaults (transformers BertConfig / GPT2Config)', () => {
  it('reads a bare config as bert-base / gpt2 (small), whose <|endoftext|> is 50256', () => {
    expect(parseHfConfig({ model_type: 'bert' })).toEqual(parseHfConfig({ ...bert, id2label: undefined }));
    expect(parseHfConfig({ ...bert, pad_token_id: null, hidden_act: null })).toMatchObject({ padTokenId: 0 });
    expect(parseHfConfig({ model_type: 'gpt2' })).toEqual(parseHfConfig(gpt2));
    expect(parseHfConfig({ ...gpt2, n_positions: undefined, n_ctx: 512 }).maxPositions).toBe(512);
  });

  it('defaults bos/eos of a smaller vocabulary to its <|endoftext|>, else its last id', () => {
    const small = { ...gpt2, vocab_size: 1000, bos_token_id: undefined, eos_token_id: null };
    expect(parseHfConfig(small)).toMatchObject({ bosTokenId: 999, eosTokenId: 999 });
    expect(parseHfConfig(small, { endOfTextId: 0 })).toMatchObject({ bosTokenId: 0, eosTokenId: 0 });
    expect(parseHfConfig(small, { endOfTextId: 5000 })).toMatchObject({ eosTokenId: 999 });
    // Each id defaults on its own, as in GPT2Config; a vocabulary with id 50256 keeps 50256.
    expect(parseHfConfig({ ...small, eos_token_id: 7 }, { endOfTextId: 3 })).toMatchObject({ bosTokenId: 3, eosTokenId: 7 });
    expect(parseHfConfig({ ...gpt2, vocab_size: 60000, bos_token_id: undefined, eos_token_id: undefined }, { endOfTextId: 3 })).toMatchObject({ bosTokenId: 50256, eosTokenId: 50256 });
  });
});
