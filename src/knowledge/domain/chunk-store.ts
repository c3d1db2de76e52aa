/**
 * Byte records by name: where PLOT chunks persist. IndexedDB in a page or worker (its own
 * database, so the tenant store is never touched), a directory in Node, memory in tests.
 * A directory is also servable as is: UrlChunkStore (chunk-store-url.ts) reads it over HTTP.
 */
import { createStore, del, get, keys, set, type UseStore } from 'idb-keyval';
import { PlotStoreError } from './errors.js';

export interface ChunkStore {
  get(name: string): Promise<Uint8Array | undefined>;
  set(name: string, bytes: Uint8Array): Promise<void>;
  delete(name: string): Promise<void>;
  /** Names starting with `prefix`. */
  list(prefix: string): Promise<string[]>;
}

export class MemoryChunkStore implements ChunkStore {
  readonly records = new Map<string, Uint8Array>();
  async get(name: string): Promise<Uint8Array | undefined> {
    const b = this.records.get(name);
    return b && b.slice();
  }
  async set(name: string, bytes: Uint8Array): Promise<void> {
    this.records.set(name, bytes.slice());
  }
  async delete(name: string): Promise<void> {
    this.records.delete(name);
  }
  async list(prefix: string): Promise<string[]> {
    return [...this.records.keys()].filter((k) => k.startsWith(prefix));
  }
}

export class IdbChunkStore implements ChunkStore {
  private readonly store: UseStore;
  constructor(dbName = 'hmi-plot', storeName = 'chunks') {
    this.store = createStore(dbName, storeName);
  }
  async get(name: string): Promise<Uint8Array | undefined> {
    const v = await get<Uint8Array | ArrayBuffer>(name, this.store);
    if (v === undefined) return undefined;
    return v instanceof Uint8Array ? v : new Uint8Array(v);
  }
  async set(name: string, bytes: Uint8Array): Promise<void> {
    await set(name, bytes, this.store);
  }
  async delete(name: string): Promise<void> {
    await del(name, this.store);
  }
  async list(prefix: string): Promise<string[]> {
    return (await keys<IDBValidKey>(this.store)).filter((k): k is string => typeof k === 'string' && k.startsWith(prefix));
  }
}

type FsPromises = typeof import('node:fs/promises');
type AtomicFile = typeof import('../../util/atomic-file.js');

// Lazy: this module is in the browser bundle (IdbChunkStore), the atomic writer is Node-only.
let atomicModule: Promise<AtomicFile> | undefined;
const atomicFile = (): Promise<AtomicFile> => (atomicModule ??= import('../../util/atomic-file.js'));

/**
 * The file a record lives in, relative to its directory: one flat file per record, the name
 * percent-encoded whole ('/' and ':' included), so any name is one safe file name. Every
 * reader of such a directory (DirChunkStore, UrlChunkStore) maps names through this.
 */
export function chunkFileName(name: string): string {
  return encodeURIComponent(name);
}

/**
 * The directory's listing of its record names (a JSON array of names, sorted), for readers
 * that cannot list a directory themselves (a static web server). Never a record's file:
 * every record name given to DirChunkStore is refused if it would map here.
 */
export const CHUNK_LISTING = 'files.json';

/** Parses a listing file; throws PlotStoreError naming `where` unless it is an array of strings. */
export function parseChunkListing(text: string, where: string): string[] {
  let names: unknown;
  try {
    names = JSON.parse(text);
  } catch (e) {
    throw new PlotStoreError(`PLOT listing ${where} is not JSON: ${String(e)}`, { cause: e });
  }
  if (!Array.isArray(names) || !names.every((n): n is string => typeof n === 'string')) {
    throw new PlotStoreError(`PLOT listing ${where} must be a JSON array of record names`);
  }
  return names;
}

