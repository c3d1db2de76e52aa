import { resolve } from 'node:path';
import { createGpuContext } from '../gpu/device.js';
import { nodeGpu } from '../gpu/node.js';
import { MissingWeightError } from '../formats/errors.js';
import { directorySource, loadAdapter, loadModel, type LoadedModel } from '../formats/model-source.js';
import type { LoraAdapter } from '../formats/types.js';
import { BaseWeights } from '../knowledge/general/base-weights.js';
import { BertModel } from '../model/bert.js';
import { packBatch, type PackedBatch } from '../model/batch.js';
import type { BertConfig, Gpt2Config } from '../formats/model-config.js';
import { Gpt2Model } from '../model/gpt2.js';
import { checkAdapter, SingleAdapterLora } from '../model/single-lora.js';
import { parseIds, parseSplit, stringFlag, type ParsedArgs } from './args.js';
import { UsageError } from './errors.js';

export const INFER_VALUED = new Set(['model', 'adapter', 'input-ids', 'text', 'output', 'split']);
export const INFER_SWITCHES = new Set(['json']);

type Output = 'hidden' | 'logits';

export interface InferResult {
  readonly shape: number[];
  readonly data: Float32Array;
  /** Human-readable lines for the non-JSON output. */
  readonly summary: string[];
}

interface Request {
  loaded: LoadedModel;
  adapter: LoraAdapter | undefined;
  batch: PackedBatch;
  ids: number[];
  output: Output;
  split: number | undefined;
}

/**
 * Everything that can be checked on the CPU, before a GPU device is opened: the flags, the
 * model and adapter files, the input ids and whether the requested output exists.
 */
async function prepare(args: ParsedArgs): Promise<Request> {
  const modelDir = stringFlag(args, 'model');
  if (!modelDir) throw new UsageError('infer needs --model <dir>');
  const idsText = stringFlag(args, 'input-ids');
  const text = stringFlag(args, 'text');
  if ((idsText === undefined) === (text === undefined)) throw new UsageError('infer needs exactly one of --input-ids and --text');
  const outputFlag = stringFlag(args, 'output');
  if (outputFlag !== undefined && outputFlag !== 'hidden' && outputFlag !== 'logits') {
    throw new UsageError(`--output must be hidden or logits, got "${outputFlag}"`);
  }
  const loaded = await loadModel(directorySource(resolve(modelDir)));
  const { config } = loaded;
  const adapterDir = stringFlag(args, 'adapter');
  const adapter = adapterDir === undefined ? undefined : await loadAdapter(directorySource(resolve(adapterDir)), config);
  if (adapter) checkAdapter(config, adapter);
  const splitText = stringFlag(args, 'split');
  const split = splitText === undefined ? undefined : parseSplit(splitText, config.numLayers);
  const ids = idsText !== undefined ? parseIds(idsText) : loaded.tokenizer.encode(text!);
  const batch = packBatch(config, [{ ids }]);
  const hasClassifier = adapter?.head.has('classifier.weight') || loaded.weights.has('classifier.weight');
  // BERT's default is the classifier when there is one; GPT-2's is the LM head.
  const output: Output = outputFlag ?? (config.family === 'bert' && !hasClassifier ? 'hidden' : 'logits');
  if (config.family === 'bert' && output === 'logits' && !hasClassifier) {
    throw new MissingWeightError(
      'classifier.weight',
      `${modelDir} has no classifier (no classifier.weight in the checkpoint${adapter ? ' nor in the adapter\'s modules_to_save' : ''}); use --output hidden or an adapter with a head`,
    );
  }
  return { loaded, adapter, batch, ids, output, split };
}

function stats(x: Float32Array): string {
  let sum = 0;
  let sq = 0;
  for (const v of x) {
    sum += v;
    sq += v * v;
  }
  const mean = sum / x.length;
  return `mean ${mean.toFixed(4)}, std ${Math.sqrt(Math.max(0, sq / x.length - mean * mean)).toFixed(4)}`;
}

export async function runInfer(args: ParsedArgs): Promise<InferResult> {
  const req = await prepare(args);
  const { config, weights, tokenizer, tokenizerFiles } = req.loaded;
  const ctx = await createGpuContext(await nodeGpu(), { label: 'hmi-cli' });
  try {
    const base = await BaseWeights.upload(ctx, weights);
    const lora = req.adapter ? await SingleAdapterLora.upload(ctx, config, req.adapter, req.ids.length) : undefined;
    // One forward per process, and Node has no IndexedDB to keep autotune choices in: timing
    // every matmul variant would cost more than it saves, so the per-device default is used.
    const sizing = { maxTokens: req.ids.length, maxSeqs: 1, autotune: false };
    const T = req.ids.length;
    const H = config.hiddenSize;
    const head = `${config.family}, ${config.numLayers} layers, H=${H}${req.adapter ? `, adapter of ${req.adapter.modules.size} LoRA modules` : ''}: ${T} tokens`;
    if (config.family === 'bert') {
      const model = await BertModel.create(ctx, config as BertConfig, base, sizing);
      const opts = { lora, head: lora?.head };
      const out =
        req.split === undefined
          ? await model.forward(req.batch, opts)
          : await model.runUpper(req.batch, req.split, await model.runLower(req.batch, req.split, lora), opts);
      const got = await model.read(out);
      if (req.output === 'hidden') {
        return { shape: [T, H], data: got.hidden, summary: [head, `last_hidden_state [${T}, ${H}]: ${stats(got.hidden)}`] };
      }
      const logits = got.logits!;
      const labels = req.adapter?.labels ?? (config as BertConfig).labels ?? [];
      const best = logits.indexOf(Math.max(...logits));
      const named = Array.from(logits, (v, i) => `${labels[i] ?? `label_${i}`} ${v.toFixed(4)}`).join(', ');
      return { shape: [got.numLabels], data: logits, summary: [head, `logits [${got.numLabels}]: ${named}`, `prediction: ${labels[best] ?? `label_${best}`}`] };
    }
    const model = await Gpt2Model.create(ctx, config as Gpt2Config, base, sizing);
    const opts = { lora, logits: req.output === 'logits' ? ('all' as const) : ('none' as const) };
    const out =
      req.split === undefined
        ? await model.forward(req.batch, opts)
        : await model.runUpper(req.batch, req.split, await model.runLower(req.batch, req.split, { lora }), opts);
    if (req.output === 'hidden') {
      const hidden = await model.readHidden(out);
      return { shape: [T, H], data: hidden, summary: [head, `ln_f output [${T}, ${H}]: ${stats(hidden)}`] };
    }
    const V = config.vocabSize;
    const logits = await model.readLogits(out);
    const last = logits.subarray((T - 1) * V);
    const next = last.indexOf(Math.max(...last));
    return {
      shape: [T, V],
      data: logits,
      summary: [head, `logits [${T}, ${V}]: ${stats(logits)}`, `next token (greedy): ${next}${tokenizerFiles.length > 0 ? ` ${JSON.stringify(tokenizer.decode([next]))}` : ''}`],
    };
  } finally {
    ctx.destroy();
  }
}
