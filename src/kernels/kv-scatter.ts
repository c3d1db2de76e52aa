import code from '../../shaders/kv_scatter.wgsl?raw';
import { dispatch, grid1d, Params, type BufferRef } from '../gpu/dispatch.js';
import type { GpuContext } from '../gpu/device.js';
import type { KernelSpec } from '../gpu/pipelines.js';
import { ShapeError } from '../errors.js';
import { requireElements, requireInts, requireUnaliased } from './check-shapes.js';
import { rowReductionWorkgroup } from './adapter-kind.js';

export const kvScatterKernel: KernelSpec = {
  name: 'kv_scatter',
  code,
  bindings: ['uniform', 'read', 'read', 'read', 'storage'],
};

/**
 * One layer of the paged KV pool and the step's sequence descriptors, as both paged kernels
 * read them (layout in shaders/kv_scatter.wgsl).
 */
export interface PagedKvArgs {
  /** The pool buffer holding this layer's region. */
  pool: BufferRef;
  /** Float offset of the layer's region in `pool`. */
  layerBase: number;
  numBlocks: number;
  blockTokens: number;
  /** u32, 4 per sequence: qStart, qLen, tableOffset, kvLen. */
  seqs: BufferRef;
  numSeqs: number;
  /** u32 block ids: the step's block tables, concatenated. */
  table: BufferRef;
  tableLen: number;
}

export interface KvScatterArgs extends PagedKvArgs {
  src: BufferRef;
  rows: number;
  /** Floats per key (and per value) row: numHeads * headDim. */
  width: number;
  srcStride: number;
  kOffset: number;
  vOffset: number;
}

/** Checks shared by both paged kernels: the layer's whole region and the descriptors must be bound. */
export function checkPagedKv(name: string, a: PagedKvArgs, width: number): void {
  requireInts(name, { numBlocks: a.numBlocks, blockTokens: a.blockTokens, width });
  requireInts(name, { layerBase: a.layerBase, numSeqs: a.numSeqs, tableLen: a.tableLen }, 0);
  const regionEnd = a.layerBase + a.numBlocks * a.blockTokens * 2 * width;
  if (regionEnd > 0xffffffff) throw new ShapeError(`${name}: the pool region ends at float ${regionEnd}, past u32 addressing`);
  requireElements(name, 'pool', a.pool, regionEnd);
  requireElements(name, 'seqs', a.seqs, a.numSeqs * 4);
  requireElements(name, 'table', a.table, a.tableLen);
}

/** Scatters each step row's key and value into its sequence's pool block (one dispatch for all sequences). */
export function encodeKvScatter(ctx: GpuContext, pass: GPUComputePassEncoder, a: KvScatterArgs): void {
  const name = kvScatterKernel.name;
  checkPagedKv(name, a, a.width);
  requireInts(name, { rows: a.rows, kOffset: a.kOffset, vOffset: a.vOffset }, 0);
  requireInts(name, { srcStride: a.srcStride });
  for (const [what, offset] of [['k', a.kOffset], ['v', a.vOffset]] as const) {
    if (offset + a.width > a.srcStride) throw new ShapeError(`${name}: ${what} offset ${offset} + width ${a.width} exceeds the row stride ${a.srcStride}`);
  }
  requireElements(name, 'src', a.src, a.rows === 0 ? 0 : (a.rows - 1) * a.srcStride + Math.max(a.kOffset, a.vOffset) + a.width);
  requireUnaliased(name, ['pool', a.pool], { src: a.src, seqs: a.seqs, table: a.table });
  if (a.rows === 0 || a.numSeqs === 0) return;
  const params = new Params()
    .u32(a.numSeqs)
    .u32(a.rows)
    .u32(a.width)
    .u32(a.srcStride)
    .u32(a.kOffset)
    .u32(a.vOffset)
    .u32(a.blockTokens)
    .u32(a.numBlocks)
    .u32(a.tableLen)
    .u32(a.layerBase)
    .done();
  dispatch(ctx, pass, kvScatterKernel, { constants: { WG: rowReductionWorkgroup(ctx) }, params, buffers: [a.src, a.seqs, a.table, a.pool], workgroups: grid1d(a.rows, 1) });
}
