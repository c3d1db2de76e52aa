/**
 * The GPU-resident cache of hot PLOT entries: one buffer of a fixed number of slots,
 * allocated up front (the cache never grows past its budget), a CPU index from
 * (lower-weights scope, key) to slot, LRU eviction, and pins so that entries of a batch in
 * flight are never overwritten. Keyed by scope rather than node: nodes running the same
 * lower weights share entries.
 */
import { allocBuffer, writeBuffer } from '../../gpu/buffers.js';
import type { GpuContext } from '../../gpu/device.js';
import { ShapeError } from '../../errors.js';
import { packF16Pairs } from '../../formats/f16.js';
import { PlotCacheFullError } from './errors.js';
import type { PlotDtype } from './plot-table.js';
import type { TrigramKey } from './trigram.js';

export interface PlotCacheOptions {
  readonly slots: number;
  /** Floats per entry (3H hBERT, H hGPT). */
  readonly width: number;
  /** 'f16' halves the cache's memory (hBERT combine only); compute stays f32. */
  readonly dtype?: PlotDtype;
  readonly label?: string;
}

export interface PlotCacheEntry {
  readonly scope: string;
  readonly key: TrigramKey;
  readonly value: ArrayLike<number>;
}

const cacheKey = (scope: string, key: TrigramKey): string => `${scope}|${key}`;

export class PlotCache {
  private readonly index = new Map<string, number>();
  private readonly owner: (string | undefined)[];
  private readonly pins: Uint32Array;
  /** Slots in recency order, least recent first (Map keeps insertion order). */
  private readonly recency = new Map<number, true>();
  private nextFree = 0;
  private staging = new Uint32Array(0);
  bytesUploaded = 0;
  evictions = 0;

  private constructor(
    private readonly ctx: GpuContext,
    readonly buffer: GPUBuffer,
    readonly slots: number,
    readonly width: number,
    readonly dtype: PlotDtype,
  ) {
    this.owner = new Array<string | undefined>(slots);
    this.pins = new Uint32Array(slots);
  }

  static async create(ctx: GpuContext, o: PlotCacheOptions): Promise<PlotCache> {
    if (!Number.isInteger(o.slots) || o.slots < 1) throw new ShapeError(`PLOT cache: slots must be an integer >= 1, got ${o.slots}`);
    if (!Number.isInteger(o.width) || o.width < 1) throw new ShapeError(`PLOT cache: width must be an integer >= 1, got ${o.width}`);
    const dtype = o.dtype ?? 'f32';
    const buffer = await allocBuffer(ctx, o.slots * PlotCache.slotBytes(o.width, dtype), o.label ?? 'plot-cache');
    return new PlotCache(ctx, buffer, o.slots, o.width, dtype);
  }

  static slotBytes(width: number, dtype: PlotDtype): number {
    return dtype === 'f16' ? Math.ceil(width / 2) * 4 : width * 4;
  }

  get bytes(): number {
    return this.buffer.size;
  }

  /** Slots holding an entry. */
  get used(): number {
    return this.index.size;
  }

  /** The entry's slot, marked most recently used, or undefined. */
  lookup(scope: string, key: TrigramKey): number | undefined {
    const slot = this.index.get(cacheKey(scope, key));
    if (slot !== undefined) this.touch(slot);
    return slot;
  }

  has(scope: string, key: TrigramKey): boolean {
    return this.index.has(cacheKey(scope, key));
  }

  /**
   * Uploads an entry into a free or least recently used unpinned slot and returns it.
   * PlotCacheFullError when every slot is pinned.
   */
  insert(scope: string, key: TrigramKey, value: ArrayLike<number>): number {
    return this.insertMany([{ scope, key, value }])[0];
  }

  /**
   * `insert` for a batch's entries at once: no entry evicts another of the same call, and
   * entries landing in adjacent slots go up in one queue write. LRU eviction hands out slots
   * in the order they were filled before, so a batch's misses mostly form a few long runs,
   * and one write per run instead of one per entry saves an IPC round each in Chromium.
   */
  insertMany(entries: readonly PlotCacheEntry[]): number[] {
    for (const e of entries) {
      if (e.value.length !== this.width) throw new ShapeError(`PLOT cache: entry of ${e.value.length} values, slots hold ${this.width}`);
    }
    const taken = new Set<number>();
    const bySlot = new Map<number, ArrayLike<number>>();
    // Written even when a later entry finds no slot: the index must never name a slot whose data never went up.
    try {
      return entries.map(({ scope, key, value }) => {
      const name = cacheKey(scope, key);
      let slot = this.index.get(name);
      if (slot === undefined) {
        slot = this.freeSlot(taken);
        const old = this.owner[slot];
        if (old !== undefined) {
          this.index.delete(old);
          this.evictions++;
        }
        this.owner[slot] = name;
        this.index.set(name, slot);
      }
      taken.add(slot);
      bySlot.set(slot, value);
      this.touch(slot);
      return slot;
    });
    } finally {
      this.upload(bySlot);
    }
  }

  /**
   * One queue write per run of adjacent slots, staged in one reused array: writeBuffer copies
   * its data at the call, and a fresh array per batch (~0.75 MiB for 512 hBERT rows) would
   * only feed the garbage collector, which competes with a CPU adapter for the same cores.
   */
  private upload(bySlot: Map<number, ArrayLike<number>>): void {
    const order = [...bySlot.keys()].sort((a, b) => a - b);
    const slotBytes = PlotCache.slotBytes(this.width, this.dtype);
    const words = slotBytes / 4;
    for (let i = 0; i < order.length; ) {
      let j = i + 1;
      while (j < order.length && order[j] === order[j - 1] + 1) j++;
      const run = this.stagingWords((j - i) * words);
      const f32 = new Float32Array(run.buffer, 0, run.length);
      for (let k = i; k < j; k++) {
        const value = bySlot.get(order[k])!;
        if (this.dtype === 'f16') run.set(packF16Pairs(value), (k - i) * words);
        else f32.set(value, (k - i) * words);
      }
      writeBuffer(this.ctx, this.buffer, run, order[i] * slotBytes);
      this.bytesUploaded += run.byteLength;
      i = j;
    }
  }

  /** The first `n` words of the staging array, grown (never past the cache's size) as needed. */
  private stagingWords(n: number): Uint32Array {
    if (this.staging.length < n) this.staging = new Uint32Array(Math.min(Math.max(n, 2 * this.staging.length), this.buffer.size / 4));
    return this.staging.subarray(0, n);
  }

  private freeSlot(taken: ReadonlySet<number>): number {
    if (this.nextFree < this.slots) return this.nextFree++;
    for (const slot of this.recency.keys()) if (this.pins[slot] === 0 && !taken.has(slot)) return slot;
    throw new PlotCacheFullError(this.slots + 1, this.slots);
  }

  private touch(slot: number): void {
    this.recency.delete(slot);
    this.recency.set(slot, true);
  }

  /** Pins are counted: a slot shared by two batches in flight stays until both release it. */
  pin(slot: number): void {
    this.pins[slot]++;
  }

  unpin(slot: number): void {
    if (this.pins[slot] > 0) this.pins[slot]--;
  }

  get pinned(): number {
    let n = 0;
    for (const p of this.pins) if (p > 0) n++;
    return n;
  }

  /** Forgets every entry (e.g. after the device was recreated and the buffer re-made). */
  clear(): void {
    this.index.clear();
    this.owner.fill(undefined);
    this.pins.fill(0);
    this.recency.clear();
    this.nextFree = 0;
  }

  destroy(): void {
    this.clear();
    this.buffer.destroy();
  }
}
