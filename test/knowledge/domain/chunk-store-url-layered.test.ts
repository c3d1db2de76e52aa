import { createServer, type Server } from 'node:http';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHUNK_LISTING, DirChunkStore, MemoryChunkStore, chunkFileName } from '../../../src/knowledge/domain/chunk-store.js';
import { UrlChunkStore } from '../../../src/knowledge/domain/chunk-store-url.js';
import { LayeredChunkStore } from '../../../src/knowledge/domain/chunk-store-layered.js';
import { PlotStore } from '../../../src/knowledge/domain/plot-store.js';
import { PlotTable, plotLayout } from '../../../src/knowledge/domain/plot-table.js';
import { PlotStoreError } from '../../../src/knowledge/domain/errors.js';
import { trigramKey } from '../../../src/knowledge/domain/trigram.js';

/** Names as PlotStore makes them, and worse: '/', ':', '%', spaces, '#', '?', non-ASCII. */
const NAMES = ['plot/general/index', 'plot/general/g1/c0', 'plot/w%3Aemail/g2/c13', 'ns:x/a b#c?d', 'plot/é/index', '100%'];

/**
 * A static file server as deployments have them: the URL path is decoded once (decodeURI, as
 * Vite's and sirv's) and names a file of the directory; anything else is a 404.
 */
function serve(dir: string): Promise<{ server: Server; base: string; requests: string[] }> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    const path = decodeURI(new URL(req.url ?? '/', 'http://x').pathname);
    requests.push(path);
    if (path.startsWith('/fail/')) {
      res.statusCode = 500;
      res.end();
      return;
    }
    // A single-page app server: any unknown path is the app's HTML, status 200, when HTML is accepted.
    if (path.startsWith('/spa/') && /text\/html|\*\/\*/.test(req.headers.accept ?? '*/*')) {
      res.setHeader('content-type', 'text/html');
      res.end('<!doctype html><html></html>');
      return;
    }
    readFile(join(dir, path.slice(1)))
      .then((bytes) => res.end(bytes))
      .catch(() => {
        res.statusCode = 404;
        res.end();
      });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, requests })));
}

