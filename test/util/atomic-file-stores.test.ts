/**
 * The disk stores on a disk that fills mid-write. Root ignores permissions, so the full disk
 * is injected: node:fs/promises is wrapped so that, once armed, the next write into a
 * temporary file puts half its bytes down and fails with ENOSPC.
 */
import type { FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { packTenant } from '../../src/knowledge/task/pack.js';
import { FsTenantStore } from '../../src/knowledge/task/store-fs.js';
import { TenantStoreFullError } from '../../src/knowledge/task/errors.js';
import { CHUNK_LISTING, DirChunkStore } from '../../src/knowledge/domain/chunk-store.js';
import { randomAdapter } from '../knowledge/task/fixtures.js';

const disk = vi.hoisted(() => ({ fullAfter: Infinity, writes: 0 }));

vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs/promises')>();
  const open = async (...args: Parameters<typeof real.open>): Promise<FileHandle> => {
    const fh = await real.open(...args);
    if (!String(args[0]).endsWith('.tmp')) return fh;
    const writeFile = async (data: Uint8Array | string): Promise<void> => {
      if (++disk.writes < disk.fullAfter) return fh.writeFile(data);
      const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
      await fh.write(bytes.subarray(0, bytes.length >> 1));
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    };
    return new Proxy(fh, { get: (t, k) => (k === 'writeFile' ? writeFile : (Reflect.get(t, k, t) as unknown)) });
  };
  return { ...real, default: { ...real, open }, open };
});

// After the mock: these are the real functions, wrapped only in open().
const { mkdtemp, readdir, readFile, rm } = await import('node:fs/promises');

/** Fail the n-th write into a temporary file from now (1 = the next one). */
function diskFullAt(n: number): void {
  disk.writes = 0;
  disk.fullAfter = n;
}

beforeEach(() => diskFullAt(Infinity));

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});
async function workDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'hmi-atomic-stores-'));
  dirs.push(dir);
  return dir;
}

const BASE = { baseModelId: 'tiny', baseModelHash: 'h0', domain: 'root' };
const tenant = (id: string, seed: number, r: number) => packTenant(id, randomAdapter(seed, [{ path: 'q', r, inDim: 6, outDim: 18 }]), BASE);
const temps = (files: string[]): string[] => files.filter((f) => f.endsWith('.tmp'));

describe('FsTenantStore on a full disk', () => {
  for (const [what, n] of [
    ['payload', 1],
    ['metadata', 2],
  ] as const) {
    it(`ENOSPC writing the ${what} is TenantStoreFullError; the old record stays whole, no temp file is left`, async () => {
      const dir = await workDir();
      const store = new FsTenantStore(dir);
      const old = tenant('t', 1, 2);
      await store.put([old]);
      diskFullAt(n);
      const err = await store.put([tenant('other', 3, 1), tenant('t', 2, 4)]).catch((e: unknown) => e);
      diskFullAt(Infinity);
      expect(err).toBeInstanceOf(TenantStoreFullError);
      expect(err).toMatchObject({ stored: 0, requested: 2 });
      expect((await store.get('t'))?.meta).toEqual(old.meta);
      expect(await store.get('other')).toBeUndefined();
      expect(temps(await readdir(dir))).toEqual([]);
    });
  }

  it('two stores putting one tenant at once end with one whole record', async () => {
    const dir = await workDir();
    const a = new FsTenantStore(dir);
    const b = new FsTenantStore(dir);
    const recs = Array.from({ length: 8 }, (_, i) => tenant('t', i + 1, 1 + (i % 4)));
    await Promise.all(recs.map((r, i) => (i % 2 ? a : b).put([r])));
    const got = await a.get('t');
    expect(recs.map((r) => r.meta)).toContainEqual(got?.meta);
    expect(temps(await readdir(dir))).toEqual([]);
  });
});

describe('DirChunkStore on a full disk', () => {
  it('ENOSPC writing a record keeps the old record and listing, and leaves no temp file', async () => {
    const dir = join(await workDir(), 'plot');
    const store = new DirChunkStore(dir);
    await store.set('plot/a', new Uint8Array([1, 2, 3]));
    const listing = await readFile(join(dir, CHUNK_LISTING), 'utf8');
    diskFullAt(1);
    await expect(store.set('plot/a', new Uint8Array(4096).fill(7))).rejects.toMatchObject({ code: 'ENOSPC' });
    await expect(store.set('plot/b', new Uint8Array(4096).fill(7))).rejects.toMatchObject({ code: 'ENOSPC' });
    diskFullAt(Infinity);
    expect(await store.get('plot/a')).toEqual(new Uint8Array([1, 2, 3]));
    expect(await store.list('')).toEqual(['plot/a']);
    expect(await readFile(join(dir, CHUNK_LISTING), 'utf8')).toBe(listing);
    expect(temps(await readdir(dir))).toEqual([]);
  });

  it('ENOSPC writing the listing keeps the old listing and leaves no temp file', async () => {
    const dir = join(await workDir(), 'plot');
    const store = new DirChunkStore(dir);
    await store.set('plot/a', new Uint8Array([1]));
    diskFullAt(2); // the record lands, its listing refresh does not
    await expect(store.set('plot/b', new Uint8Array([2]))).rejects.toMatchObject({ code: 'ENOSPC' });
    diskFullAt(Infinity);
    expect(JSON.parse(await readFile(join(dir, CHUNK_LISTING), 'utf8'))).toEqual(['plot/a']);
    expect(temps(await readdir(dir))).toEqual([]);
    // The next write's refresh lists the directory as it is.
    await store.set('plot/c', new Uint8Array([3]));
    expect(JSON.parse(await readFile(join(dir, CHUNK_LISTING), 'utf8'))).toEqual(['plot/a', 'plot/b', 'plot/c']);
  });

  it('two stores on one directory writing one record at once end with one whole record and listing', async () => {
    const dir = join(await workDir(), 'plot');
    const a = new DirChunkStore(dir);
    const b = new DirChunkStore(dir);
    const versions = Array.from({ length: 12 }, (_, i) => new Uint8Array(64 * 1024).fill(i + 1));
    await Promise.all(versions.map((v, i) => (i % 2 ? a : b).set('plot/x', v)));
    const got = await a.get('plot/x');
    expect(versions).toContainEqual(got);
    expect(JSON.parse(await readFile(join(dir, CHUNK_LISTING), 'utf8'))).toEqual(['plot/x']);
    expect(temps(await readdir(dir))).toEqual([]);
  });
});
