/**
 * A cache of model files fetched by URL, so a model is downloaded once, not on every visit:
 * Cache Storage in a page or worker, a directory in Node. Files are keyed by the model's base
 * URL and their name; an entry is written only once its file has fully arrived (atomically in
 * Node), so an interrupted download never leaves a file that a later load would trust.
 */

/** A cached answer: the complete file, or the server's word that it does not exist. */
export type CachedFile = { readonly bytes: Uint8Array } | { readonly absent: true };

export interface ModelCache {
  get(base: string, name: string): Promise<CachedFile | undefined>;
  put(base: string, name: string, file: CachedFile): Promise<void>;
  /** Forgets everything cached of the model at `base`; resolves to how many files went. */
  deleteModel(base: string): Promise<number>;
  /** Where the entries live, for messages. */
  describe(): string;
}

/** The Cache Storage name; bump the version when the layout of an entry changes. */
export const MODEL_CACHE_NAME = 'hmi-models-v1';

// An entry's own header: Cache Storage has no other place to mark "known absent" or check length.
const ABSENT_HEADER = 'x-hmi-absent';
const LENGTH_HEADER = 'x-hmi-length';

/** Base URL of a model directory as the sources use it: with exactly one trailing slash. */
export function modelBaseUrl(url: string): string {
  return url.endsWith('/') ? url : `${url}/`;
}

/** Cache Storage (`caches`, in a secure page or a worker), one entry per file URL. */
export function cacheStorageModelCache(cacheName = MODEL_CACHE_NAME): ModelCache {
  const open = (): Promise<Cache> => caches.open(cacheName);
  const key = (base: string, name: string): string => modelBaseUrl(base) + name.split('/').map(encodeURIComponent).join('/');
  return {
    async get(base, name) {
      const res = await (await open()).match(key(base, name));
      if (!res) return undefined;
      if (res.headers.get(ABSENT_HEADER) === '1') return { absent: true };
      const bytes = new Uint8Array(await res.arrayBuffer());
      // Evicted or damaged bodies have been seen in browsers: a length that disagrees is a miss.
      return String(bytes.length) === res.headers.get(LENGTH_HEADER) ? { bytes } : undefined;
    },
    async put(base, name, file) {
      const headers: Record<string, string> = 'absent' in file ? { [ABSENT_HEADER]: '1' } : { [LENGTH_HEADER]: String(file.bytes.length) };
      const body = 'absent' in file ? null : file.bytes.slice().buffer;
      await (await open()).put(key(base, name), new Response(body, { headers }));
    },
    async deleteModel(base) {
      const cache = await open();
      const prefix = modelBaseUrl(base);
      const keys = (await cache.keys()).filter((r) => r.url.startsWith(prefix));
      const wasFile = await Promise.all(keys.map(async (r) => (await cache.match(r))?.headers.get(ABSENT_HEADER) !== '1'));
      await Promise.all(keys.map((r) => cache.delete(r)));
      return wasFile.filter(Boolean).length;
    },
    describe: () => `Cache Storage "${cacheName}"`,
  };
}

type Fs = typeof import('node:fs/promises');
type Path = typeof import('node:path');
type Os = typeof import('node:os');
type Crypto = typeof import('node:crypto');
// Specifiers in variables + @vite-ignore: browser bundles never pull Node modules in.
const nodeModule = <T>(name: string): Promise<T> => import(/* @vite-ignore */ name) as Promise<T>;

/** $HMI_CACHE_DIR, else ~/.cache/hmi-web (Node only). */
export async function defaultCacheDir(): Promise<string> {
  const env = process.env.HMI_CACHE_DIR;
  if (env) return env;
  const [os, path] = await Promise.all([nodeModule<Os>('node:os'), nodeModule<Path>('node:path')]);
  return path.join(os.homedir(), '.cache', 'hmi-web');
}

const ABSENT_SUFFIX = '.absent';
// The directory's files are URL-encoded names, so none can be "." or ".." or hold a separator.
const fileName = (name: string): string => `f-${encodeURIComponent(name)}`;

/**
 * A directory (Node): one subdirectory per model, named by the SHA-256 of its base URL (with
 * the URL in `url.txt` for people), holding the files written atomically and `.absent` markers.
 */
export function directoryModelCache(dir?: string): ModelCache {
  let rootDir: Promise<string> | undefined;
  const modelDir = async (base: string): Promise<string> => {
    const [path, crypto] = await Promise.all([nodeModule<Path>('node:path'), nodeModule<Crypto>('node:crypto')]);
    const hash = crypto.createHash('sha256').update(modelBaseUrl(base)).digest('hex').slice(0, 40);
    return path.join(await (rootDir ??= dir !== undefined ? Promise.resolve(dir) : defaultCacheDir()), hash);
  };
  const fs = (): Promise<Fs> => nodeModule<Fs>('node:fs/promises');
  const join = async (...parts: string[]): Promise<string> => (await nodeModule<Path>('node:path')).join(...parts);
  return {
    async get(base, name) {
      const d = await modelDir(base);
      try {
        const buf = await (await fs()).readFile(await join(d, fileName(name)));
        return { bytes: new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength) };
      } catch {
        // Not cached, or not readable: either way the network is asked.
      }
      try {
        await (await fs()).access(await join(d, fileName(name) + ABSENT_SUFFIX));
        return { absent: true };
      } catch {
        return undefined;
      }
    },
    async put(base, name, file) {
      const d = await modelDir(base);
      const f = await fs();
      await f.mkdir(d, { recursive: true });
      const { writeFileAtomic } = await import('../util/atomic-file.js');
      await writeFileAtomic(await join(d, 'url.txt'), `${modelBaseUrl(base)}\n`, { fsync: false });
      if ('absent' in file) await writeFileAtomic(await join(d, fileName(name) + ABSENT_SUFFIX), '', { fsync: false });
      else await writeFileAtomic(await join(d, fileName(name)), file.bytes);
    },
    async deleteModel(base) {
      const d = await modelDir(base);
      const f = await fs();
      let names: string[];
      try {
        names = await f.readdir(d);
      } catch {
        return 0;
      }
      await f.rm(d, { recursive: true, force: true });
      return names.filter((n) => n.startsWith('f-') && !n.endsWith(ABSENT_SUFFIX)).length;
    },
    describe: () => dir ?? '$HMI_CACHE_DIR or ~/.cache/hmi-web',
  };
}

/** Cache Storage where there is one (a secure page, a worker), a directory in Node, else none. */
export function defaultModelCache(): ModelCache | undefined {
  if (typeof caches !== 'undefined') return cacheStorageModelCache();
  if (typeof process !== 'undefined' && typeof process.versions?.node === 'string') return directoryModelCache();
  return undefined;
}

/**
 * Whether a URL's model is cached unless the caller says otherwise: not for this machine's own
 * servers (localhost, 127.x, [::1]), which answer as fast as the cache and whose files change
 * under a developer, who would then be served yesterday's model.
 */
export function cachesByDefault(url: string): boolean {
  let host: string;
  try {
    host = new URL(url, typeof location !== 'undefined' ? location.href : undefined).hostname;
  } catch {
    return false;
  }
  return !(host === 'localhost' || host.endsWith('.localhost') || host === '[::1]' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host));
}
