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
