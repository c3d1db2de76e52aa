import code from '../../shaders/lora_shrink.wgsl?raw';
import rowsCode from '../../shaders/lora_shrink_rows.wgsl?raw';
import vec4Code from '../../shaders/lora_shrink_vec4.wgsl?raw';
import prelude from '../../shaders/lora_prelude.wgsl?raw';
import { dispatch, grid1d, Params, type BufferRef } from '../gpu/dispatch.js';
import type { GpuContext } from '../gpu/device.js';
import { composeWgsl, type KernelSpec } from '../gpu/pipelines.js';
import { ShapeError } from '../errors.js';

// Each variant is the shared LoRA prelude (uniforms, tiles, page table) + its own kernel body.
export const loraShrinkKernel: KernelSpec = {
  name: 'lora_shrink',
  code: composeWgsl(prelude, code),
  bindings: ['uniform', 'read', 'read', 'read', 'read', 'storage'],
};

export const loraShrinkRowsKernel: KernelSpec = { ...loraShrinkKernel, name: 'lora_shrink_rows', code: composeWgsl(prelude, rowsCode) };
export const loraShrinkVec4Kernel: KernelSpec = { ...loraShrinkKernel, name: 'lora_shrink_vec4', code: composeWgsl(prelude, vec4Code) };

/**
 * 'block': a thread computes 4 rows of a tile with scalar loads (any shape). 'vec4': the same
 * block with vec4 loads of the pool and of x / y (prefill; pageFloats and the module's inDim
 * (shrink) or outDim (expand) multiples of 4). 'rows': a thread walks its tile's rows one by
 * one (decode, one-row tiles), reading the pool as vec4 (pageFloats % 4 == 0). All three give
 * bit-identical results, so which one a batch runs never changes a row's output.
 */
export type LoraKernelVariant = 'block' | 'rows' | 'vec4';

export function rowsVariantFits(pageFloats: number): boolean {
  return pageFloats % 4 === 0;
}

export function checkRowsVariant(pageFloats: number): void {
  if (!rowsVariantFits(pageFloats)) throw new ShapeError(`the 'rows' LoRA kernels read the pool as vec4: pageFloats ${pageFloats} is not a multiple of 4`);
}

/** Whether the 'vec4' kernels take a module whose x (shrink) or y (expand) rows are `dim` wide. */
export function vec4VariantFits(pageFloats: number, dim: number): boolean {
  return pageFloats % 4 === 0 && dim % 4 === 0 && dim > 0;
}

export function checkVec4Variant(pageFloats: number, dim: number): void {
  if (!vec4VariantFits(pageFloats, dim)) throw new ShapeError(`the 'vec4' LoRA kernels need pageFloats (${pageFloats}) and the module's width (${dim}) to be multiples of 4`);
}

/** What chooseLoraVariant needs to know of one LoRA dispatch. */
export interface LoraVariantShape {
  readonly pageFloats: number;
  /** The module's inDim (shrink) or outDim (expand). */
  readonly dim: number;
  /** Every tile holds one row (a decode step). */
  readonly oneRowTiles: boolean;
}

/**
 * The kernel a shrink or expand runs, for the runtime and the micro-benchmark alike. The
 * variants are bit-identical, so this is about speed only: shrink takes vec4 whenever the
 * width allows (it has a one-row path for decode); expand takes rows for decode, where the
 * 4-row block would waste 3/4 of its work, and vec4 otherwise; a pool or width that is not a
 * multiple of 4 falls back to the block kernel (or rows, for a decode shrink).
 */
export function chooseLoraVariant(op: 'shrink' | 'expand', s: LoraVariantShape): LoraKernelVariant {
  if (!rowsVariantFits(s.pageFloats)) return 'block';
  const vec4 = vec4VariantFits(s.pageFloats, s.dim);
  if (op === 'shrink') return vec4 ? 'vec4' : s.oneRowTiles ? 'rows' : 'block';
  return s.oneRowTiles ? 'rows' : vec4 ? 'vec4' : 'block';
}

/** Rows per tile: a tile is up to this many consecutive rows of one segment (one tenant). */
export const LORA_TILE_ROWS = 4;
/** u32 per tile (rowStart, rowCount, slot, 0) and per (module, slot) metadata (rank, scale bits, aOff, bOff). */
export const LORA_TILE_U32 = 4;
export const LORA_META_U32 = 4;

export interface LoraShrinkBuffers {
  /** [rows, inDim] */
  readonly x: BufferRef;
  /** One pool buffer of pages. */
  readonly pool: BufferRef;
  readonly tiles: BufferRef;
  readonly table: BufferRef;
  /** [rows, tmpStride] */
  readonly tmp: BufferRef;
}

export interface LoraShrinkParams {
  readonly rows: number;
  readonly inDim: number;
  readonly pageFloats: number;
  readonly tmpStride: number;
  /** Ranks computed per tile: at least the largest rank of the module among the tiles' tenants. */
  readonly kCount: number;
  readonly tileOffset: number;
  readonly numTiles: number;
  /** u32 index in `table` of slot 0's metadata for this module. */
  readonly metaOffset: number;
  /** Default 'block'. */
  readonly variant?: LoraKernelVariant;
}

/** tmp[i, 0..r_t) = x_i @ A_t^T for every row of the given tiles, A_t read through the page table. */
export function encodeLoraShrink(ctx: GpuContext, pass: GPUComputePassEncoder, b: LoraShrinkBuffers, p: LoraShrinkParams): void {
  if (p.numTiles === 0 || p.kCount === 0) return;
  if (p.variant === 'rows') checkRowsVariant(p.pageFloats);
  if (p.variant === 'vec4') checkVec4Variant(p.pageFloats, p.inDim);
  const params = new Params()
    .u32(p.rows)
    .u32(p.inDim)
    .u32(p.pageFloats)
    .u32(p.tmpStride)
    .u32(p.kCount)
    .u32(p.tileOffset)
    .u32(p.numTiles)
    .u32(p.metaOffset)
    .done();
  dispatch(ctx, pass, p.variant === 'rows' ? loraShrinkRowsKernel : p.variant === 'vec4' ? loraShrinkVec4Kernel : loraShrinkKernel, {
    params,
    buffers: [b.x, b.pool, b.tiles, b.table, b.tmp],
    workgroups: grid1d(p.numTiles * Math.ceil(p.kCount / 4), 64),
  });
}
