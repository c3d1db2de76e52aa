import { resolve } from 'node:path';
import { HmiError } from '../errors.js';
import { nodeGpu } from '../gpu/node.js';
import { directorySource, loadAdapter, loadModel, type LoadedModel } from '../formats/model-source.js';
import type { LoraAdapter } from '../formats/types.js';
import { AdapterPool } from '../knowledge/task/pool.js';
import { MemoryTenantStore } from '../knowledge/task/store-memory.js';
import type { Gpt2Config } from '../formats/model-config.js';
import { checkAdapter } from '../model/single-lora.js';
import type { GenerateChunk, GenerateOptions } from '../runtime/api.js';
import { InvalidInputError } from '../runtime/errors.js';
import { KvPool } from '../model/kv/kv-pool.js';
import { HmiRuntime } from '../runtime/runtime.js';
import { parseIds, stringFlag, type ParsedArgs } from './args.js';
import { UsageError } from './errors.js';

export const GENERATE_VALUED = new Set(['model', 'adapter', 'prompt', 'input-ids', 'max-tokens', 'temperature', 'top-k', 'top-p', 'seed']);
export const GENERATE_SWITCHES = new Set(['json']);

export interface GenerateCliResult {
  readonly promptTokens: number;
  readonly tokens: number[];
  /** Empty for a model without tokenizer files: it generates ids only. */
  readonly text: string;
  readonly finishReason: string;
  readonly hasTokenizer: boolean;
}

/** The one tenant the command registers: the --adapter, or none (the base model). */
const TENANT = 'cli';
const DEFAULT_MAX_TOKENS = 32;
const BLOCK_TOKENS = 16;

function numberFlag(args: ParsedArgs, name: string, integer: boolean): number | undefined {
  const text = stringFlag(args, name);
  if (text === undefined) return undefined;
  const pattern = integer ? /^\d+$/ : /^(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;
  if (!pattern.test(text)) throw new UsageError(`--${name} must be a ${integer ? 'non-negative integer' : 'non-negative number'}, got "${text}"`);
  return Number(text);
}

interface Request {
  readonly loaded: LoadedModel & { readonly config: Gpt2Config };
  readonly adapter: LoraAdapter;
  readonly ids: number[];
  readonly options: GenerateOptions;
}

/** Flags, files, ids and sizes: everything checked before a GPU device is opened. */
async function prepare(args: ParsedArgs): Promise<Request> {
  const modelDir = stringFlag(args, 'model');
  if (!modelDir) throw new UsageError('generate needs --model <dir>');
  const prompt = stringFlag(args, 'prompt');
  const idsText = stringFlag(args, 'input-ids');
  if ((prompt === undefined) === (idsText === undefined)) throw new UsageError('generate needs exactly one of --prompt and --input-ids');
  const maxTokens = numberFlag(args, 'max-tokens', true) ?? DEFAULT_MAX_TOKENS;
  const temperature = numberFlag(args, 'temperature', false);
  const topK = numberFlag(args, 'top-k', true);
  const topP = numberFlag(args, 'top-p', false);
  const seed = numberFlag(args, 'seed', true);
  const loaded = await loadModel(directorySource(resolve(modelDir)));
  if (loaded.config.family !== 'gpt2') throw new HmiError('UNSUPPORTED_MODEL', `${modelDir} is a ${loaded.config.family} model; generate needs a GPT-2 checkpoint`);
  const adapterDir = stringFlag(args, 'adapter');
  const adapter: LoraAdapter = adapterDir === undefined ? { modules: new Map(), head: new Map() } : await loadAdapter(directorySource(resolve(adapterDir)), loaded.config);
  checkAdapter(loaded.config, adapter);
  const ids = idsText !== undefined ? parseIds(idsText) : loaded.tokenizer.encode(prompt!);
  if (ids.length === 0) throw new InvalidInputError('the prompt has no tokens');
  const P = loaded.config.maxPositions;
  if (ids.length + maxTokens - 1 > P) throw new InvalidInputError(`${ids.length} prompt tokens + ${maxTokens} new exceed the model's ${P} positions`);
  return {
    loaded: loaded as LoadedModel & { readonly config: Gpt2Config },
    adapter,
    ids,
    options: {
      maxTokens,
      ...(temperature !== undefined ? { temperature } : {}),
      ...(topK !== undefined ? { topK } : {}),
      ...(topP !== undefined ? { topP } : {}),
      ...(seed !== undefined ? { seed } : {}),
    },
  };
}

/**
 * An hGPT runtime sized for one request of a command: a KV pool of exactly `kvTokens`
 * positions' blocks, an adapter pool of exactly its adapter, no autotune (one run does not
 * repay it). `split` as RuntimeOptions.split.
 */
export function singleRequestRuntime(
  loaded: LoadedModel & { readonly config: Gpt2Config },
  modelDir: string,
  adapter: LoraAdapter,
  kvTokens: number,
  tokenBudget: number,
  split?: number,
): Promise<HmiRuntime> {
  const c = loaded.config;
  return nodeGpu().then((gpu) =>
    HmiRuntime.create(gpu, loaded, directorySource(modelDir), {
      store: new MemoryTenantStore(),
      poolBytes: Math.max(c.hiddenSize * 4, AdapterPool.bytesNeeded(adapter, c.hiddenSize)),
      kvBytes: KvPool.budgetFor({ numLayers: c.numLayers, hiddenSize: c.hiddenSize, blockTokens: BLOCK_TOKENS }, Math.ceil(kvTokens / BLOCK_TOKENS)),
      kvBlockTokens: BLOCK_TOKENS,
      tokenBudget,
      maxActive: 1,
      autotune: false,
      ...(split !== undefined ? { split } : {}),
    }),
  );
}

/** One generation on the hGPT runtime, sized for this single request. Greedy unless --temperature is given. */
export async function runGenerate(args: ParsedArgs, onChunk?: (chunk: GenerateChunk) => void): Promise<GenerateCliResult> {
  const req = await prepare(args);
  const maxTokens = req.options.maxTokens!;
  const rt = await singleRequestRuntime(req.loaded, resolve(stringFlag(args, 'model')!), req.adapter, req.ids.length + Math.max(0, maxTokens - 1), req.ids.length);
  try {
    await rt.tenants.add({ id: TENANT, adapter: req.adapter });
    const tokens: number[] = [];
    let text = '';
    let finishReason = 'length';
    for await (const chunk of rt.generate(TENANT, req.ids, req.options)) {
      if (chunk.tokenId >= 0) tokens.push(chunk.tokenId);
      text += chunk.text;
      if (chunk.finishReason) finishReason = chunk.finishReason;
      onChunk?.(chunk);
    }
    return { promptTokens: req.ids.length, tokens, text, finishReason, hasTokenizer: req.loaded.tokenizerFiles.length > 0 };
  } finally {
    await rt.dispose();
  }
}