export interface DirChunkStoreOptions {
  /** Refuse writes and never create the directory: a PLOT shipped with the app. Default false. */
  readonly readOnly?: boolean;
  /** fsync each record and listing file before renaming it, and the directory after: survives power loss. Default true. */
  readonly fsync?: boolean;
}

/**
 * One file per record (see chunkFileName), plus CHUNK_LISTING kept current after every write
 * and delete, so the directory can be served as is to UrlChunkStore. node:fs is imported on
 * first use so browser bundles never see it.
 */
export class DirChunkStore implements ChunkStore {
  private fs: Promise<FsPromises> | undefined;
  private readonly readOnly: boolean;
  private readonly fsync: boolean;
  /** A listing refresh queued but not started yet: later writes join it instead of queuing another. */
  private listingQueued: Promise<void> | undefined;
  private listingTail: Promise<void> = Promise.resolve();

  constructor(
    readonly dir: string,
    options: DirChunkStoreOptions = {},
  ) {
    this.readOnly = options.readOnly ?? false;
    this.fsync = options.fsync ?? true;
  }

  private async files(): Promise<FsPromises> {
    this.fs ??= import(/* @vite-ignore */ 'node:fs/promises').then(async (fs: FsPromises) => {
      if (!this.readOnly) await fs.mkdir(this.dir, { recursive: true });
      return fs;
    });
    return this.fs;
  }
  private path(name: string): string {
    return `${this.dir}/${chunkFileName(name)}`;
  }
  private writable(name: string): void {
    if (this.readOnly) throw new PlotStoreError(`PLOT directory ${this.dir} is read-only (writing ${name})`);
    if (chunkFileName(name) === CHUNK_LISTING) throw new PlotStoreError(`"${name}" is reserved for the directory's listing`);
  }
  async get(name: string): Promise<Uint8Array | undefined> {
    const fs = await this.files();
    try {
      return new Uint8Array(await fs.readFile(this.path(name)));
    } catch (e) {
      if ((e as { code?: string }).code === 'ENOENT') return undefined;
      throw e;
    }
  }
  async set(name: string, bytes: Uint8Array): Promise<void> {
    this.writable(name);
    const fs = await this.files();
    // A crash or a full disk mid-write never leaves a torn record under the real name.
    await (await atomicFile()).writeFileAtomic(this.path(name), bytes, { fsync: this.fsync });
    await this.refreshListing(fs);
  }
  async delete(name: string): Promise<void> {
    this.writable(name);
    const fs = await this.files();
    await fs.rm(this.path(name), { force: true });
    await this.refreshListing(fs);
  }
  private async names(fs: FsPromises): Promise<string[]> {
    let files: string[];
    try {
      files = await fs.readdir(this.dir);
    } catch (e) {
      // A read-only directory that is not there holds nothing (a PLOT not shipped yet).
      if (this.readOnly && (e as { code?: string }).code === 'ENOENT') return [];
      throw e;
    }
    return files.filter((f) => f !== CHUNK_LISTING && !f.endsWith('.tmp')).map((f) => decodeURIComponent(f));
  }
  async list(prefix: string): Promise<string[]> {
    return (await this.names(await this.files())).filter((n) => n.startsWith(prefix));
  }

  /**
   * Rewrites the listing from the directory itself (the truth, whoever else wrote to it) and
   * renames it into place, so a reader sees the old listing or the new one, never a torn one.
   * Refreshes run one at a time, each after the writes that asked for it; writes that land
   * while one is still queued share it, so the listing is rewritten at most once per write.
   */
  private refreshListing(fs: FsPromises): Promise<void> {
    if (this.listingQueued) return this.listingQueued;
    const run = this.listingTail.then(async () => {
      this.listingQueued = undefined;
      const names = (await this.names(fs)).sort();
      await (await atomicFile()).writeFileAtomic(`${this.dir}/${CHUNK_LISTING}`, JSON.stringify(names), { fsync: this.fsync });
    });
    this.listingQueued = run;
    this.listingTail = run.catch(() => undefined);
    return run;
  }
}
