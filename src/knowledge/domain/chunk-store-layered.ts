import type { ChunkStore } from './chunk-store.js';

/**
 * A writable store over a read-only one: the app's own PLOT tables (IndexedDB in a page, a
 * directory in Node) over the PLOT shipped with it (UrlChunkStore, a read-only DirChunkStore).
 * Reads try the primary first, so whatever the runtime saved itself (a rebuild writes a newer
 * generation and index) shadows the shipped records; writes and deletes touch the primary only,
 * so the shipped PLOT is never changed and a delete of a shipped name is a no-op.
 */
export class LayeredChunkStore implements ChunkStore {
  constructor(
    readonly primary: ChunkStore,
    readonly fallback: ChunkStore,
  ) {}

  async get(name: string): Promise<Uint8Array | undefined> {
    return (await this.primary.get(name)) ?? this.fallback.get(name);
  }
  set(name: string, bytes: Uint8Array): Promise<void> {
    return this.primary.set(name, bytes);
  }
  delete(name: string): Promise<void> {
    return this.primary.delete(name);
  }
  /** The union of both stores' names, each once. */
  async list(prefix: string): Promise<string[]> {
    const [own, shipped] = await Promise.all([this.primary.list(prefix), this.fallback.list(prefix)]);
    return [...new Set([...own, ...shipped])];
  }
}
