import { allocBuffer, writeBuffer } from '../../gpu/buffers.js';
import type { GpuContext } from '../../gpu/device.js';
import { BlockAllocator } from './kv-blocks.js';
import { KvPoolError } from './errors.js';

export interface KvPoolOptions {
  /** Model layers (the pool caches fromLayer..numLayers-1). */
  readonly numLayers: number;
  /** First cached layer: an hPLM's upper layers start at the split. Default 0. */
  readonly fromLayer?: number;
  /** H = numHeads * headDim: floats per key and per value. */
  readonly hiddenSize: number;
  /** Positions per block. Default 16. */
  readonly blockTokens?: number;
  /** Every byte the pool allocates (blocks, step descriptors, block tables) fits in this. */
  readonly budgetBytes: number;
  /** Cap on one pool buffer, below the device's binding and buffer limits (default: those limits). */
  readonly maxBufferBytes?: number;
}

/** Where one layer lives: spread into the paged kernels' args with a KvStep. */
export interface KvLayer {
  readonly pool: GPUBuffer;
  /** Float offset of the layer's region in `pool`. */
  readonly layerBase: number;
}

/** One sequence's share of a step: its rows qStart..qStart+qLen-1 of the step's activations. */
export interface KvStepEntry {
  readonly seqId: number;
  readonly qStart: number;
  readonly qLen: number;
}

/** The step's descriptors on the GPU, as kv_scatter and attention_paged take them. */
export interface KvStep {
  readonly seqs: GPUBuffer;
  readonly numSeqs: number;
  readonly table: GPUBuffer;
  readonly tableLen: number;
  readonly numBlocks: number;
  readonly blockTokens: number;
}

/**
 * Step-buffer bytes per block: a step names each sequence once and each holds >= 1 block, so
 * numBlocks descriptors (4 u32) and numBlocks table entries (1 u32) always suffice.
 */
const STEP_BYTES_PER_BLOCK = 4 * 4 + 4;
/** allocBuffer rounds each of the two step buffers up to >= 16 bytes. */
const STEP_SLACK_BYTES = 32;

/**
 * The paged KV cache of the whole runtime: one byte budget, allocated up front as a few GPU
 * buffers, shared by every sequence of every tenant. A block is `blockTokens` positions of
 * every cached layer; layer l's region holds numBlocks blocks of blockTokens rows of 2H floats
 * (key then value), so the paged kernels address position t of a sequence as row
 * table[t / B] * B + t % B of the region. Layers are spread over buffers of at most
 * maxStorageBufferBindingSize so each layer binds whole. Admission, growth and frees are
 * BlockAllocator's (see its policy); this class owns the GPU memory and the per-step upload.
 */
export class KvPool {
  private constructor(
    private readonly ctx: GpuContext,
    readonly blocks: BlockAllocator,
    readonly fromLayer: number,
    readonly numLayers: number,
    readonly hiddenSize: number,
    private readonly buffers: readonly GPUBuffer[],
    private readonly layersPerBuffer: number,
    private readonly seqsBuffer: GPUBuffer,
    private readonly tableBuffer: GPUBuffer,
  ) {}

  static async create(ctx: GpuContext, o: KvPoolOptions): Promise<KvPool> {
    const fromLayer = o.fromLayer ?? 0;
    const B = o.blockTokens ?? 16;
    const H = o.hiddenSize;
    if (!Number.isInteger(o.numLayers) || o.numLayers < 1) throw new KvPoolError(`numLayers must be an integer >= 1, got ${o.numLayers}`);
    if (!Number.isInteger(fromLayer) || fromLayer < 0 || fromLayer >= o.numLayers) throw new KvPoolError(`fromLayer ${fromLayer} must be in 0..${o.numLayers - 1}`);
    if (!Number.isInteger(H) || H < 1) throw new KvPoolError(`hiddenSize must be an integer >= 1, got ${H}`);
    if (!Number.isInteger(B) || B < 1) throw new KvPoolError(`blockTokens must be an integer >= 1, got ${B}`);
    const layers = o.numLayers - fromLayer;
    const deviceMax = Math.min(ctx.limits.maxStorageBufferBindingSize, ctx.limits.maxBufferSize);
    const maxBuffer = Math.min(deviceMax, o.maxBufferBytes ?? deviceMax);
    const blockLayerBytes = B * 2 * H * 4;
    let numBlocks = Math.floor((o.budgetBytes - STEP_SLACK_BYTES) / (blockLayerBytes * layers + STEP_BYTES_PER_BLOCK));
    // One layer's region must fit one binding.
    numBlocks = Math.min(numBlocks, Math.floor(maxBuffer / blockLayerBytes), Math.floor(maxBuffer / STEP_BYTES_PER_BLOCK));
    if (numBlocks < 1) {
      throw new KvPoolError(
        `a KV budget of ${o.budgetBytes} bytes cannot hold one block (${blockLayerBytes * layers + STEP_BYTES_PER_BLOCK} bytes: ${B} positions x ${layers} layers x 2 x ${H} floats)`,
      );
    }
    const regionBytes = numBlocks * blockLayerBytes;
    const bufferCount = Math.ceil(layers / Math.floor(maxBuffer / regionBytes));
    // Spread evenly: 12 layers over 2 buffers is 6 + 6, not 11 + 1.
    const layersPerBuffer = Math.ceil(layers / bufferCount);
    const buffers: GPUBuffer[] = [];
    try {
      for (let i = 0; i < bufferCount; i++) {
        const n = Math.min(layersPerBuffer, layers - i * layersPerBuffer);
        buffers.push(await allocBuffer(ctx, n * regionBytes, `kv-pool#${i}`));
      }
      buffers.push(await allocBuffer(ctx, numBlocks * 16, 'kv-pool.seqs'));
      buffers.push(await allocBuffer(ctx, numBlocks * 4, 'kv-pool.table'));
    } catch (e) {
      for (const b of buffers) b.destroy();
      throw e;
    }
    const tableBuffer = buffers.pop()!;
    const seqsBuffer = buffers.pop()!;
    return new KvPool(ctx, new BlockAllocator(numBlocks, B), fromLayer, o.numLayers, H, buffers, layersPerBuffer, seqsBuffer, tableBuffer);
  }

