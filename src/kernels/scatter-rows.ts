import code from '../../shaders/scatter-rows.wgsl?raw';
import { grid1d, dispatch, Params, type BufferRef } from '../gpu/dispatch.js';
import type { GpuContext } from '../gpu/device.js';
import type { KernelSpec } from '../gpu/pipelines.js';

export const scatterRowsKernel: KernelSpec = { name: 'scatter-rows', code, bindings: ['uniform', 'read', 'read', 'storage'] };

export interface ScatterRowsArgs {
  src: BufferRef;
  /** u32 [rows]: destination row of each source row. */
  rowIdx: BufferRef;
  dst: BufferRef;
  rows: number;
  /** Columns copied per row. */
  dim: number;
  srcStride: number;
  srcOffset?: number;
  dstStride: number;
  dstOffset?: number;
}

/** dst[rowIdx[i], dstOffset + c] = src[i, srcOffset + c] for c < dim (row strides in floats). */
export function encodeScatterRows(ctx: GpuContext, pass: GPUComputePassEncoder, a: ScatterRowsArgs): void {
  const params = new Params()
    .u32(a.rows)
    .u32(a.dim)
    .u32(a.srcStride)
    .u32(a.srcOffset ?? 0)
    .u32(a.dstStride)
    .u32(a.dstOffset ?? 0)
    .done();
  dispatch(ctx, pass, scatterRowsKernel, { params, buffers: [a.src, a.rowIdx, a.dst], workgroups: grid1d(a.rows * a.dim, 256) });
}
