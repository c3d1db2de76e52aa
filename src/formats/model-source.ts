/**
 * Where model and adapter files come from: a directory (Node) or a base URL (browser, or
 * Node with fetch). Loading validates everything: config, weights against the config, and
 * the tokenizer against the vocabulary.
 */
import type { ModelConfig } from './model-config.js';
import { HmiError } from '../errors.js';
import { DownloadInterruptedError, ModelLoadError, TokenizerError } from './errors.js';
import { cachesByDefault, defaultModelCache, modelBaseUrl, type CachedFile, type ModelCache } from './model-cache.js';
import type { ProgressCallback } from '../util/progress.js';
import { fnv1a64 } from './hash.js';
import { parseHfConfig } from './hf-config.js';
import { normalizeWeights } from './hf-weights.js';
import { parsePeftAdapter } from './peft.js';
import { parseSafetensors } from './safetensors.js';
import { byteLevelBpeTokenizerFromFiles, idsOnlyTokenizer, loadTokenizer, wordPieceTokenizerFromVocab, type HmiTokenizer } from './tokenizer.js';
import { GPT2_EOS } from './tokenizer-files.js';
import type { LoraAdapter, TensorMap } from './types.js';

export interface ModelSource {
  readText(name: string): Promise<string>;
  readBytes(name: string): Promise<Uint8Array>;
  /** False when the file is not there; a source that cannot tell (network down) throws. */
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

export interface UrlSourceOptions {
  /**
   * Where downloaded files are kept for the next visit: true for the default cache (Cache
   * Storage in a page or worker, $HMI_CACHE_DIR or ~/.cache/hmi-web in Node), false to bypass
   * it, or a cache of the caller's. Default: true, except for URLs of this machine's own
   * servers (localhost, 127.x), whose files change under a developer.
   */
  readonly cache?: boolean | ModelCache;
  /** Bytes downloaded so far over the bytes known to come (Content-Length), phase 'download'. */
  readonly onProgress?: ProgressCallback;
}

function chooseCache(base: string, option: UrlSourceOptions['cache']): ModelCache | undefined {
  if (option === false) return undefined;
  if (option === undefined && !cachesByDefault(base)) return undefined;
  return option === true || option === undefined ? defaultModelCache() : option;
}

/** An HTTP answer that says the file does not exist (as opposed to the server failing). */
const isAbsentStatus = (status: number): boolean => status >= 400 && status < 500;

/**
 * Files under a base URL, fetched with `fetchImpl` (default: the global fetch), kept in a cache
 * (see UrlSourceOptions) so a second load downloads nothing. A download that ends short of its
 * Content-Length, or breaks off, is a DownloadInterruptedError and is never cached.
 */
export function urlSource(baseUrl: string, fetchImpl: typeof fetch = (...args) => fetch(...args), options: UrlSourceOptions = {}): ModelSource {
  const base = modelBaseUrl(baseUrl);
  const cache = chooseCache(base, options.cache);
  const urlOf = (name: string): string => base + name.split('/').map(encodeURIComponent).join('/');
  // Across every file of this source, so one progress bar covers a whole model.
  const progress = { done: 0, total: 0 };
  const report = (): void => options.onProgress?.({ phase: 'download', done: progress.done, total: progress.total });

  const request = async (name: string, method: 'GET' | 'HEAD'): Promise<Response> => {
    const url = urlOf(name);
    try {
      return await fetchImpl(url, { method });
    } catch (e) {
      throw new ModelLoadError(name, url, `network error: ${reason(e)}`, { cause: e });
    }
  };
  const httpError = (name: string, res: Response): ModelLoadError => new ModelLoadError(name, urlOf(name), `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`);
  // A cache that fails (quota, permissions, private browsing) costs a download, never the load.
  const cached = async (name: string): Promise<CachedFile | undefined> => cache?.get(base, name).catch(() => undefined);
  const remember = async (name: string, file: CachedFile): Promise<void> => {
    await cache?.put(base, name, file).catch(() => undefined);
  };

  const download = async (name: string): Promise<Uint8Array> => {
    const res = await request(name, 'GET');
    if (!res.ok) throw httpError(name, res);
    // Content-Length counts the encoded bytes; with a Content-Encoding the body we read is decoded.
    const encoded = (res.headers.get('content-encoding') ?? 'identity') !== 'identity';
    const lengthHeader = res.headers.get('content-length');
    const expected = !encoded && lengthHeader !== null && /^\d+$/.test(lengthHeader) ? Number(lengthHeader) : undefined;
    if (expected !== undefined) progress.total += expected;
    const chunks: Uint8Array[] = [];
    let received = 0;
    try {
      // No body at all (a 204) is an empty file.
      const reader = res.body?.getReader();
      for (;;) {
        const part = reader === undefined ? undefined : await reader.read();
        if (part === undefined || part.done) break;
        chunks.push(part.value);
        received += part.value.length;
        progress.done += part.value.length;
        if (expected === undefined) progress.total += part.value.length;
        report();
      }
    } catch (e) {
      throw new DownloadInterruptedError(name, urlOf(name), received, expected, { cause: e });
    }
    if (expected !== undefined && received < expected) throw new DownloadInterruptedError(name, urlOf(name), received, expected);
    const bytes = new Uint8Array(received);
    let at = 0;
    for (const c of chunks) {
      bytes.set(c, at);
      at += c.length;
    }
    return bytes;
  };

  const readBytes = async (name: string): Promise<Uint8Array> => {
    const hit = await cached(name);
    if (hit !== undefined && 'bytes' in hit) return hit.bytes;
    const bytes = await download(name);
    await remember(name, { bytes });
    return bytes;
  };

  return {
    readBytes,
    readText: async (name) => new TextDecoder().decode(await readBytes(name)),
    // A 4xx answer means absent (S3 answers 403 for a missing key); a network failure or a 5xx
    // is not an answer, and taking it for one would load a model without its tokenizer.
    exists: async (name) => {
      const hit = await cached(name);
      if (hit !== undefined) return 'bytes' in hit;
      const res = await request(name, 'HEAD');
      if (res.ok) return true;
      if (!isAbsentStatus(res.status)) throw httpError(name, res);
      if (res.status === 404 || res.status === 410) await remember(name, { absent: true });
      return false;
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
  /** Without tokenizer files, one that takes token ids only (text is a TokenizerError). */
  readonly tokenizer: HmiTokenizer;
  /** The files the tokenizer was built from; none for a model without tokenizer files. */
  readonly tokenizerFiles: readonly string[];
  /** FNV-1a 64 of model.safetensors, hex. */
  readonly hash: string;
}

/** config.json alone: what a caller needs to check its own flags before the weights are read. */
export async function loadModelConfig(source: ModelSource): Promise<ModelConfig> {
  const json = await readJson(source, 'config.json');
  return annotate(source, 'config.json', () => parseHfConfig(json));
}

/** The tokenizer files a model may ship, in order of preference. */
export const TOKENIZER_FILE_SETS: readonly (readonly string[])[] = [['tokenizer.json'], ['vocab.txt'], ['vocab.json', 'merges.txt']];

const TOKENIZER_FILES_NEEDED = 'tokenizer.json, or vocab.txt (BERT WordPiece), or vocab.json + merges.txt (GPT-2 byte-level BPE)';

interface SourceTokenizer {
  readonly tokenizer: HmiTokenizer;
  readonly files: readonly string[];
}

/** The best tokenizer files `source` has (+ tokenizer_config.json), or undefined if it has none. */
async function readTokenizer(source: ModelSource): Promise<SourceTokenizer | undefined> {
  const names = ['tokenizer_config.json', ...TOKENIZER_FILE_SETS.flat()];
  const present = new Set<string>();
  await Promise.all(names.map(async (n) => (await source.exists(n)) && present.add(n)));
  const set = TOKENIZER_FILE_SETS.find((files) => files.every((f) => present.has(f)));
  if (set === undefined) {
    const partial = TOKENIZER_FILE_SETS.find((files) => files.some((f) => present.has(f)));
    if (partial !== undefined) {
      const missing = partial.filter((f) => !present.has(f));
      throw new TokenizerError(`${source.describe()} has ${partial.filter((f) => present.has(f)).join(', ')} but not ${missing.join(', ')}; a tokenizer needs ${TOKENIZER_FILES_NEEDED}`);
    }
    return undefined;
  }
  const tokConfig = present.has('tokenizer_config.json') ? await readJson(source, 'tokenizer_config.json') : undefined;
  const files = tokConfig === undefined ? set : [...set, 'tokenizer_config.json'];
  const label = files.join(' + ');
  if (set[0] === 'tokenizer.json') {
    const json = await readJson(source, 'tokenizer.json');
    return { tokenizer: annotate(source, label, () => loadTokenizer(json, tokConfig)), files };
  }
  if (set[0] === 'vocab.txt') {
    const vocab = await source.readText('vocab.txt');
    return { tokenizer: annotate(source, label, () => wordPieceTokenizerFromVocab(vocab, tokConfig)), files };
  }
  const [vocab, merges] = await Promise.all([readJson(source, 'vocab.json'), source.readText('merges.txt')]);
  return { tokenizer: annotate(source, label, () => byteLevelBpeTokenizerFromFiles(vocab, merges, tokConfig)), files };
}

/**
 * Reads config.json, model.safetensors and the tokenizer: tokenizer.json, else vocab.txt (BERT),
 * else vocab.json + merges.txt (GPT-2), each with tokenizer_config.json when present. A model
 * without any takes token ids only.
 */
export async function loadModel(source: ModelSource): Promise<LoadedModel> {
  const [configJson, bytes, tok] = await Promise.all([readJson(source, 'config.json'), source.readBytes('model.safetensors'), readTokenizer(source)]);
  const endOfTextId = tok?.tokenizer.tokenToId(GPT2_EOS);
  const config = annotate(source, 'config.json', () => parseHfConfig(configJson, endOfTextId === undefined ? {} : { endOfTextId }));
  const weights = annotate(source, 'model.safetensors', () => normalizeWeights(config, parseSafetensors(bytes, { skipNonFloat: true })));
  if (tok !== undefined && tok.tokenizer.vocabSize > config.vocabSize) {
    throw new ModelLoadError(tok.files.join(' + '), source.describe(), `its ids reach ${tok.tokenizer.vocabSize - 1}, but the model's vocab_size is ${config.vocabSize}`);
  }
  const tokenizer =
    tok?.tokenizer ??
    idsOnlyTokenizer(config.vocabSize, `${source.describe()} has no tokenizer files, so the model takes token ids only; text needs ${TOKENIZER_FILES_NEEDED}`);
  return { config, weights, tokenizer, tokenizerFiles: tok?.files ?? [], hash: fnv1a64(bytes) };
}

export interface PreloadOptions {
  /** As UrlSourceOptions.cache. */
  readonly cache?: boolean | ModelCache;
  readonly fetch?: typeof fetch;
}

/** What preloadModel fetched: the files the model has, and the bytes that had to be downloaded. */
export interface PreloadResult {
  readonly files: readonly string[];
  readonly downloadedBytes: number;
}

/**
 * Downloads a model directory's files into the cache (see UrlSourceOptions) without parsing
 * them, reporting bytes as phase 'download': config.json, model.safetensors and whichever
 * tokenizer files it has. Files cached already are not downloaded again.
 */
export async function preloadModel(url: string, onProgress?: ProgressCallback, options: PreloadOptions = {}): Promise<PreloadResult> {
  let downloadedBytes = 0;
  const source = urlSource(url, options.fetch, {
    ...(options.cache !== undefined ? { cache: options.cache } : {}),
    onProgress: (p) => {
      downloadedBytes = p.done;
      onProgress?.(p);
    },
  });
  const optional = ['tokenizer_config.json', ...TOKENIZER_FILE_SETS.flat()];
  const present = await Promise.all(optional.map((n) => source.exists(n)));
  const files = ['config.json', 'model.safetensors', ...optional.filter((_, i) => present[i])];
  await Promise.all(files.map((n) => source.readBytes(n)));
  return { files, downloadedBytes };
}

/** Forgets every cached file of the model (or adapter) at `url`; resolves to how many there were. */
export async function deleteCachedModel(url: string, cache: ModelCache | undefined = defaultModelCache()): Promise<number> {
  return cache === undefined ? 0 : cache.deleteModel(modelBaseUrl(url));
}

/** Reads adapter_config.json + adapter_model.safetensors and validates them against `base`. */
export async function loadAdapter(source: ModelSource, base: ModelConfig): Promise<LoraAdapter> {
  const [configJson, bytes] = await Promise.all([readJson(source, 'adapter_config.json'), source.readBytes('adapter_model.safetensors')]);
  return annotate(source, 'adapter_model.safetensors', () => parsePeftAdapter(configJson, bytes, base));
}
