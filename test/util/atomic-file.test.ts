import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeFileAtomic } from '../../src/util/atomic-file.js';

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