  /** The smallest budgetBytes for which create() makes at least `blocks` blocks of this shape. */
  static budgetFor(shape: Omit<KvPoolOptions, 'budgetBytes' | 'maxBufferBytes'>, blocks: number): number {
    const layers = shape.numLayers - (shape.fromLayer ?? 0);
    const blockBytes = (shape.blockTokens ?? 16) * 2 * shape.hiddenSize * 4 * layers;
    return STEP_SLACK_BYTES + blocks * (blockBytes + STEP_BYTES_PER_BLOCK);
  }

  get blockTokens(): number {
    return this.blocks.blockTokens;
  }

  get numBlocks(): number {
    return this.blocks.numBlocks;
  }

  /** Bytes of one block over all cached layers. */
  get blockBytes(): number {
    return this.blockTokens * 2 * this.hiddenSize * 4 * (this.numLayers - this.fromLayer);
  }

  /** Every byte the pool holds on the GPU (allocated once, at create). */
  get bytesTotal(): number {
    return this.buffers.reduce((n, b) => n + b.size, 0) + this.seqsBuffer.size + this.tableBuffer.size;
  }

  /** Bytes of blocks holding tokens. */
  get bytesUsed(): number {
    return this.blocks.usedBlocks * this.blockBytes;
  }

  /** Bytes promised to live sequences (what admission counts). */
  get bytesReserved(): number {
    return this.blocks.reservedBlocks * this.blockBytes;
  }

  get liveSequences(): number {
    return this.blocks.liveSequences;
  }

  get bufferCount(): number {
    return this.buffers.length;
  }

  /** See BlockAllocator.admit: false = wait, KvTooLargeError = never. */
  admit(seqId: number, promptTokens: number, maxNewTokens: number): boolean {
    return this.blocks.admit(seqId, promptTokens, maxNewTokens);
  }

  free(seqId: number): void {
    this.blocks.free(seqId);
  }

  /** Positions cached for the sequence: the position of its next token. */
  length(seqId: number): number {
    return this.blocks.length(seqId);
  }

  layer(l: number): KvLayer {
    if (!Number.isInteger(l) || l < this.fromLayer || l >= this.numLayers) {
      throw new KvPoolError(`layer ${l} has no cache (cached layers ${this.fromLayer}..${this.numLayers - 1})`);
    }
    const i = l - this.fromLayer;
    const slot = i % this.layersPerBuffer;
    return { pool: this.buffers[Math.floor(i / this.layersPerBuffer)], layerBase: slot * this.numBlocks * this.blockTokens * 2 * this.hiddenSize };
  }

  /**
   * Takes the blocks the step writes (each entry's next qLen positions) and uploads the
   * step's descriptors and block tables (entry order). The step's dispatches must be
   * submitted before the next stageStep: both reuse the pool's two small buffers.
   * Call advance(entries) once the step has run.
   */
  stageStep(entries: readonly KvStepEntry[]): KvStep {
    const seen = new Set<number>();
    for (const e of entries) {
      if (seen.has(e.seqId)) throw new KvPoolError(`sequence ${e.seqId} appears twice in one step`);
      seen.add(e.seqId);
      if (!Number.isInteger(e.qStart) || e.qStart < 0 || !Number.isInteger(e.qLen) || e.qLen < 1) {
        throw new KvPoolError(`sequence ${e.seqId}: rows ${e.qStart} + ${e.qLen} are not a non-empty row range`);
      }
    }
    for (const e of entries) this.blocks.grow(e.seqId, this.blocks.length(e.seqId) + e.qLen);
    const seqs = new Uint32Array(entries.length * 4);
    const tableLen = entries.reduce((n, e) => n + this.blocks.blockTable(e.seqId).length, 0);
    const table = new Uint32Array(tableLen);
    let offset = 0;
    entries.forEach((e, i) => {
      const t = this.blocks.blockTable(e.seqId);
      seqs.set([e.qStart, e.qLen, offset, this.blocks.length(e.seqId) + e.qLen], 4 * i);
      table.set(t, offset);
      offset += t.length;
    });
    if (seqs.length > 0) writeBuffer(this.ctx, this.seqsBuffer, seqs);
    if (table.length > 0) writeBuffer(this.ctx, this.tableBuffer, table);
    return { seqs: this.seqsBuffer, numSeqs: entries.length, table: this.tableBuffer, tableLen, numBlocks: this.numBlocks, blockTokens: this.blockTokens };
  }

  /** Records that the staged step wrote its positions. */
  advance(entries: readonly KvStepEntry[]): void {
    for (const e of entries) this.blocks.advance(e.seqId, e.qLen);
  }

  dispose(): void {
    for (const b of this.buffers) b.destroy();
    this.seqsBuffer.destroy();
    this.tableBuffer.destroy();
  }
}
