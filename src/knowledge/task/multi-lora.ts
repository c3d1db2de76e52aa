/**
 * Multi-tenant LoRA over the GPU adapter pool: the LoraApplier the model calls after each
 * adapted projection. A batch's rows are grouped into segments, one tenant each; every
 * projection costs one shrink and one expand dispatch for the whole batch, whatever the
 * number of tenants or their ranks (one pair per pool buffer when the pool has several).
 *
 * GPU tables of a batch (uploaded by setBatch):
 *   tiles  vec4u (rowStart, rowCount <= 4, slot, 0), grouped by pool buffer
 *   table  u32: metadata (rank, scale bits, aOff, bOff) per (module, slot) at
 *          (module * numSlots + slot) * 4, then each slot's page list (physical page of each
 *          logical page of its layout); aOff/bOff index into it.
 * The table is rebuilt only when the batch's tenants (or their residency) change, so decode
 * steps of a stable batch upload a few tiles only.
 *
 * Ordering: tables are written with queue.writeBuffer, which lands before the next submit.
 * Call setBatch after the previous batch's commands were submitted and before encoding the
 * new batch, and encodeHeads at most once per submit.
 */
import type { GpuContext } from '../../gpu/device.js';
import { Usage } from '../../gpu/flags.js';
import { writeBuffer } from '../../gpu/buffers.js';
import { ShapeError } from '../../errors.js';
import type { LoraApplier } from '../../model/lora-hook.js';
import { chooseLoraVariant, encodeLoraShrink, LORA_META_U32, LORA_TILE_ROWS, LORA_TILE_U32 } from '../../kernels/lora-shrink.js';
import { encodeLoraExpand } from '../../kernels/lora-expand.js';
import { encodeClassifierHead, HEAD_REQUEST_U32 } from '../../kernels/classifier-head.js';
import type { AdapterPool, ResidentTenant } from './pool.js';
import { TenantNotResidentError } from './errors.js';

export interface BatchSegment {
  readonly tenantId: string;
  readonly rowStart: number;
  readonly rowCount: number;
}

export interface HeadRequest {
  readonly tenantId: string;
}

export interface HeadsLayout {
  /** Row stride of the logits written: [numRequests, maxLabels]. */
  readonly maxLabels: number;
  /** Labels of each request's tenant; logits beyond are 0. */
  readonly numLabels: readonly number[];
}

interface BatchModule {
  readonly index: number;
  readonly inDim: number;
  readonly outDim: number;
  readonly maxRank: number;
}

interface Batch {
  readonly slotOf: ReadonlyMap<string, number>;
  readonly slots: readonly ResidentTenant[];
  /** u32 index in the table of each slot's page list. */
  readonly slotBase: readonly number[];
  readonly modules: ReadonlyMap<string, BatchModule>;
  /** Tiles of each pool buffer: [offset, count] in the tiles array. */
  readonly tileRanges: readonly (readonly [number, number])[];
  readonly coveredRows: number;
  readonly tmpStride: number;
  /**
   * Every tile holds one row (decode): with each module's width, it picks the kernel variant
   * (chooseLoraVariant). The variants are bit-identical, so the choice (which depends on the
   * whole batch) never changes a row's output.
   */
  readonly oneRowTiles: boolean;
}

/** A storage buffer that grows (never shrinks) to fit what is written. */
class GrowingBuffer {
  private buf: GPUBuffer | undefined;
  constructor(
    private readonly ctx: GpuContext,
    private readonly label: string,
  ) {}
  ensure(bytes: number): GPUBuffer {
    const need = Math.max(16, Math.ceil(bytes / 16) * 16);
    if (!this.buf || this.buf.size < need) {
      // Buffers still used by submitted work are released by the implementation once it finishes.
      this.buf?.destroy();
      const size = Math.max(need, Math.ceil(((this.buf?.size ?? 0) * 1.5) / 16) * 16);
      this.buf = this.ctx.device.createBuffer({ label: this.label, size, usage: Usage.STORAGE | Usage.COPY_DST });
    }
    return this.buf;
  }
  write(data: Uint32Array): GPUBuffer {
    const b = this.ensure(data.byteLength);
    if (data.byteLength) writeBuffer(this.ctx, b, data);
    return b;
  }
  get current(): GPUBuffer | undefined {
    return this.buf;
  }
  destroy(): void {
    this.buf?.destroy();
    this.buf = undefined;
  }
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
const f32Bits = (v: number): number => {
  f32[0] = v;
  return u32[0];
};

export class MultiTenantLora implements LoraApplier {
  private readonly tiles: GrowingBuffer;
  private readonly table: GrowingBuffer;
  private readonly tmp: GrowingBuffer;
  private readonly heads: GrowingBuffer;
  private batch: Batch | undefined;
  private tableKey = '';

