import statsPrelude from '../../shaders/softmax_stats_prelude.wgsl?raw';
import code from '../../shaders/softmax.wgsl?raw';
import { dispatch, grid1d, Params, type BufferRef } from '../gpu/dispatch.js';
import type { GpuContext } from '../gpu/device.js';
import { composeWgsl, type KernelSpec } from '../gpu/pipelines.js';
import { ShapeError } from '../errors.js';
import { requireElements, requireInts, requireUnaliased } from './check-shapes.js';
import { rowReductionWorkgroup } from './adapter-kind.js';

export const softmaxKernel: KernelSpec = { name: 'softmax', code: composeWgsl(statsPrelude, code), bindings: ['uniform', 'read', 'storage'] };

export interface SoftmaxArgs {
  x: BufferRef;
  y: BufferRef;
  rows: number;
  cols: number;
  /** Invocations per row (1..256); by default 64 on GPUs, 4 on CPU adapters. */
  workgroupSize?: number;
}

/**
 * Row-wise softmax, numerically stable (the row max is subtracted). Entries <= -3e38 are
 * treated as -infinity (masked); a row with nothing else gets zeros.
 */
export function encodeSoftmax(ctx: GpuContext, pass: GPUComputePassEncoder, a: SoftmaxArgs): void {
  const k = softmaxKernel.name;
  requireInts(k, { cols: a.cols });
  requireInts(k, { rows: a.rows }, 0);
  requireElements(k, 'x', a.x, a.rows * a.cols);
  requireElements(k, 'y', a.y, a.rows * a.cols);
  requireUnaliased(k, ['y', a.y], { x: a.x });
  const wg = a.workgroupSize ?? rowReductionWorkgroup(ctx);
  if (!Number.isInteger(wg) || wg < 1 || wg > 256) throw new ShapeError(`${k}: workgroupSize must be an integer in 1..256, got ${wg}`);
  if (a.rows === 0) return;
  dispatch(ctx, pass, softmaxKernel, {
    constants: { WG: wg },
    params: new Params().u32(a.rows).u32(a.cols).done(),
    buffers: [a.x, a.y],
    workgroups: grid1d(a.rows, 1),
  });
}
