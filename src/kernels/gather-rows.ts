import code from '../../shaders/gather_rows.wgsl?raw';
import { dispatch, grid1d, Params, type BufferRef } from '../gpu/dispatch.js';
import type { GpuContext } from '../gpu/device.js';
import type { KernelSpec } from '../gpu/pipelines.js';
import { requireElements, requireInts, requireUnaliased } from './check-shapes.js';

export const gatherRowsKernel: KernelSpec = { name: 'gather_rows', code, bindings: ['uniform', 'read', 'read', 'storage'] };

export interface GatherRowsArgs {
  src: BufferRef;
  /** u32 [rows]; indices past srcRows are clamped to the last row on the GPU. */
  rowIdx: BufferRef;
  dst: BufferRef;
  rows: number;
  dim: number;
  srcRows: number;
}

/** dst[i,:] = src[rowIdx[i],:]. */
export function encodeGatherRows(ctx: GpuContext, pass: GPUComputePassEncoder, a: GatherRowsArgs): void {
  const k = gatherRowsKernel.name;
  requireInts(k, { dim: a.dim, srcRows: a.srcRows });
  requireInts(k, { rows: a.rows }, 0);
  requireElements(k, 'src', a.src, a.srcRows * a.dim);
  requireElements(k, 'rowIdx', a.rowIdx, a.rows);
  requireElements(k, 'dst', a.dst, a.rows * a.dim);
  requireUnaliased(k, ['dst', a.dst], { src: a.src, rowIdx: a.rowIdx });
  if (a.rows === 0) return;
  dispatch(ctx, pass, gatherRowsKernel, {
    params: new Params().u32(a.rows).u32(a.dim).u32(a.srcRows).done(),
    buffers: [a.src, a.rowIdx, a.dst],
    workgroups: grid1d(a.rows * a.dim, 256),
  });
}