const bytesOf = (i: number): Uint8Array => Uint8Array.from({ length: 5 + i }, (_, j) => (i * 31 + j) & 0xff);

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'hmi-chunks-url-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('DirChunkStore listing (files.json)', () => {
  it('lists exactly the records after concurrent writes and deletes; names of any characters; the listing name is reserved', async () => {
    const dir = join(work, 'listing');
    const store = new DirChunkStore(dir);
    await Promise.all(NAMES.map((n, i) => store.set(n, bytesOf(i))));
    const listing = async (): Promise<string[]> => JSON.parse(await readFile(join(dir, CHUNK_LISTING), 'utf8')) as string[];
    expect(await listing()).toEqual([...NAMES].sort());
    // One flat file per record, named by chunkFileName; no temporary file is left behind.
    expect((await readdir(dir)).sort()).toEqual([...NAMES.map(chunkFileName), CHUNK_LISTING].sort());
    await Promise.all([store.delete(NAMES[0]), store.set('plot/general/g1/c1', bytesOf(9))]);
    expect(await listing()).toEqual([...NAMES.slice(1), 'plot/general/g1/c1'].sort());
    expect((await store.list('plot/')).sort()).toEqual((await listing()).filter((n) => n.startsWith('plot/')));
    await expect(store.set(CHUNK_LISTING, bytesOf(1))).rejects.toBeInstanceOf(PlotStoreError);
  });

  it('read-only: never creates the directory, refuses writes, and a missing directory holds nothing', async () => {
    const ro = new DirChunkStore(join(work, 'not-there'), { readOnly: true });
    expect(await ro.get('plot/general/index')).toBeUndefined();
    expect(await ro.list('')).toEqual([]);
    await expect(ro.set('a', bytesOf(0))).rejects.toBeInstanceOf(PlotStoreError);
    await expect(ro.delete('a')).rejects.toBeInstanceOf(PlotStoreError);
    await expect(readdir(join(work, 'not-there'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('UrlChunkStore over a served PLOT directory', () => {
  let dir: string;
  let server: Server;
  let base: string;
  let requests: string[];
  beforeAll(async () => {
    dir = join(work, 'served');
    const store = new DirChunkStore(dir);
    for (const [i, n] of NAMES.entries()) await store.set(n, bytesOf(i));
    ({ server, base, requests } = await serve(work));
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('reads every record the directory store wrote, by the same file name; a missing one is undefined', async () => {
    const dirStore = new DirChunkStore(dir, { readOnly: true });
    const url = new UrlChunkStore(`${base}served`); // no trailing slash: added
    for (const n of NAMES) expect(await url.get(n)).toEqual(await dirStore.get(n));
    expect(requests.at(-1)).toBe(`/served/${chunkFileName(NAMES.at(-1)!)}`);
    expect(await url.get('plot/general/g9/c0')).toBeUndefined();
    expect((await url.list('plot/')).sort()).toEqual((await dirStore.list('plot/')).sort());
    expect((await url.list('')).sort()).toEqual([...NAMES].sort());
  });

  it('is read-only; server errors and bad listings are PlotStoreError; no listing lists nothing', async () => {
    const url = new UrlChunkStore(`${base}served/`);
    await expect(url.set('x', bytesOf(0))).rejects.toBeInstanceOf(PlotStoreError);
    await expect(url.delete('x')).rejects.toBeInstanceOf(PlotStoreError);
    await expect(new UrlChunkStore(`${base}fail/`).get('x')).rejects.toThrow(/HTTP 500/);
    // An HTML page is never a record: the app's fallback page reads as absent, whatever the Accept header did.
    const spa = new UrlChunkStore(`${base}spa/`, (url, init) => fetch(url, { ...init, headers: { Accept: '*/*' } }));
    expect(await spa.get('plot/general/index')).toBeUndefined();
    expect(await spa.list('')).toEqual([]);
    expect(await new UrlChunkStore(`${base}spa/`).get('plot/general/index')).toBeUndefined();
    await expect(new UrlChunkStore('http://127.0.0.1:1/').get('x')).rejects.toBeInstanceOf(PlotStoreError);
    const bare = join(work, 'bare');
    const noListing = new DirChunkStore(bare);
    await noListing.set('plot/a', bytesOf(1));
    await rm(join(bare, CHUNK_LISTING));
    expect(await new UrlChunkStore(`${base}bare/`).get('plot/a')).toEqual(bytesOf(1));
    expect(await new UrlChunkStore(`${base}bare/`).list('')).toEqual([]);
    await writeFile(join(bare, CHUNK_LISTING), '{"names":');
    await expect(new UrlChunkStore(`${base}bare/`).list('')).rejects.toThrow(/files\.json is not JSON/);
    await writeFile(join(bare, CHUNK_LISTING), '{"names":[]}');
    await expect(new UrlChunkStore(`${base}bare/`).list('')).rejects.toThrow(/JSON array of record names/);
  });
});

describe('LayeredChunkStore', () => {
  it('reads the primary first, then the fallback; writes and deletes only the primary; lists the union', async () => {
    const primary = new MemoryChunkStore();
    const fallback = new MemoryChunkStore();
    await fallback.set('p/a', bytesOf(1));
    await fallback.set('p/b', bytesOf(2));
    await primary.set('p/b', bytesOf(3));
    const layered = new LayeredChunkStore(primary, fallback);
    expect(await layered.get('p/a')).toEqual(bytesOf(1));
    expect(await layered.get('p/b')).toEqual(bytesOf(3));
    expect(await layered.get('p/c')).toBeUndefined();
    await layered.set('p/c', bytesOf(4));
    await layered.delete('p/a');
    await layered.delete('p/b');
    expect([...primary.records.keys()]).toEqual(['p/c']);
    expect([...fallback.records.keys()]).toEqual(['p/a', 'p/b']);
    // The shipped record shows through again once the primary's copy is gone.
    expect(await layered.get('p/b')).toEqual(bytesOf(2));
    expect((await layered.list('p/')).sort()).toEqual(['p/a', 'p/b', 'p/c']);
  });

  it('a PlotStore over it loads a shipped table, saves a new generation to the primary only, and then reads that', async () => {
    const layout = plotLayout('bert', 4, 'h', 2);
    const value = (i: number): number[] => Array.from({ length: layout.width }, (_, j) => i + j);
    const shippedDir = join(work, 'shipped');
    const shipped = new PlotStore(new DirChunkStore(shippedDir), 'plot', 2);
    const table = new PlotTable(layout);
    const keys = Array.from({ length: 7 }, (_, i) => trigramKey(i + 1, i + 2, i + 3));
    keys.forEach((k, i) => table.set(k, Float32Array.from(value(i))));
    await shipped.save('email', table, 'w:email');
    const before = (await readdir(shippedDir)).sort();

    const primary = new MemoryChunkStore();
    const store = new PlotStore(new LayeredChunkStore(primary, new DirChunkStore(shippedDir, { readOnly: true })), 'plot', 2);
    const loaded = (await store.loadIndex('email', layout, 'w:email'))!;
    expect(await store.loadAll('email', loaded)).toEqual([]);
    keys.forEach((k, i) => expect(Array.from(loaded.get(k)!)).toEqual(value(i)));
    loaded.delete(keys[0]);
    expect(await store.save('email', loaded, 'w:email')).toEqual([]);
    expect((await readdir(shippedDir)).sort()).toEqual(before);
    expect([...primary.records.keys()].every((n) => n.startsWith('plot/email/'))).toBe(true);
    const again = (await store.loadIndex('email', layout, 'w:email'))!;
    expect(again.generation).toBe(2);
    await store.loadAll('email', again);
    expect(again.has(keys[0])).toBe(false);
    expect(Array.from(again.get(keys[6])!)).toEqual(value(6));
  });
});
