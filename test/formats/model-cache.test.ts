/** Models by URL: downloaded once into a cache, with byte progress; interrupted downloads never cached. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DownloadInterruptedError, ModelLoadError } from '../../src/formats/errors.js';
import { cachesByDefault, cacheStorageModelCache, directoryModelCache, type ModelCache } from '../../src/formats/model-cache.js';
import { deleteCachedModel, loadModel, preloadModel, urlSource } from '../../src/formats/model-source.js';
import { makeBertFiles } from '../../src/model/synthetic.js';
import type { Progress } from '../../src/util/progress.js';

const files = makeBertFiles({ hiddenSize: 16, numLayers: 1, numHeads: 2, intermediateSize: 16, maxPositions: 16 });
const size = (name: string): number => Buffer.byteLength(files[name]);

let server: Server;
let base: string;
let work: string;
/** What the server sent: requests by method and body bytes; `truncate` names a file to cut short. */
const sent = { requests: 0, bytes: 0, truncate: undefined as string | undefined };

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'hmi-cache-'));
  server = createServer((req, res) => {
    sent.requests++;
    const name = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname.replace(/^\/m\//, ''));
    const body = files[name];
    if (body === undefined) {
      res.writeHead(404).end();
      return;
    }
    const bytes = Buffer.from(body);
    res.writeHead(200, { 'content-length': bytes.length, 'content-type': 'application/octet-stream' });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    if (sent.truncate === name) {
      // Promise the whole file, send half, hang up: what a dropped connection looks like.
      const half = bytes.subarray(0, bytes.length >> 1);
      sent.bytes += half.length;
      res.write(half, () => res.socket?.destroy());
      return;
    }
    sent.bytes += bytes.length;
    res.end(bytes);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/m/`;
});
afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  await rm(work, { recursive: true, force: true });
});
beforeEach(() => {
  sent.requests = 0;
  sent.bytes = 0;
  sent.truncate = undefined;
});

/** Cache Storage as a page has it, in memory: Node has none. */
function fakeCacheStorage(): void {
  const entries = new Map<string, Response>();
  const cache = {
    match: async (key: string | Request) => entries.get(typeof key === 'string' ? key : key.url)?.clone(),
    put: async (key: string, res: Response) => {
      entries.set(key, res);
    },
    keys: async () => [...entries.keys()].map((u) => new Request(u)),
    delete: async (req: Request) => entries.delete(req.url),
  };
  Object.assign(globalThis, { caches: { open: async () => cache } });
}

function expectMonotonicToTotal(events: readonly Progress[], total: number): void {
  expect(events.length).toBeGreaterThan(0);
  for (const [i, e] of events.entries()) {
    expect(e.phase).toBe('download');
    expect(e.done).toBeLessThanOrEqual(e.total);
    if (i > 0) {
      expect(e.done).toBeGreaterThanOrEqual(events[i - 1].done);
      expect(e.total).toBeGreaterThanOrEqual(events[i - 1].total);
    }
  }
  expect(events[events.length - 1]).toEqual({ phase: 'download', done: total, total });
}

const modelBytes = ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json'].reduce((n, f) => n + size(f), 0);

describe.each([
  ['a directory (Node)', (): ModelCache => directoryModelCache(join(work, `dir-${Math.random().toString(36).slice(2)}`))],
  ['Cache Storage (page, worker)', (): ModelCache => (fakeCacheStorage(), cacheStorageModelCache())],
])('model cache in %s', (_, makeCache) => {
  it('downloads once with byte progress; a second load asks the server nothing; delete downloads again', async () => {
    const cache = makeCache();
    const events: Progress[] = [];
    const first = await loadModel(urlSource(base, undefined, { cache, onProgress: (p) => events.push(p) }));
    expect(sent.bytes).toBe(modelBytes);
    expectMonotonicToTotal(events, modelBytes);

    sent.requests = 0;
    sent.bytes = 0;
    const again: Progress[] = [];
    const second = await loadModel(urlSource(base, undefined, { cache, onProgress: (p) => again.push(p) }));
    expect([sent.requests, sent.bytes, again.length]).toEqual([0, 0, 0]);
    expect(second.hash).toBe(first.hash);
    expect(second.tokenizer.encode('the cold river')).toEqual(first.tokenizer.encode('the cold river'));

    expect(await deleteCachedModel(base.slice(0, -1), cache)).toBe(4);
    await loadModel(urlSource(base, undefined, { cache }));
    expect(sent.bytes).toBe(modelBytes);
  });

  it('a download cut short is a DownloadInterruptedError and leaves nothing cached', async () => {
    const cache = makeCache();
    sent.truncate = 'model.safetensors';
    const e = await loadModel(urlSource(base, undefined, { cache })).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(DownloadInterruptedError);
    expect(e).toBeInstanceOf(ModelLoadError);
    expect((e as Error).message).toMatch(new RegExp(`cannot load model.safetensors from ${base}model.safetensors: download interrupted after \\d+ of ${size('model.safetensors')} bytes`));
    expect(await cache.get(base, 'model.safetensors')).toBeUndefined();
    sent.truncate = undefined;
    sent.bytes = 0;
    await loadModel(urlSource(base, undefined, { cache }));
    expect(sent.bytes).toBeGreaterThanOrEqual(size('model.safetensors'));
  });

  it('preloadModel fills the cache with progress; loading then downloads nothing', async () => {
    const cache = makeCache();
    const events: Progress[] = [];
    const r = await preloadModel(base, (p) => events.push(p), { cache });
    expect([...r.files].sort()).toEqual(['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
    expect(r.downloadedBytes).toBe(modelBytes);
    expectMonotonicToTotal(events, modelBytes);
    sent.requests = 0;
    await loadModel(urlSource(base, undefined, { cache }));
    expect(sent.requests).toBe(0);
    expect((await preloadModel(base, undefined, { cache })).downloadedBytes).toBe(0);
  });
});

describe('the default cache', () => {
  beforeEach(() => {
    // Node has no Cache Storage; the fake above must not stand in for one here.
    Reflect.deleteProperty(globalThis, 'caches');
  });

  it('is $HMI_CACHE_DIR in Node, written atomically, and skipped for this machine\'s own servers', async () => {
    const dir = join(work, 'env-cache');
    const saved = process.env.HMI_CACHE_DIR;
    process.env.HMI_CACHE_DIR = dir;
    try {
      await loadModel(urlSource(base, undefined, { cache: true }));
      const [model] = await readdir(dir);
      const names = await readdir(join(dir, model));
      expect(names.filter((n) => n.startsWith('f-') && !n.endsWith('.absent')).sort()).toEqual(['f-config.json', 'f-model.safetensors', 'f-tokenizer.json', 'f-tokenizer_config.json']);
      // The server's 404s are remembered too, so a second load needs no request at all.
      expect(names.filter((n) => n.endsWith('.absent')).sort()).toEqual(['f-merges.txt.absent', 'f-vocab.json.absent', 'f-vocab.txt.absent']);
      expect(names.some((n) => n.endsWith('.tmp'))).toBe(false);
      sent.bytes = 0;
      await loadModel(urlSource(base, undefined, { cache: true }));
      expect(sent.bytes).toBe(0);
      // Without `cache`, a 127.0.0.1 URL is not cached: a developer's files change under it.
      await loadModel(urlSource(base));
      expect(sent.bytes).toBe(modelBytes);
      expect(await deleteCachedModel(base)).toBe(4);
      expect(await readdir(dir)).toEqual([]);
    } finally {
      if (saved === undefined) delete process.env.HMI_CACHE_DIR;
      else process.env.HMI_CACHE_DIR = saved;
    }
    expect(cachesByDefault('https://huggingface.co/gpt2/resolve/main/')).toBe(true);
    for (const u of ['http://localhost:5173/models/x/', 'http://127.0.0.1:8080/m/', 'http://[::1]:3000/m/']) expect(cachesByDefault(u), u).toBe(false);
  });

  it('bypassed with cache: false', async () => {
    const cache = directoryModelCache(join(work, 'bypass'));
    await loadModel(urlSource(base, undefined, { cache }));
    sent.bytes = 0;
    await loadModel(urlSource(base, undefined, { cache: false }));
    expect(sent.bytes).toBe(modelBytes);
  });
});
