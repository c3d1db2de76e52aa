import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeDirAtomic, writeFileAtomic } from '../../src/util/atomic-file.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function workDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'hmi-atomic-'));
  dirs.push(dir);
  return dir;
}

/** Version v of the file: big enough that a write takes several syscalls, every byte says which version it is. */
const version = (v: number, bytes = 256 * 1024): Uint8Array => new Uint8Array(bytes).fill(v);

/** The version a file's bytes are, or a description of how they are torn. */
function whichVersion(bytes: Uint8Array, length: number): number | string {
  if (bytes.length !== length) return `torn: ${bytes.length} bytes`;
  const v = bytes[0];
  return bytes.every((b) => b === v) ? v : 'torn: mixed versions';
}

/** A write that gets half the data onto disk, then finds the disk full. */
function fullDiskAfterHalf(): (file: FileHandle, data: Uint8Array | string) => Promise<void> {
  return async (file, data) => {
    const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
    await file.write(bytes.subarray(0, bytes.length >> 1));
    throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
  };
}

describe('writeFileAtomic', () => {
  it('creates and replaces a file, bytes or text, leaving only the target', async () => {
    const dir = await workDir();
    const target = join(dir, 'f.bin');
    await writeFileAtomic(target, version(1, 10));
    expect(new Uint8Array(await readFile(target))).toEqual(version(1, 10));
    await writeFileAtomic(target, 'second', { fsync: false });
    expect(await readFile(target, 'utf8')).toBe('second');
    expect(await readdir(dir)).toEqual(['f.bin']);
  });

  it('concurrent writers of one file end with one complete version, readers never see a torn one, no temp files', async () => {
    const dir = await workDir();
    const target = join(dir, 'shared.bin');
    await writeFileAtomic(target, version(0));
    let writing = true;
    const seen = new Set<number | string>();
    const reader = (async () => {
      while (writing) seen.add(whichVersion(new Uint8Array(await readFile(target)), version(0).length));
    })();
    const writers = Array.from({ length: 24 }, (_, i) => writeFileAtomic(target, version(i + 1)));
    await Promise.all(writers);
    writing = false;
    await reader;
    const final = whichVersion(new Uint8Array(await readFile(target)), version(0).length);
    expect(typeof final).toBe('number');
    expect(final).toBeGreaterThanOrEqual(1);
    expect([...seen].filter((v) => typeof v === 'string')).toEqual([]);
    expect(await readdir(dir)).toEqual(['shared.bin']);
  });

  it('a disk that fills mid-write keeps the previous content and leaves no temp file', async () => {
    const dir = await workDir();
    const target = join(dir, 'f.json');
    await writeFile(target, '{"old":true}');
    const err = await writeFileAtomic(target, JSON.stringify({ big: 'x'.repeat(4096) }), { write: fullDiskAfterHalf() }).catch((e: unknown) => e);
    // Rethrown as it came, so each store maps it (ENOSPC -> TenantStoreFullError in the tenant store).
    expect(err).toMatchObject({ code: 'ENOSPC' });
    expect(await readFile(target, 'utf8')).toBe('{"old":true}');
    expect(await readdir(dir)).toEqual(['f.json']);
  });

  it('a failed first write leaves nothing behind', async () => {
    const dir = await workDir();
    await expect(writeFileAtomic(join(dir, 'new.bin'), version(3, 1000), { write: fullDiskAfterHalf() })).rejects.toMatchObject({ code: 'ENOSPC' });
    expect(await readdir(dir)).toEqual([]);
  });

  it('a failed rename (target is a directory) removes the temp file and rethrows', async () => {
    const dir = await workDir();
    await mkdir(join(dir, 'sub', 'x'), { recursive: true });
    await expect(writeFileAtomic(join(dir, 'sub'), 'over a directory')).rejects.toMatchObject({ code: 'EISDIR' });
    expect(await readdir(dir)).toEqual(['sub']);
    expect(await readdir(join(dir, 'sub'))).toEqual(['x']);
  });
});

describe('writeDirAtomic', () => {
  const FILES = { 'adapter_config.json': '{"r": 4}', 'adapter_model.safetensors': version(7, 1000) };

  it('creates the directory (and its parents) with every file, leaving nothing else', async () => {
    const dir = await workDir();
    const target = join(dir, 'a', 'b', 'out');
    await writeDirAtomic(target, FILES);
    expect((await readdir(target)).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
    expect(await readFile(join(target, 'adapter_config.json'), 'utf8')).toBe('{"r": 4}');
    expect(new Uint8Array(await readFile(join(target, 'adapter_model.safetensors')))).toEqual(version(7, 1000));
    expect(await readdir(join(dir, 'a', 'b'))).toEqual(['out']);
  });

  it('replaces an empty directory, and a non-empty one only when allowed; otherwise EEXIST and the old one untouched', async () => {
    const dir = await workDir();
    const target = join(dir, 'out');
    await mkdir(target);
    await writeDirAtomic(target, FILES, { fsync: false });
    const err = await writeDirAtomic(target, { 'x.txt': 'new' }).catch((e: unknown) => e as Error & { code?: string });
    expect(err).toMatchObject({ code: 'EEXIST' });
    expect((await readdir(target)).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
    await writeDirAtomic(target, { 'adapter_config.json': '{"r": 8}', 'adapter_model.safetensors': version(8, 10) }, { replace: (entries) => entries.every((e) => e.startsWith('adapter_')) });
    expect(await readFile(join(target, 'adapter_config.json'), 'utf8')).toBe('{"r": 8}');
    expect(await readdir(dir)).toEqual(['out']);
    await writeFile(join(dir, 'file'), 'x');
    expect(await writeDirAtomic(join(dir, 'file'), FILES).catch((e: unknown) => e)).toMatchObject({ code: 'EEXIST' });
    expect(await readFile(join(dir, 'file'), 'utf8')).toBe('x');
  });

  it('a full disk mid-write leaves no directory and no temporary litter (and an earlier output as it was)', async () => {
    const dir = await workDir();
    const target = join(dir, 'out');
    const err = await writeDirAtomic(target, FILES, { write: fullDiskAfterHalf() }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ENOSPC' });
    expect(await readdir(dir)).toEqual([]);
    await writeDirAtomic(target, FILES);
    const again = await writeDirAtomic(target, FILES, { write: fullDiskAfterHalf(), replace: () => true }).catch((e: unknown) => e);
    expect(again).toMatchObject({ code: 'ENOSPC' });
    expect(await readdir(dir)).toEqual(['out']);
    expect(new Uint8Array(await readFile(join(target, 'adapter_model.safetensors')))).toEqual(version(7, 1000));
  });

  it('refuses file names that would leave the directory', async () => {
    const dir = await workDir();
    await expect(writeDirAtomic(join(dir, 'out'), { '../escape': 'x' })).rejects.toThrow(/not a plain file name/);
    expect(await readdir(dir)).toEqual([]);
  });
});
