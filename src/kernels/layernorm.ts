import sumPrelude from '../../shaders/workgroup_sum_prelude.wgsl?raw';
import statsPrelude from '../../shaders/layernorm_stats_prelude.wgsl?raw';
import code from '../../shaders/layernorm.wgsl?raw';
import { dispatch, grid1d, Params, type BufferRef } from '../gpu/dispatch.js';
import type { GpuContext } from '../gpu/device.js';
import { composeWgsl, type KernelSpec } from '../gpu/pipelines.js';
import { ShapeError } from '../errors.js';
import { requireElements, requireInts, requireUnaliased } from './check-shapes.js';
import { rowReductionWorkgroup } from './adapter-kind.js';

export const layerNormKernel: KernelSpec = {
  name: 'layernorm',
  code: composeWgsl(sumPrelude, statsPrelude, code),
  bindings: ['uniform', 'read', 'read', 'read', 'storage'],
};

export interface LayerNormArgs {
  x: BufferRef;
  gamma: BufferRef;
  beta: BufferRef;
  y: BufferRef;
  rows: number;
  cols: number;
  eps: number;
  /** Invocations per row (1..256); by default 64 on GPUs, 4 on CPU adapters. */
  workgroupSize?: number;
}

/** y[r,:] = (x[r,:] - mean) / sqrt(var + eps) * gamma + beta, biased variance. x and y distinct. */
export function encodeLayerNorm(ctx: GpuContext, pass: GPUComputePassEncoder, a: LayerNormArgs): void {
  const k = layerNormKernel.name;
  requireInts(k, { cols: a.cols });
  requireInts(k, { rows: a.rows }, 0);
  if (!(a.eps >= 0) || !Number.isFinite(a.eps)) throw new ShapeError(`${k}: eps must be finite and >= 0, got ${a.eps}`);
  requireElements(k, 'x', a.x, a.rows * a.cols);
  requireElements(k, 'y', a.y, a.rows * a.cols);
  requireElements(k, 'gamma', a.gamma, a.cols);
  requireElements(k, 'beta', a.beta, a.cols);
  requireUnaliased(k, ['y', a.y], { x: a.x, gamma: a.gamma, beta: a.beta });
  const wg = a.workgroupSize ?? rowReductionWorkgroup(ctx);
  if (!Number.isInteger(wg) || wg < 1 || wg > 256) throw new ShapeError(`${k}: workgroupSize must be an integer in 1..256, got ${wg}`);
  if (a.rows === 0) return;
  dispatch(ctx, pass, layerNormKernel, {
    constants: { WG: wg },
    params: new Params().u32(a.rows).u32(a.cols).f32(a.eps).done(),
    buffers: [a.x, a.gamma, a.beta, a.y],
    workgroups: grid1d(a.rows, 1),
  });
}