  constructor(
    private readonly ctx: GpuContext,
    private readonly pool: AdapterPool,
  ) {
    this.tiles = new GrowingBuffer(ctx, 'lora-tiles');
    this.table = new GrowingBuffer(ctx, 'lora-table');
    this.tmp = new GrowingBuffer(ctx, 'lora-tmp');
    this.heads = new GrowingBuffer(ctx, 'head-requests');
  }

  /**
   * Declares the rows of the next forward pass: which rows belong to which tenant. Rows in
   * no segment get no LoRA. Tenants must be resident and pinned for the whole batch.
   */
  setBatch(segments: readonly BatchSegment[]): void {
    const slots: ResidentTenant[] = [];
    const slotOf = new Map<string, number>();
    for (const s of segments) {
      if (!Number.isInteger(s.rowStart) || !Number.isInteger(s.rowCount) || s.rowStart < 0 || s.rowCount < 0) {
        throw new ShapeError(`segment of tenant ${s.tenantId} has rowStart=${s.rowStart}, rowCount=${s.rowCount}`);
      }
      if (slotOf.has(s.tenantId)) continue;
      const t = this.pool.resident(s.tenantId);
      if (!t) throw new TenantNotResidentError(s.tenantId);
      if (!this.pool.isPinned(s.tenantId)) throw new TenantNotResidentError(s.tenantId, 'is not pinned: pin a batch\'s tenants before setBatch');
      slotOf.set(s.tenantId, slots.length);
      slots.push(t);
    }
    const sorted = segments.filter((s) => s.rowCount > 0).sort((a, b) => a.rowStart - b.rowStart);
    for (let i = 1; i < sorted.length; i++) {
      const prev = sorted[i - 1];
      if (sorted[i].rowStart < prev.rowStart + prev.rowCount) {
        throw new ShapeError(`segments of ${prev.tenantId} and ${sorted[i].tenantId} overlap at row ${sorted[i].rowStart}`);
      }
    }
    const coveredRows = sorted.reduce((n, s) => Math.max(n, s.rowStart + s.rowCount), 0);

    const modules = new Map<string, BatchModule>();
    let tmpStride = 1;
    for (const t of slots) {
      for (const m of t.layout.modules.values()) {
        const known = modules.get(m.path);
        if (known && (known.inDim !== m.inDim || known.outDim !== m.outDim)) {
          throw new ShapeError(`module ${m.path} is [${m.inDim} -> ${m.outDim}] for tenant ${t.id} but [${known.inDim} -> ${known.outDim}] for another tenant of the batch`);
        }
        modules.set(m.path, { index: known?.index ?? modules.size, inDim: m.inDim, outDim: m.outDim, maxRank: Math.max(known?.maxRank ?? 0, m.r) });
        tmpStride = Math.max(tmpStride, m.r);
      }
    }

    const metaU32 = modules.size * slots.length * LORA_META_U32;
    const slotBase: number[] = [];
    let tableLen = metaU32;
    for (const t of slots) {
      slotBase.push(tableLen);
      tableLen += t.pages.length;
    }
    const key = slots.map((t) => `${t.id}\u0000${t.generation}`).join('\u0001');
    if (key !== this.tableKey || !this.table.current) {
      const table = new Uint32Array(tableLen);
      slots.forEach((t, slot) => {
        if (!this.pool.ownsPages(t)) throw new TenantNotResidentError(t.id, 'has a page table that no longer matches the pool');
        table.set(t.pages, slotBase[slot]);
        for (const m of t.layout.modules.values()) {
          const o = ((modules.get(m.path) as BatchModule).index * slots.length + slot) * LORA_META_U32;
          table[o] = m.r;
          table[o + 1] = f32Bits(m.scale);
          table[o + 2] = slotBase[slot] + m.aPage;
          table[o + 3] = slotBase[slot] + m.bPage;
        }
      });
      this.tableKey = '';
      this.table.write(table);
      this.tableKey = key;
    }

    const tileRanges: [number, number][] = [];
    const tiles: number[] = [];
    for (let shard = 0; shard < this.pool.numBuffers; shard++) {
      const offset = tiles.length / LORA_TILE_U32;
      for (const s of sorted) {
        const slot = slotOf.get(s.tenantId) as number;
        if (slots[slot].shard !== shard) continue;
        for (let r = 0; r < s.rowCount; r += LORA_TILE_ROWS) tiles.push(s.rowStart + r, Math.min(LORA_TILE_ROWS, s.rowCount - r), slot, 0);
      }
      tileRanges.push([offset, tiles.length / LORA_TILE_U32 - offset]);
    }
    let oneRowTiles = true;
    for (let i = 1; i < tiles.length; i += LORA_TILE_U32) if (tiles[i] !== 1) oneRowTiles = false;
    this.tiles.write(new Uint32Array(tiles));
    this.tmp.ensure(coveredRows * tmpStride * 4);
    this.batch = { slotOf, slots, slotBase, modules, tileRanges, coveredRows, tmpStride, oneRowTiles };
  }

