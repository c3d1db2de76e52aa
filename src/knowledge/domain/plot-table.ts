/**
 * One domain node's PLOT in CPU memory: the index of every key the node holds (always
 * resident, so a miss is known without I/O) and the values of the chunks loaded so far.
 * Values are kept in the storage dtype: f16 halves the bytes, decoding happens per read.
 */
import { ShapeError } from '../../errors.js';
import { packF16, f16BitsToF32 } from '../../formats/f16.js';
import type { TrigramKey } from './trigram.js';

export type PlotDtype = 'f32' | 'f16';

/** What a PLOT was built for; a stored PLOT must match the serving model on every field. */
export interface PlotLayout {
  readonly family: 'bert' | 'gpt2';
  readonly hidden: number;
  /** Floats per entry: 3H for hBERT (slots 0|1|2), H for hGPT. */
  readonly width: number;
  readonly dtype: PlotDtype;
  readonly modelHash: string;
  readonly splitLayer: number;
}

export function plotLayout(family: 'bert' | 'gpt2', hidden: number, modelHash: string, splitLayer: number, dtype: PlotDtype = 'f32'): PlotLayout {
  return { family, hidden, width: family === 'bert' ? 3 * hidden : hidden, dtype, modelHash, splitLayer };
}

export function entryBytes(layout: PlotLayout): number {
  return layout.width * (layout.dtype === 'f16' ? 2 : 4);
}

/** Spreads consecutive keys over chunks (keys of one text are numerically close). */
export function chunkOf(key: TrigramKey, numChunks: number): number {
  const lo = key % 4294967296;
  const hi = Math.floor(key / 4294967296);
  const h = Math.imul(lo ^ Math.imul(hi, 0x9e3779b1), 0x85ebca6b);
  return ((h ^ (h >>> 13)) >>> 0) % numChunks;
}

type Stored = Float32Array | Uint16Array;

export class PlotTable {
  private readonly index = new Set<TrigramKey>();
  private readonly values = new Map<TrigramKey, Stored>();
  private readonly loaded = new Set<number>();
  /** Chunks that failed to load: never retried, their keys dropped (a rebuild re-promotes them). */
  private readonly bad = new Set<number>();

  constructor(
    readonly layout: PlotLayout,
    /** Chunks of the persisted generation; 0 while nothing is persisted. */
    public numChunks = 0,
    /** Persisted generation the chunks belong to; 0 = never persisted. */
    public generation = 0,
  ) {}

  get size(): number {
    return this.index.size;
  }

  get bytes(): number {
    return this.index.size * entryBytes(this.layout);
  }

  keys(): IterableIterator<TrigramKey> {
    return this.index.values();
  }

  /** The key is in the node's table (its value may still be in an unloaded chunk). */
  has(key: TrigramKey): boolean {
    return this.index.has(key);
  }

  /** The chunk to load before `get(key)` can answer, or undefined when the value is resident. */
  pendingChunk(key: TrigramKey): number | undefined {
    if (!this.index.has(key) || this.values.has(key) || this.numChunks === 0) return undefined;
    const c = chunkOf(key, this.numChunks);
    return this.loaded.has(c) || this.bad.has(c) ? undefined : c;
  }

  get(key: TrigramKey): Float32Array | undefined {
    const v = this.values.get(key);
    if (v === undefined) return undefined;
    if (v instanceof Float32Array) return v;
    const out = new Float32Array(v.length);
    for (let i = 0; i < v.length; i++) out[i] = f16BitsToF32(v[i]);
    return out;
  }

  /** The stored representation (f32 values or f16 bits), as chunks persist it. */
  raw(key: TrigramKey): Stored | undefined {
    return this.values.get(key);
  }

  set(key: TrigramKey, value: ArrayLike<number>): void {
    if (value.length !== this.layout.width) throw new ShapeError(`PLOT entry has ${value.length} values, the layout needs ${this.layout.width}`);
    this.index.add(key);
    this.values.set(key, this.layout.dtype === 'f16' ? packF16(value) : Float32Array.from(value));
  }

  /** Adds a key whose value lives in a chunk not loaded yet. */
  indexKey(key: TrigramKey): void {
    this.index.add(key);
  }

  /** Stores a value read from a chunk, already in the storage dtype. */
  setRaw(key: TrigramKey, value: Stored): void {
    this.index.add(key);
    this.values.set(key, value);
  }

  delete(key: TrigramKey): void {
    this.index.delete(key);
    this.values.delete(key);
  }

  /** A loaded chunk is the truth for its keys: an indexed key it lacks is dropped. */
  markLoaded(chunk: number): void {
    this.loaded.add(chunk);
    this.dropUnresident(chunk);
  }

  private dropUnresident(chunk: number): void {
    for (const key of [...this.index]) {
      if (!this.values.has(key) && chunkOf(key, this.numChunks) === chunk) this.index.delete(key);
    }
  }

  /** Drops the keys of a chunk that cannot be read, so they are served as misses. */
  markBad(chunk: number): void {
    this.bad.add(chunk);
    this.dropUnresident(chunk);
  }

  /** Chunks not loaded yet (what a rebuild must read before rewriting the table). */
  unloadedChunks(): number[] {
    const out: number[] = [];
    for (let c = 0; c < this.numChunks; c++) if (!this.loaded.has(c) && !this.bad.has(c)) out.push(c);
    return out;
  }

  /** Forgets chunk bookkeeping once the table is persisted as a new generation. */
  resetChunks(numChunks: number): void {
    this.numChunks = numChunks;
    this.loaded.clear();
    this.bad.clear();
    for (let c = 0; c < numChunks; c++) this.loaded.add(c);
  }
}
