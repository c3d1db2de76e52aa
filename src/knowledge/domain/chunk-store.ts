/**
 * Byte records by name: where PLOT chunks persist. IndexedDB in a page or worker (its own
 * database, so the tenant store is never touched), a directory in Node, memory in tests.
 */
import { createStore, del, get, keys, set, type UseStore } from 'idb-keyval';

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

/** One file per record; node:fs is imported on first use so browser bundles never see it. */
export class DirChunkStore implements ChunkStore {
  private fs: Promise<FsPromises> | undefined;
  constructor(readonly dir: string) {}

  private async files(): Promise<FsPromises> {
    this.fs ??= import(/* @vite-ignore */ 'node:fs/promises').then(async (fs: FsPromises) => {
      await fs.mkdir(this.dir, { recursive: true });
      return fs;
    });
    return this.fs;
  }
  private path(name: string): string {
    return `${this.dir}/${encodeURIComponent(name)}`;
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
    const fs = await this.files();
    // Write then rename: a crash mid-write never leaves a torn record under the real name.
    const tmp = `${this.path(name)}.tmp`;
    await fs.writeFile(tmp, bytes);
    await fs.rename(tmp, this.path(name));
  }
  async delete(name: string): Promise<void> {
    const fs = await this.files();
    await fs.rm(this.path(name), { force: true });
  }
  async list(prefix: string): Promise<string[]> {
    const fs = await this.files();
    return (await fs.readdir(this.dir))
      .filter((f) => !f.endsWith('.tmp'))
      .map((f) => decodeURIComponent(f))
      .filter((n) => n.startsWith(prefix));
  }
}