  /** Adds every row's tenant delta scale * (x @ A^T) @ B^T into y: 2 dispatches per pool buffer in use. */
  apply(pass: GPUComputePassEncoder, module: string, x: GPUBuffer, y: GPUBuffer, rows: number, inDim: number, outDim: number): void {
    const b = this.current();
    const m = b.modules.get(module);
    if (!m) return;
    if (m.inDim !== inDim || m.outDim !== outDim) {
      throw new ShapeError(`module ${module} is [${inDim} -> ${outDim}] in the model but [${m.inDim} -> ${m.outDim}] in the batch's adapters`);
    }
    if (rows < b.coveredRows) throw new ShapeError(`apply(${module}) got ${rows} rows but the batch's segments cover ${b.coveredRows}`);
    const tmp = this.tmp.current as GPUBuffer;
    const tiles = this.tiles.current as GPUBuffer;
    const table = this.table.current as GPUBuffer;
    const metaOffset = m.index * b.slots.length * LORA_META_U32;
    const H = this.pool.pageFloats;
    b.tileRanges.forEach(([tileOffset, numTiles], shard) => {
      if (numTiles === 0) return;
      const pool = this.pool.buffer(shard);
      const shrinkVariant = chooseLoraVariant('shrink', { pageFloats: H, dim: inDim, oneRowTiles: b.oneRowTiles });
      const expandVariant = chooseLoraVariant('expand', { pageFloats: H, dim: outDim, oneRowTiles: b.oneRowTiles });
      encodeLoraShrink(this.ctx, pass, { x, pool, tiles, table, tmp }, { rows, inDim, pageFloats: H, tmpStride: b.tmpStride, kCount: m.maxRank, tileOffset, numTiles, metaOffset, variant: shrinkVariant });
      encodeLoraExpand(this.ctx, pass, { tmp, pool, tiles, table, y }, { rows, outDim, pageFloats: H, tmpStride: b.tmpStride, tileOffset, numTiles, metaOffset, variant: expandVariant });
    });
  }

  /**
   * Per-request classifier heads in one dispatch (per pool buffer): logits [numRequests,
   * maxLabels] from pooled [numRequests, H]. Requests' tenants must be in the current batch.
   */
  encodeHeads(pass: GPUComputePassEncoder, pooled: GPUBuffer, requests: readonly HeadRequest[], logitsOut: GPUBuffer): HeadsLayout {
    const b = this.current();
    const numLabels: number[] = [];
    const entries = new Uint32Array(requests.length * HEAD_REQUEST_U32);
    let inDim = 0;
    const shards = new Set<number>();
    requests.forEach((r, q) => {
      const slot = b.slotOf.get(r.tenantId);
      if (slot === undefined) throw new TenantNotResidentError(r.tenantId, 'is not in the current batch');
      const t = b.slots[slot];
      const head = t.layout.head;
      numLabels.push(head?.numLabels ?? 0);
      if (!head) return;
      if (inDim && head.inDim !== inDim) throw new ShapeError(`classifier of tenant ${t.id} takes ${head.inDim} inputs, another takes ${inDim}`);
      inDim = head.inDim;
      entries.set([head.numLabels, b.slotBase[slot] + head.wPage, b.slotBase[slot] + head.biasPage, t.shard], q * HEAD_REQUEST_U32);
      shards.add(t.shard);
    });
    const maxLabels = Math.max(0, ...numLabels);
    if (maxLabels === 0) return { maxLabels, numLabels };
    // Requests without a head must still zero their row: give them the shard of a dispatch.
    const anyShard = shards.values().next().value as number;
    requests.forEach((_, q) => {
      if (numLabels[q] === 0) entries[q * HEAD_REQUEST_U32 + 3] = anyShard;
    });
    if (logitsOut.size < requests.length * maxLabels * 4) throw new ShapeError(`logits buffer of ${logitsOut.size} B is smaller than [${requests.length}, ${maxLabels}] f32`);
    if (pooled.size < requests.length * inDim * 4) throw new ShapeError(`pooled buffer of ${pooled.size} B is smaller than [${requests.length}, ${inDim}] f32`);
    const reqBuf = this.heads.write(entries);
    const table = this.table.current as GPUBuffer;
    for (const shard of shards) {
      encodeClassifierHead(
        this.ctx,
        pass,
        { pooled, pool: this.pool.buffer(shard), requests: reqBuf, table, logits: logitsOut },
        { numRequests: requests.length, inDim, pageFloats: this.pool.pageFloats, maxLabels, shard },
      );
    }
    return { maxLabels, numLabels };
  }

  destroy(): void {
    for (const b of [this.tiles, this.table, this.tmp, this.heads]) b.destroy();
    this.batch = undefined;
    this.tableKey = '';
  }

  private current(): Batch {
    if (!this.batch) throw new ShapeError('MultiTenantLora: setBatch() must be called before encoding a batch');
    return this.batch;
  }
}
