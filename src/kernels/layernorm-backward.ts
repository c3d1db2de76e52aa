import sumPrelude from '../../shaders/workgroup_sum_prelude.wgsl?raw';
import statsPrelude from '../../shaders/layernorm_stats_prelude.wgsl?raw';
import code from '../../shaders/layernorm_backward.wgsl?raw';
import { dispatch, grid1d, Params, type BufferRef } from '../gpu/dispatch.js';
import type { GpuContext } from '../gpu/device.js';
import { composeWgsl, type KernelSpec } from '../gpu/pipelines.js';
import { ShapeError } from '../errors.js';
import { requireElements, requireInts, requireUnaliased } from './check-shapes.js';
import { rowReductionWorkgroup } from './adapter-kind.js';

export const layerNormBackwardKernel: KernelSpec = {
  name: 'layernorm_backward',
  code: composeWgsl(sumPrelude, statsPrelude, code),
  bindings: ['uniform', 'read', 'read', 'read', 'storage'],
};

export interface LayerNormBackwardArgs {
  /** The forward's input [rows, cols]. */
  x: BufferRef;
  /** [cols]; frozen (no gamma/beta gradients). */
  gamma: BufferRef;
  /** [rows, cols] */
  dy: BufferRef;
  /** [rows, cols], a different GPUBuffer from x, gamma and dy. */
  dx: BufferRef;
  rows: number;
  cols: number;
  eps: number;
  /** dx += the gradient instead of dx = it. */
  accumulate?: boolean;
  /** Invocations per row (1..256); by default 64 on GPUs, 4 on CPU adapters. */
  workgroupSize?: number;
}

/** dx (+)= d LayerNorm(x)/dx^T dy with gamma frozen, biased variance as shaders/layernorm.wgsl. */
export function encodeLayerNormBackward(ctx: GpuContext, pass: GPUComputePassEncoder, a: LayerNormBackwardArgs): void {
  const k = layerNormBackwardKernel.name;
  requireInts(k, { cols: a.cols });
  requireInts(k, { rows: a.rows }, 0);
  if (!(a.eps >= 0) || !Number.isFinite(a.eps)) throw new ShapeError(`${k}: eps must be finite and >= 0, got ${a.eps}`);
  requireElements(k, 'x', a.x, a.rows * a.cols);
  requireElements(k, 'dy', a.dy, a.rows * a.cols);
  requireElements(k, 'dx', a.dx, a.rows * a.cols);
  requireElements(k, 'gamma', a.gamma, a.cols);
  requireUnaliased(k, ['dx', a.dx], { x: a.x, gamma: a.gamma, dy: a.dy });
  const wg = a.workgroupSize ?? rowReductionWorkgroup(ctx);
  if (!Number.isInteger(wg) || wg < 1 || wg > 256) throw new ShapeError(`${k}: workgroupSize must be an integer in 1..256, got ${wg}`);
  if (a.rows === 0) return;
  dispatch(ctx, pass, layerNormBackwardKernel, {
    constants: { WG: wg },
    params: new Params().u32(a.rows).u32(a.cols).f32(a.eps).u32(a.accumulate ? 1 : 0).done(),
    buffers: [a.x, a.gamma, a.dy, a.dx],
    workgroups: grid1d(a.rows, 1),
  });
}
