/**
 * Replacing a file so that readers, crashes and power loss see the old content or the new,
 * never a torn mix, and a failed write (a full disk) leaves the old file and no litter.
 * Node only. Its Node modules are loaded on first use, by specifiers the bundlers leave
 * alone, and browser-bundled modules (chunk-store.ts) import this file lazily as well: the
 * worker build inlines lazy chunks, so a static node: import here would end up at the top
 * of worker.js and break it in the browser.
 */
import type { FileHandle } from 'node:fs/promises';

type Fs = typeof import('node:fs/promises');
type Path = typeof import('node:path');

const FS = 'node:fs/promises';
const PATH = 'node:path';
let fsModule: Promise<Fs> | undefined;
let pathModule: Promise<Path> | undefined;
const nodeFs = (): Promise<Fs> => (fsModule ??= import(/* @vite-ignore */ FS) as Promise<Fs>);
const nodePath = (): Promise<Path> => (pathModule ??= import(/* @vite-ignore */ PATH) as Promise<Path>);

// The stores skip (and clear) files ending so: leftovers of a crashed write.
const TEMP_SUFFIX = '.tmp';

// Module-wide, not per store: two stores on one directory in one process must not collide either.
let tempCounter = 0;

/**
 * A name no other writer uses: pid + counter are unique within this machine's live
 * processes, the random part covers pid reuse and processes in other PID namespaces sharing
 * the directory. The leading dot and the .tmp suffix are what the stores' listings skip.
 */
function tempName(base: string): string {
  const rand = globalThis.crypto.getRandomValues(new Uint32Array(1))[0].toString(36);
  return `.${base}.${process.pid}.${tempCounter++}.${rand}${TEMP_SUFFIX}`;
}

export interface AtomicWriteOptions {
  /**
   * fsync the file before the rename and the directory after it: survives power loss, not
   * only process crashes. Default true.
   */
  readonly fsync?: boolean;
  /** Writes the data into the open temporary file. A seam for tests to inject a failing write (ENOSPC). */
  readonly write?: (file: FileHandle, data: Uint8Array | string) => Promise<void>;
}

