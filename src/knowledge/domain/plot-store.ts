/**
 * Persistence of the nodes' PLOT tables, chunked so a lookup loads only the chunk holding
 * its key. A save writes a whole new generation (chunks, then the index that names it) and
 * only then deletes the old one: a failed save (quota) leaves the previous PLOT intact.
 */
import type { ChunkStore } from './chunk-store.js';
import { decodeChunk, decodeIndex, encodeChunk, encodeIndex } from './plot-codec.js';
import { CorruptChunkError, PlotMismatchError } from './errors.js';
import { chunkOf, PlotTable, type PlotLayout } from './plot-table.js';
import type { TrigramKey } from './trigram.js';

/** Entries per chunk unless told: a few hundred KiB for BERT-base at f32. */
export const DEFAULT_CHUNK_ENTRIES = 64;

/** The namespace `hmi plot build` and every default store write under. */
export const DEFAULT_PLOT_NAMESPACE = 'plot';

export class PlotStore {
  constructor(
    readonly backend: ChunkStore,
    /** Separates PLOTs of different deployments sharing one backend. */
    readonly namespace = DEFAULT_PLOT_NAMESPACE,
    readonly entriesPerChunk = DEFAULT_CHUNK_ENTRIES,
  ) {}

  private indexName(node: string): string {
    return `${this.namespace}/${encodeURIComponent(node)}/index`;
  }
  private generationPrefix(node: string): string {
    return `${this.namespace}/${encodeURIComponent(node)}/g`;
  }
  private chunkName(node: string, generation: number, chunk: number): string {
    return `${this.generationPrefix(node)}${generation}/c${chunk}`;
  }

  /**
   * The node's stored table with its keys indexed and no value loaded, or undefined when
   * nothing is stored. Throws PlotMismatchError for a PLOT of another model, split or
   * lower weights (`scope`), and CorruptChunkError for an index that fails its checksum.
   */
  async loadIndex(node: string, expected: PlotLayout, scope: string): Promise<PlotTable | undefined> {
    const name = this.indexName(node);
    const bytes = await this.backend.get(name);
    if (bytes === undefined) return undefined;
    const index = decodeIndex(name, bytes);
    const found = index.layout;
    for (const field of ['modelHash', 'splitLayer', 'family', 'hidden', 'width'] as const) {
      if (found[field] !== expected[field]) throw new PlotMismatchError(node, field, expected[field], found[field]);
    }
    if (index.scope !== scope) throw new PlotMismatchError(node, 'lower weights', scope, index.scope);
    // The stored dtype is kept: values are decoded to f32 on read either way.
    const table = new PlotTable({ ...expected, dtype: found.dtype }, index.numChunks, index.generation);
    for (const k of index.keys) table.indexKey(k);
    return table;
  }

  /** Loads one chunk's values into the table; a corrupt chunk drops its keys and throws. */
  async loadChunk(node: string, table: PlotTable, chunk: number): Promise<void> {
    const name = this.chunkName(node, table.generation, chunk);
    try {
      const bytes = await this.backend.get(name);
      if (bytes === undefined) throw new CorruptChunkError(name, 'missing');
      const c = decodeChunk(name, table.layout, { generation: table.generation, chunk }, bytes);
      c.keys.forEach((k, i) => {
        if (table.has(k)) table.setRaw(k, c.values[i]);
      });
      table.markLoaded(chunk);
    } catch (e) {
      table.markBad(chunk);
      throw e;
    }
  }

  /** Loads every chunk not loaded yet; corrupt ones are dropped and reported, not thrown. */
  async loadAll(node: string, table: PlotTable): Promise<Error[]> {
    const errors: Error[] = [];
    for (const c of table.unloadedChunks()) {
      try {
        await this.loadChunk(node, table, c);
      } catch (e) {
        errors.push(e as Error);
      }
    }
    return errors;
  }

  /**
   * Persists the table as a new generation. Values still in chunks are loaded first; keys of
   * a corrupt chunk are dropped (returned as errors) rather than blocking the save.
   */
  async save(node: string, table: PlotTable, scope: string): Promise<Error[]> {
    const errors = await this.loadAll(node, table);
    const generation = table.generation + 1;
    const keys = [...table.keys()];
    const numChunks = Math.ceil(keys.length / this.entriesPerChunk);
    const groups: TrigramKey[][] = Array.from({ length: numChunks }, () => []);
    for (const k of keys) groups[chunkOf(k, numChunks)].push(k);
    const written: string[] = [];
    try {
      for (let c = 0; c < numChunks; c++) {
        const ks = groups[c].sort((a, b) => a - b);
        const values = ks.map((k) => {
          const v = table.raw(k);
          if (v === undefined) throw new CorruptChunkError(this.chunkName(node, table.generation, c), `key ${k} has no value`);
          return v;
        });
        const name = this.chunkName(node, generation, c);
        await this.backend.set(name, encodeChunk(table.layout, { generation, chunk: c, keys: ks, values }));
        written.push(name);
      }
      const sorted = Float64Array.from(keys).sort();
      await this.backend.set(this.indexName(node), encodeIndex({ layout: table.layout, scope, generation, numChunks, keys: sorted }));
    } catch (e) {
      await Promise.allSettled(written.map((n) => this.backend.delete(n)));
      throw e;
    }
    table.generation = generation;
    table.resetChunks(numChunks);
    const current = `${this.generationPrefix(node)}${generation}/`;
    for (const name of await this.backend.list(this.generationPrefix(node))) {
      if (!name.startsWith(current)) await this.backend.delete(name);
    }
    return errors;
  }

  /** Removes everything stored for the node. */
  async remove(node: string): Promise<void> {
    await this.backend.delete(this.indexName(node));
    for (const name of await this.backend.list(this.generationPrefix(node))) await this.backend.delete(name);
  }
}
