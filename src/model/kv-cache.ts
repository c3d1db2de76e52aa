import { allocBuffer } from '../gpu/buffers.js';
import type { GpuContext } from '../gpu/device.js';
import type { Gpt2Config } from './config.js';
import { KvCacheError } from './errors.js';

export interface KvCacheOptions {
  /** Sequences the cache holds at once. */
  readonly slots: number;
  /** Tokens per sequence (default: the model's max positions). */
  readonly maxLen?: number;
  /** First layer with a cache (the hPLM's upper layers need none below the split). */
  readonly fromLayer?: number;
}

/**
 * GPT-2 keys and values per layer, for several sequences. Each layer has one buffer of
 * rows [slots * maxLen, 2H]: row (slot * maxLen + position) holds that token's key (columns
 * 0..H-1) then its value (H..2H-1), so the attention kernel reads a sequence's past as the
 * contiguous rows kvStart(slot) .. kvStart(slot) + length - 1 with kOffset 0, vOffset H.
 * The model only goes through alloc/release/length/kvStart/layer/advance: a paged allocator
 * can replace the fixed slots behind them (with kvStart becoming a per-sequence page table
 * that the attention and scatter kernels then read).
 */
export class KvCache {
  private readonly lengths: Int32Array;
  private readonly used: boolean[];

  private constructor(
    readonly config: Gpt2Config,
    readonly slots: number,
    readonly maxLen: number,
    readonly fromLayer: number,
    private readonly buffers: readonly GPUBuffer[],
  ) {
    this.lengths = new Int32Array(slots);
    this.used = new Array<boolean>(slots).fill(false);
  }

  static async create(ctx: GpuContext, config: Gpt2Config, opts: KvCacheOptions): Promise<KvCache> {
    const maxLen = opts.maxLen ?? config.maxPositions;
    const fromLayer = opts.fromLayer ?? 0;
    if (!Number.isInteger(opts.slots) || opts.slots < 1) throw new KvCacheError(`slots ${opts.slots} must be a positive integer`);
    if (!Number.isInteger(maxLen) || maxLen < 1 || maxLen > config.maxPositions) {
      throw new KvCacheError(`maxLen ${maxLen} must be an integer in 1..${config.maxPositions}`);
    }
    if (!Number.isInteger(fromLayer) || fromLayer < 0 || fromLayer > config.numLayers) {
      throw new KvCacheError(`fromLayer ${fromLayer} must be an integer in 0..${config.numLayers}`);
    }
    const bytes = opts.slots * maxLen * 2 * config.hiddenSize * 4;
    const buffers: GPUBuffer[] = [];
    try {
      for (let l = fromLayer; l < config.numLayers; l++) buffers.push(await allocBuffer(ctx, bytes, `kv-cache.layer${l}`));
    } catch (e) {
      for (const b of buffers) b.destroy();
      throw e;
    }
    return new KvCache(config, opts.slots, maxLen, fromLayer, buffers);
  }

  /** Floats per cache row (key then value). */
  get rowStride(): number {
    return 2 * this.config.hiddenSize;
  }

  /** Rows of each layer buffer. */
  get totalRows(): number {
    return this.slots * this.maxLen;
  }

  get bytes(): number {
    return this.buffers.reduce((n, b) => n + b.size, 0);
  }

  get freeSlots(): number {
    return this.used.filter((u) => !u).length;
  }

  layer(l: number): GPUBuffer {
    if (l < this.fromLayer || l >= this.config.numLayers) throw new KvCacheError(`layer ${l} has no cache (cached layers ${this.fromLayer}..${this.config.numLayers - 1})`);
    return this.buffers[l - this.fromLayer];
  }

  /** Takes a free slot for a new sequence (length 0). */
  alloc(): number {
    const slot = this.used.indexOf(false);
    if (slot < 0) throw new KvCacheError(`all ${this.slots} KV cache slots are in use`);
    this.used[slot] = true;
    this.lengths[slot] = 0;
    return slot;
  }

  release(slot: number): void {
    this.check(slot);
    this.used[slot] = false;
  }

  /** Tokens cached for the slot: the position of its next token. */
  length(slot: number): number {
    this.check(slot);
    return this.lengths[slot];
  }

  /** First row of the slot's tokens in every layer buffer. */
  kvStart(slot: number): number {
    this.check(slot);
    return slot * this.maxLen;
  }

  /** Throws unless `count` more tokens fit in the slot. */
  checkRoom(slot: number, count: number): void {
    const len = this.length(slot);
    if (len + count > this.maxLen) throw new KvCacheError(`slot ${slot} holds ${len} tokens; ${count} more exceed its ${this.maxLen}`);
  }

  /** Records that a pass appended `count` tokens to the slot. */
  advance(slot: number, count: number): void {
    this.checkRoom(slot, count);
    this.lengths[slot] += count;
  }

  private check(slot: number): void {
    if (!Number.isInteger(slot) || slot < 0 || slot >= this.slots || !this.used[slot]) {
      throw new KvCacheError(`slot ${slot} is not an allocated slot of this cache`);
    }
  }

  dispose(): void {
    for (const b of this.buffers) b.destroy();
  }
}
