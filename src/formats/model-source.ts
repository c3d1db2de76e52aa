/**
 * Where model and adapter files come from: a directory (Node) or a base URL (browser, or
 * Node with fetch). Loading validates everything: config, weights against the config, and
 * the tokenizer against the vocabulary.
 */
import type { ModelConfig } from './model-config.js';
import { HmiError } from '../errors.js';
import { ModelLoadError } from './errors.js';
import { fnv1a64 } from './hash.js';
import { parseHfConfig } from './hf-config.js';
import { normalizeWeights } from './hf-weights.js';
import { parsePeftAdapter } from './peft.js';
import { parseSafetensors } from './safetensors.js';
import { loadTokenizer, type HmiTokenizer } from './tokenizer.js';
import type { LoraAdapter, TensorMap } from './types.js';

export interface ModelSource {
  readText(name: string): Promise<string>;
  readBytes(name: string): Promise<Uint8Array>;
  exists(name: string): Promise<boolean>;
  /** Where the files come from, for messages. */
  describe(): string;
}

function reason(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Files of a local directory. node:fs is imported lazily so browser bundles never pull it in. */
export function directorySource(dir: string): ModelSource {
  // Specifiers in variables + @vite-ignore: bundlers leave these imports alone entirely.
  const fsName = 'node:fs/promises';
  const pathName = 'node:path';
  const fs = (): Promise<typeof import('node:fs/promises')> => import(/* @vite-ignore */ fsName);
  const pathOf = async (name: string): Promise<string> => ((await import(/* @vite-ignore */ pathName)) as typeof import('node:path')).join(dir, name);
  const read = async (name: string): Promise<Uint8Array> => {
    try {
      const buf = await (await fs()).readFile(await pathOf(name));
      return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
    } catch (e) {
      throw new ModelLoadError(name, dir, reason(e), { cause: e });
    }
  };
  return {
    readBytes: read,
    readText: async (name) => new TextDecoder().decode(await read(name)),
    exists: async (name) => {
      try {
        return (await (await fs()).stat(await pathOf(name))).isFile();
      } catch {
        return false;
      }
    },
    describe: () => dir,
  };
}

/** Files under a base URL, fetched with `fetchImpl` (default: the global fetch). */
export function urlSource(baseUrl: string, fetchImpl: typeof fetch = (...args) => fetch(...args)): ModelSource {
  const base = baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`;
  const urlOf = (name: string): string => base + name.split('/').map(encodeURIComponent).join('/');
  const get = async (name: string, method: 'GET' | 'HEAD'): Promise<Response> => {
    const url = urlOf(name);
    let res: Response;
    try {
      res = await fetchImpl(url, { method });
    } catch (e) {
      throw new ModelLoadError(name, url, `network error: ${reason(e)}`, { cause: e });
    }
    if (!res.ok) throw new ModelLoadError(name, url, `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`);
    return res;
  };
  const readBytes = async (name: string): Promise<Uint8Array> => {
    const res = await get(name, 'GET');
    try {
      return new Uint8Array(await res.arrayBuffer());
    } catch (e) {
      throw new ModelLoadError(name, urlOf(name), `download interrupted: ${reason(e)}`, { cause: e });
    }
  };
  return {
    readBytes,
    readText: async (name) => new TextDecoder().decode(await readBytes(name)),
    exists: async (name) => {
      try {
        await get(name, 'HEAD');
        return true;
      } catch {
        return false;
      }
    },
    describe: () => base,
  };
}

async function readJson(source: ModelSource, name: string): Promise<unknown> {
  const text = await source.readText(name);
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new ModelLoadError(name, source.describe(), `invalid JSON: ${reason(e)}`, { cause: e });
  }
}

/** Validation errors keep their class; the source goes in the message so users know which model failed. */
function annotate<T>(source: ModelSource, file: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof HmiError) e.message = `${e.message} (${file} in ${source.describe()})`;
    throw e;
  }
}

export interface LoadedModel {
  readonly config: ModelConfig;
  readonly weights: TensorMap;
  readonly tokenizer: HmiTokenizer;
  /** FNV-1a 64 of model.safetensors, hex. */
  readonly hash: string;
}

/** config.json alone: what a caller needs to check its own flags before the weights are read. */
export async function loadModelConfig(source: ModelSource): Promise<ModelConfig> {
  const json = await readJson(source, 'config.json');
  return annotate(source, 'config.json', () => parseHfConfig(json));
}

/** Reads config.json, model.safetensors, tokenizer.json (+ tokenizer_config.json when present). */
export async function loadModel(source: ModelSource): Promise<LoadedModel> {
  const [configJson, bytes, tokenizerJson, hasTokConfig] = await Promise.all([
    readJson(source, 'config.json'),
    source.readBytes('model.safetensors'),
    readJson(source, 'tokenizer.json'),
    source.exists('tokenizer_config.json'),
  ]);
  const tokConfig = hasTokConfig ? await readJson(source, 'tokenizer_config.json') : undefined;
  const config = annotate(source, 'config.json', () => parseHfConfig(configJson));
  const weights = annotate(source, 'model.safetensors', () => normalizeWeights(config, parseSafetensors(bytes, { skipNonFloat: true })));
  const tokenizer = annotate(source, 'tokenizer.json', () => loadTokenizer(tokenizerJson, tokConfig));
  if (tokenizer.vocabSize > config.vocabSize) {
    throw new ModelLoadError('tokenizer.json', source.describe(), `its ids reach ${tokenizer.vocabSize - 1}, but the model's vocab_size is ${config.vocabSize}`);
  }
  return { config, weights, tokenizer, hash: fnv1a64(bytes) };
}

/** Reads adapter_config.json + adapter_model.safetensors and validates them against `base`. */
export async function loadAdapter(source: ModelSource, base: ModelConfig): Promise<LoraAdapter> {
  const [configJson, bytes] = await Promise.all([readJson(source, 'adapter_config.json'), source.readBytes('adapter_model.safetensors')]);
  return annotate(source, 'adapter_model.safetensors', () => parsePeftAdapter(configJson, bytes, base));
}
