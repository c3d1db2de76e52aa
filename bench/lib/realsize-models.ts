/**
 * Node side of `npm run bench -- realsize`: the real-size checkpoints, generated once into
 * bench/realsize-models/ (gitignored) and reused while their stamp matches. Random weights in
 * the shapes of BERT-base and GPT-2 small, written as an HF model directory would hold them
 * (config.json + F16 model.safetensors with the class prefixes) and no tokenizer files, so
 * the runtime loads them as token-id models.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BertConfig, Gpt2Config } from '../../src/formats/model-config.js';
import { writeSafetensors } from '../../src/formats/safetensors.js';
import type { TensorMap } from '../../src/formats/types.js';
import { bertConfig, gpt2Config, randomBertWeights, randomGpt2Weights } from '../../test/model/random-model.js';

/** Bump when what is written changes, so stale directories are regenerated. */
const GENERATOR = 'realsize-models v1';

export const BERT_BASE: BertConfig = bertConfig({ vocabSize: 30522, hiddenSize: 768, numLayers: 12, numHeads: 12, intermediateSize: 3072, maxPositions: 512, numLabels: 2 });
export const GPT2_SMALL: Gpt2Config = gpt2Config({ vocabSize: 50257, hiddenSize: 768, numLayers: 12, numHeads: 12, intermediateSize: 3072, maxPositions: 1024, bosTokenId: 50256, eosTokenId: 50256 });

export interface RealsizeModelDirs {
  readonly bert: string;
  readonly gpt2: string;
}

/** HF config.json of the BERT-base shape (BertForSequenceClassification, 2 labels). */
function bertHfConfig(c: BertConfig): Record<string, unknown> {
  const labels = Array.from({ length: c.numLabels ?? 2 }, (_, i) => `LABEL_${i}`);
  return {
    architectures: ['BertForSequenceClassification'],
    model_type: 'bert',
    vocab_size: c.vocabSize,
    hidden_size: c.hiddenSize,
    num_hidden_layers: c.numLayers,
    num_attention_heads: c.numHeads,
    intermediate_size: c.intermediateSize,
    hidden_act: 'gelu',
    max_position_embeddings: c.maxPositions,
    type_vocab_size: c.typeVocabSize,
    layer_norm_eps: c.layerNormEps,
    pad_token_id: c.padTokenId,
    position_embedding_type: 'absolute',
    id2label: Object.fromEntries(labels.map((l, i) => [String(i), l])),
    label2id: Object.fromEntries(labels.map((l, i) => [l, i])),
    torch_dtype: 'float16',
  };
}

/** HF config.json of GPT-2 small (GPT2LMHeadModel, tied LM head). */
function gpt2HfConfig(c: Gpt2Config): Record<string, unknown> {
  return {
    architectures: ['GPT2LMHeadModel'],
    model_type: 'gpt2',
    vocab_size: c.vocabSize,
    n_embd: c.hiddenSize,
    n_layer: c.numLayers,
    n_head: c.numHeads,
    n_inner: null,
    n_positions: c.maxPositions,
    n_ctx: c.maxPositions,
    activation_function: 'gelu_new',
    layer_norm_epsilon: c.layerNormEps,
    bos_token_id: c.bosTokenId,
    eos_token_id: c.eosTokenId,
    tie_word_embeddings: true,
    torch_dtype: 'float16',
  };
}

/** The checkpoint's names: HF's class prefix on the encoder / transformer, none on the classifier. */
function withPrefix(weights: TensorMap, prefix: string): TensorMap {
  const out: TensorMap = new Map();
  for (const [name, t] of weights) out.set(name.startsWith('classifier.') ? name : `${prefix}${name}`, t);
  return out;
}

async function writeModel(dir: string, config: Record<string, unknown>, weights: TensorMap): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
  await writeFile(join(dir, 'model.safetensors'), writeSafetensors(weights, { dtype: 'F16', metadata: { format: 'pt' } }));
}

/**
 * The two model directories under `root` (bench/realsize-models/), written unless a stamp of
 * this generator and seed is there already. About 470 MB on disk.
 */
export async function prepareRealsizeModels(root: string, seed: number, log: (m: string) => void): Promise<RealsizeModelDirs> {
  const dirs: RealsizeModelDirs = { bert: join(root, 'bert-base'), gpt2: join(root, 'gpt2-small') };
  const stampFile = join(root, 'stamp.json');
  const stamp = JSON.stringify({ generator: GENERATOR, seed });
  if (existsSync(stampFile) && (await readFile(stampFile, 'utf8')) === stamp && existsSync(join(dirs.bert, 'model.safetensors')) && existsSync(join(dirs.gpt2, 'model.safetensors'))) {
    log(`reusing the checkpoints in ${root} (${stamp})`);
    return dirs;
  }
  const t0 = Date.now();
  // The stamp goes last: an interrupted generation is redone.
  await rm(stampFile, { force: true });
  await writeModel(dirs.bert, bertHfConfig(BERT_BASE), withPrefix(randomBertWeights(BERT_BASE, seed), 'bert.'));
  await writeModel(dirs.gpt2, gpt2HfConfig(GPT2_SMALL), withPrefix(randomGpt2Weights(GPT2_SMALL, seed + 1), 'transformer.'));
  await writeFile(stampFile, stamp);
  log(`wrote the BERT-base and GPT-2 small F16 checkpoints to ${root} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return dirs;
}