function errorCode(e: unknown): string {
  const code = typeof e === 'object' && e !== null ? (e as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : '';
}

// Platforms and file systems that cannot open or fsync a directory (Windows, some network
// mounts) say so with these; the rename is then as durable as that platform makes it.
const DIR_SYNC_UNSUPPORTED = new Set(['EISDIR', 'EPERM', 'EINVAL']);

async function syncDir(fs: Fs, dir: string): Promise<void> {
  let fh: FileHandle | undefined;
  try {
    fh = await fs.open(dir, 'r');
    await fh.sync();
  } catch (e) {
    if (!DIR_SYNC_UNSUPPORTED.has(errorCode(e))) throw e;
  } finally {
    await fh?.close().catch(() => undefined);
  }
}

/**
 * Replaces `target` with `data`: writes a unique temporary file next to it (same directory,
 * so the rename never crosses file systems), fsyncs it, renames it over the target and fsyncs
 * the directory (the rename itself is only durable once the directory is). On any failure the
 * temporary file is removed and the error rethrown as it came (ENOSPC stays ENOSPC, for
 * callers to map); the target then still holds its previous content.
 */
export async function writeFileAtomic(target: string, data: Uint8Array | string, options: AtomicWriteOptions = {}): Promise<void> {
  const fsync = options.fsync ?? true;
  const write = options.write ?? ((file: FileHandle, bytes: Uint8Array | string) => file.writeFile(bytes));
  const [fs, path] = await Promise.all([nodeFs(), nodePath()]);
  const dir = path.dirname(target);
  const tmp = path.join(dir, tempName(path.basename(target)));
  let created = false;
  try {
    // 'wx': should a temp name ever repeat, fail rather than have two writers share one file.
    const fh = await fs.open(tmp, 'wx');
    created = true;
    try {
      await write(fh, data);
      if (fsync) await fh.sync();
    } catch (e) {
      // The write's error is the one worth reporting, not a close failing after it.
      await fh.close().catch(() => undefined);
      throw e;
    }
    await fh.close();
    await fs.rename(tmp, target);
    created = false;
    if (fsync) await syncDir(fs, dir);
  } catch (e) {
    // Only our own file: on EEXIST the temp belongs to another writer.
    if (created) await fs.rm(tmp, { force: true }).catch(() => undefined);
    throw e;
  }
}

export interface AtomicDirOptions extends AtomicWriteOptions {
  /**
   * Whether an existing non-empty `target` with these entries may be replaced (e.g. it is an
   * earlier output of the same kind). Default: never; an empty directory is always replaced.
   */
  readonly replace?: (entries: readonly string[]) => boolean;
}

/** A directory in the way of writeDirAtomic: a file, or a non-empty directory it may not replace. */
function inTheWay(target: string, what: string): Error {
  return Object.assign(new Error(`${target} ${what}`), { code: 'EEXIST', path: target });
}

/**
 * Writes `files` (name -> content) as the directory `target`, so that it never exists half
 * written: the files are written and fsynced into a temporary sibling directory, which is then
 * renamed to `target` (parents are created). An existing empty `target` is replaced; a non-empty
 * one only when `replace(entries)` allows it: it is moved aside, the new directory renamed in,
 * the old one removed (should the second rename fail, the old one is put back). On any failure
 * the temporary directory is removed and the error rethrown (EEXIST for a target in the way).
 */
export async function writeDirAtomic(target: string, files: Readonly<Record<string, Uint8Array | string>>, options: AtomicDirOptions = {}): Promise<void> {
  const fsync = options.fsync ?? true;
  const write = options.write ?? ((file: FileHandle, bytes: Uint8Array | string) => file.writeFile(bytes));
  const [fs, path] = await Promise.all([nodeFs(), nodePath()]);
  const parent = path.dirname(target);
  const name = path.basename(target);
  for (const f of Object.keys(files)) {
    if (f.length === 0 || f !== path.basename(f) || f === '.' || f === '..') throw new Error(`writeDirAtomic: "${f}" is not a plain file name`);
  }
  await fs.mkdir(parent, { recursive: true });
  const tmp = path.join(parent, tempName(name));
  let created = false;
  try {
    await fs.mkdir(tmp);
    created = true;
    for (const [f, data] of Object.entries(files)) {
      const fh = await fs.open(path.join(tmp, f), 'wx');
      try {
        await write(fh, data);
        if (fsync) await fh.sync();
      } finally {
        await fh.close().catch(() => undefined);
      }
    }
    if (fsync) await syncDir(fs, tmp);
    const existing = await fs.readdir(target).catch((e: unknown) => {
      if (errorCode(e) === 'ENOENT') return null;
      if (errorCode(e) === 'ENOTDIR') throw inTheWay(target, 'exists and is not a directory');
      throw e;
    });
    if (existing === null) {
      await fs.rename(tmp, target);
    } else if (existing.length === 0) {
      // rename(2) replaces an empty directory on POSIX, not on Windows: remove it first.
      await fs.rmdir(target);
      await fs.rename(tmp, target);
    } else if (options.replace?.(existing)) {
      const old = path.join(parent, tempName(`${name}.old`));
      await fs.rename(target, old);
      try {
        await fs.rename(tmp, target);
      } catch (e) {
        await fs.rename(old, target).catch(() => undefined);
        throw e;
      }
      await fs.rm(old, { recursive: true, force: true });
    } else {
      throw inTheWay(target, `is a directory that is not empty (${existing.slice(0, 5).join(', ')}${existing.length > 5 ? ', ...' : ''})`);
    }
    created = false;
    if (fsync) await syncDir(fs, parent);
  } catch (e) {
    if (created) await fs.rm(tmp, { recursive: true, force: true }).catch(() => undefined);
    throw e;
  }
}
